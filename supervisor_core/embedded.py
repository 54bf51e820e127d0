"""A superd inside an event loop that is already running: Jupyter's, a test's, an app's.

    async with embedded(\"\"\"
    [program:flaky]
    command = /bin/sh -c 'sleep 1; exit 3'
    \"\"\") as sup:
        await sup.wait_state("flaky", ProcessState.BACKOFF)
        sup.processes()

Rules of this file:
- It is ``run_daemon`` (the same wiring as ``superd -n``: bus, generations, control
  servers, exporters found through the ``supervisor_core.extensions`` entry points),
  run as a task of the caller's loop, minus what belongs to a process of its own:
  no signal handlers (the kernel's SIGINT is the notebook's interrupt), no
  daemonizing, no pidfile, no rlimits or privileges, no logging set-up.
- Leaving the block shuts it down the way ``superctl shutdown`` does (every program
  stopped in priority order, exporters closed); the block does not return before
  that is done. An error inside the block does the same, then propagates.
- Nothing here is on the daemon's hot path: it only starts and stops ``run_daemon``
  and reads ``Supervisor`` snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Container
from dataclasses import dataclass, field
from pathlib import Path

from supervisor_core import control
from supervisor_core.bus import EventBus
from supervisor_core.clock import SystemClock
from supervisor_core.config import Config, load
from supervisor_core.events import Event, ProcessStateEvent
from supervisor_core.extensions import (
    Extension,
    check_extensions,
    discover_extensions,
    first_serial,
    installed_event_types,
)
from supervisor_core.lifecycle import Cause, ProcessState, Requester
from supervisor_core.names import split_namespec
from supervisor_core.runner import DaemonRun, run_daemon
from supervisor_core.supervisor import Supervisor

__all__ = ["EmbeddedSupervisor", "embedded"]

START_TIMEOUT = 30.0  # seconds: binding the control servers and opening the exporters
# Who asked, as the events' origin records it (superctl's is "xmlrpc unix socket ...").
_ORIGIN = "embedded"


@dataclass(slots=True, kw_only=True)
class EmbeddedSupervisor:
    """The handle ``embedded`` yields: the running supervisor and what it was built from.

    ``supervisor`` is the current generation (a ``reloadConfig``/``restart`` replaces
    it; read it each time); ``bus`` is the daemon's event bus (subscribe to see every
    transition); ``config`` is the configuration it started with; ``extensions`` are
    the exporters the configuration enabled (journal, prometheus ...).
    """

    config: Config
    bus: EventBus
    extensions: tuple[Extension, ...]
    supervisor: Supervisor | None = None
    _waiters: list[tuple[str, str, frozenset[ProcessState], asyncio.Future[ProcessState]]] = field(
        default_factory=list
    )

    def _current(self) -> Supervisor:
        if self.supervisor is None:  # only between generations of a restart
            raise control.ShutdownState()
        return self.supervisor

    def processes(self) -> list[control.ProcessInfo]:
        """Every process as ``getAllProcessInfo`` reports it, groups in priority order."""
        return [info for group in self._current().groups() for info in group.processes]

    def process(self, namespec: str) -> control.ProcessInfo:
        """One process (``web`` or ``grp:web``).

        Raises:
            control.BadName: no such process, or ``namespec`` names a whole group.
        """
        found = self._current().resolve(namespec)
        if len(found) != 1 or split_namespec(namespec)[1] is None:
            raise control.BadName(namespec)
        return found[0].snapshot()

    def start(self, namespec: str) -> None:
        """Start ``namespec`` as an operator would (``superctl start``), without waiting."""
        self._current().start_process(namespec, Requester(cause=Cause.OPERATOR, origin=_ORIGIN))

    def stop(self, namespec: str) -> None:
        """Stop ``namespec`` as an operator would (``superctl stop``), without waiting."""
        self._current().stop_process(namespec, Requester(cause=Cause.OPERATOR, origin=_ORIGIN))

    async def wait_state(self, namespec: str, *states: ProcessState) -> ProcessState:
        """Wait until ``namespec`` is, or enters, one of ``states``; returns that state.

        Every transition counts, even one the process leaves at once (under
        autorestart EXITED is followed by STARTING before this coroutine runs again):
        the bus reports it as it happens. So ``process(namespec)`` afterwards may show
        a later state. Bound it with ``asyncio.timeout``: a program may never get there.

        Raises:
            control.BadName: no such process.
        """
        info = self.process(namespec)
        if info.state in states:
            return info.state
        future: asyncio.Future[ProcessState] = asyncio.get_running_loop().create_future()
        waiter = (info.group, info.name, frozenset(states), future)
        self._waiters.append(waiter)
        try:
            return await future
        finally:
            self._waiters.remove(waiter)

    def _on_event(self, event: Event) -> None:
        data = event.data
        if not isinstance(data, ProcessStateEvent):
            return
        for group, name, states, future in self._waiters:
            if (
                not future.done()
                and data.to_state in states
                and (data.groupname, data.processname) == (group, name)
            ):
                future.set_result(data.to_state)


def _config(source: str | Path, registry: Container[str]) -> Config:
    """A ``Config`` from a file path or from the text of one (anchored in a temp dir)."""
    text = str(source)
    if isinstance(source, Path) or ("\n" not in text and "[" not in text):
        return load(str(Path(text).absolute()), event_types=registry)
    path = Path(tempfile.mkdtemp(prefix="superd-embedded-")) / "supervisord.conf"
    path.write_text(text)
    return load(str(path), event_types=registry)


@contextlib.asynccontextmanager
async def embedded(
    source: str | Path,
    *,
    extensions: bool = True,
    start_timeout: float = START_TIMEOUT,
) -> AsyncIterator[EmbeddedSupervisor]:
    """Run a superd in the running event loop for the duration of the block.

    Args:
        source: a supervisord.conf path, or the text of one (a string with a newline
            or a ``[``); text is written to ``supervisord.conf`` in a fresh temporary
            directory and read from there (``%(here)s`` is that directory). As for
            supervisord, ``[supervisord]`` is required; its ``logfile``, ``pidfile``
            and daemon options are not used (the caller owns the process and its
            logging), ``childlogdir`` and the rest are.
        extensions: open the exporters its ``[exporter:*]`` sections enable, as
            superd does; False runs the bare core.
        start_timeout: seconds to wait for the control servers to listen.

    Yields:
        An ``EmbeddedSupervisor``; its programs were asked to start (autostart) when
        the block begins, and have all stopped when it ends (its ``processes()`` is
        then empty: a shut-down supervisor has no groups).

    Raises:
        supervisor_core.config.ConfigError: the configuration does not load (nothing
            was started).
        supervisor_core.runner.StartupError: a control server could not bind.
        TimeoutError: it did not start within ``start_timeout``.

    Example (a Jupyter cell: the kernel's loop is already running)::

        from supervisor_core.embedded import embedded
        async with embedded("supervisord.conf") as sup:
            await sup.wait_state("web", ProcessState.RUNNING)
    """
    factories = discover_extensions() if extensions else []
    registry = installed_event_types(factories)
    config = _config(source, registry)
    check_extensions(factories, config)
    opened: list[Extension] = []
    try:
        for factory in factories:
            extension = factory.open(config)
            if extension is not None:
                opened.append(extension)
    except BaseException:
        for extension in opened:
            await extension.aclose()
        raise
    bus = EventBus(SystemClock(), registry=registry, first_serial=first_serial(opened))
    handle = EmbeddedSupervisor(config=config, bus=bus, extensions=tuple(opened))
    watch = bus.subscribe(handle._on_event, name=_ORIGIN, types=("PROCESS_STATE",))

    def on_generation(supervisor: Supervisor) -> None:
        handle.supervisor = supervisor

    started = asyncio.Event()
    run = DaemonRun(
        reload=lambda: load(config.path, event_types=registry),
        bus=bus,
        event_types=registry,
        install_signals=False,
        extensions=opened,
        on_generation=on_generation,
        on_started=started.set,
    )
    # One task, awaited in ``finally`` whatever happens: a TaskGroup cannot span the
    # ``yield`` of a context manager (the caller's code would run inside its scope).
    daemon = asyncio.get_running_loop().create_task(
        run_daemon(config, run), name=f"superd-embedded {config.path}"
    )
    try:
        waiter = asyncio.ensure_future(started.wait())
        done, _ = await asyncio.wait(
            {daemon, waiter}, timeout=start_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            waiter.cancel()
            if daemon in done:
                daemon.result()  # raises StartupError
                raise RuntimeError("embedded superd exited before it started")
            raise TimeoutError(f"embedded superd did not start within {start_timeout}s")
        yield handle
    finally:
        if not daemon.done() and handle.supervisor is not None:
            handle.supervisor.shutdown()
            await daemon
        elif not daemon.done():
            daemon.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await daemon
        watch.close()
    # A daemon that failed while the block ran: its error, not silence.
    if not daemon.cancelled() and (error := daemon.exception()) is not None:
        raise error
