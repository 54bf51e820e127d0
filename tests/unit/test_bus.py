"""EventBus: gap-free serials, ordered fan-out, family filters, bounded buffers that count."""

from __future__ import annotations

import asyncio

import pytest

from supervisor_core.bus import EventBus, Overflow
from supervisor_core.clock import Instant
from supervisor_core.events import (
    Event,
    EventData,
    ProcessGroupAdded,
    ProcessStateEvent,
    ProcessStateRunning,
    Tick5,
    UnknownEventType,
)
from supervisor_core.lifecycle import Cause, ProcessState
from supervisor_core.testing import FakeClock, capture_events


def running(pid: int = 1) -> ProcessStateRunning:
    return ProcessStateRunning(
        processname="web",
        groupname="web",
        from_state=ProcessState.STARTING,
        cause=Cause.STARTSECS,
        pid=pid,
    )


async def let_other_tasks_run() -> None:
    """Yield one loop iteration (no sleeping): ready tasks run up to their next await."""
    loop = asyncio.get_running_loop()
    turn = loop.create_future()
    loop.call_soon(turn.set_result, None)
    await turn


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(monotonic=50.0, wall=1_700_000_000.0)


@pytest.fixture
def bus(clock: FakeClock) -> EventBus:
    return EventBus(clock)


def test_serials_are_gap_free_from_zero_and_stamped_with_time(
    bus: EventBus, clock: FakeClock
) -> None:
    """Each publish gets the next serial and the clock's wall and monotonic time."""
    first = bus.publish(Tick5(when=5))
    clock.advance(2.5)
    second = bus.publish(running())
    assert [first.serial, second.serial] == [0, 1]
    assert (second.monotonic_time, second.wall_time) == (52.5, 1_700_000_002.5)
    assert bus.snapshot().next_serial == 2


def test_publish_at_uses_the_given_instant(bus: EventBus) -> None:
    """publish(at=...) stamps the moment the fact happened, not the bus' clock."""
    event = bus.publish(running(), at=Instant(7.0, 8.0))
    assert (event.monotonic_time, event.wall_time) == (7.0, 8.0)


def test_first_serial_can_be_chosen(clock: FakeClock) -> None:
    """A bus can continue a serial sequence (e.g. after a journal replay)."""
    bus = EventBus(clock, first_serial=100)
    assert bus.publish(Tick5(when=0)).serial == 100


def test_every_subscriber_sees_the_same_ordered_sequence(bus: EventBus) -> None:
    """Synchronous subscribers receive every event in serial order, in subscription order."""
    calls: list[tuple[str, int]] = []
    bus.subscribe(lambda e: calls.append(("a", e.serial)), name="a")
    bus.subscribe(lambda e: calls.append(("b", e.serial)), name="b")
    for pid in range(3):
        bus.publish(running(pid))
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_filtering_by_family_and_by_exact_type(bus: EventBus) -> None:
    """types= accepts families (PROCESS_STATE) and exact names (TICK_5)."""
    with (
        capture_events(bus, types=("PROCESS_STATE",)) as states,
        capture_events(bus, types=("TICK_5", "PROCESS_GROUP_ADDED")) as others,
        capture_events(bus) as everything,
    ):
        bus.publish(running())
        bus.publish(Tick5(when=5))
        bus.publish(ProcessGroupAdded(groupname="web"))
    assert states.names() == ["PROCESS_STATE_RUNNING"]
    assert others.names() == ["TICK_5", "PROCESS_GROUP_ADDED"]
    assert everything.serials() == [0, 1, 2]


def test_unknown_type_names_fail_at_subscribe(bus: EventBus) -> None:
    """A typo in types= is an error when subscribing, naming the bad type."""
    with pytest.raises(UnknownEventType, match="PROCES_STATE"):
        bus.subscribe(lambda e: None, name="x", types=("PROCES_STATE",))
    with pytest.raises(ValueError, match="at least one"):
        bus.subscribe(lambda e: None, name="x", types=())


def test_subscriber_names_are_unique(bus: EventBus) -> None:
    """Two live subscribers cannot share a name (counters are keyed by it)."""
    bus.subscribe(lambda e: None, name="dup")
    with pytest.raises(ValueError, match="dup"):
        bus.subscribe_buffer("dup", maxsize=1)
    with pytest.raises(ValueError, match="empty"):
        bus.subscribe(lambda e: None, name="")


