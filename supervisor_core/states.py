"""The state machine of one managed process, as pure data and one pure function.

Rules of this file:
- Pure: no I/O, no ``await``, no clock reads. Time comes in as ``now``; everything the
  outside world must do goes out as *effects* (``Spawn``, ``SendSignal``,
  ``StartTimer``, ``CancelTimer``, ``Publish``, ``Log``) for the runtime to carry out
  in order.
- ``step(record, fact, now)`` is the only way a ``ProcessRecord`` changes. Records,
  facts and effects are frozen dataclasses; ``step`` returns a new record.
- Every legal (state, fact) pair is a row of ``TRANSITIONS``; any other pair raises
  ``IllegalTransition`` naming process, state and fact: for a request, the typed
  refusal (``AlreadyStarted``, ``NotRunning``, ...) that the runtime maps one to one to
  the control plane's error, so nothing checks a state twice.
- Every transition carries its ``Cause`` (``lifecycle``): the request's, or what the
  machine reacted to. A restart is a start whose cause is an automatic one.
- Policy guards (``exitcodes``, ``autorestart``, ``startsecs``, ``startretries``) are
  the small functions beside the table.
- The semantics are supervisord 4.3's ``Subprocess`` (spawn, finish, kill, stop,
  give_up, transition), including its quirks, which are marked "supervisord quirk".
  Differences are marked "divergence" and say why.
- Each state owns at most one timer: STARTING the ``startsecs`` timer, BACKOFF the
  retry delay, STOPPING the ``stopwaitsecs`` deadline, EXITED the damped restart
  delay (only with ``backoff_initial > 0``). Leaving the state cancels it.
- Restart damping (``backoff_*``, ``startlimit_*``; superd only) is decided by the
  pure functions of ``damping.py`` from the record's history (``restart_streak``,
  ``start_times``) and ``now``; with the defaults it is off and every transition,
  effect and log line is supervisord's.

Protocol the runtime (``process.py``) follows:
1. Feed facts for one process one at a time; carry out the returned effects in order
   before feeding the next fact. A ``Spawn`` may be carried out ahead of the other
   effects of its step (its outcome is the next fact, rule 2, and no other effect
   depends on it), so an autorestart forks before the exit is fanned out.
2. After a ``Spawn`` effect, the next fact for that process is ``Spawned(pid)`` or
   ``SpawnFailed(error)``.
3. ``SendSignal``: ``os.kill(-pid if to_group else pid, signal)``. ``ESRCH`` means the
   child already exited; ignore it (its ``Exited`` follows). Any other ``OSError``:
   feed ``SignalFailed(error)``.
4. ``StartTimer(kind, deadline)`` starts or replaces the process' timer of that kind
   (``loop.call_at(deadline, ...)`` on the monotonic clock) which feeds
   ``TimerFired(kind)``; ``CancelTimer(kind)`` cancels it. A ``TimerFired`` for a
   timer the record no longer holds is ignored, so a cancel race is harmless.
5. ``Publish(event, at)``: publish ``event`` on the bus, stamped ``at``. The event is
   the transition: the one frozen record (with its ``cause``) that every consumer
   reads; nothing downstream re-derives why it happened.
6. Automatic starts (autostart, autorestart, BACKOFF retries) happen only when
   ``step(..., starts_allowed=True)``; pass False once the supervisor is shutting down
   (supervisord checks ``mood > RESTARTING`` for exactly these three).

Example::

    record = ProcessRecord(config=config)
    record, effects = step(record, OperatorStart(requester=operator), clock.now())
    # effects == (Publish(ProcessStateStarting(cause=Cause.OPERATOR, ...)), Spawn(config))
"""

from __future__ import annotations

import enum
import signal
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TypeAlias

from supervisor_core.clock import Instant
from supervisor_core.config.model import (
    AutoRestart,
    LogLevel,
    ProcessConfig,
    ReadyCheck,
    ReadyKind,
)
from supervisor_core.damping import (
    BackoffPolicy,
    StartLimit,
    backoff_delay,
    jitter_rng,
    recent_starts,
    start_limit_reached,
    streak_after,
)
from supervisor_core.events import PROCESS_STATE_EVENT_TYPES, ProcessStateEvent
from supervisor_core.lifecycle import (
    AUTOSTART,
    RUNNING_STATES,
    SHUTDOWN,
    Cause,
    ProcessState,
    Requester,
)
from supervisor_core.signals import describe_returncode

# --------------------------------------------------------------------------- states

# spawnerr strings a client sees through getProcessInfo / supervisorctl status; they
# are part of the compatibility surface, so they match supervisord's.
SPAWNERR_TOO_QUICKLY = "Exited too quickly (process log may have details)"


def spawnerr_start_limit(limit: StartLimit) -> str:
    """The spawnerr of a process the start limit sent to FATAL (superd only)."""
    return (
        f"Start limit reached: {limit.burst} starts within {limit.interval:g} seconds "
        "(startlimit_burst/startlimit_interval)"
    )


SPAWNERR_EXITED_BEFORE_READY = "Exited before it was ready (process log may have details)"


def spawnerr_not_ready(timeout: float) -> str:
    """The spawnerr of a start that was not ready within ``ready_timeout`` (superd only)."""
    return f"Not ready within {timeout:g} seconds (ready_timeout)"


def spawnerr_bad_exit_code(exitstatus: int) -> str:
    """The spawnerr supervisord records after an unexpected exit from RUNNING."""
    return f"Bad exit code {exitstatus}"


