"""Fakes for tests, shipped with the package: virtual time, event capture, a fake runtime.

Rules of this file:
- Fakes implement the same Protocols as the real collaborators (``Clock``; later
  ``Spawner``) so tests pass them in instead of monkeypatching internals.
- Nothing here sleeps or reads the real clock: time moves only when a test says so,
  and timers fire in deadline order as it moves (``FakeClock.advance``,
  ``FakeClock.jump_to_next_deadline``).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from supervisor_core.bus import EventBus
from supervisor_core.clock import Instant
from supervisor_core.config.model import ProcessConfig
from supervisor_core.events import Event, EventData, listener_payload, process_state_event
from supervisor_core.states import (
    CancelTimer,
    Effect,
    Exited,
    Fact,
    Log,
    ProcessRecord,
    ProcessState,
    Publish,
    SendSignal,
    Spawn,
    Spawned,
    SpawnFailed,
    StartTimer,
    TimerFired,
    TimerKind,
    step,
)

# --------------------------------------------------------------------------- clock


@dataclass(eq=False, slots=True)
class FakeTimer:
    """A timer scheduled on a ``FakeClock``; ``cancel()`` it like an asyncio handle."""

    deadline: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        """Do not fire (idempotent)."""
        self.cancelled = True


class FakeClock:
    """A ``Clock`` whose time moves only when told, with a small timer wheel.

    Both clocks advance together; ``set_wall`` steps the wall clock alone (an NTP
    correction) so tests can show that deadlines do not care.

    Example::

        clock = FakeClock()
        clock.call_later(5, fired.append_it)
        clock.jump_to_next_deadline()  # now 5 s later, callback ran
    """

    def __init__(self, *, monotonic: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._sequence = itertools.count()

    def monotonic(self) -> float:
        """Virtual ``time.monotonic()``."""
        return self._monotonic

    def wall(self) -> float:
        """Virtual ``time.time()``."""
        return self._wall

    def now(self) -> Instant:
        """Both virtual clocks."""
        return Instant(self._monotonic, self._wall)

    def set_wall(self, wall: float) -> None:
        """Step the wall clock only (monotonic time and deadlines are unaffected)."""
        self._wall = wall

    def call_at(self, deadline: float, callback: Callable[[], None]) -> FakeTimer:
        """Run ``callback`` once monotonic time reaches ``deadline``.

        Timers with equal deadlines fire in the order they were scheduled; a
        deadline in the past fires at the next ``advance``.
        """
        timer = FakeTimer(deadline, callback)
        heapq.heappush(self._timers, (deadline, next(self._sequence), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        """``call_at(monotonic() + delay, callback)``."""
        return self.call_at(self._monotonic + delay, callback)

    def next_deadline(self) -> float | None:
        """The deadline of the earliest pending timer, or None."""
        self._drop_cancelled()
        return self._timers[0][0] if self._timers else None

    def pending(self) -> int:
        """How many timers are scheduled and not cancelled."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)

    def _move_to(self, monotonic: float) -> None:
        if monotonic > self._monotonic:
            self._wall += monotonic - self._monotonic
            self._monotonic = monotonic

    def advance_to(self, monotonic: float) -> int:
        """Move time to ``monotonic``, firing every due timer at its own deadline.

        Returns how many timers fired. Callbacks may schedule new timers; those due
        before ``monotonic`` fire too.
        """
        if monotonic < self._monotonic:
            raise ValueError(f"monotonic time cannot go back: {monotonic} < {self._monotonic}")
        fired = 0
        while True:
            self._drop_cancelled()
            if not self._timers or self._timers[0][0] > monotonic:
                break
            deadline, _, timer = heapq.heappop(self._timers)
            self._move_to(deadline)
            timer.cancelled = True  # a fired timer is spent
            timer.callback()
            fired += 1
        self._move_to(monotonic)
        return fired

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds``; see ``advance_to``."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative duration: {seconds}")
        return self.advance_to(self._monotonic + seconds)

    def jump_to_next_deadline(self) -> bool:
        """Move to the earliest pending deadline and fire what is due; False if none."""
        deadline = self.next_deadline()
        if deadline is None:
            return False
        self.advance_to(max(deadline, self._monotonic))
        return True


# --------------------------------------------------------------------------- events


@dataclass(slots=True)
class CapturedEvents:
    """Events a bus delivered while ``capture_events`` was active, in serial order."""

    events: list[Event] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __getitem__(self, index: int) -> Event:
        return self.events[index]

    def names(self) -> list[str]:
        """The event type names, in order."""
        return [event.name for event in self.events]

    def data(self) -> list[EventData]:
        """The event data, in order."""
        return [event.data for event in self.events]

    def payloads(self) -> list[str]:
        """supervisord listener payloads, in order."""
        return [listener_payload(event) for event in self.events]

    def serials(self) -> list[int]:
        """The serials, in order."""
        return [event.serial for event in self.events]


