"""Event types, the daemon's registry of families, and golden tests of every encoder."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from supervisor_core.events import (
    Event,
    EventBufferOverflow,
    EventData,
    EventTypeRegistry,
    ProcessCommunicationStderr,
    ProcessCommunicationStdout,
    ProcessDependency,
    ProcessGroupAdded,
    ProcessGroupRemoved,
    ProcessLogStderr,
    ProcessLogStdout,
    ProcessStateBackoff,
    ProcessStateExited,
    ProcessStateFatal,
    ProcessStateRunning,
    ProcessStateStarting,
    ProcessStateStopped,
    ProcessStateStopping,
    ProcessStateUnknown,
    ProcessSurvivor,
    RemoteCommunication,
    SupervisorStateChangeRunning,
    SupervisorStateChangeStopping,
    Tick5,
    Tick60,
    Tick3600,
    UnknownEventType,
    listener_envelope,
    listener_payload,
    tick_when,
    to_json_dict,
)
from supervisor_core.lifecycle import Cause, ProcessState
from tests.peers import require_module

S = ProcessState
CORE = EventTypeRegistry.with_core_types()

SUPERVISORD_TYPES = {
    "EVENT", "PROCESS_STATE", "PROCESS_STATE_STOPPED", "PROCESS_STATE_EXITED",
    "PROCESS_STATE_STARTING", "PROCESS_STATE_STOPPING", "PROCESS_STATE_BACKOFF",
    "PROCESS_STATE_FATAL", "PROCESS_STATE_RUNNING", "PROCESS_STATE_UNKNOWN",
    "PROCESS_COMMUNICATION", "PROCESS_COMMUNICATION_STDOUT", "PROCESS_COMMUNICATION_STDERR",
    "PROCESS_LOG", "PROCESS_LOG_STDOUT", "PROCESS_LOG_STDERR", "REMOTE_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE", "SUPERVISOR_STATE_CHANGE_RUNNING",
    "SUPERVISOR_STATE_CHANGE_STOPPING", "TICK", "TICK_5", "TICK_60", "TICK_3600",
    "PROCESS_GROUP", "PROCESS_GROUP_ADDED", "PROCESS_GROUP_REMOVED",
}  # fmt: skip

ABSTRACT = {
    "EVENT", "PROCESS_STATE", "PROCESS_COMMUNICATION", "PROCESS_LOG",
    "SUPERVISOR_STATE_CHANGE", "TICK", "PROCESS_GROUP",
}  # fmt: skip


def names_kw(**extra: Any) -> dict[str, Any]:
    return {"processname": "cat", "groupname": "pets", **extra}


def state_kw(**extra: Any) -> dict[str, Any]:
    return names_kw(cause=Cause.EXIT, **extra)


# superd's own event types: no supervisord has them, listeners get them only by asking.
SUPERD_OWN = ("PROCESS_DEPENDENCY", "PROCESS_SURVIVOR")

# (data, exact supervisord 4.3 payload)
GOLDEN: list[tuple[EventData, str]] = [
    (
        ProcessStateStarting(**state_kw(from_state=S.STOPPED, tries=0)),
        "processname:cat groupname:pets from_state:STOPPED tries:0",
    ),
    (
        ProcessStateStarting(**state_kw(from_state=S.BACKOFF, tries=2, pid=0)),
        "processname:cat groupname:pets from_state:BACKOFF tries:2",
    ),
    (
        ProcessStateBackoff(**state_kw(from_state=S.STARTING, tries=1, pid=12)),
        "processname:cat groupname:pets from_state:STARTING tries:1",
    ),
    (
        ProcessStateRunning(**state_kw(from_state=S.STARTING, pid=123, tries=0)),
        "processname:cat groupname:pets from_state:STARTING pid:123",
    ),
    (
        ProcessStateStopping(**state_kw(from_state=S.RUNNING, pid=123)),
        "processname:cat groupname:pets from_state:RUNNING pid:123",
    ),
    (
        ProcessStateStopped(**state_kw(from_state=S.STOPPING, pid=123, returncode=-15)),
        "processname:cat groupname:pets from_state:STOPPING pid:123",
    ),
    (
        ProcessStateStopped(**state_kw(from_state=S.BACKOFF, pid=0)),
        "processname:cat groupname:pets from_state:BACKOFF pid:0",
    ),
    (
        ProcessStateExited(**state_kw(from_state=S.RUNNING, pid=123, expected=True)),
        "processname:cat groupname:pets from_state:RUNNING expected:1 pid:123",
    ),
    (
        ProcessStateExited(**state_kw(from_state=S.RUNNING, pid=9, expected=False)),
        "processname:cat groupname:pets from_state:RUNNING expected:0 pid:9",
    ),
    (
        ProcessStateFatal(**state_kw(from_state=S.BACKOFF, tries=4)),
        "processname:cat groupname:pets from_state:BACKOFF",
    ),
    (
        ProcessStateUnknown(**state_kw(from_state=S.STOPPING, pid=5)),
        "processname:cat groupname:pets from_state:STOPPING",
    ),
    (
        ProcessLogStdout(**names_kw(pid=123, data=b"hello\nworld\n")),
        "processname:cat groupname:pets pid:123 channel:stdout\nhello\nworld\n",
    ),
    (
        ProcessLogStderr(**names_kw(pid=123, data="héllo".encode())),
        "processname:cat groupname:pets pid:123 channel:stderr\nhéllo",
    ),
    (
        ProcessLogStdout(**names_kw(pid=1, data=b"\xff\xfe")),
        "processname:cat groupname:pets pid:1 channel:stdout\nUndecodable: b'\\xff\\xfe'",
    ),
    (
        ProcessCommunicationStdout(**names_kw(pid=7, data=b"<x/>")),
        "processname:cat groupname:pets pid:7\n<x/>",
    ),
    (
        ProcessCommunicationStderr(**names_kw(pid=7, data=b"")),
        "processname:cat groupname:pets pid:7\n",
    ),
    (RemoteCommunication(type="deploy", data="v1.2\nok"), "type:deploy\nv1.2\nok"),
    (SupervisorStateChangeRunning(), ""),
    (SupervisorStateChangeStopping(), ""),
    (Tick5(when=1700000000), "when:1700000000"),
    (Tick60(when=1699999980), "when:1699999980"),
    (Tick3600(when=1699999200), "when:1699999200"),
    (ProcessGroupAdded(groupname="pets"), "groupname:pets\n"),
    (ProcessGroupRemoved(groupname="pets"), "groupname:pets\n"),
    (
        EventBufferOverflow(groupname="listeners", event_type="TICK_5", serial=3),
        "groupname:listeners event_type:TICK_5",
    ),
    (
        ProcessDependency(processname="app", groupname="app", waiting_for=("db", "cache:*")),
        "processname:app groupname:app waiting_for:db,cache:* released:False",
    ),
    (
        ProcessSurvivor(processname="web", groupname="web", pid=4242, age=12.5, action="kill"),
        "processname:web groupname:web pid:4242 age:12.5 action:kill",
    ),
]


@pytest.mark.parametrize(("data", "payload"), GOLDEN, ids=lambda v: getattr(v, "event_name", ""))
def test_listener_payload_golden(data: EventData, payload: str) -> None:
    """listener_payload renders each event type exactly as supervisord does."""
    assert listener_payload(data) == payload
    stamped = Event(serial=1, wall_time=0.0, monotonic_time=0.0, data=data)
    assert listener_payload(stamped) == payload


def test_every_concrete_type_has_a_golden_payload() -> None:
    """No concrete core type lacks a golden payload test."""
    covered = {data.event_name for data, _ in GOLDEN}
    # Types that extensions register (the journal's, the storm detector's) are
    # golden-tested where they are defined.
    assert set(CORE.names(include_abstract=False)) <= covered


def _supervisord_payload(data: EventData) -> str:
    """The payload the real supervisord 4.3 classes render for the same facts."""
    sup_events = require_module("supervisor.events")
    process = SimpleNamespace(
        config=SimpleNamespace(name=getattr(data, "processname", "")),
        group=SimpleNamespace(config=SimpleNamespace(name=getattr(data, "groupname", ""))),
        pid=getattr(data, "pid", 0),
        backoff=getattr(data, "tries", 0),
    )
    cls = getattr(sup_events.EventTypes, data.event_name)
    if data.event_name.startswith("PROCESS_STATE_"):
        expected = getattr(data, "expected", None)
        event = cls(process, data.from_state, bool(expected))  # type: ignore[attr-defined]
    elif data.event_name.startswith(("PROCESS_LOG_", "PROCESS_COMMUNICATION_")):
        event = cls(process, process.pid, data.data)  # type: ignore[attr-defined]
    elif isinstance(data, RemoteCommunication):
        event = cls(data.type, data.data)
    elif data.event_name.startswith("TICK_"):
        event = cls(data.when, None)  # type: ignore[attr-defined]
    elif data.event_name.startswith("PROCESS_GROUP_"):
        event = cls(data.groupname)  # type: ignore[attr-defined]
    else:
        event = cls()
    return str(event.payload())


@pytest.mark.parametrize(
    "data",
    # supervisord has no such types: EVENT_BUFFER_OVERFLOW (3.x only), superd's own.
    [d for d, _ in GOLDEN if d.event_name not in ("EVENT_BUFFER_OVERFLOW", *SUPERD_OWN)],
    ids=lambda d: d.event_name,
)
def test_payload_matches_real_supervisord(data: EventData) -> None:
    """Byte for byte the payload of the installed supervisord for the same event."""
    assert listener_payload(data) == _supervisord_payload(data)


def test_listener_envelope_golden() -> None:
    """The envelope header is protocol 3.0 and len counts payload characters."""
    data = ProcessStateExited(**state_kw(from_state=S.RUNNING, pid=123, expected=True))
    event = Event(serial=42, wall_time=1.0, monotonic_time=2.0, data=data)
    envelope = listener_envelope(event, server="supervisor", pool="listener", pool_serial=7)
    payload = "processname:cat groupname:pets from_state:RUNNING expected:1 pid:123"
    assert envelope == (
        "ver:3.0 server:supervisor serial:42 pool:listener poolserial:7 "
        f"eventname:PROCESS_STATE_EXITED len:{len(payload)}\n{payload}"
    )
    accented = Event(
        serial=0, wall_time=0, monotonic_time=0, data=RemoteCommunication(type="t", data="é")
    )
    header = listener_envelope(accented, server="s", pool="p", pool_serial=0).split("\n")[0]
    assert header.endswith(" len:8")  # "type:t\né": 8 characters, 9 bytes in UTF-8


def test_tick_when_is_supervisords_timeslice() -> None:
    """TICK's when is the start of the period containing the wall time."""
    assert tick_when(5, 1700000003.9) == 1700000000
    assert tick_when(60, 1700000003.9) == 1699999980
    assert tick_when(3600, 1700000003.9) == 1699999200


