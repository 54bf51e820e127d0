"""An in-memory SupervisorControl for testing the control plane (our RPC logic is under test).

Processes move between supervisord's states when told to; waiters are woken by an
``asyncio.Event`` on every transition, so nothing in here polls or sleeps.
Each process has a scripted ``start_outcome``:
- "running": STARTING, then RUNNING on the next loop iteration;
- "abnormal": STARTING, then BACKOFF on the next loop iteration (the start fails);
- "spawnerr": the spawn fails at once with a spawnerr;
- "nofile" / "noexec": the command is missing / not executable;
- "hang": STARTING forever (for tests that must see a wait still pending).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from supervisor_core import control
from supervisor_core.config.model import GroupConfig, GroupKind, ProcessConfig
from supervisor_core.lifecycle import ProcessState, Requester, SupervisorState

NOW = 1_700_000_000.0


@dataclass
class FakeProcess:
    """Mutable state of one fake process."""

    name: str
    group: str
    state: ProcessState = ProcessState.STOPPED
    pid: int = 0
    start: float = 0.0
    stop: float = 0.0
    spawnerr: str = ""
    exitstatus: int = 0
    stdout_logfile: str = ""
    stderr_logfile: str = ""
    start_outcome: str = "running"
    stdin: bytearray = field(default_factory=bytearray)
    stdin_closed: bool = False
    signals: list[signal.Signals] = field(default_factory=list)
    logs_cleared: int = 0
    clear_fails: bool = False

    @property
    def namespec(self) -> str:
        return self.name if self.name == self.group else f"{self.group}:{self.name}"

    def snapshot(self, now: float) -> control.ProcessInfo:
        return control.ProcessInfo(
            name=self.name,
            group=self.group,
            state=self.state,
            start=self.start,
            stop=self.stop,
            now=now,
            pid=self.pid,
            spawnerr=self.spawnerr,
            exitstatus=self.exitstatus,
            stdout_logfile=self.stdout_logfile,
            stderr_logfile=self.stderr_logfile,
        )


class FakeControl:
    """A SupervisorControl over in-memory groups of :class:`FakeProcess`."""

    def __init__(
        self,
        groups: dict[str, list[FakeProcess]],
        *,
        priorities: dict[str, int] | None = None,
        main_logfile: str | None = None,
        config_groups: Sequence[GroupConfig] = (),
    ) -> None:
        self.groups_by_name = groups
        self.priorities = priorities or {}
        self.main_log = main_logfile
        self.state = SupervisorState.RUNNING
        self.now = NOW
        self.next_pid = 1000
        self.events: list[tuple[str, str]] = []
        self.calls: list[str] = []
        self.requesters: list[Requester] = []
        self.configured = tuple(config_groups)
        self.reload_result: control.ReloadResult | Exception = control.ReloadResult()
        self.log_cleared = 0
        self._changed = asyncio.Event()
        self.start_requested = asyncio.Event()

    # --- helpers -------------------------------------------------------------
    def process(self, namespec: str) -> FakeProcess:
        for group in self.groups_by_name.values():
            for p in group:
                if p.namespec == namespec:
                    return p
        raise control.BadName(namespec)

    def _set(self, p: FakeProcess, state: ProcessState) -> None:
        # Wake every waiter by setting the current event and replacing it.
        p.state = state
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()

    # --- SupervisorControl ---------------------------------------------------
    def identification(self) -> str:
        return "fake-supervisor"

    def supervisor_state(self) -> SupervisorState:
        return self.state

    def pid(self) -> int:
        return 4242

    def main_logfile(self) -> str | None:
        return self.main_log

    def snapshot_key(self) -> object:
        # Processes here are mutable: never claim two answers are the same.
        return object()

    def groups(self) -> Sequence[control.GroupInfo]:
        names = sorted(self.groups_by_name, key=lambda n: self.priorities.get(n, 999))
        return [
            control.GroupInfo(
                name=name,
                priority=self.priorities.get(name, 999),
                processes=tuple(p.snapshot(self.now) for p in self.groups_by_name[name]),
            )
            for name in names
        ]

    def group(self, name: str) -> control.GroupInfo | None:
        if name not in self.groups_by_name:
            return None
        return control.GroupInfo(
            name=name,
            priority=self.priorities.get(name, 999),
            processes=tuple(p.snapshot(self.now) for p in self.groups_by_name[name]),
        )

    def config_groups(self) -> Sequence[GroupConfig]:
        return self.configured

    def start_process(self, namespec: str, requester: Requester) -> None:
        p = self.process(namespec)
        self.requesters.append(requester)
        self.calls.append(f"start {namespec}")
        self.start_requested.set()
        if p.start_outcome == "nofile":
            raise control.NoFile(f"no such file: /bin/{p.name}")
        if p.start_outcome == "noexec":
            raise control.NotExecutable(f"/bin/{p.name} is not executable")
        if p.state in (ProcessState.RUNNING, ProcessState.STARTING, ProcessState.BACKOFF):
            raise control.AlreadyStarted(namespec)
        if p.start_outcome == "spawnerr":
            p.spawnerr = "can't find command"
            self._set(p, ProcessState.BACKOFF)
            raise control.SpawnFailed(namespec)
        p.start = self.now
        p.pid = self.next_pid
        self.next_pid += 1
        self._set(p, ProcessState.STARTING)
        loop = asyncio.get_running_loop()
        if p.start_outcome == "running":
            loop.call_soon(self._set, p, ProcessState.RUNNING)
        elif p.start_outcome == "abnormal":
            p.pid = 0
            loop.call_soon(self._set, p, ProcessState.BACKOFF)

    async def wait_process_started(self, namespec: str) -> None:
        p = self.process(namespec)

        def settled() -> bool:
            return p.state != ProcessState.STARTING

        await self._wait_for(settled)
        if p.spawnerr:
            raise control.SpawnFailed(namespec)
        if p.state != ProcessState.RUNNING:
            raise control.AbnormalTermination(namespec)

    def stop_process(self, namespec: str, requester: Requester) -> None:
        p = self.process(namespec)
        self.requesters.append(requester)
        self.calls.append(f"stop {namespec}")
        if p.state not in (ProcessState.RUNNING, ProcessState.STARTING, ProcessState.BACKOFF):
            raise control.NotRunning(namespec)
        self._set(p, ProcessState.STOPPING)
        asyncio.get_running_loop().call_soon(self._stopped, p)

    def _stopped(self, p: FakeProcess) -> None:
        p.pid = 0
        p.stop = self.now
        self._set(p, ProcessState.STOPPED)

    async def wait_process_stopped(self, namespec: str) -> None:
        p = self.process(namespec)
        await self._wait_for(
            lambda: (
                p.state
                in (
                    ProcessState.STOPPED,
                    ProcessState.EXITED,
                    ProcessState.FATAL,
                    ProcessState.UNKNOWN,
                )
            )
        )

    def signal_process(self, namespec: str, sig: signal.Signals, requester: Requester) -> None:
        p = self.process(namespec)
        self.requesters.append(requester)
        if p.state not in (ProcessState.RUNNING, ProcessState.STARTING, ProcessState.STOPPING):
            raise control.NotRunning(namespec)
        p.signals.append(sig)

    def send_process_stdin(self, namespec: str, data: bytes) -> None:
        p = self.process(namespec)
        if not p.pid:
            raise control.NotRunning(namespec)
        if p.stdin_closed:
            raise control.NoFile(namespec)
        p.stdin += data

    def send_remote_comm_event(self, type_: str, data: str) -> None:
        self.events.append((type_, data))

    async def reload_config(self) -> control.ReloadResult:
        if isinstance(self.reload_result, Exception):
            raise self.reload_result
        return self.reload_result

    async def add_process_group(self, name: str) -> None:
        if name in self.groups_by_name:
            raise control.AlreadyAdded(name)
        for g in self.configured:
            if g.name == name:
                self.groups_by_name[name] = [
                    FakeProcess(name=p.name, group=name) for p in g.processes
                ]
                return
        raise control.BadName(name)

    async def remove_process_group(self, name: str) -> None:
        group = self.groups_by_name.get(name)
        if group is None:
            raise control.BadName(name)
        if any(
            p.state in (ProcessState.RUNNING, ProcessState.STARTING, ProcessState.BACKOFF)
            for p in group
        ):
            raise control.StillRunning(name)
        del self.groups_by_name[name]

    def shutdown(self) -> None:
        self.calls.append("shutdown")

    def restart(self) -> None:
        self.calls.append("restart")

    def clear_log(self) -> None:
        if self.main_log is None:
            raise control.NoFile()
        self.log_cleared += 1

    def clear_process_logs(self, namespec: str) -> None:
        p = self.process(namespec)
        if p.clear_fails:
            raise control.Failed(namespec)
        p.logs_cleared += 1


def make_fake(tmp_logdir: str | None = None) -> FakeControl:
    """A fake with three groups: 'web' (2 processes), 'worker' (1), 'broken' (1)."""

    def log(name: str) -> str:
        return f"{tmp_logdir}/{name}.log" if tmp_logdir else ""

    groups = {
        "web": [
            FakeProcess(name="web_0", group="web", stdout_logfile=log("web_0")),
            FakeProcess(name="web_1", group="web", stdout_logfile=log("web_1")),
        ],
        "worker": [
            FakeProcess(
                name="worker",
                group="worker",
                stdout_logfile=log("worker"),
                stderr_logfile=log("worker.err"),
            )
        ],
        "broken": [FakeProcess(name="broken", group="broken", start_outcome="abnormal")],
    }
    configured = (
        GroupConfig(
            name="web",
            kind=GroupKind.PROGRAM,
            priority=10,
            processes=tuple(
                ProcessConfig(name=f"web_{i}", program_name="web", group_name="web", command="web")
                for i in range(2)
            ),
        ),
        GroupConfig(
            name="extra",
            kind=GroupKind.PROGRAM,
            processes=(
                ProcessConfig(
                    name="extra", program_name="extra", group_name="extra", command="/bin/cat"
                ),
            ),
        ),
    )
    return FakeControl(
        groups,
        priorities={"web": 10, "worker": 20, "broken": 30},
        main_logfile=f"{tmp_logdir}/supervisord.log" if tmp_logdir else None,
        config_groups=configured,
    )


def running(p: FakeProcess, *, pid: int = 77, start: float = NOW - 62) -> FakeProcess:
    """Put ``p`` in RUNNING as if started at ``start``."""
    p.state = ProcessState.RUNNING
    p.pid = pid
    p.start = start
    return p


__all__ = ["FakeControl", "FakeProcess", "make_fake", "running"]