def test_abstract_and_unregistered_types_cannot_be_published(bus: EventBus) -> None:
    """Families are for subscribing only; data must be a registered concrete type."""
    with pytest.raises(TypeError, match="abstract"):
        bus.publish(EventData())
    with pytest.raises(TypeError, match="abstract"):
        bus.publish(
            ProcessStateEvent(
                processname="x", groupname="x", from_state=ProcessState.STOPPED, cause=Cause.EXIT
            )
        )
    assert bus.snapshot().next_serial == 0


def test_unsubscribe_stops_delivery(bus: EventBus) -> None:
    """After close()/unsubscribe a subscriber gets nothing more; repeating it is harmless."""
    seen: list[int] = []
    subscription = bus.subscribe(lambda e: seen.append(e.serial), name="s")
    bus.publish(Tick5(when=0))
    subscription.close()
    bus.unsubscribe(subscription)
    bus.publish(Tick5(when=5))
    assert seen == [0]
    assert bus.snapshot().subscribers == ()


def test_events_published_by_a_subscriber_keep_global_order(bus: EventBus) -> None:
    """An event published during delivery reaches everyone after the current one."""
    order: list[tuple[str, str]] = []

    def reducer(event: Event) -> None:
        order.append(("reducer", event.name))
        if event.name == "PROCESS_STATE_RUNNING":
            bus.publish(ProcessGroupAdded(groupname="derived"))

    bus.subscribe(reducer, name="reducer")
    bus.subscribe(lambda e: order.append(("late", e.name)), name="late")
    bus.publish(running())
    assert order == [
        ("reducer", "PROCESS_STATE_RUNNING"),
        ("late", "PROCESS_STATE_RUNNING"),
        ("reducer", "PROCESS_GROUP_ADDED"),
        ("late", "PROCESS_GROUP_ADDED"),
    ]