def test_registry_has_every_supervisord_type_with_its_families() -> None:
    """Every supervisord 4.3 event type name exists and abstract families are marked."""
    names = set(CORE.names())
    assert names == SUPERVISORD_TYPES | {"EVENT_BUFFER_OVERFLOW", *SUPERD_OWN}
    for name in SUPERD_OWN:
        assert CORE.is_listener_opt_in(name)  # superd's own: asked for by name
    assert {n for n in names if CORE.is_abstract(n)} == ABSTRACT
    assert set(CORE.names(include_abstract=False)) & ABSTRACT == set()


@pytest.mark.parametrize(
    ("name", "family", "expected"),
    [
        ("PROCESS_STATE_RUNNING", "PROCESS_STATE", True),
        ("PROCESS_STATE_RUNNING", "EVENT", True),
        ("PROCESS_STATE_RUNNING", "PROCESS_STATE_RUNNING", True),
        ("PROCESS_STATE_RUNNING", "PROCESS_STATE_EXITED", False),
        ("PROCESS_LOG_STDERR", "PROCESS_LOG", True),
        ("PROCESS_LOG_STDERR", "PROCESS_COMMUNICATION", False),
        ("PROCESS_COMMUNICATION_STDOUT", "PROCESS_COMMUNICATION", True),
        ("TICK_60", "TICK", True),
        ("TICK_60", "PROCESS_STATE", False),
        ("SUPERVISOR_STATE_CHANGE_STOPPING", "SUPERVISOR_STATE_CHANGE", True),
        ("PROCESS_GROUP_REMOVED", "PROCESS_GROUP", True),
        ("REMOTE_COMMUNICATION", "EVENT", True),
        ("EVENT_BUFFER_OVERFLOW", "EVENT", True),
        ("EVENT_BUFFER_OVERFLOW", "PROCESS_STATE", False),
    ],
)
def test_is_subtype(name: str, family: str, expected: bool) -> None:
    """Subscribing to a family receives exactly its members, as supervisord's isinstance."""
    assert CORE.is_subtype(name, family) is expected