def supervisord_exitstatus(returncode: int) -> int:
    """supervisord's exit status for a Popen returncode: killed by a signal is -1.

    supervisord's ``decode_wait_status`` maps every signal death to -1; we keep the
    real signal in ``returncode`` and events, and show -1 where supervisord shows it.
    """
    return returncode if returncode >= 0 else -1


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorStart:
    """Somebody asked to start the process (``startProcess``); ``requester`` says who."""

    requester: Requester


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoStart:
    """The daemon has loaded the process: start it if ``autostart`` says so.

    A no-op unless the process is STOPPED and was never started (supervisord's
    ``state == STOPPED and not laststart`` in ``transition``). ``requester`` tells
    a daemon start-up (AUTOSTART) from a reload (RELOAD) and a group added at run
    time (UPDATE).
    """

    requester: Requester = AUTOSTART


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorStop:
    """Somebody asked to stop the process (``stopProcess``); ``requester`` says who."""

    requester: Requester


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemStop:
    """The supervisor is shutting down and stops this process (its ``stop_all``).

    Unlike ``OperatorStop``, BACKOFF goes to FATAL and a stopped process is a no-op.
    ``requester`` is SHUTDOWN or RELOAD.
    """

    requester: Requester = SHUTDOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorSignal:
    """Somebody asked to send ``signal`` to the process (``signalProcess``)."""

    signal: signal.Signals
    requester: Requester


@dataclass(frozen=True, slots=True, kw_only=True)
class Spawned:
    """The child was created with process id ``pid``."""

    pid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SpawnFailed:
    """The child could not be created; ``error`` becomes ``spawnerr``."""

    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitForensics:
    """What the runtime learnt about an exit besides its status (``forensics.py``).

    - ``core_dumped``: the kernel reported a core dump (``WCOREDUMP``).
    - ``oom_killed``: the kernel OOM killer ended the child (True), did not (False),
      or it cannot be told on this machine (None); ``oom_evidence`` says how it was
      judged (which counter rose).
    - ``stderr_tail``: the last lines the run wrote on stderr (on stdout with
      ``redirect_stderr``), oldest first.
    """

    core_dumped: bool = False
    oom_killed: bool | None = None
    oom_evidence: str | None = None
    stderr_tail: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Exited:
    """The child was reaped. ``returncode`` follows Popen: ``-N`` = killed by signal N.

    ``forensics`` travels unchanged into the event of the transition the exit causes.
    """

    returncode: int
    forensics: ExitForensics | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready:
    """The child was found ready: READY=1 on NOTIFY_SOCKET, or a probe succeeded."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchdogPing:
    """The child sent ``WATCHDOG=1``: it is alive, the watchdog starts over."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusText:
    """The child sent ``STATUS=text`` (shown in status and on the web page)."""

    text: str


class TimerKind(enum.Enum):
    """The one timer each timed state owns."""

    STARTSECS = "startsecs"  # STARTING -> RUNNING once the child stayed up
    READY_TIMEOUT = "ready_timeout"  # STARTING: not ready in time (ready= other than startsecs)
    WATCHDOG = "watchdog"  # RUNNING: no WATCHDOG=1 for watchdog_timeout
    BACKOFF = "backoff"  # BACKOFF -> STARTING after the linear retry delay
    STOPWAITSECS = "stopwaitsecs"  # STOPPING -> SIGKILL when the child ignores stopsignal
    RESTART = "restart"  # EXITED -> STARTING after the damped delay (backoff_initial > 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired:
    """The timer of ``kind`` that a ``StartTimer`` effect asked for has expired."""

    kind: TimerKind


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalFailed:
    """Sending a signal failed with something other than ESRCH (``error`` says what)."""

    error: str


Fact: TypeAlias = (
    OperatorStart
    | AutoStart
    | OperatorStop
    | SystemStop
    | OperatorSignal
    | Spawned
    | SpawnFailed
    | Exited
    | TimerFired
    | SignalFailed
    | Ready
    | WatchdogPing
    | StatusText
)

# --------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True, kw_only=True)
class Publish:
    """Publish ``event`` on the bus, stamped ``at`` (the moment of the transition).

    ``event`` is the transition itself: the machine builds the one frozen record
    that every consumer reads (``events.ProcessStateEvent``), cause included.
    """

    event: ProcessStateEvent
    at: Instant


@dataclass(frozen=True, slots=True, kw_only=True)
class Spawn:
    """Create the child for ``config``; answer with ``Spawned`` or ``SpawnFailed``."""

    config: ProcessConfig = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendSignal:
    """Send ``signal`` to ``pid``, or to its whole process group when ``to_group``."""

    pid: int
    signal: signal.Signals
    to_group: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTimer:
    """Start (or replace) the timer of ``kind``, due at monotonic ``deadline``."""

    kind: TimerKind
    deadline: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTimer:
    """Cancel the pending timer of ``kind``."""

    kind: TimerKind


@dataclass(frozen=True, slots=True, kw_only=True)
class StartProbe:
    """Poll ``check`` every ``interval`` seconds; answer with ``Ready`` once it passes."""

    check: ReadyCheck
    interval: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StopProbe:
    """Stop polling the readiness probe (the process left STARTING)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    """Write a line to the supervisor's own log."""

    level: LogLevel
    message: str


Effect: TypeAlias = (
    Publish | Spawn | SendSignal | StartTimer | CancelTimer | StartProbe | StopProbe | Log
)

