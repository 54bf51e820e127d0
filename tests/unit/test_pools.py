"""ListenerPool over FakeSpawner/FakeClock: dispatch, re-buffering, overflow, filtering, close.

The listeners' stdout is the ``on_output`` callback the pool hands to its process
factory, called here with scripted bytes; their stdin is ``FakeChild.stdin``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from supervisor_core.bus import EventBus
from supervisor_core.config import ConfigError, parse
from supervisor_core.config.model import (
    ChannelConfig,
    GroupConfig,
    GroupKind,
    ProcessConfig,
    ProgramKind,
)
from supervisor_core.events import (
    EventData,
    EventTypeRegistry,
    ProcessGroupAdded,
    RemoteCommunication,
    Tick5,
    Tick60,
)
from supervisor_core.lifecycle import EventListenerState as L
from supervisor_core.lifecycle import ProcessState
from supervisor_core.listeners import BadResultHandler
from supervisor_core.pools import (
    ListenerOutput,
    ListenerPool,
    check_listener_events,
    subscriber_name,
)
from supervisor_core.process import ProcessRuntime
from supervisor_core.testing import FakeChild, FakeClock, FakeSpawner, capture_events

NO_LOG = ChannelConfig(logfile=None)


def listener(name: str, priority: int) -> ProcessConfig:
    return ProcessConfig(
        name=name,
        program_name="pool",
        group_name="pool",
        kind=ProgramKind.EVENTLISTENER,
        command="/bin/cat",
        priority=priority,
        startsecs=0,
        stdout=NO_LOG,
        stderr=NO_LOG,
    )


class Harness:
    """A pool of listeners l0, l1, ... over fakes; ``say(name, bytes)`` is their stdout."""

    def __init__(
        self,
        *,
        size: int = 2,
        buffer_size: int = 10,
        events: Any = None,
        registry: EventTypeRegistry | None = None,
    ) -> None:
        self.clock = FakeClock()
        self.bus = EventBus(self.clock, registry=registry)
        self.spawner = FakeSpawner()
        self.outputs: dict[str, ListenerOutput] = {}
        self.runtimes: dict[str, ProcessRuntime] = {}
        config = GroupConfig(
            name="pool",
            kind=GroupKind.EVENTLISTENER,
            priority=-1,
            processes=tuple(listener(f"l{i}", i) for i in range(size)),
            buffer_size=buffer_size,
            events=frozenset(events or {"REMOTE_COMMUNICATION"}),
        )

        def make(process_config: ProcessConfig, on_output: ListenerOutput) -> ProcessRuntime:
            self.outputs[process_config.name] = on_output
            runtime = ProcessRuntime(
                process_config,
                bus=self.bus,
                spawner=self.spawner,
                clock=self.clock,
                serverurl=None,
                childlogdir="/nonexistent",
                identifier="test",
                strip_ansi=False,
                timers=self.clock,
            )
            self.runtimes[process_config.name] = runtime
            return runtime

        self.pool = ListenerPool(config, make, bus=self.bus, identifier="test")

    def start(self) -> None:
        self.pool.autostart()

    def child(self, name: str) -> FakeChild:
        pid = self.runtimes[name].pid
        return next(c for c in self.spawner.children if c.pid == pid)

    def say(self, name: str, data: bytes) -> None:
        self.outputs[name](self.runtimes[name].pid, data)

    def received(self, name: str) -> list[str]:
        """The envelopes written to ``name``'s current stdin."""
        text = bytes(self.child(name).stdin).decode()
        return [part for part in text.split("ver:3.0 ") if part]

    def remote(self, data: str) -> int:
        return self.bus.publish(RemoteCommunication(type="t", data=data)).serial

    def buffered(self) -> list[int]:
        return list(self.pool.pool_snapshot().buffered)


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.start()
    return harness


def test_no_event_before_ready_then_the_oldest_goes_to_the_first_ready_listener(
    h: Harness,
) -> None:
    """Events wait in the buffer until a RUNNING listener says READY; envelope is exact."""
    serial = h.remote("héllo")  # len: counts characters (12), not UTF-8 bytes (13)
    assert h.buffered() == [serial]
    assert h.received("l0") == []
    h.say("l1", b"READY\n")
    assert h.received("l1") == [
        f"server:test serial:{serial} pool:pool poolserial:0 eventname:REMOTE_COMMUNICATION"
        " len:12\ntype:t\nhéllo"
    ]
    assert h.pool.listener_state("l1") is L.BUSY
    assert h.buffered() == []
    info = {i.name: i for i in h.pool.pool_snapshot().listeners}
    assert (info["l1"].event_serial, info["l1"].pool_serial) == (serial, 0)


def test_each_event_goes_to_one_listener_in_priority_order(h: Harness) -> None:
    """With both READY, the first in priority order gets the event; the next goes to the other."""
    h.say("l0", b"READY\n")
    h.say("l1", b"READY\n")
    h.remote("a")
    h.remote("b")
    h.remote("c")
    assert len(h.received("l0")) == 1
    assert len(h.received("l1")) == 1
    assert h.buffered() != []  # c waits for an acknowledgement
    h.say("l0", b"RESULT 2\nOK")
    assert h.pool.listener_state("l0") is L.ACKNOWLEDGED
    h.say("l0", b"READY\n")
    assert [e.split("\n", 1)[1] for e in h.received("l0")] == ["type:t\na", "type:t\nc"]


