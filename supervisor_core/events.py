"""Event types (supervisord's, plus ours) and their pure encoders.

Rules of this file:
- An event is two things: its *data* (an ``EventData`` subclass: supervisord's event
  type with its payload fields and the facts supervisord leaves out) and the *stamp*
  the bus adds when it publishes it (``Event``: gap-free ``serial``, ``wall_time``,
  ``monotonic_time``, ``data``). Producers build data; only ``EventBus.publish``
  builds an ``Event``, so a serial can never be made up or reused.
- Data objects are frozen snapshots (names, pids, codes): never a live object.
- Types form families through the class hierarchy, as in supervisord: subscribing to
  ``PROCESS_STATE`` receives every ``PROCESS_STATE_*``. Each type class declares its
  name (``event_name``). Which types exist is the daemon's ``EventTypeRegistry``
  (no module state): ``register_core_types`` adds supervisord's, extensions add
  theirs (``PROCESS_STORM_BEGIN``, ...) when installed, and the bus owns the
  registry. A type registered with ``listener_opt_in=True`` (superd's own types:
  restart storms, ...) is left out of the root family ``EVENT`` in ``families_of``:
  a supervisord listener pool with ``events=EVENT`` never receives it, only a pool
  that names it (or its own family). The bus treats ``EVENT`` as "everything", so
  in-process subscribers still see it.
- Encoders (``listener_payload``, ``listener_envelope``, ``to_json_dict``,
  ``to_json_text``) are pure functions; ``listener_payload`` reproduces supervisord
  4.3's payload text byte for byte (tests/unit/test_events.py pins each one), and
  ``to_json_text`` is ``encode_json(to_json_dict(event))`` byte for byte, built
  without the dict (tests/unit/test_event_json_text.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import Enum, Flag, StrEnum
from json.encoder import encode_basestring
from types import MappingProxyType
from typing import ClassVar, TypeAlias

from supervisor_core.lifecycle import Cause, ProcessState
from supervisor_core.signals import signal_name

# --------------------------------------------------------------------------- registry

ROOT_FAMILY = "EVENT"
_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]*\Z")


class UnknownEventType(ValueError):
    """An event type name the registry does not know (e.g. a typo in ``events=``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown event type: {name!r}")


class EventTypeRegistry:
    """The event types one daemon knows: names, families, and how listeners get them.

    The daemon builds one (``with_core_types()``: supervisord's types), extensions
    add theirs when they are installed, and the bus owns it (``EventBus.registry``):
    subscriptions, listener pools and ``/events`` filters resolve names here. A
    type's name is its class' own ``event_name``; the registry only records which
    types exist and their flags, so two daemons (or two tests) never share state.

    Rules:
    - ``EVENT`` (``EventData``) is always registered, as the root family.
    - A type registers after every named family above it (its ancestors' names
      must already map to those very classes), so the families of a name never
      change once it is known and cached lookups stay valid.
    - Registering the same class again with the same flags is a no-op (two
      extensions may both need the storm types); a different class under a known
      name, or other flags, is an error.
    - ``abstract`` types are families only subscribed to, never published
      (``PROCESS_STATE``). ``listener_opt_in`` types, and every subtype, are left
      out of the root family in ``families_of``: a listener pool receives them only
      when its ``events=`` names them (or one of their own families).

    Example::

        registry = EventTypeRegistry.with_core_types()
        registry.register(StormEvent, abstract=True, listener_opt_in=True)
        registry.register(ProcessStormBegin, ProcessStormEnd)
        registry.is_subtype("PROCESS_STORM_BEGIN", "STORM")  # True
    """

    __slots__ = ("_abstract", "_opt_in", "_types")

    def __init__(self) -> None:
        self._types: dict[str, type[EventData]] = {ROOT_FAMILY: EventData}
        self._abstract: set[str] = {ROOT_FAMILY}
        self._opt_in: set[str] = set()

    @classmethod
    def with_core_types(cls) -> EventTypeRegistry:
        """A fresh registry holding supervisord's event types (``register_core_types``)."""
        registry = cls()
        register_core_types(registry)
        return registry

    def register(
        self, *types: type[EventData], abstract: bool = False, listener_opt_in: bool = False
    ) -> None:
        """Add ``types`` (in order) under their ``event_name``, with the given flags.

        Raises:
            TypeError: not an ``EventData`` subclass, or one that does not declare
                its own ``event_name``.
            ValueError: a badly spelled name, a name taken by another class (or by
                the same class with other flags), or a family above it that is not
                registered yet.
        """
        for cls in types:
            self._register(cls, abstract=abstract, listener_opt_in=listener_opt_in)

    def _register(self, cls: type[EventData], *, abstract: bool, listener_opt_in: bool) -> None:
        if not (isinstance(cls, type) and issubclass(cls, EventData)):
            raise TypeError(f"{cls!r} is not an EventData subclass")
        name = cls.__dict__.get("event_name")
        if not isinstance(name, str):
            raise TypeError(f"{cls.__name__} does not declare its own event_name")
        if not _NAME_RE.match(name):
            raise ValueError(f"event type name must be UPPER_SNAKE_CASE: {name!r}")
        ancestors = self._named_ancestors(cls)
        opt_in = listener_opt_in or any(klass.event_name in self._opt_in for klass in ancestors)
        known = self._types.get(name)
        if known is not None:
            flags = (name in self._abstract, name in self._opt_in)
            if known is cls and flags == (abstract, opt_in):
                return  # the same type again (two extensions need it): nothing changes
            raise ValueError(f"event type {name!r} is already registered")
        for klass in ancestors:
            if self._types.get(klass.event_name) is not klass:
                raise ValueError(
                    f"{name}: register its family {klass.event_name} ({klass.__name__}) first"
                )
        self._types[name] = cls
        if abstract:
            self._abstract.add(name)
        if opt_in:
            self._opt_in.add(name)

    @staticmethod
    def _named_ancestors(data_type: type[EventData]) -> list[type[EventData]]:
        # The classes above ``data_type`` that declare a name of their own: an
        # unnamed intermediate class only inherits one and is not a family.
        return [
            klass
            for klass in data_type.__mro__[1:]
            if isinstance(klass, type)
            and issubclass(klass, EventData)
            and "event_name" in klass.__dict__
        ]

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def names(self, *, include_abstract: bool = True) -> tuple[str, ...]:
        """Every registered event type name, in registration order."""
        return tuple(n for n in self._types if include_abstract or n not in self._abstract)

    def event_type(self, name: str) -> type[EventData]:
        """The class registered as ``name``; raises ``UnknownEventType``."""
        try:
            return self._types[name]
        except KeyError:
            raise UnknownEventType(name) from None

    def is_abstract(self, name: str) -> bool:
        """Whether ``name`` is a family that is subscribed to but never published."""
        self.event_type(name)
        return name in self._abstract

    def is_subtype(self, name: str, family: str) -> bool:
        """Whether events of type ``name`` are delivered to a subscriber of ``family``."""
        return issubclass(self.event_type(name), self.event_type(family))

    def families_of(self, name: str) -> tuple[str, ...]:
        """``name`` and every registered family it belongs to, most specific first.

        An opt-in type (``listener_opt_in``) does not list the root family ``EVENT``.
        """
        cls = self.event_type(name)
        opt_in = name in self._opt_in
        return tuple(
            klass.event_name
            for klass in (cls, *self._named_ancestors(cls))
            if not (opt_in and klass.event_name == ROOT_FAMILY)
        )

    def is_listener_opt_in(self, name: str) -> bool:
        """Whether a listener pool receives ``name`` only when it asks for it by name."""
        self.event_type(name)
        return name in self._opt_in


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True, kw_only=True)
class EventData:
    """The root of all event types (supervisord's ``EVENT``)."""

    event_name: ClassVar[str] = "EVENT"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateEvent(EventData):
    """A process changed state. Subclasses name the state it entered.

    The state machine (``states.step``) builds these: the event *is* the transition.
    ``cause`` says why it happened (``lifecycle.Cause``) and ``origin`` who asked,
    for requested ones; ``run`` numbers the process' starts (the run the transition
    belongs to) and ``episode`` is the run that opened its restart episode.
    supervisord's listener payload shows only some of these fields per type (see
    ``listener_payload``); all of them are facts at the moment of the change:
    ``pid`` (0 when no child), ``tries`` (the backoff counter), and for changes
    caused by an exit: ``expected``, ``returncode`` (Popen: ``-N`` = signal N),
    ``run_duration`` (monotonic seconds from the start to the exit) and superd's exit
    forensics: ``core_dumped``, ``oom_killed`` (None: cannot be told),
    ``oom_evidence`` and ``stderr_tail`` (the run's last stderr lines). None of these
    is in supervisord's listener payload; the forensic fields are None on changes
    that no exit caused and are then left out of ``to_json_dict``.
    """

    event_name: ClassVar[str] = "PROCESS_STATE"
    to_state: ClassVar[ProcessState]

    processname: str
    groupname: str
    from_state: ProcessState
    cause: Cause
    origin: str | None = None
    run: int = 0
    episode: int = 0
    pid: int = 0
    tries: int = 0
    expected: bool | None = None
    returncode: int | None = None
    run_duration: float | None = None
    spawnerr: str | None = None
    core_dumped: bool | None = None
    oom_killed: bool | None = None
    oom_evidence: str | None = None
    stderr_tail: tuple[str, ...] | None = None

    @property
    def signal(self) -> int | None:
        """The number of the signal that ended the child, if one did."""
        if self.returncode is not None and self.returncode < 0:
            return -self.returncode
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateStarting(ProcessStateEvent):
    """-> STARTING: a child is being spawned."""

    event_name: ClassVar[str] = "PROCESS_STATE_STARTING"
    to_state: ClassVar[ProcessState] = ProcessState.STARTING


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateRunning(ProcessStateEvent):
    """-> RUNNING: the child stayed up for ``startsecs``."""

    event_name: ClassVar[str] = "PROCESS_STATE_RUNNING"
    to_state: ClassVar[ProcessState] = ProcessState.RUNNING


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateBackoff(ProcessStateEvent):
    """-> BACKOFF: a start failed; another try follows after a delay."""

    event_name: ClassVar[str] = "PROCESS_STATE_BACKOFF"
    to_state: ClassVar[ProcessState] = ProcessState.BACKOFF


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateStopping(ProcessStateEvent):
    """-> STOPPING: the stop signal was sent."""

    event_name: ClassVar[str] = "PROCESS_STATE_STOPPING"
    to_state: ClassVar[ProcessState] = ProcessState.STOPPING


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateExited(ProcessStateEvent):
    """-> EXITED: the child exited from RUNNING without being asked to."""

    event_name: ClassVar[str] = "PROCESS_STATE_EXITED"
    to_state: ClassVar[ProcessState] = ProcessState.EXITED


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateStopped(ProcessStateEvent):
    """-> STOPPED: the child exited after a stop request (or BACKOFF was stopped)."""

    event_name: ClassVar[str] = "PROCESS_STATE_STOPPED"
    to_state: ClassVar[ProcessState] = ProcessState.STOPPED


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateFatal(ProcessStateEvent):
    """-> FATAL: the process could not be started after 1 + ``startretries`` tries."""

    event_name: ClassVar[str] = "PROCESS_STATE_FATAL"
    to_state: ClassVar[ProcessState] = ProcessState.FATAL


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateUnknown(ProcessStateEvent):
    """-> UNKNOWN: a signal could not be delivered; the child's fate is unknown."""

    event_name: ClassVar[str] = "PROCESS_STATE_UNKNOWN"
    to_state: ClassVar[ProcessState] = ProcessState.UNKNOWN