# --------------------------------------------------------------------------- record


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingTimer:
    """The timer a record is waiting for (supervisord's ``delay``)."""

    kind: TimerKind
    deadline: float  # monotonic seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessRecord:
    """Everything the machine knows about one process; replaced, never mutated.

    Fields mirror supervisord's ``Subprocess`` attributes that matter for behaviour
    or for ``getProcessInfo``:

    - ``backoff``: failed starts in a row (the ``tries`` of STARTING/BACKOFF events).
    - ``laststart`` / ``laststop``: when the last start was requested / the last run
      ended; None means never (supervisord's 0).
    - ``exitstatus``: supervisord's exit status (signal deaths are -1; None when the
      last start has not exited, or exited too quickly); ``getProcessInfo`` shows it.
    - ``returncode``: the Popen returncode of the last exit, kept even where
      supervisord clears ``exitstatus`` (the metric ``last_exit_code`` uses it).
    - ``expected``: whether that last exit code was in ``exitcodes``.
    - ``timer``: the pending timer (supervisord's ``delay``), None when idle.
    - ``administrative_stop`` / ``system_stop``: the last stop came from an operator
      / from the supervisor itself (shutdown or giving up).
    - ``killing``: a stop signal was sent and the exit is awaited.
    - ``restart_streak``: consecutive short runs (shorter than ``backoff_reset``)
      ending with the last exit: the backoff step (``damping.streak_after``).
    - ``start_times``: monotonic times of the starts the start limit still counts.
    - ``runs``: how many starts so far (the ``run`` of every event of the current
      run); ``episode``: the run that opened the current restart episode (see
      ``_start``); ``last_run_long``: the last run lasted at least ``backoff_reset``.
    - ``stop_requester``: who asked for the stop under way (the cause of its STOPPING
      and of the STOPPED that follows).
    - ``signal_error``: why the last signal could not be delivered (UNKNOWN).
    - ``killed_by``: why superd itself killed the current child (the cause of the exit
      that follows: READY_TIMEOUT or WATCHDOG), None when it did not.
    - ``status_text``: the last ``STATUS=`` the current run sent (sd_notify).
    """

    config: ProcessConfig
    state: ProcessState = ProcessState.STOPPED
    pid: int = 0
    backoff: int = 0
    laststart: Instant | None = None
    laststop: Instant | None = None
    exitstatus: int | None = None
    returncode: int | None = None
    expected: bool | None = None
    spawnerr: str | None = None
    timer: PendingTimer | None = None
    administrative_stop: bool = False
    system_stop: bool = False
    killing: bool = False
    restart_streak: int = 0
    start_times: tuple[float, ...] = ()
    runs: int = 0
    episode: int = 0
    last_run_long: bool = False
    stop_requester: Requester | None = None
    signal_error: str | None = None
    killed_by: Cause | None = None
    status_text: str | None = None

    @property
    def name(self) -> str:
        """The process name (``process_name`` expanded)."""
        return self.config.name

    @property
    def group(self) -> str:
        """The name of the group the process belongs to."""
        return self.config.group_name

    @property
    def statename(self) -> str:
        """The state's name as supervisord spells it (``RUNNING``)."""
        return self.state.name


class IllegalTransition(Exception):
    """A fact that is not legal in the process' current state.

    Raised for facts the runtime feeds out of protocol (a bug, logged and dropped);
    the subclasses below are *refusals* of requests, which the runtime maps one to
    one to the control plane's errors (``process._REFUSALS``).
    """

    def __init__(self, process: str, state: ProcessState, fact: Fact) -> None:
        self.process = process
        self.state = state
        self.fact = fact
        super().__init__(f"{process}: {type(fact).__name__} is not legal in state {state.name}")


class AlreadyStarted(IllegalTransition):
    """A start was requested while STARTING, RUNNING or BACKOFF (ALREADY_STARTED)."""


class StillStopping(IllegalTransition):
    """A start was requested while the old child is still STOPPING (ABNORMAL_TERMINATION)."""


class StateUnknown(IllegalTransition):
    """A start was requested in UNKNOWN: the old child's fate is unknown (FAILED)."""


class NotRunning(IllegalTransition):
    """A stop or signal was requested while there is no child to stop (NOT_RUNNING)."""


def _refusal(record: ProcessRecord, fact: Fact) -> IllegalTransition:
    """The typed error for a fact with no row in the table in ``record.state``."""
    state = record.state
    refusal: type[IllegalTransition] = IllegalTransition
    if isinstance(fact, OperatorStart):
        if state in RUNNING_STATES:
            refusal = AlreadyStarted
        elif state is ProcessState.STOPPING:
            refusal = StillStopping
        elif state is ProcessState.UNKNOWN:
            refusal = StateUnknown
    elif isinstance(fact, OperatorStop | OperatorSignal):
        refusal = NotRunning
    return refusal(record.name, state, fact)


# --------------------------------------------------------------------------- guards


def exit_expected(config: ProcessConfig, returncode: int) -> bool:
    """Whether an exit is expected: the code is in ``exitcodes``.

    A signal death (negative returncode) is never expected: supervisord tests its -1
    against exitcodes, which only hold 0..255.
    """
    return returncode >= 0 and returncode in config.exitcodes


def exited_too_quickly(record: ProcessRecord, now: Instant) -> bool:
    """An exit before ``startsecs`` passed since the start (a failed start).

    With ``startsecs=0`` nothing is ever too quick. Divergence: supervisord treats an
    exit at the very instant of the start as not too quick (its clock-rollback guard
    ``now > laststart``); on a monotonic clock that guard is not needed.
    """
    assert record.laststart is not None  # STARTING always has a laststart
    return now.monotonic - record.laststart.monotonic < record.config.startsecs


def restarts_after_exit(config: ProcessConfig, expected: bool) -> bool:
    """Whether ``autorestart`` restarts a process that exited from RUNNING."""
    if config.autorestart is AutoRestart.TRUE:
        return True
    if config.autorestart is AutoRestart.UNEXPECTED:
        return not expected
    return False


def gives_up(config: ProcessConfig, backoff: int) -> bool:
    """BACKOFF -> FATAL once ``backoff > startretries``: after 1 + startretries failures."""
    return backoff > config.startretries


# --------------------------------------------------------------------------- handlers


_RECORD_FIELDS = tuple(f.name for f in fields(ProcessRecord))
_RECORD_FIELD_SET = frozenset(_RECORD_FIELDS)