def test_families_of_lists_ancestors_most_specific_first() -> None:
    """families_of walks the registered hierarchy, most specific first."""
    assert CORE.families_of("PROCESS_LOG_STDOUT") == ("PROCESS_LOG_STDOUT", "PROCESS_LOG", "EVENT")
    assert CORE.families_of("EVENT") == ("EVENT",)


def test_unknown_names_are_rejected_with_the_name() -> None:
    """An unknown type name raises UnknownEventType (a ValueError) that names it."""
    with pytest.raises(UnknownEventType, match="PROCESS_STAT"):
        CORE.is_subtype("PROCESS_STAT", "EVENT")
    with pytest.raises(ValueError, match="NOPE"):
        CORE.event_type("NOPE")
    assert "NOPE" not in CORE
    assert "TICK_5" in CORE


@dataclass(frozen=True, slots=True, kw_only=True)
class _TestFamily(EventData):
    event_name: ClassVar[str] = "TEST_FAMILY"
    groupname: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _TestUnnamed(_TestFamily):
    """An intermediate class without a name of its own: not a family."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _TestStormBegin(_TestUnnamed):
    event_name: ClassVar[str] = "TEST_STORM_BEGIN"
    restarts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _TestQuiet(EventData):
    event_name: ClassVar[str] = "TEST_QUIET"


@dataclass(frozen=True, slots=True, kw_only=True)
class _TestQuietKind(_TestQuiet):
    event_name: ClassVar[str] = "TEST_QUIET_KIND"


def test_a_registry_starts_with_only_the_root_and_core_types_are_added_by_a_function() -> None:
    """A bare registry knows only EVENT; with_core_types adds supervisord's, each time anew."""
    assert EventTypeRegistry().names() == ("EVENT",)
    assert EventTypeRegistry.with_core_types() is not CORE
    assert EventTypeRegistry.with_core_types().names() == CORE.names()