PROCESS_STATE_EVENT_TYPES: Mapping[ProcessState, type[ProcessStateEvent]] = MappingProxyType(
    {
        cls.to_state: cls
        for cls in (
            ProcessStateStarting,
            ProcessStateRunning,
            ProcessStateBackoff,
            ProcessStateStopping,
            ProcessStateExited,
            ProcessStateStopped,
            ProcessStateFatal,
            ProcessStateUnknown,
        )
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessLogEvent(EventData):
    """A chunk of child output (sent when ``stdout_events_enabled`` and friends)."""

    event_name: ClassVar[str] = "PROCESS_LOG"
    channel: ClassVar[str]

    processname: str
    groupname: str
    pid: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessLogStdout(ProcessLogEvent):
    """Output the child wrote on stdout."""

    event_name: ClassVar[str] = "PROCESS_LOG_STDOUT"
    channel: ClassVar[str] = "stdout"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessLogStderr(ProcessLogEvent):
    """Output the child wrote on stderr."""

    event_name: ClassVar[str] = "PROCESS_LOG_STDERR"
    channel: ClassVar[str] = "stderr"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessCommunicationEvent(EventData):
    """Data the child wrote between ``<!--XSUPERVISOR:BEGIN-->`` and ``END`` tokens."""

    event_name: ClassVar[str] = "PROCESS_COMMUNICATION"
    channel: ClassVar[str]

    processname: str
    groupname: str
    pid: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessCommunicationStdout(ProcessCommunicationEvent):
    """A communication block from stdout."""

    event_name: ClassVar[str] = "PROCESS_COMMUNICATION_STDOUT"
    channel: ClassVar[str] = "stdout"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessCommunicationStderr(ProcessCommunicationEvent):
    """A communication block from stderr."""

    event_name: ClassVar[str] = "PROCESS_COMMUNICATION_STDERR"
    channel: ClassVar[str] = "stderr"


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteCommunication(EventData):
    """An event a client sent through ``supervisor.sendRemoteCommEvent(type, data)``."""

    event_name: ClassVar[str] = "REMOTE_COMMUNICATION"

    type: str
    data: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorStateChangeEvent(EventData):
    """The supervisor itself changed state."""

    event_name: ClassVar[str] = "SUPERVISOR_STATE_CHANGE"


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorStateChangeRunning(SupervisorStateChangeEvent):
    """The supervisor has started and runs its main loop."""

    event_name: ClassVar[str] = "SUPERVISOR_STATE_CHANGE_RUNNING"


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorStateChangeStopping(SupervisorStateChangeEvent):
    """The supervisor is shutting down (or reloading)."""

    event_name: ClassVar[str] = "SUPERVISOR_STATE_CHANGE_STOPPING"


@dataclass(frozen=True, slots=True, kw_only=True)
class TickEvent(EventData):
    """A wall-clock period rolled over; ``when`` is the period's start (epoch seconds).

    supervisord computes ``when`` as ``int(now - now % period)``; see ``tick_when``.
    """

    event_name: ClassVar[str] = "TICK"
    period: ClassVar[int]

    when: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick5(TickEvent):
    """Every 5 seconds."""

    event_name: ClassVar[str] = "TICK_5"
    period: ClassVar[int] = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick60(TickEvent):
    """Every minute."""

    event_name: ClassVar[str] = "TICK_60"
    period: ClassVar[int] = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick3600(TickEvent):
    """Every hour."""

    event_name: ClassVar[str] = "TICK_3600"
    period: ClassVar[int] = 3600


TICK_EVENT_TYPES: tuple[type[TickEvent], ...] = (Tick5, Tick60, Tick3600)


def tick_when(period: int, wall: float) -> int:
    """The start of the ``period``-second slice containing ``wall`` (supervisord's)."""
    return int(wall - (wall % period))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessGroupEvent(EventData):
    """A process group was added to or removed from the running configuration."""

    event_name: ClassVar[str] = "PROCESS_GROUP"

    groupname: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessGroupAdded(ProcessGroupEvent):
    """A group was added (at start-up, ``addProcessGroup`` or ``update``)."""

    event_name: ClassVar[str] = "PROCESS_GROUP_ADDED"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessGroupRemoved(ProcessGroupEvent):
    """A group was removed (``removeProcessGroup`` or ``update``)."""

    event_name: ClassVar[str] = "PROCESS_GROUP_REMOVED"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessDependency(EventData):
    """A start is held until dependencies are ready (``depends_on``), or released.

    ``waiting_for`` names the dependencies not yet RUNNING (empty: the wait is over,
    and ``released`` says whether the start went ahead or was called off). superd
    only: listeners receive it only when they ask for it by name.
    """

    event_name: ClassVar[str] = "PROCESS_DEPENDENCY"

    processname: str
    groupname: str
    waiting_for: tuple[str, ...]
    released: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSurvivor(EventData):
    """At start, a child of an earlier superd (killed without stopping its children)
    was found still running, and what is done with it (``[supervisord] survivors``).

    ``pid`` is the survivor's, ``age`` the seconds since it was spawned, ``action``
    ``kill``, ``adopt`` or ``leave`` (what was decided for it). superd only:
    listeners receive it only when they ask for it by name.
    """

    event_name: ClassVar[str] = "PROCESS_SURVIVOR"

    processname: str
    groupname: str
    pid: int
    age: float
    action: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBufferOverflow(EventData):
    """A listener pool's buffer overflowed and discarded its oldest event.

    supervisord 3.x had this type; 4.x only logs the overflow. We publish it again
    (listeners that do not subscribe to it never see it).
    """

    event_name: ClassVar[str] = "EVENT_BUFFER_OVERFLOW"

    groupname: str
    event_type: str  # the name of the discarded event's type
    serial: int | None = None  # the discarded event's serial


def register_core_types(registry: EventTypeRegistry) -> None:
    """Register supervisord's event types (families first, as ``register`` requires)."""
    registry.register(
        ProcessStateEvent,
        ProcessLogEvent,
        ProcessCommunicationEvent,
        SupervisorStateChangeEvent,
        TickEvent,
        ProcessGroupEvent,
        abstract=True,
    )
    registry.register(
        *PROCESS_STATE_EVENT_TYPES.values(),
        ProcessLogStdout,
        ProcessLogStderr,
        ProcessCommunicationStdout,
        ProcessCommunicationStderr,
        RemoteCommunication,
        SupervisorStateChangeRunning,
        SupervisorStateChangeStopping,
        *TICK_EVENT_TYPES,
        ProcessGroupAdded,
        ProcessGroupRemoved,
        EventBufferOverflow,
    )
    # superd's own (depends_on): a supervisord listener gets it only by asking.
    registry.register(ProcessDependency, listener_opt_in=True)
    # superd's own (survivors of a killed superd): asked for by name too.
    registry.register(ProcessSurvivor, listener_opt_in=True)


# --------------------------------------------------------------------------- envelope


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A published event: the data plus the bus' stamp.

    ``serial`` is global and gap-free (one counter per bus, starting at 0 like
    supervisord's); ``wall_time`` is epoch seconds; ``monotonic_time`` orders and
    measures. Only ``EventBus.publish`` creates these.
    """

    serial: int
    wall_time: float
    monotonic_time: float
    data: EventData

    @property
    def name(self) -> str:
        """The event type name (``PROCESS_STATE_RUNNING``)."""
        return self.data.event_name


# --------------------------------------------------------------------------- encoders


def _as_text(data: bytes) -> str:
    # supervisord decodes as UTF-8 and, failing that, shows the bytes' repr.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"Undecodable: {data!r}"


def _process_state_extras(data: ProcessStateEvent) -> list[tuple[str, object]]:
    if isinstance(data, ProcessStateStarting | ProcessStateBackoff):
        return [("tries", data.tries)]
    if isinstance(data, ProcessStateExited):
        return [("expected", int(bool(data.expected))), ("pid", data.pid)]
    if isinstance(data, ProcessStateRunning | ProcessStateStopping | ProcessStateStopped):
        return [("pid", data.pid)]
    return []  # FATAL, UNKNOWN


def listener_payload(event: Event | EventData) -> str:
    """The payload an event listener receives, exactly as supervisord 4.3 renders it.

    Examples::

        processname:web groupname:web from_state:STARTING tries:0
        processname:web groupname:web from_state:RUNNING expected:1 pid:123
        when:1700000000
    """
    data = event.data if isinstance(event, Event) else event
    if isinstance(data, ProcessStateEvent):
        items: list[tuple[str, object]] = [
            ("processname", data.processname),
            ("groupname", data.groupname),
            ("from_state", data.from_state.name),
            *_process_state_extras(data),
        ]
        return " ".join(f"{key}:{value}" for key, value in items)
    if isinstance(data, ProcessLogEvent):
        return (
            f"processname:{data.processname} groupname:{data.groupname} "
            f"pid:{data.pid} channel:{data.channel}\n{_as_text(data.data)}"
        )
    if isinstance(data, ProcessCommunicationEvent):
        return (
            f"processname:{data.processname} groupname:{data.groupname} "
            f"pid:{data.pid}\n{_as_text(data.data)}"
        )
    if isinstance(data, RemoteCommunication):
        return f"type:{data.type}\n{data.data}"
    if isinstance(data, SupervisorStateChangeEvent):
        return ""
    if isinstance(data, TickEvent):
        return f"when:{data.when}"
    if isinstance(data, ProcessGroupEvent):
        return f"groupname:{data.groupname}\n"  # supervisord ends this one with \n
    if isinstance(data, EventBufferOverflow):
        return f"groupname:{data.groupname} event_type:{data.event_type}"
    # Types registered later: their fields as key:value pairs, in declaration order.
    return " ".join(f"{f.name}:{_payload_value(getattr(data, f.name))}" for f in fields(data))


def _payload_value(value: object) -> object:
    # Listener payloads are space-separated key:value tokens: sequences are joined
    # with commas (no spaces), None is empty.
    if isinstance(value, tuple | list):
        return ",".join(str(_payload_value(item)) for item in value)
    if value is None:
        return ""
    return _json_scalar(value)


def listener_envelope(event: Event, *, server: str, pool: str, pool_serial: int) -> str:
    """The header line plus payload written to a listener's stdin (protocol 3.0).

    ``len`` counts characters of the payload, as supervisord does (it measures the
    str before encoding); ``server`` is the ``identifier`` of ``[supervisord]``.
    """
    payload = listener_payload(event)
    return (
        f"ver:3.0 server:{server} serial:{event.serial} pool:{pool} "
        f"poolserial:{pool_serial} eventname:{event.name} len:{len(payload)}\n{payload}"
    )


JsonScalar: TypeAlias = str | int | float | bool | None
JsonValue: TypeAlias = JsonScalar | list[JsonScalar]

# Exit forensics: left out of the JSON form when no exit caused the change (None);
# so is the origin of a transition nobody asked for.
_OPTIONAL_STATE_FIELDS = frozenset(
    {"origin", "core_dumped", "oom_killed", "oom_evidence", "stderr_tail"}
)


# Exact types a JSON encoder takes as they are (a StrEnum's type is not ``str``).
_PLAIN_TYPES: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_STAMP_KEYS = frozenset({"serial", "type", "wall_time", "monotonic_time"})


def json_value(value: object) -> JsonValue:
    """What ``to_json_dict`` puts in the JSON object for a data field's ``value``."""
    if type(value) in _PLAIN_TYPES:
        return value  # type: ignore[return-value]
    if isinstance(value, tuple):
        return [_json_scalar(item) for item in value]
    return _json_scalar(value)


def _json_scalar(value: object) -> JsonScalar:
    if isinstance(value, StrEnum):
        return value.value  # a cause: "autorestart"
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass(frozen=True, slots=True)
class _FieldLayout:
    """How one data field goes into the JSON object (computed once per data type)."""

    name: str
    #: Named like a stamp key: written under ``<event name>_<name>``.
    collides: bool
    #: A process state event's optional field, left out when None.
    optional: bool


# Per data class: ``fields()`` and the name checks cost more than the copy itself at
# the journal's rate (the writer thread's bound), and a class's fields never change.
_LAYOUTS: dict[type, tuple[_FieldLayout, ...]] = {}


def _layout(data: EventData) -> tuple[_FieldLayout, ...]:
    layout = _LAYOUTS.get(type(data))
    if layout is None:
        state_event = isinstance(data, ProcessStateEvent)
        layout = tuple(
            _FieldLayout(
                name=f.name,
                collides=f.name in _STAMP_KEYS,
                optional=state_event and f.name in _OPTIONAL_STATE_FIELDS,
            )
            for f in fields(data)
        )
        _LAYOUTS[type(data)] = layout
    return layout


def to_json_dict(event: Event) -> dict[str, JsonValue]:
    """A flat JSON object for an event: stamp, ``type``, then the data's fields.

    A data field named like a stamp key is prefixed with the lower-case event name
    (REMOTE_COMMUNICATION's ``type`` is ``remote_communication_type``). States are
    names (``"RUNNING"``); bytes are UTF-8 text with undecodable bytes
    replaced; tuples of text (``stderr_tail``) are lists. Process state events add
    ``to_state`` and ``signal``, and carry the exit forensics only when set.
    """
    result: dict[str, JsonValue] = {
        "serial": event.serial,
        "type": event.name,
        "wall_time": event.wall_time,
        "monotonic_time": event.monotonic_time,
    }
    data = event.data
    for f in _layout(data):
        value = getattr(data, f.name)
        if value is None and f.optional:
            continue
        # A field named like a stamp key (REMOTE_COMMUNICATION's ``type``) must not
        # overwrite it: readers select and count by ``type``.
        name = f"{data.event_name.lower()}_{f.name}" if f.collides else f.name
        result[name] = json_value(value)
    if isinstance(data, ProcessStateEvent):
        result["to_state"] = data.to_state.name
        result["signal"] = data.signal
        if data.signal is not None:
            result["signal_name"] = signal_name(data.signal)
    return result


# --------------------------------------------------------------------------- JSON text

# The one compact encoding (``json.dumps(..., separators=(",", ":"),
# ensure_ascii=False)``): the journal's ``payload`` and ``/events`` send it.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_json(value: object) -> str:
    """Compact JSON of ``value``, as the journal stores it and ``/events`` sends it."""
    return _ENCODER.encode(value)


_INFINITY = float("inf")


def _float_text(value: float) -> str:
    # json's floatstr (allow_nan): NaN and the infinities as JavaScript spells them.
    if value != value:  # noqa: PLR0124 - NaN is the one float unequal to itself
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _generic_text(value: object) -> str:
    # What ``to_json_dict`` puts in the object, encoded as ``encode_json`` does it.
    return _ENCODER.encode(json_value(value))


_Converter: TypeAlias = Callable[[object], str]


def _enum_converter(cls: type[Enum]) -> _Converter:
    table = {member: _generic_text(member) for member in cls.__members__.values()}

    def convert(value: object) -> str:
        text = table.get(value)  # type: ignore[call-overload]
        return text if text is not None else _generic_text(value)

    return convert


class _Converters(dict[type, _Converter]):
    """By exact type, how a value becomes JSON text; filled on first sight of a type.

    Each gives exactly what ``_generic_text`` gives for values of its type, without
    the encoder's per-call set-up (a third of the journal writer's time).
    """

    def __missing__(self, cls: type) -> _Converter:
        if issubclass(cls, Enum) and not issubclass(cls, Flag):
            converter = _enum_converter(cls)
        else:
            converter = _generic_text
        self[cls] = converter
        return converter


_TEXT_CONVERTERS = _Converters(
    {
        str: encode_basestring,  # type: ignore[dict-item]
        int: int.__repr__,
        float: _float_text,  # type: ignore[dict-item]
        bool: {True: "true", False: "false"}.__getitem__,  # type: ignore[dict-item]
        type(None): lambda _value: "null",
    }
)


def _json_text_of(value: object) -> str:
    return _TEXT_CONVERTERS[type(value)](value)


_TextEncoder: TypeAlias = Callable[[Event], str]
# Per (data class, with the stderr tail): a function made for that class' fields.
_TEXT_ENCODERS: dict[tuple[type, bool], _TextEncoder] = {}


def _compile_text_encoder(data: EventData, *, stderr_tail: bool) -> _TextEncoder:
    """Write and compile the encoder of one data class (as ``dataclasses`` writes
    ``__init__``): one attribute read and one converter call per field, the keys'
    text constant, no loop and no dict."""
    prefix = data.event_name.lower()
    state_event = isinstance(data, ProcessStateEvent)
    names = [] if stderr_tail else ["stderr_tail"]
    layout = [f for f in _layout(data) if f.name not in names]
    keys = [
        "serial",
        "type",
        "wall_time",
        "monotonic_time",
        *(f"{prefix}_{f.name}" if f.collides else f.name for f in layout),
        *(("to_state", "signal", "signal_name") if state_event else ()),
    ]
    if len(set(keys)) != len(keys):
        # Two fields under one key: the dict keeps one, so encode the dict.
        def by_dict(event: Event) -> str:
            payload = to_json_dict(event)
            if not stderr_tail:
                payload.pop("stderr_tail", None)
            return encode_json(payload)

        return by_dict
    namespace: dict[str, object] = {
        "C": _TEXT_CONVERTERS,
        "T": _json_text_of,
        "signal_name": signal_name,
        "HEAD": f',"type":{encode_basestring(data.event_name)},"wall_time":',
    }
    lines = ["def encode(event):", " data = event.data"]
    pieces = [
        "'{\"serial\":'",
        "T(event.serial)",
        "HEAD",
        "T(event.wall_time)",
        "',\"monotonic_time\":'",
        "T(event.monotonic_time)",
    ]
    for index, (f, key) in enumerate(zip(layout, keys[4:], strict=False)):
        namespace[f"K{index}"] = "," + encode_basestring(key) + ":"
        lines.append(f" v{index} = data.{f.name}")
        if f.optional:
            pieces.append(f"'' if v{index} is None else K{index} + C[type(v{index})](v{index})")
        else:
            pieces += [f"K{index}", f"C[type(v{index})](v{index})"]
    if state_event:
        to_state = type(data).to_state  # type: ignore[attr-defined]  # a ClassVar of the class
        namespace["TO_STATE"] = f',"to_state":{_json_text_of(to_state.name)}'
        lines.append(" s = data.signal")
        pieces += [
            "TO_STATE",
            "',\"signal\":null' if s is None else "
            "',\"signal\":' + T(s) + ',\"signal_name\":' + T(signal_name(s))",
        ]
    pieces.append("'}'")
    lines.append(" return ''.join((" + ", ".join(pieces) + ",))")
    exec("\n".join(lines), namespace)
    return namespace["encode"]  # type: ignore[return-value]


def to_json_text(event: Event, *, stderr_tail: bool = True) -> str:
    """``encode_json(to_json_dict(event))``, byte for byte, without building the dict.

    With ``stderr_tail=False`` the ``stderr_tail`` key is left out (the journal keeps
    the tail in its own column): the text of the object without that key.
    """
    data = event.data
    encoder = _TEXT_ENCODERS.get((type(data), stderr_tail))
    if encoder is None:
        encoder = _compile_text_encoder(data, stderr_tail=stderr_tail)
        _TEXT_ENCODERS[type(data), stderr_tail] = encoder
    return encoder(event)