def _replace_record(record: ProcessRecord, changes: dict[str, object]) -> ProcessRecord:
    """``dataclasses.replace`` for the record, without its generic keyword path.

    The record has no ``__post_init__`` and every field is given, so building it
    slot by slot is the same object, at a third of the cost.
    """
    # A misspelt field would otherwise vanish silently (replace() raises for it).
    assert changes.keys() <= _RECORD_FIELD_SET, sorted(changes.keys() - _RECORD_FIELD_SET)
    new = object.__new__(ProcessRecord)
    for name in _RECORD_FIELDS:
        object.__setattr__(new, name, changes[name] if name in changes else getattr(record, name))
    return new


class _Step:
    """Accumulates the record and the effects while one fact is handled.

    Updates are collected and applied in one ``replace`` when the record is next
    read: a crash cycle makes about ten updates, and each ``replace`` of the record
    (two dozen fields) was most of the machine's cost per restart.
    """

    __slots__ = ("_pending", "_record", "effects", "now", "starts_allowed")

    def __init__(self, record: ProcessRecord, now: Instant, starts_allowed: bool) -> None:
        self._record = record
        self._pending: dict[str, object] = {}
        self.now = now
        self.starts_allowed = starts_allowed
        self.effects: list[Effect] = []

    @property
    def record(self) -> ProcessRecord:
        if self._pending:
            self._record = _replace_record(self._record, self._pending)
            self._pending = {}
        return self._record

    def update(self, **changes: object) -> None:
        self._pending.update(changes)

    def log(self, level: LogLevel, message: str) -> None:
        self.effects.append(Log(level=level, message=message))

    def change_state(
        self,
        to_state: ProcessState,
        cause: Cause,
        *,
        origin: str | None = None,
        expected: bool | None = None,
        returncode: int | None = None,
        run_duration: float | None = None,
        forensics: ExitForensics | None = None,
    ) -> None:
        """Enter ``to_state`` and publish the transition (pid/tries as they are now)."""
        record = self.record
        probing = record.config.ready.probed and record.killed_by is None
        if record.state is ProcessState.STARTING and probing:
            # The probe belongs to STARTING: however the process leaves it, it stops
            # (a ready_timeout stopped it already).
            self.effects.append(StopProbe())
        event = PROCESS_STATE_EVENT_TYPES[to_state](
            processname=record.name,
            groupname=record.group,
            from_state=record.state,
            cause=cause,
            origin=origin or None,
            run=record.runs,
            episode=record.episode,
            pid=record.pid,
            tries=record.backoff,
            expected=expected,
            returncode=returncode,
            run_duration=run_duration,
            spawnerr=record.spawnerr,
            core_dumped=None if forensics is None else forensics.core_dumped,
            oom_killed=None if forensics is None else forensics.oom_killed,
            oom_evidence=None if forensics is None else forensics.oom_evidence,
            stderr_tail=None if forensics is None else forensics.stderr_tail,
        )
        self.effects.append(Publish(event=event, at=self.now))
        self.update(state=to_state)

    def start_timer(self, kind: TimerKind, deadline: float) -> None:
        self.effects.append(StartTimer(kind=kind, deadline=deadline))
        self.update(timer=PendingTimer(kind=kind, deadline=deadline))

    def cancel_timer(self) -> None:
        if self.record.timer is not None:
            self.effects.append(CancelTimer(kind=self.record.timer.kind))
            self.update(timer=None)

    def run_duration(self) -> float | None:
        laststart = self.record.laststart
        return None if laststart is None else self.now.monotonic - laststart.monotonic

    def run_ended(self, duration: float | None) -> None:
        """Remember whether the run that just ended was long (it closes an episode)."""
        reset = BackoffPolicy.from_config(self.record.config).reset
        self.update(last_run_long=duration is not None and duration >= reset)


Handler: TypeAlias = Callable[[_Step, Fact], None]


def _start(s: _Step, cause: Cause, origin: str | None = None) -> None:
    """supervisord's ``spawn()`` up to the fork: -> STARTING, then ask for a child.

    A run opens a new restart *episode* unless it is an automatic restart after a
    short run (shorter than ``backoff_reset``): an episode is a request and the
    automatic restarts of the short runs that followed it, which is what a restart
    storm is made of (OTel gives each episode one trace).
    """
    record = s.record
    runs = record.runs + 1
    continues = cause.is_automatic_restart and record.episode and not record.last_run_long
    s.cancel_timer()
    s.update(
        killing=False,
        spawnerr=None,
        exitstatus=None,
        system_stop=False,
        administrative_stop=False,
        stop_requester=None,
        signal_error=None,
        killed_by=None,
        status_text=None,
        laststart=s.now,
        runs=runs,
        episode=record.episode if continues else runs,
        start_times=recent_starts(
            StartLimit.from_config(record.config), record.start_times, s.now.monotonic
        ),
    )
    s.change_state(ProcessState.STARTING, cause, origin=origin)
    s.effects.append(Spawn(config=s.record.config))


def _enter_backoff(
    s: _Step,
    spawnerr: str,
    cause: Cause,
    *,
    expected: bool | None = None,
    returncode: int | None = None,
    run_duration: float | None = None,
    forensics: ExitForensics | None = None,
) -> None:
    """-> BACKOFF with a linear delay, or straight on to FATAL when out of retries."""
    s.cancel_timer()
    backoff = s.record.backoff + 1
    policy = BackoffPolicy.from_config(s.record.config)
    streak = streak_after(policy, s.record.restart_streak, run_duration)
    s.update(spawnerr=spawnerr, backoff=backoff, restart_streak=streak)
    s.run_ended(run_duration)
    s.change_state(
        ProcessState.BACKOFF,
        cause,
        expected=expected,
        returncode=returncode,
        run_duration=run_duration,
        forensics=forensics,
    )
    s.update(pid=0)
    if gives_up(s.record.config, backoff):
        # supervisord gives up on its next poll; we do it in the same step.
        _give_up(s, Cause.STARTRETRIES)
    elif policy.enabled:
        # superd's damping: the exponential sequence replaces the linear one.
        delay = backoff_delay(policy, streak, jitter_rng(s.record.name, streak, s.now.wall))
        s.start_timer(TimerKind.BACKOFF, s.now.monotonic + delay)
    else:
        # supervisord: delay = now + backoff, i.e. 1 s, 2 s, 3 s ... between tries.
        s.start_timer(TimerKind.BACKOFF, s.now.monotonic + backoff)


