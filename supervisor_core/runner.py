"""Wiring one running daemon: bus, spawner, control-plane servers and Supervisor generations.

Rules of this file:
- Structured lifetimes: a generation's HTTP listeners are an ``async with
  serving(...)`` scope around the supervisor's run (aiohttp's AppRunner runs the
  connection handlers); when the supervisor returns, the listeners close (in-flight
  requests finish first) before the next generation or the exit. The supervisor's
  own helper tasks live in its TaskGroup; nothing is an orphan task.
- A generation ends in SHUTDOWN (return) or RESTARTING (build a new Supervisor on
  the same bus from the file the restart read, so event serials continue without a
  gap). The Supervisor reads the file when the restart is asked for and refuses a
  restart whose file does not load (CANT_REREAD, CRIT in the log, nothing stopped):
  supervisord would restart and then exit, leaving every program stopped.
- The OS prelude (rlimits, privileges, daemonizing, logging set-up) is the CLI's;
  this module only needs a running loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from supervisor_core.bus import EventBus
from supervisor_core.children import ChildRegistry, RecordingSpawner
from supervisor_core.clock import Clock, SystemClock
from supervisor_core.config import Config, ConfigError
from supervisor_core.config.model import InetHttpServerConfig
from supervisor_core.daemon import DAEMON_SIGNALS, SignalRecorder, StartupReport
from supervisor_core.events import EventTypeRegistry
from supervisor_core.extensions import Extension, first_serial
from supervisor_core.health import LOG_WRITE_ERRORS, ORPHANS_REAPED, FaultCounters
from supervisor_core.heap import HeapTrimmer
from supervisor_core.http import AuthPolicy, BoundAddresses, ServerStartError, make_app, serving
from supervisor_core.lifecycle import AUTOSTART, RELOAD, SupervisorState
from supervisor_core.logs.mainlog import MainLogHandler
from supervisor_core.loop_errors import RateLimitedExceptionHandler
from supervisor_core.orphans import ClaimingSpawner, OrphanReaper
from supervisor_core.pools import check_listener_events
from supervisor_core.probes import AsyncioProbes, ClaimChild
from supervisor_core.process import ProcessRuntime
from supervisor_core.rpc_timings import RpcTimings
from supervisor_core.sdnotify import NotifyServer, SystemdNotifier
from supervisor_core.spawn import PopenSpawner, Spawner
from supervisor_core.supervisor import ProcessFactory, ProcessSetup, Supervisor
from supervisor_core.survivors import SurvivorPlan, find_survivors

logger = logging.getLogger(__name__)

ConfigLoader = Callable[[], Config]


def server_url(config: Config, bound: BoundAddresses | None = None) -> str | None:
    """``SUPERVISOR_SERVER_URL`` for children, as supervisord computes it.

    The unix socket is preferred (``unix:///path``), else ``http://host:port`` of the
    inet server (``localhost`` when it listens on every interface); None without
    servers. ``bound`` supplies the real port when the config asked for port 0.
    """
    if config.unix_http_server is not None:
        return f"unix://{config.unix_http_server.file}"
    inet: InetHttpServerConfig | None = config.inet_http_server
    if inet is None:
        return None
    host = inet.host if inet.host not in ("", "*") else "localhost"
    port = bound.inet[1] if bound is not None and bound.inet is not None else inet.port
    return f"http://{host}:{port}"


def runtime_factory(
    config: Config,
    *,
    bus: EventBus,
    clock: Clock,
    spawner: Spawner,
    serverurl: Callable[[], str | None],
    notify: NotifyServer | None = None,
    faults: FaultCounters | None = None,
    claim_probe: ClaimChild | None = None,
) -> ProcessFactory:
    """The factory of real ``ProcessRuntime`` s for ``config``'s ``[supervisord]`` settings.

    ``serverurl`` is read when each process is built; ``notify`` is the daemon's
    sd_notify socket for ``ready = notify`` programs; ``faults`` counts the log
    writes that fail; ``claim_probe`` is told of each command probe's child (the
    orphan reaper's claims).
    """
    probes = AsyncioProbes(claim_probe)
    settings = config.supervisord

    def make(setup: ProcessSetup) -> ProcessRuntime:
        return ProcessRuntime(
            setup.config,
            bus=bus,
            spawner=spawner,
            clock=clock,
            serverurl=serverurl(),
            childlogdir=settings.childlogdir,
            identifier=settings.identifier,
            strip_ansi=settings.strip_ansi,
            starts_allowed=setup.starts_allowed,
            stdin_fd=setup.stdin_fd,
            on_listener_output=setup.on_listener_output,
            stderr_tail_lines=settings.stderr_tail_lines,
            probes=probes,
            notify=notify,
            faults=faults,
        )

    return make


class _SignalRouter:
    """Hands signals to the current generation; keeps them while none runs."""

    def __init__(self) -> None:
        self.target: Supervisor | None = None
        self._pending: deque[signal.Signals] = deque()

    def __call__(self, sig: signal.Signals) -> None:
        if self.target is not None:
            self.target.receive_signal(sig)
        else:
            self._pending.append(sig)

    def attach(self, supervisor: Supervisor) -> None:
        self.target = supervisor
        while self._pending:
            supervisor.receive_signal(self._pending.popleft())


@dataclass(slots=True, kw_only=True)
class DaemonRun:
    """Everything :func:`run_daemon` needs besides the config.

    ``reload`` re-reads the configuration (with superd's flags applied) on restart;
    ``on_started`` runs once the first generation listens (pidfile, startup report);
    ``on_generation`` sees each new Supervisor (tests subscribe or drive it);
    ``extensions`` are driven through their lifecycle (``supervisor_core.extensions``);
    ``event_types`` is the daemon's registry, given to the bus it builds (default:
    supervisord's types; each extension's ``install`` adds its own).
    ``faults`` counts handled failures for the whole run (one is made when None).
    ``rpc_timings`` counts the duration of every XML-RPC call for the whole run (one
    is made when None).
    ``reap_orphans`` reaps every exited child that is not one of ours (superd as PID 1
    or as a child subreaper, see ``supervisor_core.orphans``).
    ``children_record`` is where the live children are recorded (superd: next to its
    pidfile); the survivors a killed superd left there are dealt with at start as
    ``[supervisord] survivors`` says. None: no record, no survivors (in-process tests).
    """

    reload: ConfigLoader
    bus: EventBus | None = None
    clock: Clock | None = None
    spawner: Spawner | None = None
    main_log: MainLogHandler | None = None
    report: StartupReport | None = None
    on_started: Callable[[], None] | None = None
    on_generation: Callable[[Supervisor], None] | None = None
    install_signals: bool = True
    extensions: Sequence[Extension] = ()
    event_types: EventTypeRegistry | None = None
    faults: FaultCounters | None = None
    rpc_timings: RpcTimings | None = None
    reap_orphans: bool = False
    children_record: str | None = None
    trim_heap: bool = False


class StartupError(Exception):
    """The daemon could not start serving (the message says why)."""


async def run_daemon(config: Config, run: DaemonRun) -> int:
    """Run supervisor generations until shutdown; returns superd's exit status.

    Raises:
        StartupError: the control-plane listeners could not be bound.
    """
    clock = run.clock if run.clock is not None else SystemClock()
    bus = (
        run.bus
        if run.bus is not None
        else EventBus(clock, registry=run.event_types, first_serial=first_serial(run.extensions))
    )
    spawner: Spawner = run.spawner if run.spawner is not None else PopenSpawner()
    trimmer = HeapTrimmer.install(bus) if run.trim_heap else None
    registry: ChildRegistry | None = None
    survivors: SurvivorPlan | None = None
    if run.children_record is not None:
        # Read before the first spawn rewrites it.
        registry = ChildRegistry(run.children_record)
        found = find_survivors(run.children_record, boot=registry.boot)
        recording = RecordingSpawner(spawner, registry)
        spawner = recording
        survivors = SurvivorPlan(found, config.supervisord.survivors, recording)
    if run.faults is None:
        run.faults = FaultCounters()
    run.faults.declare(LOG_WRITE_ERRORS, "stdout", "stderr")
    # At 0 when superd reaps no orphans (neither PID 1 nor subreaper=true).
    run.faults.declare(ORPHANS_REAPED)
    if run.rpc_timings is None:
        run.rpc_timings = RpcTimings()
    router = _SignalRouter()
    loop = asyncio.get_running_loop()
    recorder = (
        SignalRecorder(loop, DAEMON_SIGNALS, on_signal=router) if run.install_signals else None
    )
    # At the fd limit asyncio would log a traceback per failed accept (issue 19).
    restore_handler = RateLimitedExceptionHandler().install(loop)
    first = True
    # One sd_notify socket for the daemon's life: children keep their NOTIFY_SOCKET
    # across reloads. An abstract name: nothing on disk, nothing to clean up.
    notify = NotifyServer()
    notify.open(loop)
    systemd = SystemdNotifier()
    reaper: OrphanReaper | None = None
    if run.reap_orphans:
        # Claims are made by the spawner wrapper and the probes, so every child of ours
        # is claimed before a SIGCHLD sweep can look at it.
        reaper = OrphanReaper(loop)
        spawner = ClaimingSpawner(spawner, reaper)
        reaper.install()
        run.faults.register(ORPHANS_REAPED, _reaped_count(reaper))
    try:
        async with contextlib.AsyncExitStack() as extension_scope:
            # Extensions close last (LIFO after their listeners), after the last event.
            extension_scope.push_async_callback(_close_extensions, run.extensions)
            for extension in run.extensions:
                extension.report_faults(run.faults)
                extension.report_rpc_timings(run.rpc_timings)
            for extension in run.extensions:
                extension.install(bus)
            for extension in run.extensions:
                await extension_scope.enter_async_context(extension.serving())
            while True:
                mood, next_config = await _run_generation(
                    config,
                    run,
                    bus=bus,
                    clock=clock,
                    spawner=spawner,
                    router=router,
                    first=first,
                    notify=notify,
                    systemd=systemd,
                    reaper=reaper,
                    survivors=survivors if first else None,
                )
                first = False
                if mood is not SupervisorState.RESTARTING:
                    return 0
                config = (
                    next_config
                    if next_config is not None
                    else _reload(config, run.reload, bus.registry)
                )
    finally:
        if trimmer is not None:
            trimmer.close()
        if survivors is not None:
            survivors.close()
        if registry is not None:
            registry.close()
        systemd.close()
        notify.close()
        restore_handler()
        if recorder is not None:
            recorder.close()
        if reaper is not None:
            reaper.close()


def _reaped_count(reaper: OrphanReaper) -> Callable[[], int]:
    """The reaper's count of orphans reaped so far, read at each snapshot (a scrape)."""
    return lambda: reaper.snapshot().reaped


async def _close_extensions(extensions: Sequence[Extension]) -> None:
    for extension in reversed(extensions):
        try:
            await extension.aclose()
        except Exception:  # one broken exporter must not keep the others from closing
            logger.exception("extension %s failed to close", extension.name)


def _reload(current: Config, reload: ConfigLoader, registry: EventTypeRegistry) -> Config:
    try:
        config = reload()
        check_listener_events(config.groups, registry)
    except ConfigError as error:
        logger.critical(
            "restart: %s did not load, keeping the previous configuration:\n%s",
            current.path,
            "\n".join(str(problem) for problem in error.problems),
        )
        return current
    except OSError as error:
        logger.critical(
            "restart: cannot read %s (%s), keeping the previous one", current.path, error
        )
        return current
    for warning in config.warnings:
        logger.warning("%s", warning)
    return config


async def _run_generation(
    config: Config,
    run: DaemonRun,
    *,
    bus: EventBus,
    clock: Clock,
    spawner: Spawner,
    router: _SignalRouter,
    first: bool,
    notify: NotifyServer,
    systemd: SystemdNotifier,
    reaper: OrphanReaper | None = None,
    survivors: SurvivorPlan | None,
) -> tuple[SupervisorState, Config | None]:
    unix, inet = config.unix_http_server, config.inet_http_server
    # Processes are built in supervisor.run(), after the listeners are bound, so the
    # factory reads the final URL (a TCP port 0 is only known once bound).
    serverurl = server_url(config)
    supervisor = Supervisor(
        config,
        bus=bus,
        clock=clock,
        process_factory=runtime_factory(
            config,
            bus=bus,
            clock=clock,
            spawner=spawner,
            serverurl=lambda: serverurl,
            notify=notify,
            faults=run.faults,
            claim_probe=reaper.claim_popen if reaper is not None else None,
        ),
        read_config=lambda _path: run.reload(),
        main_log=run.main_log,
        startup=AUTOSTART if first else RELOAD,
        systemd=systemd,
        survivors=survivors,
    )
    async with contextlib.AsyncExitStack() as listeners:
        if unix is not None or inet is not None:
            app = make_app(
                supervisor,
                auth=AuthPolicy.from_configs(unix=unix, inet=inet),
                extra_routes=[route for ext in run.extensions for route in ext.routes()],
                rpc_timings=run.rpc_timings,
            )
            try:
                # The listeners live exactly as long as this block; closing them lets
                # in-flight requests (a shutdown() call, say) finish first.
                bound = await listeners.enter_async_context(serving(app, unix=unix, inet=inet))
            except ServerStartError as error:
                raise StartupError(str(error)) from error
            serverurl = server_url(config, bound)
        router.attach(supervisor)
        for extension in run.extensions:
            extension.attach(supervisor)
        if run.on_generation is not None:
            run.on_generation(supervisor)
        if first:
            if run.on_started is not None:
                run.on_started()
            if run.report is not None:
                run.report.started()
        try:
            return await supervisor.run(), supervisor.next_config
        finally:
            router.target = None
            for extension in run.extensions:
                extension.detach()
