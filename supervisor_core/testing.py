"""Fakes for tests, shipped with the package: virtual time, event capture, a rigged runtime.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from supervisor_core.bus import EventBus
from supervisor_core.clock import Instant
from supervisor_core.config.model import ProcessConfig
from supervisor_core.events import Event, EventData, listener_payload
from supervisor_core.forensics import OomCounters
from supervisor_core.lifecycle import AUTOSTART, Cause, ProcessState, Requester
from supervisor_core.process import ProcessRuntime
from supervisor_core.spawn import ExitStatus, SpawnError, SpawnRequest, decode_exit
from supervisor_core.states import ProcessRecord

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
            rig.start()
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
        self.missing_commands: set[str] = set()
        """Commands ``check_command`` reports as not found (NO_FILE)."""
        self._pids = itertools.count(first_pid)
        self.children: list[FakeChild] = []
        self.requests: list[SpawnRequest] = []
        self._failures: deque[str] = deque()

    def fail_next(self, message: str, *, times: int = 1) -> None:
        """Make the next ``times`` spawns fail with ``SpawnError(message)``."""
        self._failures.extend([message] * times)

    def check_command(
        self,
        command: str,
        *,
        environment: Mapping[str, str] | None,
        base_environment: Mapping[str, str] | None,
    ) -> None:
        """Every command exists, except those in ``missing_commands``."""
        if command in self.missing_commands:
            raise SpawnError(f"can't find command {command!r}")

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


# --------------------------------------------------------------------------- runtime

# Requests made by a test: an operator, as a person at supervisorctl would be.
TEST_OPERATOR = Requester(cause=Cause.OPERATOR, origin="test")


class RuntimeRig:
    """The real ``ProcessRuntime`` of one process, with fakes for its injected parts.

    ``FakeClock`` is both its clock and its timer wheel, ``FakeSpawner`` hands out
    ``FakeChild`` ren that exit when the test says, the OOM probe reads nothing, and
    the process logs nowhere (its ``[program:x]`` log options are set to NONE: these
    rigs are for the machine and its events, the log path has its own tests). No
    event loop is needed: exits and timers run synchronously.

    Example::

        rig = RuntimeRig(config)
        rig.start()
        rig.clock.jump_to_next_deadline()   # startsecs: RUNNING
        rig.exit(1)                         # EXITED, then autorestart: STARTING
    """

    def __init__(
        self,
        config: ProcessConfig,
        *,
        clock: FakeClock | None = None,
        bus: EventBus | None = None,
        spawner: FakeSpawner | None = None,
        starts_allowed: bool = True,
    ) -> None:
        self.clock = clock if clock is not None else FakeClock()
        self.bus = bus if bus is not None else EventBus(self.clock)
        self.spawner = spawner if spawner is not None else FakeSpawner()
        self.starts_allowed = starts_allowed
        quiet = replace(
            config,
            stdout=replace(config.stdout, logfile=None),
            stderr=replace(config.stderr, logfile=None),
        )
        self.runtime = ProcessRuntime(
            quiet,
            bus=self.bus,
            spawner=self.spawner,
            clock=self.clock,
            timers=self.clock,
            serverurl=None,
            childlogdir="/nonexistent",  # never used: nothing is AUTO
            identifier="supervisor",
            strip_ansi=False,
            starts_allowed=lambda: self.starts_allowed,
            oom_counters=OomCounters,
        )

    @property
    def state(self) -> ProcessState:
        """The process' current state."""
        return self.runtime.state

    @property
    def record(self) -> ProcessRecord:
        """The state machine's record."""
        return self.runtime.record

    @property
    def child(self) -> FakeChild:
        """The most recently spawned child."""
        return self.spawner.latest

    def start(self, requester: Requester = TEST_OPERATOR) -> None:
        """A requested start (``startProcess``)."""
        self.runtime.start_nowait(requester)

    def autostart(self, requester: Requester = AUTOSTART) -> None:
        """The daemon's autostart."""
        self.runtime.autostart(requester)

    def stop(self, requester: Requester = TEST_OPERATOR) -> None:
        """A requested stop (``stopProcess``)."""
        self.runtime.stop_nowait(requester)

    def exit(self, returncode: int) -> None:
        """The current child exits with ``returncode`` (negative: killed by that signal)."""
        self.spawner.latest.exit(returncode)

    def run_until_running(self) -> None:
        """Let ``startsecs`` pass (the process must be STARTING)."""
        while self.state is ProcessState.STARTING and self.clock.jump_to_next_deadline():
            pass
