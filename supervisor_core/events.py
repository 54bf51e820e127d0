"""Event types (supervisord's, plus ours) and their pure encoders.

Rules of this file:
- An event is two things: its *data* (an ``EventData`` subclass: supervisord's event
  type with its payload fields and the facts supervisord leaves out) and the *stamp*
  the bus adds when it publishes it (``Event``: gap-free ``serial``, ``wall_time``,
  ``monotonic_time``, ``data``). Producers build data; only ``EventBus.publish``
  builds an ``Event``, so a serial can never be made up or reused.
- Data objects are frozen snapshots (names, pids, codes): never a live object.
- Types form families through the class hierarchy, as in supervisord: subscribing to
  ``PROCESS_STATE`` receives every ``PROCESS_STATE_*``. Each type registers its name
  with ``@register_event_type``; later types (``PROCESS_STORM_BEGIN``, ...) register
  the same way, at import time, from any module. A type registered with
  ``listener_opt_in=True`` (superd's own types: restart storms, ...) is left out of
  the root family ``EVENT`` in ``families_of``: a supervisord listener pool with
  ``events=EVENT`` never receives it, only a pool that names it (or its own family).
  The bus treats ``EVENT`` as "everything", so in-process subscribers still see it.
- Encoders (``listener_payload``, ``listener_envelope``, ``to_json_dict``) are pure
  functions; ``listener_payload`` reproduces supervisord 4.3's payload text byte for
  byte (tests/unit/test_events.py pins each one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import ClassVar, TypeAlias, TypeVar

from supervisor_core.lifecycle import Cause, ProcessState
from supervisor_core.signals import signal_name

# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, type[EventData]] = {}
_ABSTRACT: set[str] = set()
_OPT_IN: set[str] = set()
ROOT_FAMILY = "EVENT"
_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]*\Z")

_T = TypeVar("_T", bound="type[EventData]")


class UnknownEventType(ValueError):
    """An event type name that no module registered (e.g. a typo in ``events=``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown event type: {name!r}")


def register_event_type(
    name: str, *, abstract: bool = False, listener_opt_in: bool = False
) -> Callable[[_T], _T]:
    """Class decorator: give an ``EventData`` subclass its supervisord-style name.

    Put it *above* ``@dataclass``. ``abstract`` types are families only subscribed to,
    never published (``PROCESS_STATE``). Names are unique and UPPER_SNAKE_CASE.
    ``listener_opt_in`` types (and their subtypes) are not delivered through the root
    family ``EVENT`` to listener pools: a listener must ask for them by name.

    Example::

        @register_event_type("PROCESS_STORM_BEGIN")
        @dataclass(frozen=True, slots=True, kw_only=True)
        class ProcessStormBegin(EventData):
            groupname: str
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"event type name must be UPPER_SNAKE_CASE: {name!r}")

    def decorate(cls: _T) -> _T:
        if name in _REGISTRY:
            raise ValueError(f"event type {name!r} is already registered")
        # EventData itself is the first class registered, before its name exists.
        if _REGISTRY and not issubclass(cls, _REGISTRY["EVENT"]):
            raise TypeError(f"{cls.__name__} is not an EventData subclass")
        cls.event_name = name
        _REGISTRY[name] = cls
        if abstract:
            _ABSTRACT.add(name)
        if listener_opt_in or any(
            getattr(base, "event_name", None) in _OPT_IN for base in cls.__mro__[1:]
        ):
            _OPT_IN.add(name)
        return cls

    return decorate


def event_type_names(*, include_abstract: bool = True) -> tuple[str, ...]:
    """Every registered event type name, in registration order."""
    return tuple(n for n in _REGISTRY if include_abstract or n not in _ABSTRACT)


def event_type(name: str) -> type[EventData]:
    """The class registered as ``name``; raises ``UnknownEventType``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownEventType(name) from None


def is_abstract(name: str) -> bool:
    """Whether ``name`` is a family that is subscribed to but never published."""
    event_type(name)
    return name in _ABSTRACT


def is_subtype(name: str, family: str) -> bool:
    """Whether events of type ``name`` are delivered to a subscriber of ``family``."""
    return issubclass(event_type(name), event_type(family))


def families_of(name: str) -> tuple[str, ...]:
    """``name`` and every registered family it belongs to, most specific first.

    An opt-in type (``listener_opt_in``) does not list the root family ``EVENT``.
    """
    opt_in = name in _OPT_IN
    return tuple(
        klass.event_name
        for klass in event_type(name).__mro__
        if isinstance(klass, type)
        and issubclass(klass, EventData)
        and _REGISTRY.get(klass.event_name) is klass
        and not (opt_in and klass.event_name == ROOT_FAMILY)
    )


def is_listener_opt_in(name: str) -> bool:
    """Whether a listener pool receives ``name`` only when it asks for it by name."""
    event_type(name)
    return name in _OPT_IN


# --------------------------------------------------------------------------- data


@register_event_type("EVENT", abstract=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class EventData:
    """The root of all event types (supervisord's ``EVENT``)."""

    event_name: ClassVar[str]


@register_event_type("PROCESS_STATE", abstract=True)
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


@register_event_type("PROCESS_STATE_STARTING")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateStarting(ProcessStateEvent):
    """-> STARTING: a child is being spawned."""

    to_state: ClassVar[ProcessState] = ProcessState.STARTING


@register_event_type("PROCESS_STATE_RUNNING")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateRunning(ProcessStateEvent):
    """-> RUNNING: the child stayed up for ``startsecs``."""

    to_state: ClassVar[ProcessState] = ProcessState.RUNNING


@register_event_type("PROCESS_STATE_BACKOFF")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateBackoff(ProcessStateEvent):
    """-> BACKOFF: a start failed; another try follows after a delay."""

    to_state: ClassVar[ProcessState] = ProcessState.BACKOFF


@register_event_type("PROCESS_STATE_STOPPING")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateStopping(ProcessStateEvent):
    """-> STOPPING: the stop signal was sent."""

    to_state: ClassVar[ProcessState] = ProcessState.STOPPING


@register_event_type("PROCESS_STATE_EXITED")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateExited(ProcessStateEvent):
    """-> EXITED: the child exited from RUNNING without being asked to."""

    to_state: ClassVar[ProcessState] = ProcessState.EXITED


@register_event_type("PROCESS_STATE_STOPPED")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateStopped(ProcessStateEvent):
    """-> STOPPED: the child exited after a stop request (or BACKOFF was stopped)."""

    to_state: ClassVar[ProcessState] = ProcessState.STOPPED


@register_event_type("PROCESS_STATE_FATAL")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateFatal(ProcessStateEvent):
    """-> FATAL: the process could not be started after 1 + ``startretries`` tries."""

    to_state: ClassVar[ProcessState] = ProcessState.FATAL


@register_event_type("PROCESS_STATE_UNKNOWN")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStateUnknown(ProcessStateEvent):
    """-> UNKNOWN: a signal could not be delivered; the child's fate is unknown."""

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


@register_event_type("PROCESS_LOG", abstract=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessLogEvent(EventData):
    """A chunk of child output (sent when ``stdout_events_enabled`` and friends)."""

    channel: ClassVar[str]

    processname: str
    groupname: str
    pid: int
    data: bytes


@register_event_type("PROCESS_LOG_STDOUT")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessLogStdout(ProcessLogEvent):
    """Output the child wrote on stdout."""

    channel: ClassVar[str] = "stdout"


@register_event_type("PROCESS_LOG_STDERR")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessLogStderr(ProcessLogEvent):
    """Output the child wrote on stderr."""

    channel: ClassVar[str] = "stderr"


@register_event_type("PROCESS_COMMUNICATION", abstract=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessCommunicationEvent(EventData):
    """Data the child wrote between ``<!--XSUPERVISOR:BEGIN-->`` and ``END`` tokens."""

    channel: ClassVar[str]

    processname: str
    groupname: str
    pid: int
    data: bytes


@register_event_type("PROCESS_COMMUNICATION_STDOUT")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessCommunicationStdout(ProcessCommunicationEvent):
    """A communication block from stdout."""

    channel: ClassVar[str] = "stdout"


@register_event_type("PROCESS_COMMUNICATION_STDERR")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessCommunicationStderr(ProcessCommunicationEvent):
    """A communication block from stderr."""

    channel: ClassVar[str] = "stderr"


@register_event_type("REMOTE_COMMUNICATION")
@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteCommunication(EventData):
    """An event a client sent through ``supervisor.sendRemoteCommEvent(type, data)``."""

    type: str
    data: str


@register_event_type("SUPERVISOR_STATE_CHANGE", abstract=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorStateChangeEvent(EventData):
    """The supervisor itself changed state."""


@register_event_type("SUPERVISOR_STATE_CHANGE_RUNNING")
@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorStateChangeRunning(SupervisorStateChangeEvent):
    """The supervisor has started and runs its main loop."""


@register_event_type("SUPERVISOR_STATE_CHANGE_STOPPING")
@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorStateChangeStopping(SupervisorStateChangeEvent):
    """The supervisor is shutting down (or reloading)."""


@register_event_type("TICK", abstract=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class TickEvent(EventData):
    """A wall-clock period rolled over; ``when`` is the period's start (epoch seconds).

    supervisord computes ``when`` as ``int(now - now % period)``; see ``tick_when``.
    """

    period: ClassVar[int]

    when: int


@register_event_type("TICK_5")
@dataclass(frozen=True, slots=True, kw_only=True)
class Tick5(TickEvent):
    """Every 5 seconds."""

    period: ClassVar[int] = 5


@register_event_type("TICK_60")
@dataclass(frozen=True, slots=True, kw_only=True)
class Tick60(TickEvent):
    """Every minute."""

    period: ClassVar[int] = 60


@register_event_type("TICK_3600")
@dataclass(frozen=True, slots=True, kw_only=True)
class Tick3600(TickEvent):
    """Every hour."""

    period: ClassVar[int] = 3600


TICK_EVENT_TYPES: tuple[type[TickEvent], ...] = (Tick5, Tick60, Tick3600)


def tick_when(period: int, wall: float) -> int:
    """The start of the ``period``-second slice containing ``wall`` (supervisord's)."""
    return int(wall - (wall % period))


@register_event_type("PROCESS_GROUP", abstract=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessGroupEvent(EventData):
    """A process group was added to or removed from the running configuration."""

    groupname: str


@register_event_type("PROCESS_GROUP_ADDED")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessGroupAdded(ProcessGroupEvent):
    """A group was added (at start-up, ``addProcessGroup`` or ``update``)."""


@register_event_type("PROCESS_GROUP_REMOVED")
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessGroupRemoved(ProcessGroupEvent):
    """A group was removed (``removeProcessGroup`` or ``update``)."""


@register_event_type("PROCESS_DEPENDENCY", listener_opt_in=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessDependency(EventData):
    """A start is held until dependencies are ready (``depends_on``), or released.

    ``waiting_for`` names the dependencies not yet RUNNING (empty: the wait is over,
    and ``released`` says whether the start went ahead or was called off). superd
    only: listeners receive it only when they ask for it by name.
    """

    processname: str
    groupname: str
    waiting_for: tuple[str, ...]
    released: bool = False


@register_event_type("EVENT_BUFFER_OVERFLOW")
@dataclass(frozen=True, slots=True, kw_only=True)
class EventBufferOverflow(EventData):
    """A listener pool's buffer overflowed and discarded its oldest event.

    supervisord 3.x had this type; 4.x only logs the overflow. We publish it again
    (listeners that do not subscribe to it never see it).
    """

    groupname: str
    event_type: str  # the name of the discarded event's type
    serial: int | None = None  # the discarded event's serial


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


def _json_value(value: object) -> JsonValue:
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


def to_json_dict(event: Event) -> dict[str, JsonValue]:
    """A flat JSON object for an event: stamp, ``type``, then the data's fields.

    States are names (``"RUNNING"``); bytes are UTF-8 text with undecodable bytes
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
    state_event = isinstance(data, ProcessStateEvent)
    for f in fields(data):
        value = getattr(data, f.name)
        if value is None and state_event and f.name in _OPTIONAL_STATE_FIELDS:
            continue
        result[f.name] = _json_value(value)
    if isinstance(data, ProcessStateEvent):
        result["to_state"] = data.to_state.name
        result["signal"] = data.signal
        if data.signal is not None:
            result["signal_name"] = signal_name(data.signal)
    return result