def test_new_types_register_into_one_registry_only() -> None:
    """Types an extension registers exist in that registry, in their families, nowhere else."""
    registry = EventTypeRegistry.with_core_types()
    registry.register(_TestFamily, abstract=True)
    registry.register(_TestStormBegin)
    assert registry.event_type("TEST_STORM_BEGIN") is _TestStormBegin
    assert registry.is_subtype("TEST_STORM_BEGIN", "TEST_FAMILY")
    assert registry.is_subtype("TEST_STORM_BEGIN", "EVENT")
    assert not registry.is_subtype("TEST_STORM_BEGIN", "PROCESS_STATE")
    assert registry.families_of("TEST_STORM_BEGIN") == ("TEST_STORM_BEGIN", "TEST_FAMILY", "EVENT")
    assert registry.is_abstract("TEST_FAMILY")
    assert registry.names()[-2:] == ("TEST_FAMILY", "TEST_STORM_BEGIN")
    assert "TEST_STORM_BEGIN" not in CORE
    assert "TEST_STORM_BEGIN" not in EventTypeRegistry.with_core_types()
    data = _TestStormBegin(groupname="web", restarts=40)
    assert listener_payload(data) == "groupname:web restarts:40"


def test_listener_opt_in_types_and_their_subtypes_leave_the_root_family() -> None:
    """An opt-in family and its members are not listed under EVENT; is_listener_opt_in says so."""
    registry = EventTypeRegistry.with_core_types()
    registry.register(_TestQuiet, abstract=True, listener_opt_in=True)
    registry.register(_TestQuietKind)
    assert registry.is_listener_opt_in("TEST_QUIET_KIND")
    assert registry.families_of("TEST_QUIET_KIND") == ("TEST_QUIET_KIND", "TEST_QUIET")
    assert registry.is_subtype("TEST_QUIET_KIND", "EVENT")
    assert not registry.is_listener_opt_in("PROCESS_STATE_EXITED")


def test_registering_the_same_type_again_is_a_no_op() -> None:
    """Two extensions may register the same types: the second time changes nothing."""
    registry = EventTypeRegistry.with_core_types()
    registry.register(_TestQuiet, abstract=True, listener_opt_in=True)
    registry.register(_TestQuiet, abstract=True, listener_opt_in=True)
    registry.register(ProcessStateRunning, Tick5)
    assert registry.names() == (*CORE.names(), "TEST_QUIET")


