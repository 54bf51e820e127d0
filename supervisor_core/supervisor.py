"""The daemon's core: active groups, start/stop ordering, ticks, moods, and the control seam.

Rules of this file:
- :class:`Supervisor` owns the active process groups and implements
  :class:`~supervisor_core.control.SupervisorControl`; processes are built by an
  injected factory (the real one wraps ``process.ProcessRuntime``), so this module
  never spawns, and unit tests run it with fakes and a ``FakeClock``.
- Groups start in ``priority`` order (lowest first; listener pools default to -1),
  and each group's processes in theirs. Shutdown goes the other way, one group at
  a time, and waits for the group's processes to be stopped through their
  ``wait_stopped()`` (event driven, never polled) before touching the next group.
- The mood is supervisord's: RUNNING, then RESTARTING (HUP, ``restart()``) or
  SHUTDOWN (TERM/INT/QUIT, ``shutdown()``). :meth:`Supervisor.run` returns the mood
  it ended in; the caller (``superd``) decides whether to build the next generation.
- Signals: ``receive_signal`` only records and wakes (called from the loop's signal
  handler); the run task acts on them.
- Ticks: one timer per 5 s boundary on the monotonic clock (``call_at``), publishing
  TICK_5/60/3600 whose ``when`` is the wall-clock boundary, as supervisord's
  ``timeslice``. An idle daemon wakes only for ticks and I/O.
- An ``[eventlistener:x]`` group is a ``pools.ListenerPool`` (see
  :meth:`Supervisor._make_group`): a process group that subscribes to the bus and
  speaks the listener protocol with its processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace

from supervisor_core import control
from supervisor_core.bus import EventBus
from supervisor_core.clock import Clock
from supervisor_core.config import ConfigError, diff_configs, load
from supervisor_core.config.dependencies import resolve as resolve_dependencies
from supervisor_core.config.model import Config, GroupConfig, GroupKind, ProcessConfig
from supervisor_core.dependencies import DependencyGraph
from supervisor_core.events import (
    TICK_EVENT_TYPES,
    Event,
    ProcessDependency,
    ProcessGroupAdded,
    ProcessGroupRemoved,
    ProcessStateEvent,
    RemoteCommunication,
    SupervisorStateChangeRunning,
    SupervisorStateChangeStopping,
    tick_when,
)
from supervisor_core.fcgi import close_fcgi_socket, open_fcgi_socket
from supervisor_core.groups import ProcessGroup
from supervisor_core.lifecycle import (
    AUTOSTART,
    RELOAD,
    RUNNING_STATES,
    SHUTDOWN,
    STOPPED_STATES,
    Cause,
    ProcessState,
    Requester,
    SupervisorState,
)
from supervisor_core.listeners import BadResultHandler
from supervisor_core.logs.mainlog import MainLogHandler
from supervisor_core.names import make_namespec, split_namespec
from supervisor_core.pools import ListenerPool, check_listener_events
from supervisor_core.process import ProcessRuntime, TimerHandle, Timers
from supervisor_core.sdnotify import SystemdNotifier
from supervisor_core.survivors import SurvivorPlan

logger = logging.getLogger(__name__)

#: Seconds of spawning the autostart pass does before it lets the loop run once (RPC,
#: ``/metrics``, signals, child exits): short enough to answer promptly, long enough
#: that the yields themselves cost the pass nothing measurable.
AUTOSTART_SLICE = 0.02
#: Spawning time per second the loop spent elsewhere when the pass yielded. A client
#: polling a 2,000-program ``getAllProcessInfo`` (0.1-0.3 s each) in a loop would
#: otherwise take most of the pass and double the launch; with 9, answers get at most
#: a tenth of it, and a cheap request (getState) still waits one short slice at most.
AUTOSTART_SHARE = 9.0

# --------------------------------------------------------------------------- seams


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSetup:
    """What a process factory gets to build one process.

    ``stdin_fd`` is the fcgi group's listening socket (fd 0 of the child) or None;
    ``starts_allowed`` turns False once the supervisor stops (no autorestart, no
    BACKOFF retry from then on, as supervisord's ``mood > RESTARTING`` check);
    ``on_listener_output`` is set for an event listener (``ProcessRuntime``'s
    ``on_listener_output``: its stdout goes to its pool's protocol parser).
    """

    config: ProcessConfig
    group: GroupConfig
    stdin_fd: int | None
    starts_allowed: Callable[[], bool]
    on_listener_output: Callable[[int, bytes], None] | None = None


ProcessFactory = Callable[[ProcessSetup], ProcessRuntime]
"""Builds one process runtime (superd binds bus, spawner, clock, serverurl, ...)."""

ConfigReader = Callable[[str], Config]


# --------------------------------------------------------------------------- ticks

# asyncio may run a timer up to its clock resolution early, and the wall and monotonic
# clocks drift apart slowly; a fire this close to the boundary counts as on it.
_TICK_TOLERANCE = 0.001
_TICK_STEP = min(event.period for event in TICK_EVENT_TYPES)


class TickScheduler:
    """Publishes TICK_5/TICK_60/TICK_3600 when their wall-clock period rolls over.

    Like supervisord, the first period is not announced at start: the first TICK_5
    comes at the next 5 s boundary, with ``when`` equal to that boundary.
    """

    def __init__(self, bus: EventBus, clock: Clock, timers: Timers) -> None:
        self._bus = bus
        self._clock = clock
        self._timers = timers
        self._last: dict[int, int] = {}
        self._handle: TimerHandle | None = None

    def start(self) -> None:
        """Remember the current periods and schedule the next boundary."""
        wall = self._clock.wall() + _TICK_TOLERANCE
        self._last = {event.period: tick_when(event.period, wall) for event in TICK_EVENT_TYPES}
        self._schedule()

    def stop(self) -> None:
        """Cancel the pending timer (idempotent)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _schedule(self) -> None:
        now = self._clock.now()
        boundary = tick_when(_TICK_STEP, now.wall + _TICK_TOLERANCE) + _TICK_STEP
        self._handle = self._timers.call_at(now.monotonic + (boundary - now.wall), self._fire)

    def _fire(self) -> None:
        now = self._clock.now()
        wall = now.wall + _TICK_TOLERANCE
        for event_type in TICK_EVENT_TYPES:
            this_tick = tick_when(event_type.period, wall)
            if this_tick != self._last.get(event_type.period):
                self._last[event_type.period] = this_tick
                self._bus.publish(event_type(when=this_tick), at=now)
        self._schedule()


def _parent_pid(pid: int) -> int | None:
    """The parent of ``pid`` from ``/proc/PID/stat`` (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def _sorted_groups(groups: Sequence[GroupConfig]) -> list[GroupConfig]:
    # sorted() is stable: equal priorities keep config order, as supervisord's sort.
    return sorted(groups, key=lambda g: g.priority)


# --------------------------------------------------------------------------- supervisor


class Supervisor:
    """The running daemon: groups, ordering, moods, ticks; a ``SupervisorControl``.

    Example::

        supervisor = Supervisor(config, bus=bus, clock=SystemClock(), process_factory=f,
                                timers=loop)
        mood = await supervisor.run()  # until shutdown() or restart()

    Args:
        config: the loaded configuration (``[supervisord]`` overrides already applied).
        bus: the daemon's event bus.
        clock: where time is read.
        process_factory: builds one managed process.
        timers: schedules the tick timer (the running loop when None).
        read_config: re-reads the file for ``reload_config`` (default ``config.load``).
        main_log: the main log handler, for ``clear_log``/``reopen`` and its path.
        startup: who starts the autostart processes: AUTOSTART for the daemon's first
            generation, RELOAD for one built after a restart (SIGHUP, ``restart()``).
        systemd: superd's own sd_notify client (READY=1 once every autostart program
            has been handled, STOPPING=1 / RELOADING=1 when that begins).
        survivors: the children a killed superd left running, dealt with once the
            groups exist and before anything autostarts (the daemon's first
            generation only; ``survivors.SurvivorPlan``).
    """

    def __init__(
        self,
        config: Config,
        *,
        bus: EventBus,
        clock: Clock,
        process_factory: ProcessFactory,
        timers: Timers | None = None,
        read_config: ConfigReader = load,
        main_log: MainLogHandler | None = None,
        startup: Requester = AUTOSTART,
        systemd: SystemdNotifier | None = None,
        survivors: SurvivorPlan | None = None,
    ) -> None:
        self._config = config
        self._survivors = survivors
        self._startup = startup
        self._systemd = systemd
        self._bus = bus
        self._clock = clock
        self._factory = process_factory
        self._timers = timers
        self._read_config = read_config
        self._main_log = main_log
        self._groups: dict[str, ProcessGroup] = {}
        self._sockets: dict[str, socket.socket] = {}
        self._state = SupervisorState.RUNNING
        self._stopping = False
        self._signals: deque[signal.Signals] = deque()
        self._wake = asyncio.Event()
        self._ticks: TickScheduler | None = None
        # depends_on: the graph of the loaded configuration, the starts it holds and
        # the stops that wait for dependents to stop first (namespec -> requester).
        self._graph = DependencyGraph.of(resolve_dependencies(config.groups)[0])
        self._held_starts: dict[str, Requester] = {}
        self._held_stops: dict[str, Requester] = {}
        self._released = asyncio.Event()
        self._next_config: Config | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def config(self) -> Config:
        """The most recently loaded configuration."""
        return self._config

    async def run(self) -> SupervisorState:
        """Add and start every configured group, serve until asked to stop, stop all.

        Returns SHUTDOWN or RESTARTING: what the daemon should do next.
        """
        timers: Timers = self._timers if self._timers is not None else asyncio.get_running_loop()
        for group_config in _sorted_groups(self._config.groups):
            with contextlib.suppress(control.Failed):  # logged; the others still run
                self._add_group(group_config)
        self._bus.publish(SupervisorStateChangeRunning())
        self._ticks = TickScheduler(self._bus, self._clock, timers)
        self._ticks.start()
        watch = self._bus.subscribe(
            self._on_state_event, name="dependencies", types=("PROCESS_STATE",)
        )
        try:
            await self._settle_survivors()
            await self._autostart_pass(self._sorted_active(), self._startup, act_on_signals=True)
            if self._systemd is not None:
                self._systemd.ready(f"{sum(len(g) for g in self._groups.values())} processes")
            await self._serve_until_stop_requested()
            if self._systemd is not None:
                if self._state is SupervisorState.RESTARTING:
                    self._systemd.reloading()
                else:
                    self._systemd.stopping()
            self._stopping = True
            self._bus.publish(SupervisorStateChangeStopping())
            await self._stop_all_groups()
        finally:
            watch.close()
            self._stopping = True
            self._ticks.stop()
            # Normally everything is stopped by now; when run() is cancelled instead,
            # at least ask the children to stop rather than leave them unwatched.
            for group in self._sorted_active():
                if group.unstopped():
                    group.system_stop(self._stop_requester())
            await self._close_all_groups()
        return self._state

    async def _settle_survivors(self) -> None:
        plan, self._survivors = self._survivors, None
        if plan is not None:
            runtimes = {(r.config.group_name, r.name): r for g in self._groups.values() for r in g}
            await plan.settle(self._bus, runtimes)

    async def _serve_until_stop_requested(self) -> None:
        while True:
            self._act_on_signals()
            if self._state is not SupervisorState.RUNNING:
                return
            await self._wake.wait()
            self._wake.clear()

    async def _stop_all_groups(self) -> None:
        # Signals keep being acted on while we wait (a USR2 during a long stop, a TERM
        # turning a restart into a shutdown), by a helper task of our own group.
        self._held_starts.clear()
        async with asyncio.TaskGroup() as tasks:
            watcher = tasks.create_task(self._act_on_signals_forever())
            if not self._graph.empty:
                await self._stop_in_dependency_waves()
            for group in reversed(self._sorted_active()):
                logger.debug("stopping group %s", group.config.name)
                await self._stop_group(group)
            watcher.cancel()

    async def _act_on_signals_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._act_on_signals()

    def _stop_requester(self) -> Requester:
        return RELOAD if self._state is SupervisorState.RESTARTING else SHUTDOWN

    async def _stop_in_dependency_waves(self) -> None:
        """Shutdown with ``depends_on``: dependents stop (and are stopped) first.

        Without any ``depends_on`` this is skipped and the order is supervisord's.
        """
        by_name = {r.namespec: r for g in self._sorted_active() for r in g}
        unstopped = [name for name, r in by_name.items() if r.state not in STOPPED_STATES]
        order = {name: index for index, name in enumerate(by_name)}
        for wave in self._graph.stop_waves(unstopped):
            names = sorted(wave, key=order.__getitem__, reverse=True)
            runtimes = [by_name[name] for name in names]
            for runtime in runtimes:
                runtime.system_stop(self._stop_requester())
            for runtime in runtimes:
                await runtime.wait_stopped()

    async def _stop_group(self, group: ProcessGroup) -> None:
        # supervisord's stop_all: reverse priority within the group, BACKOFF gives up.
        group.system_stop(self._stop_requester())
        await group.wait_stopped()

    async def _close_all_groups(self) -> None:
        for group in reversed(self._sorted_active()):
            await self._close_group(group)
        self._groups.clear()

    async def _close_group(self, group: ProcessGroup) -> None:
        try:
            await group.aclose()
        except control.StillRunning:
            # Only after a failed start-up or a cancelled stop: the children keep
            # running unwatched, which the log must say.
            logger.critical("group %s closed with processes still running", group.name)
        sock = self._sockets.pop(group.name, None)
        if sock is not None and group.config.socket is not None:
            close_fcgi_socket(sock, group.config.socket)

    # ------------------------------------------------------------------ signals

    def receive_signal(self, sig: signal.Signals) -> None:
        """Record ``sig`` for the run task to act on (for ``daemon.SignalRecorder``)."""
        self._signals.append(sig)
        self._wake.set()

    def _act_on_signals(self) -> None:
        while self._signals:
            sig = self._signals.popleft()
            if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                logger.warning("received %s indicating exit request", sig.name)
                self._state = SupervisorState.SHUTDOWN
            elif sig == signal.SIGHUP:
                if self._state is SupervisorState.SHUTDOWN:
                    logger.warning(
                        "ignored %s indicating restart request (shutdown in progress)", sig.name
                    )
                else:
                    logger.warning("received %s indicating restart request", sig.name)
                    with contextlib.suppress(control.CantReread):  # logged CRIT, keeps running
                        self._begin_restart()
            elif sig == signal.SIGUSR2:
                logger.info("received %s indicating log reopen request", sig.name)
                self.reopen_logs()
            else:
                logger.debug("received %s indicating nothing", sig.name)

    def reopen_logs(self) -> None:
        """Reopen the main log and every child log (SIGUSR2)."""
        if self._main_log is not None:
            self._main_log.reopen()
        for group in self._groups.values():
            try:
                group.reopen_logs()
            except control.Failed as error:
                logger.error("could not reopen the logs of %s", error.detail)

    # ------------------------------------------------------------------ groups

    def _sorted_active(self) -> list[ProcessGroup]:
        return sorted(self._groups.values(), key=lambda g: g.priority)

    def _starts_allowed(self) -> bool:
        return not self._stopping and self._state is SupervisorState.RUNNING

    def _make_group(self, config: GroupConfig) -> ProcessGroup:
        if config.kind is GroupKind.EVENTLISTENER:
            return self._make_pool(config)
        sock: socket.socket | None = None
        if config.kind is GroupKind.FCGI_PROGRAM and config.socket is not None:
            sock = open_fcgi_socket(config.socket)
        stdin_fd = sock.fileno() if sock is not None else None

        def make_process(process_config: ProcessConfig) -> ProcessRuntime:
            return self._factory(
                ProcessSetup(
                    config=process_config,
                    group=config,
                    stdin_fd=stdin_fd,
                    starts_allowed=self._starts_allowed,
                )
            )

        try:
            group = ProcessGroup(config, make_process)
        except BaseException:
            if sock is not None and config.socket is not None:
                close_fcgi_socket(sock, config.socket)
            raise
        if sock is not None:
            self._sockets[config.name] = sock
        return group

    def _make_pool(self, config: GroupConfig) -> ListenerPool:
        def make_listener(
            process_config: ProcessConfig, on_output: Callable[[int, bytes], None]
        ) -> ProcessRuntime:
            return self._factory(
                ProcessSetup(
                    config=process_config,
                    group=config,
                    stdin_fd=None,
                    starts_allowed=self._starts_allowed,
                    on_listener_output=on_output,
                )
            )

        try:
            return ListenerPool(
                config,
                make_listener,
                bus=self._bus,
                identifier=self._config.supervisord.identifier,
            )
        except (BadResultHandler, ConfigError) as error:
            raise OSError(str(error)) from error  # reported by _add_group like the others

    def _add_group(self, config: GroupConfig) -> None:
        try:
            group = self._make_group(config)
        except OSError as error:
            # An fcgi socket that cannot be bound, an AUTO log that cannot be created:
            # the group stays out, the daemon keeps running and says why.
            logger.critical("could not add group %s: %s", config.name, error)
            raise control.Failed(f"{config.name}: {error}") from error
        self._groups[config.name] = group
        self._bus.publish(ProcessGroupAdded(groupname=config.name))

    async def _autostart_pass(
        self, groups: Sequence[ProcessGroup], requester: Requester, *, act_on_signals: bool
    ) -> None:
        """Autostart ``groups`` in order, letting the loop run between short slices.

        Spawning thousands of programs takes seconds; like supervisord, which starts
        processes from its select loop, the daemon keeps answering RPC, scrapes and
        child exits meanwhile: every ``AUTOSTART_SLICE`` seconds of spawning the pass
        yields once (for longer after a yield that took long: ``AUTOSTART_SHARE``).
        The order stays priority, then group order. A shutdown or restart
        arriving meanwhile (with ``act_on_signals``, the signals too: the run task is
        busy here rather than in its serve loop) ends the pass: the caller stops what
        was started, the rest never starts. A group removed meanwhile is skipped.
        """
        slice_end = time.perf_counter() + AUTOSTART_SLICE
        for group in groups:
            for runtime in group:
                if (now := time.perf_counter()) >= slice_end:
                    await asyncio.sleep(0)
                    if act_on_signals:
                        self._act_on_signals()
                    resumed = time.perf_counter()
                    away = resumed - now
                    slice_end = resumed + max(AUTOSTART_SLICE, away * AUTOSTART_SHARE)
                if not self._starts_allowed():
                    logger.info("autostart cut short: the daemon is %s", self._state.name)
                    return
                if self._groups.get(group.name) is not group:
                    break  # removed (removeProcessGroup) while the pass yielded
                self._autostart_one(runtime, requester)

    def _autostart_one(self, runtime: ProcessRuntime, requester: Requester) -> None:
        if not self._graph.empty:
            held = self._graph.requires.get(runtime.namespec)
            if held and runtime.config.autostart and runtime.record.laststart is None:
                self._start_when_ready(runtime, requester, explicit=False)
                return
        runtime.autostart(requester)

    # ------------------------------------------------------------------ depends_on

    def _states(self) -> dict[str, ProcessState]:
        return {r.namespec: r.state for g in self._groups.values() for r in g}

    def _runtime(self, namespec: str) -> ProcessRuntime | None:
        group_name, process_name = split_namespec(namespec)
        group = self._groups.get(group_name)
        if group is None or process_name is None:
            return None
        return group.processes.get(process_name)

    def _start_when_ready(
        self, runtime: ProcessRuntime, requester: Requester, *, explicit: bool
    ) -> None:
        """Start ``runtime`` now if its dependencies are ready, else hold the start.

        An explicit start first starts the idle dependencies that would not start by
        themselves (cause DEPENDENCY).

        Raises:
            ControlError: the start itself was refused (already started, ...).
        """
        name = runtime.namespec
        states = self._states()
        if explicit:
            for dep in self._graph.to_bring_along(name, states):
                dependency = self._runtime(dep)
                if dependency is not None and dep not in self._held_starts:
                    needed = Requester(cause=Cause.DEPENDENCY, origin=f"needed by {name}")
                    with contextlib.suppress(control.ControlError):
                        self._start_when_ready(dependency, needed, explicit=True)
            states = self._states()
        waiting = self._graph.waiting_for(name, states)
        if not waiting:
            runtime.waiting = ""
            if explicit:
                runtime.start_nowait(requester)
            else:
                runtime.autostart(requester)
            return
        if runtime.state not in (ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL):
            raise control.AlreadyStarted(name)
        self._held_starts[name] = requester
        self._show_waiting(runtime, waiting, states)

    def _show_waiting(
        self, runtime: ProcessRuntime, waiting: tuple[str, ...], states: dict[str, ProcessState]
    ) -> None:
        parts = [
            f"{dep} ({states[dep].name})"
            if states.get(dep) in (ProcessState.FATAL, ProcessState.STOPPED, ProcessState.EXITED)
            else dep
            for dep in waiting
        ]
        text = f"waiting for {', '.join(parts)}"
        if text != runtime.waiting:
            runtime.waiting = text
            self._bus.publish(
                ProcessDependency(
                    processname=runtime.name,
                    groupname=runtime.config.group_name,
                    waiting_for=waiting,
                )
            )

    def _release(self, name: str, *, started: bool) -> None:
        runtime = self._runtime(name)
        requester = self._held_starts.pop(name, None)
        if runtime is None or requester is None:
            return
        runtime.waiting = ""
        self._bus.publish(
            ProcessDependency(
                processname=runtime.name,
                groupname=runtime.config.group_name,
                waiting_for=(),
                released=started,
            )
        )
        released, self._released = self._released, asyncio.Event()
        released.set()
        if not started:
            return
        try:
            runtime.start_nowait(requester)
        except control.ControlError as error:
            logger.warning("%s: held start not done: %s", name, error)

    def _release_if_ready(self, name: str) -> None:
        ready = not self._graph.waiting_for(name, self._states())
        if name in self._held_starts and self._starts_allowed() and ready:
            self._release(name, started=True)

    def _on_state_event(self, event: Event) -> None:
        """Release held starts and stops as the processes they wait for change state."""
        data = event.data
        if self._graph.empty or not isinstance(data, ProcessStateEvent):
            return
        changed = make_namespec(data.groupname, data.processname)
        if self._held_starts and self._graph.required_by.get(changed):
            states = self._states()
            holders = [n for n in self._held_starts if changed in self._graph.requires.get(n, ())]
            for name in holders:
                waiting = self._graph.waiting_for(name, states)
                runtime = self._runtime(name)
                if not waiting:
                    # After this step: the dependency's own "entered RUNNING" comes
                    # first in the log, then the dependent's spawn.
                    asyncio.get_running_loop().call_soon(self._release_if_ready, name)
                elif runtime is not None:
                    self._show_waiting(runtime, waiting, states)
        if self._held_stops and data.to_state in STOPPED_STATES:
            states = self._states()
            for name in list(self._held_stops):
                if self._graph.running_dependents(name, states):
                    continue
                requester = self._held_stops.pop(name)
                runtime = self._runtime(name)
                if runtime is not None:
                    try:
                        runtime.stop_nowait(requester)
                    except control.ControlError as error:
                        logger.info("%s: held stop not needed: %s", name, error)

    def _require_running(self) -> None:
        if self._state is not SupervisorState.RUNNING:
            raise control.ShutdownState()

    def resolve(self, namespec: str) -> list[ProcessRuntime]:
        """The processes ``namespec`` names: ``name``, ``group:name`` or ``group:*``.

        Raises:
            BadName: no such group or process.
        """
        group_name, process_name = split_namespec(namespec)
        group = self._groups.get(group_name)
        if group is None:
            raise control.BadName(namespec)
        if process_name is None:
            return list(group)
        if process_name not in group.processes:
            raise control.BadName(namespec)
        return [group.processes[process_name]]

    def _one(self, namespec: str) -> ProcessRuntime:
        if split_namespec(namespec)[1] is None:
            raise control.BadName(namespec)
        return self.resolve(namespec)[0]

    # ------------------------------------------------------------------ SupervisorControl

    def identification(self) -> str:
        """The ``identifier`` option of ``[supervisord]``."""
        return self._config.supervisord.identifier

    def supervisor_state(self) -> SupervisorState:
        """RUNNING, RESTARTING or SHUTDOWN (supervisord's mood)."""
        return self._state

    def pid(self) -> int:
        """The daemon's pid."""
        return os.getpid()

    def main_logfile(self) -> str | None:
        """The main log's path, or None when there is none."""
        return self._main_log.writer.path if self._main_log is not None else None

    def groups(self) -> Sequence[control.GroupInfo]:
        """Snapshots of the active groups, lowest priority first."""
        return [group.snapshot() for group in self._sorted_active()]

    def group(self, name: str) -> control.GroupInfo | None:
        """A snapshot of one active group, or None (see ``SupervisorControl.group``)."""
        group = self._groups.get(name)
        return None if group is None else group.snapshot()

    def output_bytes(self) -> dict[tuple[str, str], dict[str, int]]:
        """Bytes read so far from each active process' pipes, by ``(group, name)``
        and stream (``"stdout"``/``"stderr"``); see ``extensions.DaemonView``."""
        return {
            (group.name, runtime.name): {
                str(channel): count for channel, count in runtime.output_bytes().items()
            }
            for group in self._sorted_active()
            for runtime in group
        }

    def snapshot_key(self) -> Hashable:
        """Equal between two calls when ``groups()`` answers the same (see ``SupervisorControl``).

        Records are frozen and replaced at every step, runtimes and groups are
        replaced when the configuration changes, and ``now`` counts in whole seconds:
        a tuple of those (held, so no identity can be reused) is equal exactly when a
        snapshot would be.
        """
        parts: list[object] = [int(self._clock.wall())]
        for group in self._sorted_active():
            parts.append(group)
            for runtime in group:
                parts.append(runtime)
                parts.append(runtime.record)
        return tuple(parts)

    def config_groups(self) -> Sequence[GroupConfig]:
        """Every group of the loaded configuration, active or not."""
        return self._config.groups

    def start_process(self, namespec: str, requester: Requester) -> None:
        """Requested start of one process (see ``SupervisorControl``).

        With ``depends_on`` the start may be held until the dependencies are ready
        (idle ``autostart=false`` dependencies are started first).
        """
        self._require_running()
        runtime = self._one(namespec)
        name = runtime.namespec
        if name in self._held_starts:
            raise control.AlreadyStarted(name)
        if self._graph.requires.get(name):
            self._start_when_ready(runtime, self._attributed(requester), explicit=True)
            return
        runtime.start_nowait(self._attributed(requester))

    async def wait_process_started(self, namespec: str) -> None:
        """Wait for RUNNING (see ``SupervisorControl``); a held start waits for its release."""
        runtime = self._one(namespec)
        while runtime.namespec in self._held_starts:
            await self._released.wait()
        await runtime.wait_started()

    def stop_process(self, namespec: str, requester: Requester) -> None:
        """Requested stop of one process (see ``SupervisorControl``).

        With ``depends_on``, the processes that depend on it are stopped first (cause
        DEPENDENCY) and its own stop waits until they are; a held start is called off.
        """
        runtime = self._one(namespec)
        name = runtime.namespec
        requester = self._attributed(requester)
        if name in self._held_starts:
            self._release(name, started=False)
            return
        if not self._graph.empty and runtime.state is ProcessState.STOPPING:
            return  # already on its way down, stopped for a dependency (stop all)
        if not self._graph.empty and runtime.state in RUNNING_STATES:
            dependents = self._graph.running_dependents(name, self._states())
            if dependents:
                for dependent in reversed(dependents):
                    other = self._runtime(dependent)
                    if other is not None:
                        with contextlib.suppress(control.ControlError):
                            other.stop_nowait(
                                Requester(cause=Cause.DEPENDENCY, origin=f"{name} is stopping")
                            )
                self._held_stops[name] = requester
                return
        runtime.stop_nowait(requester)

    async def wait_process_stopped(self, namespec: str) -> None:
        """Wait for a stopped state (see ``SupervisorControl``)."""
        await self._one(namespec).wait_stopped()

    def signal_process(self, namespec: str, sig: signal.Signals, requester: Requester) -> None:
        """Send ``sig`` to one process (see ``SupervisorControl``)."""
        self._one(namespec).signal(sig, self._attributed(requester))

    def _attributed(self, requester: Requester) -> Requester:
        """A request made by one of our own event listeners is the listener's.

        superlance's memmon or httpok restart programs through XML-RPC; when the
        channel names the peer process (a unix socket's SO_PEERCRED), a request from
        a listener process, or from a child of one (``command=sh -c ...``), gets the
        cause LISTENER and the listener's name as its origin.
        """
        pid = requester.peer_pid
        if requester.cause is not Cause.OPERATOR or pid is None:
            return requester
        candidates = {pid, _parent_pid(pid)}
        for group in self._groups.values():
            if not isinstance(group, ListenerPool):
                continue
            for runtime in group:
                if runtime.pid and runtime.pid in candidates:
                    origin = f"listener {runtime.namespec} (pid {runtime.pid})"
                    if requester.origin:
                        origin = f"{origin}, {requester.origin}"
                    return Requester(cause=Cause.LISTENER, origin=origin, peer_pid=pid)
        return requester

    def send_process_stdin(self, namespec: str, data: bytes) -> None:
        """Write to a process's stdin (see ``SupervisorControl``)."""
        self._one(namespec).write_stdin(data)

    def send_remote_comm_event(self, type_: str, data: str) -> None:
        """Publish REMOTE_COMMUNICATION."""
        self._bus.publish(RemoteCommunication(type=type_, data=data))

    async def reload_config(self) -> control.ReloadResult:
        """Re-read the file; diff its groups against the active ones (supervisord's reread).

        The new file's groups become :meth:`config_groups`; nothing starts or stops.
        """
        try:
            new = self._read_config(self._config.path)
            # events= names types of this daemon's registry (the extensions' too).
            check_listener_events(new.groups, self._bus.registry)
        except ConfigError as error:
            raise control.CantReread("\n".join(str(p) for p in error.problems)) from error
        except OSError as error:
            raise control.CantReread(f"{self._config.path}: {error.strerror or error}") from error
        active = replace(self._config, groups=tuple(g.config for g in self._sorted_active()))
        diff = diff_configs(active, new)
        self._config = replace(new, supervisord=self._config.supervisord)
        self._graph = DependencyGraph.of(resolve_dependencies(self._config.groups)[0])
        return control.ReloadResult(
            added=tuple(g.name for g in diff.added),
            changed=tuple(g.name for g in diff.changed),
            removed=tuple(g.name for g in diff.removed),
        )

    async def add_process_group(self, name: str) -> None:
        """Activate configured group ``name`` and autostart it (see ``SupervisorControl``)."""
        self._require_running()
        config = self._config.group(name)
        if config is None:
            raise control.BadName(name)
        if name in self._groups:
            raise control.AlreadyAdded(name)
        self._add_group(config)
        requester = Requester(cause=Cause.UPDATE, origin=f"group {name}")
        await self._autostart_pass([self._groups[name]], requester, act_on_signals=False)

    async def remove_process_group(self, name: str) -> None:
        """Deactivate a group whose processes are all stopped (see ``SupervisorControl``)."""
        group = self._groups.get(name)
        if group is None:
            raise control.BadName(name)
        if group.unstopped():
            raise control.StillRunning(name)
        del self._groups[name]
        await self._close_group(group)
        self._bus.publish(ProcessGroupRemoved(groupname=name))

    def shutdown(self) -> None:
        """Begin an orderly shutdown."""
        logger.info("shutdown requested")
        self._state = SupervisorState.SHUTDOWN
        self._wake.set()

    def restart(self) -> None:
        """Begin a restart: stop everything, reload, start again.

        The file is read first; one that does not load refuses the restart and
        leaves everything running (supervisord would restart and then exit).

        Raises:
            CantReread: the file could not be read or parsed (logged CRIT too).
        """
        if self._state is SupervisorState.SHUTDOWN:
            return
        logger.info("restart requested")
        self._begin_restart()
        self._wake.set()

    @property
    def next_config(self) -> Config | None:
        """The configuration the next generation runs, read when the restart was accepted."""
        return self._next_config

    def _begin_restart(self) -> None:
        # Read before anything stops: a restart that cannot load its file must fail
        # where the operator sees it (the RPC fault, the CRIT line), not after every
        # program has been stopped.
        path = self._config.path
        try:
            next_config = self._read_config(path)
            check_listener_events(next_config.groups, self._bus.registry)
            self._next_config = next_config
        except ConfigError as error:
            detail = "\n".join(str(problem) for problem in error.problems)
        except OSError as error:
            detail = f"{path}: {error.strerror or error}"
        else:
            self._state = SupervisorState.RESTARTING
            return
        logger.critical(
            "restart refused, %s did not load; nothing was restarted:\n%s", path, detail
        )
        raise control.CantReread(detail)

    def clear_log(self) -> None:
        """Remove and reopen the main log."""
        if self._main_log is None:
            raise control.NoFile("main log")
        handler = self._main_log
        handler.acquire()
        try:
            handler.writer.remove()
        except OSError as error:
            raise control.Failed(f"{handler.writer.path}: {error}") from error
        finally:
            handler.release()

    def clear_process_logs(self, namespec: str) -> None:
        """Truncate one process's logs (see ``SupervisorControl``)."""
        self._one(namespec).clear_logs()