def test_a_rejected_event_is_rebuffered_with_its_pool_serial_and_resent(h: Harness) -> None:
    """FAIL puts the event back at the head; the next READY listener gets it again."""
    serial = h.remote("x")
    h.say("l0", b"READY\n")
    h.say("l0", b"RESULT 4\nFAIL")
    assert h.buffered() == [serial]
    h.say("l1", b"READY\n")
    assert f"serial:{serial} pool:pool poolserial:0 " in h.received("l1")[0]


def test_a_listener_that_dies_busy_has_its_event_rebuffered(h: Harness) -> None:
    """Exit while BUSY: the event goes back to the buffer and reaches the other listener."""
    serial = h.remote("x")
    h.say("l0", b"READY\n")
    h.child("l0").exit(-9)
    assert h.buffered() == [serial]
    h.say("l1", b"READY\n")
    assert f"serial:{serial} " in h.received("l1")[0]


def test_a_restarted_listener_starts_acknowledged(h: Harness) -> None:
    """A new run of a listener is ACKNOWLEDGED again, whatever the last run did."""
    h.say("l0", b"garbage")
    assert h.pool.listener_state("l0") is L.UNKNOWN
    h.child("l0").exit(1)  # unexpected exit: autorestart spawns a new run
    assert h.runtimes["l0"].state is ProcessState.RUNNING
    assert h.pool.listener_state("l0") is L.ACKNOWLEDGED
    h.say("l0", b"READY\n")
    assert h.pool.listener_state("l0") is L.READY


def test_output_of_an_old_run_is_ignored(h: Harness) -> None:
    """Bytes tagged with a previous run's pid (a grandchild's) do not touch the new run."""
    old_pid = h.runtimes["l0"].pid
    h.say("l0", b"READY\n")
    h.child("l0").exit(1)
    h.say("l0", b"READY\n")  # new run: READY
    h.outputs["l0"](old_pid, b"garbage")
    assert h.pool.listener_state("l0") is L.READY


def test_stdout_eof_while_busy_rebuffers_and_makes_the_listener_unknown(h: Harness) -> None:
    """A listener that closes stdout cannot answer: UNKNOWN, its event goes to another."""
    serial = h.remote("x")
    h.say("l0", b"READY\n")
    h.say("l0", b"")
    assert h.pool.listener_state("l0") is L.UNKNOWN
    assert h.buffered() == [serial]
    h.say("l1", b"READY\n")
    assert len(h.received("l1")) == 1


def test_protocol_violations_rebuffer_the_event_and_keep_the_pool_working(h: Harness) -> None:
    """Bad result line: UNKNOWN + event re-buffered; the other listener still gets it."""
    serial = h.remote("x")
    h.say("l0", b"READY\n")
    h.say("l0", b"RESULT ok\n")
    assert h.pool.listener_state("l0") is L.UNKNOWN
    assert h.buffered() == [serial]
    h.say("l1", b"READY\n")
    assert len(h.received("l1")) == 1
    h.remote("y")
    assert len(h.received("l0")) == 1  # UNKNOWN gets nothing more


def test_write_failure_skips_the_listener(h: Harness) -> None:
    """EPIPE on a READY listener's stdin: it is skipped, the event goes to the next one."""
    h.say("l0", b"READY\n")
    h.say("l1", b"READY\n")
    h.child("l0").close_stdin()
    h.remote("x")
    assert h.pool.listener_state("l0") is L.READY
    assert h.pool.listener_state("l1") is L.BUSY


def test_overflow_discards_the_oldest_counts_logs_and_publishes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A full buffer drops its oldest event: bus counter pool:NAME, ERROR log, overflow event."""
    h = Harness(buffer_size=2)
    h.start()
    with capture_events(h.bus, ("EVENT_BUFFER_OVERFLOW",)) as overflows:
        first = h.remote("a")
        second = h.remote("b")
        with caplog.at_level(logging.ERROR, logger="supervisor_core.pools"):
            third = h.remote("c")
    assert h.buffered() == [second, third]
    assert h.bus.snapshot().dropped == {subscriber_name("pool"): 1}
    assert h.pool.pool_snapshot().dropped == 1
    assert f"pool pool event buffer overflowed, discarding event {first}" in caplog.text
    assert [(d.groupname, d.serial) for d in overflows.data()] == [("pool", first)]  # type: ignore[attr-defined]


def test_a_pool_never_buffers_its_own_overflow_events() -> None:
    """Subscribed to EVENT_BUFFER_OVERFLOW, a full pool does not feed itself forever."""
    h = Harness(buffer_size=1, events={"REMOTE_COMMUNICATION", "EVENT_BUFFER_OVERFLOW"})
    h.start()
    h.remote("a")
    last = h.remote("b")
    assert h.buffered() == [last]
    assert h.pool.pool_snapshot().dropped == 1


def test_listeners_see_only_the_types_they_subscribed_to_by_name_or_family() -> None:
    """events=TICK takes every TICK_*; other types (even ones in the bus) are not buffered."""
    h = Harness(events={"TICK"})
    h.start()
    tick5 = h.bus.publish(Tick5(when=5)).serial
    tick60 = h.bus.publish(Tick60(when=60)).serial
    h.remote("not for us")
    h.bus.publish(ProcessGroupAdded(groupname="g"))
    assert h.buffered() == [tick5, tick60]


def test_listener_state_events_are_not_delivered_unless_subscribed(h: Harness) -> None:
    """The pool follows its listeners' PROCESS_STATE events without buffering them."""
    h.child("l0").exit(1)
    assert h.buffered() == []