def _auto_start(s: _Step, cause: Cause) -> None:
    """An automatic start (autorestart, BACKOFF retry), unless the start limit forbids it."""
    limit = StartLimit.from_config(s.record.config)
    if start_limit_reached(limit, s.record.start_times, s.now.monotonic):
        _give_up_start_limit(s, limit)
    else:
        _start(s, cause)


def _give_up_start_limit(s: _Step, limit: StartLimit) -> None:
    """EXITED/BACKOFF -> FATAL: ``startlimit_burst`` starts within ``startlimit_interval``."""
    s.cancel_timer()
    s.update(backoff=0, system_stop=True, spawnerr=spawnerr_start_limit(limit))
    s.change_state(ProcessState.FATAL, Cause.STARTLIMIT)
    s.log(
        LogLevel.INFO,
        f"gave up: {s.record.name} entered FATAL state, {limit.burst} starts within "
        f"{limit.interval:g} seconds (startlimit_burst)",
    )


def _restart_after_exit(s: _Step) -> None:
    """EXITED -> STARTING at once (supervisord), or after the damped delay."""
    policy = BackoffPolicy.from_config(s.record.config)
    if not policy.enabled:
        _auto_start(s, Cause.AUTORESTART)
        return
    streak = s.record.restart_streak
    delay = backoff_delay(policy, streak, jitter_rng(s.record.name, streak, s.now.wall))
    s.log(
        LogLevel.INFO,
        f"backoff: {s.record.name} restarts in {delay:.3g} seconds "
        f"({streak} short run(s) in a row)",
    )
    s.start_timer(TimerKind.RESTART, s.now.monotonic + delay)


def _give_up(s: _Step, cause: Cause, origin: str | None = None) -> None:
    """BACKOFF -> FATAL (supervisord's ``give_up``): retries spent, or shutting down."""
    s.cancel_timer()
    s.update(backoff=0, system_stop=True)
    s.change_state(ProcessState.FATAL, cause, origin=origin)
    s.log(
        LogLevel.INFO,
        f"gave up: {s.record.name} entered FATAL state, too many start retries too quickly",
    )


def _enter_running(s: _Step, cause: Cause = Cause.STARTSECS) -> None:
    """STARTING -> RUNNING: the start succeeded, so the backoff counter resets.

    With ``watchdog_timeout`` the watchdog starts: RUNNING owns its timer.
    """
    s.cancel_timer()
    s.update(backoff=0)
    s.change_state(ProcessState.RUNNING, cause)
    config = s.record.config
    if cause is Cause.READY:
        s.log(
            LogLevel.INFO,
            f"success: {s.record.name} entered RUNNING state, process is ready "
            f"(ready={config.ready.kind.value})",
        )
    else:
        s.log(
            LogLevel.INFO,
            f"success: {s.record.name} entered RUNNING state, process has stayed up for "
            f"> than {config.startsecs} seconds (startsecs)",
        )
    if config.watchdog_timeout > 0:
        s.start_timer(TimerKind.WATCHDOG, s.now.monotonic + config.watchdog_timeout)


def _kill(s: _Step, sig: signal.Signals, *, as_group: bool) -> None:
    """supervisord's ``kill()`` for a live child: -> STOPPING, signal, arm stopwaitsecs."""
    s.cancel_timer()
    s.update(killing=True)
    if s.record.state is not ProcessState.STOPPING:
        requester = s.record.stop_requester
        assert requester is not None  # set by every stop before it kills
        s.change_state(ProcessState.STOPPING, requester.cause, origin=requester.origin)
    record = s.record
    s.effects.append(SendSignal(pid=record.pid, signal=sig, to_group=as_group))
    s.start_timer(TimerKind.STOPWAITSECS, s.now.monotonic + record.config.stopwaitsecs)


def _stop_child(s: _Step, fact: OperatorStop | SystemStop) -> None:
    """stop() of a STARTING/RUNNING child: send ``stopsignal`` (to the group if asked)."""
    _require_pid(s, fact)
    s.update(administrative_stop=True, stop_requester=fact.requester)
    _kill(s, s.record.config.stopsignal, as_group=s.record.config.stopasgroup)


def _require_pid(s: _Step, fact: Fact) -> None:
    # STARTING before Spawned has no child yet; the runtime protocol (rule 2) makes this
    # unreachable, and signalling pid 0 would hit our own process group.
    if s.record.pid <= 0:
        raise NotRunning(s.record.name, s.record.state, fact)


def _on_start(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, OperatorStart)
    # Somebody decided: the damping history starts afresh (a fixed program should
    # not inherit the backoff step or start-limit budget of its broken runs).
    s.update(restart_streak=0, start_times=())
    _start(s, fact.requester.cause, fact.requester.origin)


def _on_autostart(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, AutoStart)
    if s.record.laststart is None and s.record.config.autostart and s.starts_allowed:
        _start(s, fact.requester.cause, fact.requester.origin)


def _on_ignored(s: _Step, fact: Fact) -> None:
    """Legal and without effect (e.g. AutoStart of a process that already ran)."""


