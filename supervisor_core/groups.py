"""Plain process groups: the runtimes of one ``[program:x]`` or ``[group:x]``.

Rules of this file:
- A group owns its ``ProcessRuntime`` s, kept in the config's priority order
  (lowest first), and does what supervisord's ``ProcessGroup`` does with them:
  start in priority order, stop in reverse priority order, snapshot, logs.
- Runtimes are built by a factory the daemon passes in, so the group knows nothing
  of buses, spawners or clocks; tests pass a factory over fakes.
- Event-listener pools (the listener protocol on stdout) are not handled here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

from supervisor_core import control
from supervisor_core.config.model import GroupConfig, ProcessConfig
from supervisor_core.lifecycle import AUTOSTART, SHUTDOWN, STOPPED_STATES, Requester
from supervisor_core.process import ProcessRuntime

__all__ = ["ProcessFactory", "ProcessGroup"]

ProcessFactory = Callable[[ProcessConfig], ProcessRuntime]


class ProcessGroup:
    """The runtimes of one group, in priority order.

    Args:
        config: the group.
        make_process: builds the runtime of one process (the daemon binds bus,
            spawner, clock, childlogdir, ... with ``functools.partial``).

    Raises:
        OSError: a runtime could not be built (AUTO log file); the runtimes built
            so far are closed again.

    Example::

        group = ProcessGroup(config, functools.partial(ProcessRuntime, bus=bus, ...))
        group.autostart()
        ...
        group.system_stop()
        await group.wait_stopped()
        await group.aclose()
    """

    def __init__(self, config: GroupConfig, make_process: ProcessFactory) -> None:
        self.config = config
        runtimes: dict[str, ProcessRuntime] = {}
        try:
            for process_config in config.processes:
                if process_config.name in runtimes:
                    raise ValueError(
                        f"group {config.name!r}: duplicate process name {process_config.name!r}"
                    )
                runtimes[process_config.name] = make_process(process_config)
        except BaseException:
            for runtime in runtimes.values():
                runtime.remove_logs()
            raise
        self._processes = runtimes

    def __repr__(self) -> str:
        return f"<ProcessGroup {self.name} processes={list(self._processes)}>"

    @property
    def name(self) -> str:
        """The group name."""
        return self.config.name

    @property
    def priority(self) -> int:
        """The group priority (groups start in ascending, stop in descending order)."""
        return self.config.priority

    @property
    def processes(self) -> Mapping[str, ProcessRuntime]:
        """The runtimes by process name, in priority order (read-only)."""
        return MappingProxyType(self._processes)

    def __iter__(self) -> Iterator[ProcessRuntime]:
        return iter(self._processes.values())

    def __len__(self) -> int:
        return len(self._processes)

    def process(self, name: str) -> ProcessRuntime:
        """The runtime called ``name``.

        Raises:
            control.BadName: no such process in this group (detail: ``group:name``).
        """
        try:
            return self._processes[name]
        except KeyError:
            raise control.BadName(f"{self.name}:{name}") from None

    def autostart(self, requester: Requester = AUTOSTART) -> None:
        """Start every ``autostart=true`` process that never ran, in priority order."""
        for runtime in self._processes.values():
            runtime.autostart(requester)

    def system_stop(self, requester: Requester = SHUTDOWN) -> None:
        """Stop everything for a shutdown or reload, in reverse priority order (``stop_all``)."""
        for runtime in reversed(self._processes.values()):
            runtime.system_stop(requester)

    def unstopped(self) -> list[ProcessRuntime]:
        """The runtimes not in a stopped state (supervisord's get_unstopped_processes)."""
        return [r for r in self._processes.values() if r.state not in STOPPED_STATES]

    async def wait_stopped(self) -> None:
        """Wait until every process is in a stopped state."""
        await asyncio.gather(*(runtime.wait_stopped() for runtime in self._processes.values()))

    def snapshot(self) -> control.GroupInfo:
        """A frozen view of the group and its processes (priority order)."""
        return control.GroupInfo(
            name=self.name,
            priority=self.priority,
            processes=tuple(runtime.snapshot() for runtime in self._processes.values()),
        )

    def reopen_logs(self) -> None:
        """Reopen every process' log files (SIGUSR2); failures are reported per process.

        Raises:
            control.Failed: the first process whose files could not be reopened (the
                others are still reopened).
        """
        first: control.Failed | None = None
        for runtime in self._processes.values():
            try:
                runtime.reopen_logs()
            except control.Failed as error:
                first = first or error
        if first is not None:
            raise first

    async def aclose(self) -> None:
        """Close every runtime; all must be stopped.

        Raises:
            control.StillRunning: some process is not stopped (detail: group name);
                nothing is closed then.
        """
        if self.unstopped():
            raise control.StillRunning(self.name)
        for runtime in self._processes.values():
            await runtime.aclose()