def test_close_counts_undelivered_and_unanswered_events(caplog: pytest.LogCaptureFixture) -> None:
    """Closing with events buffered or in flight counts them as dropped, and unsubscribes."""
    h = Harness()
    h.start()
    h.say("l0", b"READY\n")
    h.remote("in flight")
    h.remote("waiting")
    h.pool.system_stop()
    for name in ("l0", "l1"):
        h.child(name).exit(-15)
    # l0 died BUSY: its event was re-buffered; both are now undelivered.
    assert len(h.buffered()) == 2


async def test_aclose_counts_and_releases_the_subscriber_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aclose: leftovers are counted as dropped (WARNING), the name is free for a new pool."""
    h = Harness()
    h.start()
    h.remote("waiting")
    h.pool.system_stop()
    for name in ("l0", "l1"):
        h.child(name).exit(-15)
    with caplog.at_level(logging.WARNING, logger="supervisor_core.pools"):
        await h.pool.aclose()
    assert h.bus.dropped(subscriber_name("pool")) == 1
    assert "undelivered" in caplog.text
    assert subscriber_name("pool") not in h.bus.snapshot().subscribers


def test_a_bad_result_handler_is_refused() -> None:
    """An unimportable result_handler fails the pool's construction with the spec named."""
    clock = FakeClock()
    config = GroupConfig(
        name="p",
        kind=GroupKind.EVENTLISTENER,
        events=frozenset({"TICK"}),
        result_handler="nowhere.at.all:handler",
    )
    with pytest.raises(BadResultHandler, match=r"nowhere\.at\.all"):
        ListenerPool(config, lambda c, o: None, bus=EventBus(clock), identifier="x")  # type: ignore[arg-type, return-value]


@dataclass(frozen=True, slots=True, kw_only=True)
class Beacon(EventData):
    """An event type an extension would add (not one of supervisord's)."""

    event_name: ClassVar[str] = "TEST_BEACON"
    note: str


def test_check_listener_events_names_every_unknown_type_at_its_line() -> None:
    """Unknown events= names are ConfigErrors at the events= line; programs are not looked at."""
    text = (
        "[supervisord]\n"
        "[program:p]\ncommand=c\n"
        "[eventlistener:x]\ncommand=c\nevents=TICK_5,tick_7,TEST_BEACON\n"
        "[eventlistener:y]\ncommand=c\nevents=PROCESS_STATE\n"
    )
    config = parse(text, "/c/s.conf", environ={})
    with pytest.raises(ConfigError) as caught:
        check_listener_events(config.groups, EventTypeRegistry.with_core_types())
    assert [str(p) for p in caught.value.problems] == [
        "/c/s.conf:6: [eventlistener:x] events: unknown event type: 'TEST_BEACON'",
        "/c/s.conf:6: [eventlistener:x] events: unknown event type: 'TICK_7'",
    ]
    registry = EventTypeRegistry.with_core_types()
    registry.register(Beacon)
    with pytest.raises(ConfigError, match="TICK_7") as caught:
        check_listener_events(config.groups, registry)
    assert len(caught.value.problems) == 1


def test_a_pool_gets_the_types_of_its_bus_registry_and_is_refused_others() -> None:
    """A pool may name a type its bus' registry holds (and receives it); else it is not built."""
    registry = EventTypeRegistry.with_core_types()
    registry.register(Beacon)
    h = Harness(events={"TEST_BEACON"}, registry=registry)
    h.start()
    for name in ("l0", "l1"):
        h.say(name, b"READY\n")
    serial = h.bus.publish(Beacon(note="hi")).serial
    assert [e.split(" ", 3)[1] for e in h.received("l0")] == [f"serial:{serial}"]
    assert h.received("l0")[0].endswith("eventname:TEST_BEACON len:7\nnote:hi")

    bus = EventBus(FakeClock())
    config = GroupConfig(name="p", kind=GroupKind.EVENTLISTENER, events=frozenset({"TEST_BEACON"}))
    with pytest.raises(ConfigError, match=r"\[eventlistener:p\] events: unknown event type"):
        ListenerPool(config, lambda c, o: None, bus=bus, identifier="x")  # type: ignore[arg-type, return-value]
    assert bus.snapshot().subscribers == ()