def _on_spawned(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, Spawned)
    if s.record.pid:
        raise IllegalTransition(s.record.name, s.record.state, fact)
    s.update(pid=fact.pid, spawnerr=None)
    s.log(LogLevel.INFO, f"spawned: '{s.record.name}' with pid {fact.pid}")
    config = s.record.config
    assert s.record.laststart is not None
    if config.ready.kind is not ReadyKind.STARTSECS:
        # superd's readiness: RUNNING on Ready, a failed start after ready_timeout.
        deadline = s.record.laststart.monotonic + config.ready_timeout
        s.start_timer(TimerKind.READY_TIMEOUT, deadline)
        if config.ready.probed:
            s.effects.append(StartProbe(check=config.ready, interval=config.ready_interval))
    elif config.startsecs <= 0:
        # startsecs=0: RUNNING at once; such a process never counts as a failed start.
        _enter_running(s)
    else:
        s.start_timer(TimerKind.STARTSECS, s.record.laststart.monotonic + config.startsecs)


def _on_ready(s: _Step, fact: Fact) -> None:
    # READY=1 or a probe that passed. A startsecs-mode process has no NOTIFY_SOCKET
    # and no probe, so such a fact is a stray: ignored, like a second READY=1.
    record = s.record
    if record.config.ready.kind is ReadyKind.STARTSECS or not record.pid or record.killed_by:
        return
    _enter_running(s, Cause.READY)


def _on_ready_timeout(s: _Step, fact: Fact) -> None:
    """Not ready in time: kill the child; its exit is the failed start (-> BACKOFF)."""
    record = s.record
    s.log(
        LogLevel.WARN,
        f"not ready: {record.name} was not ready within {record.config.ready_timeout:g} "
        f"seconds (ready_timeout), killing it ({record.pid}) with SIGKILL",
    )
    if record.config.ready.probed:
        s.effects.append(StopProbe())
    s.update(killed_by=Cause.READY_TIMEOUT)
    s.effects.append(
        SendSignal(pid=record.pid, signal=signal.SIGKILL, to_group=record.config.killasgroup)
    )


def _on_watchdog_timer(s: _Step, fact: Fact) -> None:
    """No WATCHDOG=1 for watchdog_timeout: kill the child; its exit says WATCHDOG."""
    record = s.record
    s.log(
        LogLevel.WARN,
        f"watchdog: {record.name} sent no WATCHDOG=1 for {record.config.watchdog_timeout:g} "
        f"seconds (watchdog_timeout), killing it ({record.pid}) with SIGKILL",
    )
    s.update(killed_by=Cause.WATCHDOG)
    s.effects.append(
        SendSignal(pid=record.pid, signal=signal.SIGKILL, to_group=record.config.killasgroup)
    )


def _on_watchdog_ping(s: _Step, fact: Fact) -> None:
    config = s.record.config
    if config.watchdog_timeout > 0 and s.record.killed_by is None:
        s.start_timer(TimerKind.WATCHDOG, s.now.monotonic + config.watchdog_timeout)


def _on_status_text(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, StatusText)
    s.update(status_text=fact.text)


def _on_spawn_failed(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, SpawnFailed)
    if s.record.pid:
        raise IllegalTransition(s.record.name, s.record.state, fact)
    s.log(LogLevel.INFO, f"spawnerr: {fact.error}")
    _enter_backoff(s, fact.error, Cause.SPAWN_ERROR)


def _on_startsecs_timer(s: _Step, fact: Fact) -> None:
    _enter_running(s)


def _on_backoff_timer(s: _Step, fact: Fact) -> None:
    # BACKOFF -> STARTING whatever autorestart says: autorestart governs exits from
    # RUNNING, not failed starts (supervisord's transition()).
    if s.starts_allowed:
        _auto_start(s, Cause.RETRY)
    else:
        s.update(timer=None)


def _on_restart_timer(s: _Step, fact: Fact) -> None:
    # The damped restart of an EXITED process is due (the daemon may be stopping).
    if s.starts_allowed:
        _auto_start(s, Cause.DAMPED)
    else:
        s.update(timer=None)


def _on_stop_exited(s: _Step, fact: Fact) -> None:
    # superd's damping: a stop cancels a pending restart, EXITED -> STOPPED (as a
    # stop of BACKOFF does). Without one, EXITED is not running: NOT_RUNNING.
    assert isinstance(fact, OperatorStop)
    if s.record.timer is None:
        raise NotRunning(s.record.name, s.record.state, fact)
    s.cancel_timer()
    s.update(administrative_stop=True, stop_requester=fact.requester)
    s.change_state(ProcessState.STOPPED, fact.requester.cause, origin=fact.requester.origin)


def _on_system_stop_exited(s: _Step, fact: Fact) -> None:
    # Shutdown: a pending damped restart must not fire (and nothing else changes).
    s.cancel_timer()


def _on_stopwait_timer(s: _Step, fact: Fact) -> None:
    # The child ignored stopsignal for stopwaitsecs: SIGKILL (to the group with
    # killasgroup) and re-arm. A child that survives SIGKILL (uninterruptible sleep)
    # stays STOPPING and gets SIGKILL again every stopwaitsecs, as in supervisord.
    record = s.record
    s.log(LogLevel.WARN, f"killing '{record.name}' ({record.pid}) with SIGKILL")
    _kill(s, signal.SIGKILL, as_group=record.config.killasgroup)


def _on_stop(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, OperatorStop | SystemStop)
    _stop_child(s, fact)


def _on_stop_backoff(s: _Step, fact: Fact) -> None:
    # BACKOFF -> STOPPED so a stop is not blocked behind many retries. supervisord
    # quirk: the backoff counter is kept, so the next start reports those tries.
    assert isinstance(fact, OperatorStop)
    s.cancel_timer()
    s.update(administrative_stop=True, stop_requester=fact.requester)
    s.change_state(ProcessState.STOPPED, fact.requester.cause, origin=fact.requester.origin)


def _on_system_stop_backoff(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, SystemStop)
    _give_up(s, fact.requester.cause, fact.requester.origin)


