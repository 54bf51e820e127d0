"""Fakes for tests, shipped with the package: virtual time, event capture, a fake runtime.

Rules of this file:
- Fakes implement the same Protocols as the real collaborators (``Clock``,
  ``Spawner``/``ChildHandle``) so tests pass them in instead of monkeypatching internals.
- Nothing here sleeps or reads the real clock: time moves only when a test says so,
  and timers fire in deadline order as it moves (``FakeClock.advance``,
  ``FakeClock.jump_to_next_deadline``).
"""

from __future__ import annotations

import asyncio
import errno
import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from supervisor_core.bus import EventBus
from supervisor_core.clock import Instant
from supervisor_core.config.model import ProcessConfig
from supervisor_core.events import Event, EventData, listener_payload, process_state_event
from supervisor_core.spawn import ExitStatus, SpawnError, SpawnRequest, decode_exit
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


class FakeChild:
    """A ``ChildHandle`` with no process behind it; the test decides when it exits.

    ``exit(returncode)`` reaps it at once: exit callbacks run synchronously (not via
    a loop), so unit tests need no event loop and no sleeping. Signals and stdin are
    recorded; set ``signal_error`` to make ``send_signal`` fail like the kernel would.
    """

    def __init__(self, pid: int, request: SpawnRequest) -> None:
        self._pid = pid
        self.request = request
        self.signals: list[tuple[int, bool]] = []
        """``(signal, to_group)`` for every signal sent, in order."""
        self.stdin = bytearray()
        self.stdin_closed = False
        self.closed = False
        self.signal_error: OSError | None = None
        self._status: ExitStatus | None = None
        self._callbacks: list[Callable[[ExitStatus], None]] = []
        self._waiters: list[asyncio.Future[ExitStatus]] = []

    def __repr__(self) -> str:
        return f"<FakeChild pid={self._pid} status={self._status}>"

    @property
    def pid(self) -> int:
        """The fake pid."""
        return self._pid

    @property
    def returncode(self) -> int | None:
        """The returncode once ``exit`` was called, else None."""
        return None if self._status is None else self._status.returncode

    @property
    def exit_status(self) -> ExitStatus | None:
        """The exit once ``exit`` was called, else None."""
        return self._status

    def take_output(self) -> tuple[int | None, int | None]:
        """No pipes: ``(None, None)``."""
        return None, None

    def add_exit_callback(self, callback: Callable[[ExitStatus], None]) -> None:
        """Call ``callback(status)`` at ``exit`` (at once if it already exited)."""
        if self._status is not None:
            callback(self._status)
        else:
            self._callbacks.append(callback)

    async def wait_exited(self) -> ExitStatus:
        """Wait for ``exit``."""
        if self._status is not None:
            return self._status
        waiter: asyncio.Future[ExitStatus] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    def exit(self, returncode: int) -> None:
        """The child is reaped with ``returncode`` (``-N``: killed by signal N)."""
        if self._status is not None:
            raise RuntimeError(f"{self!r} has already exited")
        exitcode, sig, core = decode_exit(returncode)
        self._status = ExitStatus(
            returncode=returncode, exitcode=exitcode, signal=sig, core_dumped=core
        )
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self._status)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(self._status)
        self._waiters.clear()

    def send_signal(self, sig: int, *, to_group: bool = False) -> None:
        """Record the signal; raise ``signal_error`` or, once exited, ESRCH."""
        if self.signal_error is not None:
            raise self.signal_error
        if self._status is not None:
            raise ProcessLookupError(errno.ESRCH, f"process {self._pid} has already exited")
        self.signals.append((sig, to_group))

    def write_stdin(self, data: bytes) -> None:
        """Append ``data`` to ``stdin``; EPIPE once stdin is closed."""
        if self.stdin_closed:
            raise BrokenPipeError(errno.EPIPE, "process has no open stdin")
        self.stdin += data

    async def wait_stdin_drained(self) -> None:
        """Everything is written at once: returns immediately."""

    def close_stdin(self) -> None:
        """Mark stdin closed."""
        self.stdin_closed = True

    def close(self) -> None:
        """Mark the handle closed (and stdin with it)."""
        self.close_stdin()
        self.closed = True


class FakeSpawner:
    """A ``Spawner`` handing out ``FakeChild`` ren with sequential pids.

    ``fail_next(message)`` makes the next spawn raise ``SpawnError(message)``.

    Example::

        spawner = FakeSpawner()
        runtime = ProcessRuntime(config, spawner=spawner, ...)
        runtime.start_nowait()
        spawner.latest.exit(1)
    """

    def __init__(self, *, first_pid: int = 100) -> None:
        self._pids = itertools.count(first_pid)
        self.children: list[FakeChild] = []
        self.requests: list[SpawnRequest] = []
        self._failures: deque[str] = deque()

    def fail_next(self, message: str, *, times: int = 1) -> None:
        """Make the next ``times`` spawns fail with ``SpawnError(message)``."""
        self._failures.extend([message] * times)

    def spawn(self, request: SpawnRequest) -> FakeChild:
        """Record ``request`` and return a new child (or raise a queued failure)."""
        self.requests.append(request)
        if self._failures:
            raise SpawnError(self._failures.popleft())
        child = FakeChild(next(self._pids), request)
        self.children.append(child)
        return child

    @property
    def latest(self) -> FakeChild:
        """The most recently spawned child."""
        if not self.children:
            raise LookupError("nothing was spawned")
        return self.children[-1]


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