_capture_ids = itertools.count(1)


@contextmanager
def capture_events(bus: EventBus, types: Sequence[str] = ("EVENT",)) -> Iterator[CapturedEvents]:
    """Collect every event ``bus`` delivers inside the ``with`` block.

    Example::

        with capture_events(bus, types=("PROCESS_STATE",)) as captured:
            harness.feed(OperatorStart())
        assert captured.names() == ["PROCESS_STATE_STARTING"]
    """
    captured = CapturedEvents()
    subscription = bus.subscribe(
        captured.events.append, name=f"capture-events-{next(_capture_ids)}", types=types
    )
    try:
        yield captured
    finally:
        subscription.close()


# --------------------------------------------------------------------------- spawner

# FakeSpawner goes here. The ``Spawner`` / ``ChildHandle`` Protocols belong to
# ``supervisor_core.spawn`` (owned by the spawner work); the fake that implements them
# is added to this module next to ``FakeClock`` once that Protocol exists.


# --------------------------------------------------------------------------- machine


SpawnOutcome = int | str  # a pid for Spawned, an error text for SpawnFailed


def _sequential_pids(start: int = 100) -> Callable[[ProcessConfig], SpawnOutcome]:
    pids = itertools.count(start)
    return lambda config: next(pids)


class MachineHarness:
    """A fake runtime for one process: ``step`` plus effects carried out in virtual time.

    ``StartTimer``/``CancelTimer`` become ``FakeClock`` timers that feed
    ``TimerFired``; ``Publish`` goes to the bus; ``Spawn`` asks ``spawn(config)``
    for a pid (feeds ``Spawned``) or an error text (feeds ``SpawnFailed``);
    ``SendSignal`` is recorded in ``signals``. Facts caused by effects are fed after
    the current effects are done, as the real runtime does.

    Example::

        harness = MachineHarness(config)
        harness.feed(OperatorStart())
        harness.exit(1)          # Exited(returncode=1)
        harness.clock.jump_to_next_deadline()
    """

    def __init__(
        self,
        config: ProcessConfig,
        *,
        clock: FakeClock | None = None,
        bus: EventBus | None = None,
        spawn: Callable[[ProcessConfig], SpawnOutcome] | None = None,
        starts_allowed: bool = True,
    ) -> None:
        self.clock = clock if clock is not None else FakeClock()
        self.bus = bus if bus is not None else EventBus(self.clock)
        self.spawn = spawn if spawn is not None else _sequential_pids()
        self.starts_allowed = starts_allowed
        self.record = ProcessRecord(config=config)
        self.effects: list[Effect] = []
        self.signals: list[SendSignal] = []
        self.logs: list[Log] = []
        self._timers: dict[TimerKind, FakeTimer] = {}
        self._queue: list[Fact] = []
        self._feeding = False

    @property
    def state(self) -> ProcessState:
        """The record's current state."""
        return self.record.state

    def feed(self, fact: Fact) -> None:
        """Step the machine with ``fact`` (and any facts its effects cause)."""
        self._queue.append(fact)
        if self._feeding:
            return
        self._feeding = True
        try:
            while self._queue:
                next_fact = self._queue.pop(0)
                self.record, effects = step(
                    self.record, next_fact, self.clock.now(), starts_allowed=self.starts_allowed
                )
                for effect in effects:
                    self._apply(effect)
        finally:
            self._feeding = False

    def exit(self, returncode: int) -> None:
        """The child exits with ``returncode`` (negative: killed by that signal)."""
        self.feed(Exited(returncode=returncode))

    def _apply(self, effect: Effect) -> None:
        self.effects.append(effect)
        if isinstance(effect, Publish):
            self.bus.publish(process_state_event(effect.change), at=effect.change.at)
        elif isinstance(effect, Spawn):
            outcome = self.spawn(effect.config)
            if isinstance(outcome, int):
                self._queue.append(Spawned(pid=outcome))
            else:
                self._queue.append(SpawnFailed(error=outcome))
        elif isinstance(effect, SendSignal):
            self.signals.append(effect)
        elif isinstance(effect, StartTimer):
            self._cancel(effect.kind)
            kind = effect.kind
            self._timers[kind] = self.clock.call_at(
                effect.deadline, lambda: self.feed(TimerFired(kind=kind))
            )
        elif isinstance(effect, CancelTimer):
            self._cancel(effect.kind)
        else:
            self.logs.append(effect)

    def _cancel(self, kind: TimerKind) -> None:
        timer = self._timers.pop(kind, None)
        if timer is not None:
            timer.cancel()