def test_registration_rejects_duplicates_bad_names_orphans_and_non_events() -> None:
    """Names are unique, UPPER_SNAKE_CASE, own, below registered families, on EventData."""
    registry = EventTypeRegistry.with_core_types()

    @dataclass(frozen=True, slots=True, kw_only=True)
    class OtherTick(EventData):
        event_name: ClassVar[str] = "TICK_5"

    @dataclass(frozen=True, slots=True, kw_only=True)
    class BadName(EventData):
        event_name: ClassVar[str] = "tick-5"

    with pytest.raises(ValueError, match="already registered"):
        registry.register(OtherTick)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Tick5, abstract=True)  # the same class with other flags
    with pytest.raises(ValueError, match="UPPER_SNAKE_CASE"):
        registry.register(BadName)
    with pytest.raises(ValueError, match="register its family TEST_FAMILY"):
        registry.register(_TestStormBegin)
    with pytest.raises(TypeError, match="does not declare its own event_name"):
        registry.register(_TestUnnamed)
    with pytest.raises(TypeError, match="not an EventData"):
        registry.register(int)  # type: ignore[arg-type]
    assert registry.names() == CORE.names()


def test_event_data_is_frozen_and_slotted() -> None:
    """Event data cannot be mutated or grow attributes: it is a snapshot."""
    data = ProcessStateRunning(**state_kw(from_state=S.STARTING, pid=1))
    with pytest.raises(FrozenInstanceError):
        data.pid = 2  # type: ignore[misc]
    assert not hasattr(data, "__dict__")


def test_to_json_dict_process_state_golden() -> None:
    """The JSON form is flat, names states and signals, and round-trips through json."""
    data = ProcessStateExited(
        **state_kw(
            from_state=S.RUNNING,
            pid=123,
            expected=False,
            returncode=-9,
            run_duration=2.5,
            run=4,
            episode=2,
        )
    )
    event = Event(serial=3, wall_time=1700000000.25, monotonic_time=88.5, data=data)
    assert to_json_dict(event) == {
        "serial": 3,
        "type": "PROCESS_STATE_EXITED",
        "wall_time": 1700000000.25,
        "monotonic_time": 88.5,
        "processname": "cat",
        "groupname": "pets",
        "from_state": "RUNNING",
        "cause": "exit",
        "run": 4,
        "episode": 2,
        "pid": 123,
        "tries": 0,
        "expected": False,
        "returncode": -9,
        "run_duration": 2.5,
        "spawnerr": None,
        "to_state": "EXITED",
        "signal": 9,
        "signal_name": "SIGKILL",
    }
    assert json.loads(json.dumps(to_json_dict(event))) == to_json_dict(event)


def test_to_json_dict_other_types_golden() -> None:
    """Non-state events carry their fields; bytes become text with bad bytes replaced."""
    log = Event(
        serial=0,
        wall_time=1.0,
        monotonic_time=2.0,
        data=ProcessLogStderr(**names_kw(pid=5, data=b"ok\xff")),
    )
    assert to_json_dict(log) == {
        "serial": 0,
        "type": "PROCESS_LOG_STDERR",
        "wall_time": 1.0,
        "monotonic_time": 2.0,
        "processname": "cat",
        "groupname": "pets",
        "pid": 5,
        "data": "ok\ufffd",
    }
    tick = Event(serial=1, wall_time=1.0, monotonic_time=2.0, data=Tick5(when=1700000000))
    assert to_json_dict(tick) == {
        "serial": 1,
        "type": "TICK_5",
        "wall_time": 1.0,
        "monotonic_time": 2.0,
        "when": 1700000000,
    }
    running = ProcessStateRunning(**state_kw(from_state=S.STARTING, pid=5))
    encoded = to_json_dict(Event(serial=2, wall_time=0, monotonic_time=0, data=running))
    assert (encoded["signal"], "signal_name" in encoded) == (None, False)


def test_to_json_dict_never_lets_a_field_overwrite_the_type() -> None:
    """REMOTE_COMMUNICATION's own ``type`` field is kept beside the event's ``type``,
    which stays the event type (found by the /events fuzz, issue 19)."""
    remote = RemoteCommunication(type="deploy", data="v2")
    assert to_json_dict(Event(serial=3, wall_time=1.0, monotonic_time=2.0, data=remote)) == {
        "serial": 3,
        "type": "REMOTE_COMMUNICATION",
        "wall_time": 1.0,
        "monotonic_time": 2.0,
        "remote_communication_type": "deploy",
        "data": "v2",
    }


def test_event_name_property() -> None:
    """A stamped event reports its data's type name."""
    event = Event(serial=0, wall_time=0, monotonic_time=0, data=Tick60(when=60))
    assert event.name == "TICK_60"