def _on_signal(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, OperatorSignal)
    _require_pid(s, fact)
    # signal() never targets the process group, unlike stop (supervisord).
    s.effects.append(SendSignal(pid=s.record.pid, signal=fact.signal, to_group=False))


def _on_signal_failed(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, SignalFailed)
    s.log(LogLevel.CRITICAL, f"unknown problem signalling {s.record.name} ({s.record.pid})")
    s.cancel_timer()
    s.update(killing=False, signal_error=fact.error)
    s.change_state(ProcessState.UNKNOWN, Cause.SIGNAL_ERROR)


def _on_exit_starting(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, Exited)
    if s.record.config.ready.kind is not ReadyKind.STARTSECS:
        _exit_before_ready(s, fact)
        return
    if exited_too_quickly(s.record, s.now):
        # A failed start: STARTING -> BACKOFF. supervisord clears exitstatus here.
        expected = exit_expected(s.record.config, fact.returncode)
        duration = s.run_duration()
        s.log(
            LogLevel.WARN,
            f"exited: {s.record.name} ({describe_returncode(fact.returncode)}; not expected)",
        )
        s.update(exitstatus=None, returncode=fact.returncode, expected=expected, laststop=s.now)
        _enter_backoff(
            s,
            SPAWNERR_TOO_QUICKLY,
            Cause.EXIT,
            expected=expected,
            returncode=fact.returncode,
            run_duration=duration,
            forensics=fact.forensics,
        )
        return
    # startsecs has passed but its timer has not been delivered yet: supervisord
    # performs STARTING -> RUNNING first, then handles the exit from RUNNING.
    _enter_running(s)
    _on_exit_running(s, fact)


def _exit_before_ready(s: _Step, fact: Exited) -> None:
    """A ready= process that exits while STARTING never became ready: a failed start."""
    record = s.record
    expected = exit_expected(record.config, fact.returncode)
    duration = s.run_duration()
    timed_out = record.killed_by is Cause.READY_TIMEOUT
    if not timed_out:
        s.log(
            LogLevel.WARN,
            f"exited: {record.name} ({describe_returncode(fact.returncode)}; before it was ready)",
        )
    s.update(exitstatus=None, returncode=fact.returncode, expected=expected, laststop=s.now)
    _enter_backoff(
        s,
        spawnerr_not_ready(record.config.ready_timeout)
        if timed_out
        else SPAWNERR_EXITED_BEFORE_READY,
        Cause.READY_TIMEOUT if timed_out else Cause.EXIT,
        expected=expected,
        returncode=fact.returncode,
        run_duration=duration,
        forensics=fact.forensics,
    )


def _on_exit_running(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, Exited)
    config = s.record.config
    expected = exit_expected(config, fact.returncode)
    exitstatus = supervisord_exitstatus(fact.returncode)
    duration = s.run_duration()
    s.cancel_timer()
    streak = streak_after(BackoffPolicy.from_config(config), s.record.restart_streak, duration)
    s.update(
        backoff=0,
        exitstatus=exitstatus,
        returncode=fact.returncode,
        expected=expected,
        restart_streak=streak,
    )
    s.run_ended(duration)
    if expected:
        s.log(
            LogLevel.INFO,
            f"exited: {s.record.name} ({describe_returncode(fact.returncode)}; expected)",
        )
    else:
        s.update(spawnerr=spawnerr_bad_exit_code(exitstatus))
        s.log(
            LogLevel.WARN,
            f"exited: {s.record.name} ({describe_returncode(fact.returncode)}; not expected)",
        )
    s.change_state(
        ProcessState.EXITED,
        s.record.killed_by or Cause.EXIT,
        expected=expected,
        returncode=fact.returncode,
        run_duration=duration,
        forensics=fact.forensics,
    )
    s.update(pid=0, laststop=s.now)
    # supervisord restarts from EXITED on its next poll; we do it in the same step.
    if s.starts_allowed and restarts_after_exit(config, expected):
        _restart_after_exit(s)


def _on_exit_stopping(s: _Step, fact: Fact) -> None:
    assert isinstance(fact, Exited)
    expected = exit_expected(s.record.config, fact.returncode)
    duration = s.run_duration()
    requester = s.record.stop_requester
    assert requester is not None  # STOPPING is only entered by a stop
    s.cancel_timer()
    s.update(
        killing=False,
        exitstatus=supervisord_exitstatus(fact.returncode),
        returncode=fact.returncode,
        expected=expected,
    )
    s.run_ended(duration)
    level = LogLevel.INFO if expected else LogLevel.WARN
    s.log(level, f"stopped: {s.record.name} ({describe_returncode(fact.returncode)})")
    s.change_state(
        ProcessState.STOPPED,
        requester.cause,
        origin=requester.origin,
        expected=expected,
        returncode=fact.returncode,
        run_duration=duration,
        forensics=fact.forensics,
    )
    s.update(pid=0, laststop=s.now)


def _on_exit_unknown(s: _Step, fact: Fact) -> None:
    # Divergence: supervisord's finish() fails an assertion here. The child is gone, so
    # we leave UNKNOWN: STOPPED if somebody was stopping it, else like an exit from
    # RUNNING (without an automatic restart: we lost track of it once already).
    assert isinstance(fact, Exited)
    if s.record.administrative_stop:
        _on_exit_stopping(s, fact)
        return
    expected = exit_expected(s.record.config, fact.returncode)
    duration = s.run_duration()
    s.update(
        exitstatus=supervisord_exitstatus(fact.returncode),
        returncode=fact.returncode,
        expected=expected,
    )
    s.run_ended(duration)
    s.change_state(
        ProcessState.EXITED,
        Cause.EXIT,
        expected=expected,
        returncode=fact.returncode,
        run_duration=duration,
        forensics=fact.forensics,
    )
    s.update(pid=0, laststop=s.now)


