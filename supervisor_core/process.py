"""The asyncio runtime of one managed child: it carries out the state machine's effects.

Rules of this file:
- All decisions are ``states.step``'s. This module only turns OS happenings into
  facts (spawned, spawn failed, exited, timer fired, signal failed) and effects into
  OS actions (spawn, signal, timers, bus events, main-log lines), in order, except
  that a ``Spawn`` is carried out first in its step (the restart latency is the
  fork's, not the fan-out's); no other effect depends on it having happened.
- Facts are fed one at a time (``states`` protocol rule 1): facts caused by effects,
  or arriving while effects are carried out, wait in a queue until the current
  effects are done. Nothing here awaits while feeding, so a step is atomic.
- No polling and no thread per child: the exit arrives through the child handle's
  exit callback (a pidfd on the loop), deadlines are ``call_at`` timers on the
  monotonic clock (``loop.call_at`` by default; tests pass a ``FakeClock``), waits
  (``wait_started``/``wait_stopped``) are futures completed from transitions.
- Requests (start, stop, signal) are fed as facts carrying their ``Requester``; the
  machine decides whether the state allows them and refuses with a typed error,
  which ``_REFUSALS`` maps one to one to the domain errors of
  ``supervisor_core.control`` (supervisord's faults). Nothing here checks a state
  the machine also checks.
- A callback from the loop (exit, timer) never raises: an unexpected
  ``IllegalTransition`` there is logged and dropped, the daemon keeps running.
- Output of a run is read until EOF even after the child exited (a grandchild may
  hold the pipe); at the exit what is already in the pipes is drained first, so the
  last PROCESS_LOG events precede PROCESS_STATE_EXITED, as in supervisord's finish().
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal as signal_module
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Protocol

from supervisor_core import control, states
from supervisor_core.bus import EventBus
from supervisor_core.clock import Clock
from supervisor_core.config.model import Auto, ProcessConfig
from supervisor_core.events import (
    ProcessCommunicationStderr,
    ProcessCommunicationStdout,
    ProcessLogStderr,
    ProcessLogStdout,
    ProcessStateEvent,
)
from supervisor_core.forensics import (
    OomCounters,
    judge_oom,
    read_oom_counters,
    read_oom_counters_at_spawn,
)
from supervisor_core.health import FaultCounters
from supervisor_core.lifecycle import AUTOSTART, SHUTDOWN, STOPPED_STATES, ProcessState, Requester
from supervisor_core.logs import Channel, LogOpenError, ProcessOutput
from supervisor_core.probes import AsyncioProbes, ProbeHandle, ProbeRunner
from supervisor_core.spawn import (
    ChildHandle,
    ExitStatus,
    Spawner,
    SpawnError,
    SpawnRequest,
)
from supervisor_core.states import (
    AutoStart,
    CancelTimer,
    Effect,
    Exited,
    ExitForensics,
    Fact,
    IllegalTransition,
    Log,
    OperatorSignal,
    OperatorStart,
    OperatorStop,
    ProcessRecord,
    Publish,
    Ready,
    SendSignal,
    SignalFailed,
    Spawn,
    Spawned,
    SpawnFailed,
    StartProbe,
    StartTimer,
    StatusText,
    StopProbe,
    SystemStop,
    TimerFired,
    TimerKind,
    WatchdogPing,
    step,
)

__all__ = ["ProcessRuntime", "TimerHandle", "Timers"]

_default_logger = logging.getLogger("supervisor_core.process")


class TimerHandle(Protocol):
    """What ``Timers.call_at`` returns: ``asyncio.TimerHandle`` or ``testing.FakeTimer``."""

    def cancel(self) -> None:
        """Do not run the callback (idempotent)."""
        ...


class Timers(Protocol):
    """Where deadlines are scheduled: an asyncio loop (``loop.call_at``) or a FakeClock.

    ``deadline`` is on the same monotonic clock as ``Clock.monotonic()`` (asyncio's
    default loop time *is* ``time.monotonic()``).
    """

    def call_at(self, deadline: float, callback: Callable[[], None], /) -> TimerHandle:
        """Run ``callback`` once the monotonic clock reaches ``deadline``."""
        ...


# STATUS= text ends up in getProcessInfo and on the web page: a sane bound.
_MAX_STATUS = 200


class NotifyRouter(Protocol):
    """Where ``ready = notify`` children send sd_notify datagrams (``sdnotify.NotifyServer``)."""

    @property
    def address(self) -> str:
        """The ``NOTIFY_SOCKET`` value children get."""
        ...

    def register(self, pid: int, callback: Callable[[Mapping[str, str]], None]) -> None:
        """Route the messages of ``pid`` to ``callback``."""
        ...

    def unregister(self, pid: int) -> None:
        """Stop routing ``pid``."""
        ...


def _always() -> bool:
    return True


def _refusal_error(refusal: states.IllegalTransition, namespec: str) -> control.ControlError:
    """The control error for a request the machine refused (one to one)."""
    if isinstance(refusal, states.AlreadyStarted):
        return control.AlreadyStarted(namespec)
    if isinstance(refusal, states.StillStopping):
        # supervisord's spawn() refuses while the old child lives; its wait then
        # finds a state other than STARTING/RUNNING.
        return control.AbnormalTermination(namespec)
    if isinstance(refusal, states.StateUnknown):
        return control.Failed(f"{namespec} is in an unknown process state")
    if isinstance(refusal, states.NotRunning):
        return control.NotRunning(namespec)
    return control.Failed(str(refusal))


class ProcessRuntime:
    """One managed process: spawns, watches and stops its child, and publishes events.

    Args:
        config: the process (``[program:x]`` expanded for one ``process_num``).
        bus: where PROCESS_STATE_*, PROCESS_LOG_* and PROCESS_COMMUNICATION_* go.
        spawner: starts children (``PopenSpawner`` in the daemon).
        clock: read for ``now`` (machine steps, snapshots).
        serverurl: superd's own URL for ``SUPERVISOR_SERVER_URL`` when the program's
            ``serverurl`` is AUTO; None when superd serves no HTTP.
        childlogdir: where ``AUTO`` log files are created (once, at construction).
        identifier: ``[supervisord] identifier``, part of AUTO log file names.
        strip_ansi: ``[supervisord] strip_ansi``.
        logger: superd's main log; the machine's ``Log`` effects go to
            ``logger.log(level, message)`` with supervisord's numeric levels.
        timers: where deadlines are scheduled (default: the running loop's
            ``call_at``; pass the ``FakeClock`` in unit tests).
        starts_allowed: False while the daemon shuts down (autostart, autorestart and
            BACKOFF retries are then suppressed; supervisord's ``mood > RESTARTING``).
        base_environment: superd's environment for children (default ``os.environ``).
        stdin_fd: for ``[fcgi-program:x]``, the socket handed to the child as fd 0.
        on_listener_output: for an ``[eventlistener:x]`` process, called with
            ``(pid of the run, raw stdout bytes)`` for every read and ``b""`` at EOF,
            for the listener protocol; its stdout is still logged to the file (as
            supervisord's listener dispatcher does) but emits no PROCESS_LOG events
            and has no capture mode.
        stderr_tail_lines: how many last lines of stderr (stdout with
            ``redirect_stderr``) exit events carry (``[supervisord] stderr_tail_lines``).
        oom_counters: reads the OOM-kill counters at a spawn and after a SIGKILL
            death (``forensics.read_oom_counters``; tests pass a fake). With the
            default, a spawn reads them with ``forensics.read_oom_counters_at_spawn``
            (the system-wide counter may be up to 100 ms old there).
        probes: runs ``ready = tcp/http/command`` probes (default: ``AsyncioProbes``).
        notify: the daemon's sd_notify socket, for ``ready = notify`` programs (their
            children get ``NOTIFY_SOCKET`` and their messages come back here); None
            when the daemon has none (such a program then never becomes ready).

    Raises:
        OSError: an AUTO log file cannot be created in ``childlogdir``.

    Example::

        runtime = ProcessRuntime(config, bus=bus, spawner=PopenSpawner(), clock=clock,
                                 serverurl=None, childlogdir="/tmp", identifier="supervisor",
                                 strip_ansi=False)
        runtime.start_nowait(requester)
        await runtime.wait_started()      # RUNNING, or raises control.SpawnFailed
        runtime.stop_nowait(requester)
        await runtime.wait_stopped()
        await runtime.aclose()
    """

    def __init__(
        self,
        config: ProcessConfig,
        *,
        bus: EventBus,
        spawner: Spawner,
        clock: Clock,
        serverurl: str | None,
        childlogdir: str,
        identifier: str,
        strip_ansi: bool,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        timers: Timers | None = None,
        starts_allowed: Callable[[], bool] = _always,
        base_environment: Mapping[str, str] | None = None,
        stdin_fd: int | None = None,
        on_listener_output: Callable[[int, bytes], None] | None = None,
        stderr_tail_lines: int = 20,
        oom_counters: Callable[[], OomCounters] = read_oom_counters,
        probes: ProbeRunner | None = None,
        notify: NotifyRouter | None = None,
        faults: FaultCounters | None = None,
    ) -> None:
        self._record = ProcessRecord(config=config)
        self._stderr_tail_lines = stderr_tail_lines
        self._oom_before: OomCounters | None = None  # read at the spawn of this run
        self._oom_counters = oom_counters
        self._oom_counters_at_spawn = (
            read_oom_counters_at_spawn if oom_counters is read_oom_counters else oom_counters
        )
        self._probes = probes
        self._probe: ProbeHandle | None = None
        self._notify = notify
        self._notify_pids: list[int] = []
        self._bus = bus
        self._spawner = spawner
        self._clock = clock
        self._serverurl = serverurl
        self._logger = logger if logger is not None else _default_logger
        self._timers = timers
        self._starts_allowed = starts_allowed
        self._base_environment = base_environment
        self._stdin_fd = stdin_fd
        self._auto_logs = tuple(
            channel
            for channel, channel_config in (
                (Channel.STDOUT, config.stdout),
                (Channel.STDERR, config.stderr),
            )
            if isinstance(channel_config.logfile, Auto)
        )
        output_config = config
        on_stdout_read: Callable[[bytes], None] | None = None
        if on_listener_output is not None:
            # supervisord's listener stdout is the protocol: logged, never an event.
            output_config = replace(
                config, stdout=replace(config.stdout, events_enabled=False, capture_maxbytes=0)
            )

            def on_stdout_read(data: bytes) -> None:
                on_listener_output(self._output_pid, data)

        self._output = ProcessOutput.from_config(
            output_config,
            childlogdir=childlogdir,
            identifier=identifier,
            strip_ansi=strip_ansi,
            on_log=self._on_log,
            on_communication=self._on_communication,
            on_stdout_read=on_stdout_read,
            faults=faults,  # log writes that fail count as log_write_errors{stream}
        )
        self._child: ChildHandle | None = None
        self._output_pid = 0  # pid of the run whose pipes are being read
        self._timer_handles: dict[TimerKind, TimerHandle] = {}
        self._queue: deque[Fact] = deque()
        self._feeding = False
        self._start_waiters: list[asyncio.Future[None]] = []
        self._stop_waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self.waiting = ""
        """What ``depends_on`` holds this process' start for ("waiting for db"), set by
        the supervisor; shown in ``getProcessInfo``'s description."""
        self.survivor = ""
        """What a survivor of a killed superd means for this process ("adopted from a
        killed superd (pid 123)"), set by ``survivors``; shown in the description."""

    def __repr__(self) -> str:
        record = self._record
        return f"<ProcessRuntime {record.config.namespec} {record.statename} pid={record.pid}>"

    # ------------------------------------------------------------------ introspection

    @property
    def config(self) -> ProcessConfig:
        """The process' configuration."""
        return self._record.config

    @property
    def name(self) -> str:
        """The process name."""
        return self._record.name

    @property
    def namespec(self) -> str:
        """``group:name`` (just ``name`` when they match), as errors and clients spell it."""
        return self._record.config.namespec

    @property
    def record(self) -> ProcessRecord:
        """The state machine's record (frozen; replaced at every step)."""
        return self._record

    @property
    def state(self) -> ProcessState:
        """The current state."""
        return self._record.state

    @property
    def pid(self) -> int:
        """The child's pid, 0 when there is none."""
        return self._record.pid

    @property
    def stdout_logfile(self) -> str | None:
        """The resolved stdout log file (AUTO already named), None when not logged."""
        return self._output.logfile(Channel.STDOUT)

    @property
    def stderr_logfile(self) -> str | None:
        """The resolved stderr log file, None when not logged (or redirected)."""
        return self._output.logfile(Channel.STDERR)

    def logfile(self, channel: Channel) -> str | None:
        """The resolved log file of ``channel`` (for readProcess*Log/tail)."""
        return self._output.logfile(channel)

    def output_bytes(self) -> dict[Channel, int]:
        """Bytes read from the child's pipes so far, per channel (log_bytes_total)."""
        return self._output.bytes_total()

    def snapshot(self) -> control.ProcessInfo:
        """A frozen ``getProcessInfo`` view; ``http.structs.describe`` renders its text."""
        record = self._record
        return control.ProcessInfo(
            name=record.name,
            group=record.group,
            state=record.state,
            start=record.laststart.wall if record.laststart is not None else 0.0,
            stop=record.laststop.wall if record.laststop is not None else 0.0,
            now=self._clock.wall(),
            pid=record.pid,
            spawnerr=record.spawnerr or "",
            exitstatus=record.exitstatus if record.exitstatus is not None else 0,
            stdout_logfile=self.stdout_logfile or "",
            stderr_logfile=self.stderr_logfile or "",
            status_text=record.status_text or "",
            waiting=self.waiting,
            survivor=self.survivor,
        )

    # ------------------------------------------------------------------ operations

    def autostart(self, requester: Requester = AUTOSTART) -> None:
        """Start the process if ``autostart=true`` and it never ran.

        ``requester`` is AUTOSTART at daemon start-up, UPDATE for a group added at
        run time, RELOAD after the daemon restarted itself.
        """
        self._feed_from_loop(AutoStart(requester=requester))

    def start_nowait(self, requester: Requester) -> None:
        """Spawn the child now (supervisord's ``startProcess`` up to its wait).

        With ``startsecs=0`` the process is RUNNING when this returns.

        Raises:
            control.NoFile: the command cannot be found.
            control.NotExecutable: the command cannot be parsed or executed.
            control.AlreadyStarted: STARTING, RUNNING or BACKOFF.
            control.Failed: the process is in the UNKNOWN state.
            control.AbnormalTermination: it is still STOPPING.
            control.SpawnFailed: the spawn failed at once (``spawnerr`` says why).
        """
        self._check_open()
        config = self._record.config
        namespec = config.namespec
        try:
            # supervisord checks the command before anything else (NO_FILE/NOT_EXECUTABLE).
            self._spawner.check_command(
                config.command,
                environment=config.environment,
                base_environment=self._base_environment,
            )
        except SpawnError as error:
            if error.message.startswith("can't find command"):
                raise control.NoFile(error.message) from None
            raise control.NotExecutable(error.message) from None
        self._request(OperatorStart(requester=requester))
        if self._record.spawnerr:
            raise control.SpawnFailed(namespec)

    async def wait_started(self) -> None:
        """Wait until RUNNING, as supervisord's ``startProcess(wait=True)`` does.

        Completed from transitions, never by polling; returns at once if RUNNING.

        Raises:
            control.SpawnFailed: a start failed (BACKOFF/FATAL with a ``spawnerr``).
            control.AbnormalTermination: it left STARTING for another state.
        """
        error = self._start_outcome(self._record.state, self._record.spawnerr)
        if error is None:
            return
        if not isinstance(error, _Pending):
            raise error
        waiter = asyncio.get_running_loop().create_future()
        self._start_waiters.append(waiter)
        try:
            await waiter
        finally:
            with contextlib.suppress(ValueError):
                self._start_waiters.remove(waiter)

    def stop_nowait(self, requester: Requester) -> None:
        """Send ``stopsignal`` (supervisord's ``stopProcess`` up to its wait).

        A BACKOFF process goes straight to STOPPED.

        Raises:
            control.NotRunning: not STARTING, RUNNING or BACKOFF.
            control.Failed: the signal could not be sent (the process is now UNKNOWN).
        """
        self._check_open()
        self._request(OperatorStop(requester=requester))

    async def wait_stopped(self) -> None:
        """Wait until STOPPED, EXITED, FATAL or UNKNOWN (at once if it already is).

        SIGKILL after ``stopwaitsecs`` is this runtime's business, not the caller's.
        """
        if self._record.state in STOPPED_STATES:
            return
        if self._record.state is ProcessState.STOPPING:
            self._logger.log(logging.INFO, "waiting for %s to stop", self.name)
        waiter = asyncio.get_running_loop().create_future()
        self._stop_waiters.append(waiter)
        try:
            await waiter
        finally:
            with contextlib.suppress(ValueError):
                self._stop_waiters.remove(waiter)

    def system_stop(self, requester: Requester = SHUTDOWN) -> None:
        """Stop as part of a shutdown or reload (supervisord's ``stop_all``); never raises.

        STARTING/RUNNING get ``stopsignal``, BACKOFF gives up (-> FATAL), anything
        else is left alone. Pair it with ``starts_allowed`` returning False.
        """
        self._feed_from_loop(SystemStop(requester=requester))

    def signal(self, sig: int, requester: Requester) -> None:
        """Send ``sig`` to the child (``signalProcess``; never to the group).

        Raises:
            control.BadSignal: ``sig`` is not a signal number.
            control.NotRunning: not RUNNING, STARTING or STOPPING.
            control.Failed: the signal could not be sent (the process is now UNKNOWN).
        """
        try:
            signum = signal_module.Signals(sig)
        except ValueError:
            raise control.BadSignal(str(sig)) from None
        self._request(OperatorSignal(signal=signum, requester=requester))

    def write_stdin(self, data: bytes) -> None:
        """Queue ``data`` for the child's stdin (``sendProcessStdin``); never blocks.

        Raises:
            control.NotRunning: no child, or it is being stopped.
            control.NoFile: its stdin is closed (EPIPE).
            control.Failed: another write error (detail: the OS error).
        """
        child = self._child
        if not self._record.pid or self._record.killing or child is None:
            raise control.NotRunning(self.namespec)
        try:
            child.write_stdin(data)
        except BrokenPipeError:
            raise control.NoFile(self.namespec) from None
        except OSError as error:
            raise control.Failed(f"{self.namespec}: {error}") from None

    async def wait_stdin_drained(self) -> None:
        """Wait until what ``write_stdin`` queued is in the pipe (or stdin closed)."""
        if self._child is not None:
            await self._child.wait_stdin_drained()

    # ------------------------------------------------------------------ logs

    def reopen_logs(self) -> None:
        """Reopen the log files (SIGUSR2 after an external logrotate).

        Raises:
            control.Failed: a file could not be reopened (detail: namespec).
        """
        try:
            self._output.reopen()
        except OSError:
            raise control.Failed(self.namespec) from None

    def clear_logs(self) -> None:
        """Delete and recreate the log files (``clearProcessLogs``; backups stay).

        Raises:
            control.Failed: a file could not be removed or reopened (detail: namespec).
        """
        try:
            self._output.clear()
        except OSError:
            raise control.Failed(self.namespec) from None

    def remove_logs(self) -> None:
        """Delete the AUTO log files this runtime created, with their backups.

        For a process removed for good; paths the operator configured are never
        deleted. Closes the log files first (call after ``aclose``, or instead of it
        when nothing is running).
        """
        self._output.close()
        for channel in self._auto_logs:
            path = self._output.logfile(channel)
            if path is None:
                continue
            backups = self._output.channels[channel].settings.backups
            for candidate in (path, *(f"{path}.{index}" for index in range(1, backups + 1))):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(candidate)

    def read_stdout_nowait(self) -> None:
        """Read what the child's stdout pipe holds right now, without waiting.

        For a listener pool: a listener's answer (``RESULT``, ``READY``) may sit in
        the pipe while the loop is still busy with other callbacks; reading it before
        buffering the next event lets a prompt listener take that event at once
        instead of the buffer overflowing in a burst. The bytes go where any read's
        go (``on_listener_output``, the log file); nothing happens when no pipe is
        attached or it is empty. One read: an answer is a few bytes, and a second
        read would mostly find the pipe empty (EAGAIN); the loop's reader gets the rest.
        """
        self._output.channels[Channel.STDOUT].drain(reads=1)

    async def wait_output_closed(self) -> None:
        """Wait until the current run's pipes reached EOF (all its output is logged)."""
        await self._output.wait_closed()

    async def aclose(self) -> None:
        """Release fds and timers; the process must be in a stopped state.

        Pending waits end: ``wait_started`` raises ``AbnormalTermination``,
        ``wait_stopped`` returns.

        Raises:
            control.StillRunning: the process is not STOPPED/EXITED/FATAL/UNKNOWN.
        """
        if self._record.state not in STOPPED_STATES:
            raise control.StillRunning(self.namespec)
        if self._closed:
            return
        self._closed = True
        for kind in list(self._timer_handles):
            self._cancel_timer(kind)
        self._stop_probe()
        self._forget_notify_pids()
        child, self._child = self._child, None
        if child is not None:
            # UNKNOWN: the child may still be alive, we just stop watching it.
            child.close()
        self._output.close()
        self._resolve_waiters(self._start_waiters, control.AbnormalTermination(self.namespec))
        self._resolve_waiters(self._stop_waiters, None)

    # ------------------------------------------------------------------ feeding

    def _check_open(self) -> None:
        if self._closed:
            raise control.Failed(f"{self.namespec} has been removed")

    def _feed(self, fact: Fact) -> None:
        """Step the machine with ``fact``, then with every fact its effects cause.

        Raises ``IllegalTransition`` for ``fact`` itself (an operator call whose
        state check missed a case); later facts only log, see ``_step_queued``.
        """
        if self._feeding:
            self._queue.append(fact)
            return
        self._feeding = True
        try:
            self._step(fact)
            while self._queue:
                self._step_queued(self._queue.popleft())
        finally:
            self._feeding = False

    def _request(self, fact: OperatorStart | OperatorStop | OperatorSignal) -> None:
        """Feed a request; raise its refusal, or the failure of a signal it sent.

        UNKNOWN is entered only when a signal cannot be delivered, and a request is
        refused in UNKNOWN (except a start, which fails before any signal): landing
        there means this request's signal failed.
        """
        try:
            self._feed(fact)
        except states.IllegalTransition as refusal:
            raise _refusal_error(refusal, self.namespec) from None
        record = self._record
        if record.state is ProcessState.UNKNOWN and record.signal_error is not None:
            raise control.Failed(record.signal_error)

    def _feed_from_loop(self, fact: Fact) -> None:
        """Feed a fact that nobody can be told about (loop callbacks): log, never raise."""
        try:
            self._feed(fact)
        except IllegalTransition as error:
            self._logger.error("%s: ignored: %s", self.namespec, error)

    def _step_queued(self, fact: Fact) -> None:
        try:
            self._step(fact)
        except IllegalTransition as error:
            self._logger.error("%s: ignored: %s", self.namespec, error)

    def _step(self, fact: Fact) -> None:
        if self._closed:
            return
        self._record, effects = step(
            self._record, fact, self._clock.now(), starts_allowed=self._starts_allowed()
        )
        spawns = [effect for effect in effects if isinstance(effect, Spawn)]
        if spawns and effects[0] is not spawns[0]:
            # A restart after an exit forks first: the EXITED/STARTING events and the
            # "exited:" line (bus fan-out, listener pools, the main log) then cost the
            # restart nothing. Events and log lines keep their order, and the spawn's
            # outcome is a queued fact, fed only after every effect of this step.
            for spawn in spawns:
                self._spawn(spawn.config)
            effects = tuple(effect for effect in effects if not isinstance(effect, Spawn))
        for effect in effects:
            self._apply(effect)

    def _apply(self, effect: Effect) -> None:
        if isinstance(effect, Publish):
            self._publish(effect)
        elif isinstance(effect, Spawn):
            self._spawn(effect.config)
        elif isinstance(effect, SendSignal):
            self._send_signal(effect)
        elif isinstance(effect, StartTimer):
            self._start_timer(effect.kind, effect.deadline)
        elif isinstance(effect, CancelTimer):
            self._cancel_timer(effect.kind)
        elif isinstance(effect, StartProbe):
            self._start_probe(effect)
        elif isinstance(effect, StopProbe):
            self._stop_probe()
        elif isinstance(effect, Log):
            # No args: the message is taken as it is, never %-interpolated.
            self._logger.log(int(effect.level), effect.message)

    # ------------------------------------------------------------------ effects

    def _publish(self, effect: Publish) -> None:
        event: ProcessStateEvent = effect.event
        self._bus.publish(event, at=effect.at)
        start_outcome = self._start_outcome(event.to_state, event.spawnerr)
        if not isinstance(start_outcome, _Pending):
            self._resolve_waiters(self._start_waiters, start_outcome)
        if event.to_state in STOPPED_STATES:
            self._resolve_waiters(self._stop_waiters, None)

    def _start_outcome(
        self, state: ProcessState, spawnerr: str | None
    ) -> control.ControlError | _Pending | None:
        """supervisord's ``startProcess`` ``onwait``: done (None), an error, or pending."""
        if state is ProcessState.RUNNING:
            return None
        if spawnerr:
            return control.SpawnFailed(self.namespec)
        if state is not ProcessState.STARTING:
            return control.AbnormalTermination(self.namespec)
        return _PENDING

    @staticmethod
    def _resolve_waiters(
        waiters: list[asyncio.Future[None]], outcome: control.ControlError | None
    ) -> None:
        pending, waiters[:] = list(waiters), []
        for waiter in pending:
            if waiter.done():
                continue
            if outcome is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(type(outcome)(outcome.detail))

    def _spawn(self, config: ProcessConfig) -> None:
        try:
            # supervisord opens the log files afresh at every spawn (make_dispatchers).
            self._output.open()
            request = SpawnRequest.from_config(
                config,
                serverurl=self._serverurl,
                base_environment=self._base_environment,
                stdin_fd=self._stdin_fd,
                notify_socket=self._notify.address if self._notify is not None else None,
            )
            child = self._spawner.spawn(request)
        except (SpawnError, LogOpenError) as error:
            self._queue.append(SpawnFailed(error=error.message))
            return
        except OSError as error:
            # A spawner bug or an unforeseen OS failure must not take the daemon down.
            self._queue.append(SpawnFailed(error=f"unknown error during fork: {error}"))
            return
        self._child = child
        self._output_pid = child.pid
        if self._notify is not None and request.notify_socket is not None:
            self._notify.register(child.pid, self._on_notify)
            self._notify_pids.append(child.pid)
        self._oom_before = self._oom_counters_at_spawn()
        stdout_fd, stderr_fd = child.take_output()
        if stdout_fd is None and stderr_fd is None:
            self._output.detach()
        else:
            self._output.attach(stdout_fd, stderr_fd, loop=asyncio.get_running_loop())
        child.add_exit_callback(functools.partial(self._on_exit, child))
        self._queue.append(Spawned(pid=child.pid))

    def _start_probe(self, effect: StartProbe) -> None:
        self._stop_probe()
        if self._probes is None:
            self._probes = AsyncioProbes()
        self._probe = self._probes.start(
            effect.check, effect.interval, lambda: self._feed_from_loop(Ready())
        )

    def _stop_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()

    def _on_notify(self, fields: Mapping[str, str]) -> None:
        """A datagram the child sent on NOTIFY_SOCKET (sd_notify), as facts."""
        if "STATUS" in fields:
            self._feed_from_loop(StatusText(text=fields["STATUS"][:_MAX_STATUS]))
        if fields.get("READY") == "1":
            self._feed_from_loop(Ready())
        if fields.get("WATCHDOG") == "1":
            self._feed_from_loop(WatchdogPing())
        if fields.get("STOPPING") == "1":
            self._logger.info("%s: the program says it is stopping (STOPPING=1)", self.namespec)

    def _forget_notify_pids(self) -> None:
        if self._notify is not None:
            for pid in self._notify_pids:
                self._notify.unregister(pid)
        self._notify_pids.clear()

    def _send_signal(self, effect: SendSignal) -> None:
        child = self._child
        if child is None or child.pid != effect.pid:
            return  # already reaped: its Exited is queued or done
        try:
            child.send_signal(effect.signal, to_group=effect.to_group)
        except ProcessLookupError:
            return  # ESRCH: it exited; the exit callback follows
        except OSError as error:
            message = f"unknown problem killing {self.name} ({effect.pid}): {error}"
            self._queue.append(SignalFailed(error=message))

    def _timer_scheduler(self) -> Timers:
        if self._timers is None:
            self._timers = asyncio.get_running_loop()
        return self._timers

    def _start_timer(self, kind: TimerKind, deadline: float) -> None:
        self._cancel_timer(kind)
        self._timer_handles[kind] = self._timer_scheduler().call_at(
            deadline, functools.partial(self._on_timer, kind)
        )

    def _cancel_timer(self, kind: TimerKind) -> None:
        handle = self._timer_handles.pop(kind, None)
        if handle is not None:
            handle.cancel()

    # ------------------------------------------------------------------ callbacks

    def _on_timer(self, kind: TimerKind) -> None:
        self._timer_handles.pop(kind, None)
        self._feed_from_loop(TimerFired(kind=kind))

    def _on_exit(self, child: ChildHandle, status: ExitStatus) -> None:
        if child is not self._child:
            child.close()  # a child we stopped watching (aclose in UNKNOWN)
            return
        # Output already in the pipes belongs before the exit event (supervisord drains
        # in finish()), and a restart in this same step would detach these pipes.
        self._output.drain()
        child.close()
        self._child = None
        self._forget_notify_pids()
        oom_killed, oom_evidence = judge_oom(
            self._oom_before,
            self._oom_counters() if status.signal == signal_module.SIGKILL else None,
            status.returncode,
        )
        forensics = ExitForensics(
            core_dumped=status.core_dumped,
            oom_killed=oom_killed,
            oom_evidence=oom_evidence,
            stderr_tail=self._output.tail_lines(self._stderr_tail_lines),
        )
        self._feed_from_loop(Exited(returncode=status.returncode, forensics=forensics))

    def _on_log(self, channel: Channel, data: bytes) -> None:
        event_type = ProcessLogStdout if channel is Channel.STDOUT else ProcessLogStderr
        self._bus.publish(
            event_type(
                processname=self.name,
                groupname=self._record.group,
                pid=self._output_pid,
                data=data,
            )
        )

    def _on_communication(self, channel: Channel, data: bytes) -> None:
        event_type = (
            ProcessCommunicationStdout if channel is Channel.STDOUT else ProcessCommunicationStderr
        )
        self._bus.publish(
            event_type(
                processname=self.name,
                groupname=self._record.group,
                pid=self._output_pid,
                data=data,
            )
        )


class _Pending:
    """Marker: a start wait that is not decided yet."""


_PENDING = _Pending()