def test_a_failing_subscriber_is_counted_and_does_not_stop_others(
    bus: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback that raises is logged and counted; later subscribers still get the event."""

    def broken(event: Event) -> None:
        raise RuntimeError("reducer bug")

    bus.subscribe(broken, name="broken")
    with capture_events(bus) as captured:
        bus.publish(Tick5(when=0))
    assert captured.serials() == [0]
    assert bus.snapshot().subscriber_errors == {"broken": 1}
    assert "broken" in caplog.text


def test_snapshot_counts_events_by_type(bus: EventBus) -> None:
    """events_total counts every published event by type name, subscribed or not."""
    bus.publish(Tick5(when=0))
    bus.publish(Tick5(when=5))
    bus.publish(running())
    snapshot = bus.snapshot()
    assert snapshot.events_total == {"TICK_5": 2, "PROCESS_STATE_RUNNING": 1}
    bus.publish(Tick5(when=10))
    assert snapshot.events_total["TICK_5"] == 2  # a snapshot is frozen


def test_full_buffer_drops_newest_and_counts_without_blocking(bus: EventBus) -> None:
    """A full bounded buffer drops the incoming event, counts it, and publish returns."""
    sub = bus.subscribe_buffer("slow", maxsize=2)
    for when in range(5):
        bus.publish(Tick5(when=when))
    assert sub.qsize() == 2
    assert bus.dropped("slow") == 3
    assert [sub.get_nowait().serial, sub.get_nowait().serial] == [0, 1]
    assert bus.snapshot().dropped == {"slow": 3}


def test_full_buffer_can_drop_oldest(bus: EventBus) -> None:
    """Overflow.DROP_OLDEST keeps the newest events (supervisord's listener pool policy)."""
    sub = bus.subscribe_buffer("pool", maxsize=2, overflow=Overflow.DROP_OLDEST)
    for when in range(5):
        bus.publish(Tick5(when=when))
    assert [sub.get_nowait().serial, sub.get_nowait().serial] == [3, 4]
    assert bus.dropped("pool") == 3
    with pytest.raises(asyncio.QueueEmpty):
        sub.get_nowait()


def test_drop_counts_survive_unsubscribe(bus: EventBus) -> None:
    """Dropped counters are monotonic: they stay after the subscriber leaves."""
    sub = bus.subscribe_buffer("gone", maxsize=1)
    bus.publish(Tick5(when=0))
    bus.publish(Tick5(when=5))
    sub.close()
    assert bus.dropped("gone") == 1
    assert bus.dropped("never-existed") == 0


def test_buffer_size_must_be_positive(bus: EventBus) -> None:
    """maxsize < 1 is refused with the subscriber's name."""
    with pytest.raises(ValueError, match="tiny"):
        bus.subscribe_buffer("tiny", maxsize=0)


async def test_async_iteration_receives_in_order_and_ends_on_close(bus: EventBus) -> None:
    """async for yields buffered events in order, waits for new ones, and ends after close."""
    sub = bus.subscribe_buffer("sse", maxsize=10, types=("TICK",))
    received: list[int] = []

    async def reader() -> None:
        received.extend([event.serial async for event in sub])

    async with asyncio.TaskGroup() as group:
        task = group.create_task(reader())
        bus.publish(Tick5(when=0))
        bus.publish(running())  # filtered out
        await let_other_tasks_run()  # the reader now blocks on an empty buffer
        bus.publish(Tick5(when=5))
        bus.publish(Tick5(when=10))
        sub.close()
    assert task.done()
    assert received == [0, 2, 3]


async def test_get_waits_for_the_next_event(bus: EventBus) -> None:
    """get() suspends until publish delivers, without the publisher ever awaiting."""
    sub = bus.subscribe_buffer("one", maxsize=1)
    waiter = asyncio.ensure_future(sub.get())
    await let_other_tasks_run()
    assert not waiter.done()
    published = bus.publish(Tick5(when=0))
    assert await waiter == published


async def test_bus_close_ends_every_buffered_subscription(bus: EventBus) -> None:
    """bus.close() unsubscribes everyone; readers drain what is left then stop."""
    a = bus.subscribe_buffer("a", maxsize=5)
    b = bus.subscribe_buffer("b", maxsize=5)
    bus.publish(Tick5(when=0))
    bus.close()
    assert a.closed
    assert b.closed
    assert [e.serial async for e in a] == [0]
    assert b.get_nowait().serial == 0
    with pytest.raises(StopAsyncIteration):
        await b.get()
    assert bus.snapshot().subscribers == ()


def test_subscribers_added_or_removed_between_events_of_one_type_are_honoured(
    bus: EventBus,
) -> None:
    """Delivery follows the current subscriptions even after events of that type went out."""
    first: list[int] = []
    second: list[int] = []
    one = bus.subscribe(lambda e: first.append(e.serial), name="one", types=("TICK",))
    bus.publish(Tick5(when=0))
    bus.subscribe(lambda e: second.append(e.serial), name="two", types=("TICK_5",))
    bus.publish(Tick5(when=5))
    one.close()
    bus.publish(Tick5(when=10))
    buffer = bus.subscribe_buffer("buffer", maxsize=1, types=("TICK",))
    bus.publish(Tick5(when=15))
    bus.publish(Tick5(when=20))  # the buffer is full: dropped and counted
    assert first == [0, 1]
    assert second == [1, 2, 3, 4]
    assert buffer.get_nowait().serial == 3
    assert bus.dropped("buffer") == 1


def test_a_subscriber_added_during_delivery_gets_the_next_event_not_the_current(
    bus: EventBus,
) -> None:
    """Subscribing from a callback takes effect with the next event (the loop keeps its list)."""
    late: list[int] = []

    def add_late(event: Event) -> None:
        if event.serial == 0:
            bus.subscribe(lambda e: late.append(e.serial), name="late")

    bus.subscribe(add_late, name="adder")
    bus.publish(Tick5(when=0))
    bus.publish(Tick5(when=5))
    assert late == [1]


def test_an_unregistered_type_is_refused_after_a_registered_one_was_published(
    bus: EventBus,
) -> None:
    """The check of a published type is remembered per class, never for another class."""

    class Stray(Tick5):  # not registered: a subclass is not its parent's type
        pass

    bus.publish(Tick5(when=0))
    with pytest.raises(TypeError, match="not a registered concrete event type"):
        bus.publish(Stray(when=5))
    assert bus.snapshot().next_serial == 1


def test_a_published_event_equals_the_one_its_constructor_gives(
    bus: EventBus, clock: FakeClock
) -> None:
    """publish builds the same Event the dataclass constructor would (every field set)."""
    data = Tick5(when=0)
    event = bus.publish(data, at=Instant(wall=1.5, monotonic=2.5))
    assert event == Event(serial=0, wall_time=1.5, monotonic_time=2.5, data=data)
    assert repr(event) == repr(Event(serial=0, wall_time=1.5, monotonic_time=2.5, data=data))