# --------------------------------------------------------------------------- the table

_S = ProcessState

# (state, fact type) -> handler. A pair that is missing here is illegal. TimerFired is
# dispatched per timer kind (see _TIMER_HANDLERS) after the staleness check in step().
TRANSITIONS: dict[tuple[ProcessState, type[Fact]], Handler] = {
    # starting
    (_S.STOPPED, OperatorStart): _on_start,
    (_S.EXITED, OperatorStart): _on_start,
    (_S.FATAL, OperatorStart): _on_start,
    (_S.STOPPED, AutoStart): _on_autostart,
    (_S.STARTING, Spawned): _on_spawned,
    (_S.STARTING, SpawnFailed): _on_spawn_failed,
    (_S.STARTING, Exited): _on_exit_starting,
    # running
    (_S.RUNNING, Exited): _on_exit_running,
    # stopping
    (_S.STARTING, OperatorStop): _on_stop,
    (_S.RUNNING, OperatorStop): _on_stop,
    (_S.BACKOFF, OperatorStop): _on_stop_backoff,
    (_S.STARTING, SystemStop): _on_stop,
    (_S.RUNNING, SystemStop): _on_stop,
    (_S.BACKOFF, SystemStop): _on_system_stop_backoff,
    (_S.EXITED, SystemStop): _on_system_stop_exited,
    (_S.STOPPING, Exited): _on_exit_stopping,
    # signals
    (_S.STARTING, OperatorSignal): _on_signal,
    (_S.RUNNING, OperatorSignal): _on_signal,
    (_S.STOPPING, OperatorSignal): _on_signal,
    (_S.STARTING, SignalFailed): _on_signal_failed,
    (_S.RUNNING, SignalFailed): _on_signal_failed,
    (_S.STOPPING, SignalFailed): _on_signal_failed,
    # lost track
    (_S.UNKNOWN, Exited): _on_exit_unknown,
}

# Rows that only superd's readiness options (ready=, watchdog_timeout) make
# meaningful; a process without them never gets these facts from the runtime.
READINESS_TRANSITIONS: dict[tuple[ProcessState, type[Fact]], Handler] = {
    (_S.STARTING, Ready): _on_ready,
    (_S.RUNNING, WatchdogPing): _on_watchdog_ping,
}

# Rows that only restart damping (superd's backoff_* options) makes reachable: an
# operator stop of an EXITED process whose damped restart is pending. Kept apart so
# the supervisord table above stays exactly supervisord's.
DAMPING_TRANSITIONS: dict[tuple[ProcessState, type[Fact]], Handler] = {
    (_S.EXITED, OperatorStop): _on_stop_exited,
}

# AutoStart and SystemStop are broadcast by the daemon to every process; where they
# mean nothing they are no-ops rather than errors (supervisord skips such processes).
for _state in ProcessState:
    TRANSITIONS.setdefault((_state, AutoStart), _on_ignored)
    TRANSITIONS.setdefault((_state, SystemStop), _on_ignored)
    # A child's sd_notify messages may arrive in any state (a late READY=1, a ping
    # racing its own exit): only the rows above act on them.
    READINESS_TRANSITIONS.setdefault((_state, Ready), _on_ignored)
    READINESS_TRANSITIONS.setdefault((_state, WatchdogPing), _on_ignored)
    READINESS_TRANSITIONS[(_state, StatusText)] = _on_status_text
del _state

# Which timer each state owns, and what its expiry does.
_TIMER_HANDLERS: dict[tuple[ProcessState, TimerKind], Handler] = {
    (_S.STARTING, TimerKind.STARTSECS): _on_startsecs_timer,
    (_S.BACKOFF, TimerKind.BACKOFF): _on_backoff_timer,
    (_S.STOPPING, TimerKind.STOPWAITSECS): _on_stopwait_timer,
    (_S.EXITED, TimerKind.RESTART): _on_restart_timer,
    (_S.STARTING, TimerKind.READY_TIMEOUT): _on_ready_timeout,
    (_S.RUNNING, TimerKind.WATCHDOG): _on_watchdog_timer,
}


def step(
    record: ProcessRecord, fact: Fact, now: Instant, *, starts_allowed: bool = True
) -> tuple[ProcessRecord, tuple[Effect, ...]]:
    """Apply one fact to a process record.

    Args:
        record: the process as it is; its ``config`` is the policy (exitcodes,
            autorestart, startsecs, startretries, stopsignal, stopwaitsecs, ...).
        fact: what happened.
        now: when it happened (monotonic for deadlines, wall for reporting).
        starts_allowed: False while the supervisor shuts down: autostart,
            autorestart and BACKOFF retries are then suppressed.

    Returns:
        The new record and the effects to carry out, in order.

    Raises:
        AlreadyStarted, StillStopping, StateUnknown, NotRunning: a request that the
            state refuses (the runtime maps each to its control error).
        IllegalTransition: any other fact that is not legal in ``record.state``.
    """
    s = _Step(record, now, starts_allowed)
    if isinstance(fact, TimerFired):
        pending = record.timer
        if pending is None or pending.kind is not fact.kind:
            # A timer we no longer hold (cancelled, or replaced): not an error.
            return record, ()
        s.update(timer=None)
        timer_handler = _TIMER_HANDLERS.get((record.state, fact.kind))
        if timer_handler is None:
            raise IllegalTransition(record.name, record.state, fact)
        timer_handler(s, fact)
        return s.record, tuple(s.effects)
    key = (record.state, type(fact))
    handler = TRANSITIONS.get(key) or DAMPING_TRANSITIONS.get(key) or READINESS_TRANSITIONS.get(key)
    if handler is None:
        raise _refusal(record, fact)
    handler(s, fact)
    return s.record, tuple(s.effects)
