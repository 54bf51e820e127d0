"""ProcessRuntime with real children from ``python -c`` snippets and the real PopenSpawner.

Every wait is on an event (a bus event, a pidfd becoming readable, a runtime future)
bounded by ``asyncio.wait_for``; nothing sleeps and checks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shlex
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from supervisor_core import control
from supervisor_core.bus import EventBus
from supervisor_core.clock import SystemClock
from supervisor_core.config.model import AutoRestart, ChannelConfig, ProcessConfig
from supervisor_core.events import (
    Event,
    ProcessCommunicationStdout,
    ProcessLogEvent,
    ProcessLogStderr,
    ProcessLogStdout,
    ProcessStateEvent,
)
from supervisor_core.lifecycle import ProcessState
from supervisor_core.process import ProcessRuntime
from supervisor_core.spawn import ChildHandle, PopenSpawner, SpawnRequest
from supervisor_core.testing import TEST_OPERATOR, capture_events
from tests.peers import require_root

pytestmark = pytest.mark.integration

PY = sys.executable
WAIT = 20.0  # generous bound for a loaded 2-core machine; every wait is on an event


def py(code: str) -> str:
    """A command line running ``code`` with this interpreter."""
    return f"{PY} -c {shlex.quote(code)}"


class CountingSpawner(PopenSpawner):
    """The real PopenSpawner, counting spawns."""

    def __init__(self) -> None:
        super().__init__()
        self.spawns = 0

    def spawn(self, request: SpawnRequest) -> ChildHandle:
        self.spawns += 1
        return super().spawn(request)


class EventWaiter:
    """Records bus events and lets a test await a condition on them (no polling)."""

    def __init__(self, bus: EventBus, name: str) -> None:
        self.events: list[Event] = []
        self._waiters: list[tuple[Callable[[list[Event]], bool], asyncio.Future[None]]] = []
        self._subscription = bus.subscribe(self._on_event, name=name)

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(self.events):
                future.set_result(None)

    async def until(self, predicate: Callable[[list[Event]], bool], limit: float = WAIT) -> None:
        """Return once ``predicate(events so far)`` holds (within ``limit`` seconds)."""
        if predicate(self.events):
            return
        future = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, limit)
        finally:
            self._waiters.remove(entry)

    def count(self, name: str) -> int:
        return sum(1 for event in self.events if event.name == name)

    def close(self) -> None:
        self._subscription.close()


def has(name: str, n: int = 1) -> Callable[[list[Event]], bool]:
    """Predicate: at least ``n`` events named ``name``."""
    return lambda events: sum(1 for e in events if e.name == name) >= n


def log_contains(needle: bytes, channel: str = "stdout") -> Callable[[list[Event]], bool]:
    """Predicate: the PROCESS_LOG data of ``channel`` so far contains ``needle``."""

    def check(events: list[Event]) -> bool:
        data = b"".join(
            e.data.data
            for e in events
            if isinstance(e.data, ProcessLogEvent) and e.data.channel == channel
        )
        return needle in data

    return check


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=1)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class Env:
    """A bus, a real spawner, a main-log capture and the runtimes built on them."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = SystemClock()
        self.bus = EventBus(self.clock)
        self.spawner = CountingSpawner()
        self.tmp_path = tmp_path
        self.lines = Lines()
        self.logger = logging.getLogger(f"test.integration.process.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(1)
        self.logger.addHandler(self.lines)
        self.waiter = EventWaiter(self.bus, "test-waiter")
        self.runtimes: list[ProcessRuntime] = []

    def runtime(self, command: str, **overrides: Any) -> ProcessRuntime:
        values: dict[str, Any] = {
            "name": "proc",
            "program_name": "proc",
            "group_name": "grp",
            "command": command,
            "stdout": ChannelConfig(logfile=None),
            "stderr": ChannelConfig(logfile=None),
        }
        values.update(overrides)
        runtime = ProcessRuntime(
            ProcessConfig(**values),
            bus=self.bus,
            spawner=self.spawner,
            clock=self.clock,
            serverurl=None,
            childlogdir=str(self.tmp_path),
            identifier="supervisor",
            strip_ansi=False,
            logger=self.logger,
        )
        self.runtimes.append(runtime)
        return runtime

    async def aclose(self) -> None:
        for runtime in self.runtimes:
            if runtime.state in (ProcessState.STARTING, ProcessState.RUNNING, ProcessState.BACKOFF):
                runtime.stop_nowait(TEST_OPERATOR)
            await asyncio.wait_for(runtime.wait_stopped(), WAIT)
            await runtime.aclose()
        self.waiter.close()
        self.logger.removeHandler(self.lines)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    environment = Env(tmp_path)
    yield environment
    await environment.aclose()


def read_text(path: str) -> str:
    return Path(path).read_text()


def state_rows(events: list[Event]) -> list[tuple[str, str, int]]:
    """(event name, from_state, tries) of each PROCESS_STATE event."""
    return [
        (event.name, event.data.from_state.name, event.data.tries)
        for event in events
        if isinstance(event.data, ProcessStateEvent)
    ]


def state_data(events: list[Event]) -> list[ProcessStateEvent]:
    return [e.data for e in events if isinstance(e.data, ProcessStateEvent)]


async def wait_pidfd(pid: int) -> None:
    """Await the termination of any process (child or not) through a pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, lambda: done.done() or done.set_result(None))
    try:
        await asyncio.wait_for(done, WAIT)
    finally:
        loop.remove_reader(fd)
        os.close(fd)


SLEEPER = "import time; print('ready', flush=True); time.sleep(60)"

# --------------------------------------------------------------------------- sequences


async def test_start_then_stop_event_sequence(env: Env) -> None:
    """start -> STARTING, RUNNING; stop -> STOPPING, STOPPED, with pids and tries."""
    runtime = env.runtime(py(SLEEPER), startsecs=1)
    with capture_events(env.bus, ("PROCESS_STATE",)) as captured:
        runtime.start_nowait(TEST_OPERATOR)
        pid = runtime.pid
        assert pid > 0
        await asyncio.wait_for(runtime.wait_started(), WAIT)
        runtime.stop_nowait(TEST_OPERATOR)
        await asyncio.wait_for(runtime.wait_stopped(), WAIT)
    assert state_rows(captured.events) == [
        ("PROCESS_STATE_STARTING", "STOPPED", 0),
        ("PROCESS_STATE_RUNNING", "STARTING", 0),
        ("PROCESS_STATE_STOPPING", "RUNNING", 0),
        ("PROCESS_STATE_STOPPED", "STOPPING", 0),
    ]
    assert [d.pid for d in state_data(captured.events)] == [0, pid, pid, pid]
    stopped = state_data(captured.events)[-1]
    assert stopped.returncode == -signal.SIGTERM
    assert captured.serials() == sorted(captured.serials())
    assert env.lines.messages == [
        f"spawned: 'proc' with pid {pid}",
        "success: proc entered RUNNING state, process has stayed up for > than 1 seconds "
        "(startsecs)",
        "waiting for proc to stop",
        "stopped: proc (terminated by SIGTERM)",
    ]
    info = runtime.snapshot()
    assert (info.state, info.pid, info.exitstatus) == (ProcessState.STOPPED, 0, -1)


async def test_autorestart_after_sigkill_with_a_new_pid(env: Env) -> None:
    """A RUNNING child killed with SIGKILL is EXITED, then STARTING, RUNNING with a new pid."""
    runtime = env.runtime(py(SLEEPER), startsecs=0, autorestart=AutoRestart.TRUE)
    runtime.start_nowait(TEST_OPERATOR)
    assert runtime.state == ProcessState.RUNNING
    first = runtime.pid
    with capture_events(env.bus, ("PROCESS_STATE",)) as captured:
        os.kill(first, signal.SIGKILL)
        await env.waiter.until(has("PROCESS_STATE_RUNNING", 2))
    assert state_rows(captured.events) == [
        ("PROCESS_STATE_EXITED", "RUNNING", 0),
        ("PROCESS_STATE_STARTING", "EXITED", 0),
        ("PROCESS_STATE_RUNNING", "STARTING", 0),
    ]
    exited, starting, running = state_data(captured.events)
    assert (exited.pid, exited.expected, exited.signal) == (first, False, signal.SIGKILL)
    assert exited.run_duration is not None
    assert exited.run_duration >= 0
    assert starting.pid == 0
    assert running.pid == runtime.pid != first
    assert captured.payloads()[0] == (
        f"processname:proc groupname:grp from_state:RUNNING expected:0 pid:{first}"
    )
    assert "exited: proc (terminated by SIGKILL; not expected)" in env.lines.messages
    assert env.spawner.spawns == 2


async def test_fail_fast_backoff_then_fatal_with_exactly_three_spawns(env: Env) -> None:
    """A command that exits at once with startretries=2: 3 spawns, BACKOFF x3, then FATAL."""
    runtime = env.runtime("/bin/false", startsecs=10, startretries=2)
    with capture_events(env.bus, ("PROCESS_STATE",)) as captured:
        runtime.start_nowait(TEST_OPERATOR)
        await env.waiter.until(has("PROCESS_STATE_FATAL"))
    assert state_rows(captured.events) == [
        ("PROCESS_STATE_STARTING", "STOPPED", 0),
        ("PROCESS_STATE_BACKOFF", "STARTING", 1),
        ("PROCESS_STATE_STARTING", "BACKOFF", 1),
        ("PROCESS_STATE_BACKOFF", "STARTING", 2),
        ("PROCESS_STATE_STARTING", "BACKOFF", 2),
        ("PROCESS_STATE_BACKOFF", "STARTING", 3),
        ("PROCESS_STATE_FATAL", "BACKOFF", 0),
    ]
    assert env.spawner.spawns == 3
    backoffs = [d for d in state_data(captured.events) if d.event_name.endswith("BACKOFF")]
    assert all(d.returncode == 1 and d.expected is False for d in backoffs)
    assert captured.payloads()[1] == "processname:proc groupname:grp from_state:STARTING tries:1"
    info = runtime.snapshot()
    assert info.state == ProcessState.FATAL
    assert info.spawnerr == "Exited too quickly (process log may have details)"
    assert env.lines.messages[-1] == (
        "gave up: proc entered FATAL state, too many start retries too quickly"
    )
    with pytest.raises(control.SpawnFailed):
        await runtime.wait_started()


async def test_wait_started_raises_spawnfailed_for_a_real_quick_exit(env: Env) -> None:
    """startProcess(wait=True) semantics: a child dying before startsecs is SPAWN_ERROR."""
    runtime = env.runtime(py("raise SystemExit(3)"), startsecs=10, startretries=0)
    runtime.start_nowait(TEST_OPERATOR)
    with pytest.raises(control.SpawnFailed):
        await asyncio.wait_for(runtime.wait_started(), WAIT)


# --------------------------------------------------------------------------- stopping


async def test_child_ignoring_sigterm_is_killed_after_stopwaitsecs(env: Env) -> None:
    """A child that ignores SIGTERM gets SIGKILL once stopwaitsecs (1 s) have passed."""
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    runtime = env.runtime(
        py(code),
        startsecs=0,
        stopwaitsecs=1,
        stdout=ChannelConfig(logfile=None, events_enabled=True),
    )
    runtime.start_nowait(TEST_OPERATOR)
    pid = runtime.pid
    await env.waiter.until(log_contains(b"ready"))
    with capture_events(env.bus, ("PROCESS_STATE",)) as captured:
        runtime.stop_nowait(TEST_OPERATOR)
        await asyncio.wait_for(runtime.wait_stopped(), WAIT)
    assert state_rows(captured.events) == [
        ("PROCESS_STATE_STOPPING", "RUNNING", 0),
        ("PROCESS_STATE_STOPPED", "STOPPING", 0),
    ]
    stopped = state_data(captured.events)[-1]
    assert stopped.returncode == -signal.SIGKILL
    assert stopped.run_duration is not None
    assert stopped.run_duration >= 1
    assert f"killing 'proc' ({pid}) with SIGKILL" in env.lines.messages
    assert env.lines.messages[-1] == "stopped: proc (terminated by SIGKILL)"


GRANDPARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
print('grandchild', child.pid, flush=True)
time.sleep(60)
"""


async def test_stopasgroup_kills_grandchildren(env: Env) -> None:
    """stopasgroup=true signals the whole process group: no grandchild survives the stop."""
    runtime = env.runtime(
        py(GRANDPARENT),
        startsecs=0,
        stopasgroup=True,
        stdout=ChannelConfig(logfile=None, events_enabled=True),
    )
    runtime.start_nowait(TEST_OPERATOR)
    await env.waiter.until(log_contains(b"\n", "stdout"))
    line = b"".join(e.data.data for e in env.waiter.events if isinstance(e.data, ProcessLogStdout))
    grandchild = int(line.split()[1])
    assert psutil.Process(grandchild).ppid() == runtime.pid
    grandchild_gone = asyncio.ensure_future(wait_pidfd(grandchild))
    runtime.stop_nowait(TEST_OPERATOR)
    await asyncio.wait_for(runtime.wait_stopped(), WAIT)
    await grandchild_gone  # it terminated (pidfd readable): bounded by WAIT
    alive = psutil.pid_exists(grandchild) and (
        psutil.Process(grandchild).status() != psutil.STATUS_ZOMBIE
    )
    assert not alive


# --------------------------------------------------------------------------- identity


@pytest.mark.root
async def test_user_nobody_runs_as_nobody(env: Env) -> None:
    """user=nobody makes the child run with nobody's uid and gid (needs root)."""
    require_root("user= can only switch users when superd runs as root")
    nobody = pwd.getpwnam("nobody")
    runtime = env.runtime(
        # /bin/sh, not this venv's python: nobody may not be allowed into the venv's home.
        "/bin/sh -c 'echo $(id -u) $(id -g)'",
        startsecs=0,
        user="nobody",
        autorestart=AutoRestart.FALSE,
        stdout=ChannelConfig(logfile=None, events_enabled=True),
    )
    runtime.start_nowait(TEST_OPERATOR)
    await env.waiter.until(log_contains(b"\n"))
    await asyncio.wait_for(runtime.wait_stopped(), WAIT)
    output = b"".join(
        e.data.data for e in env.waiter.events if isinstance(e.data, ProcessLogStdout)
    )
    assert output.split() == [str(nobody.pw_uid).encode(), str(nobody.pw_gid).encode()]


# --------------------------------------------------------------------------- output


COMMUNICATOR = r"""
import sys
sys.stdout.write('hello\n'); sys.stdout.flush()
sys.stdout.write('<!--XSUPERVISOR:BEGIN-->payload 1<!--XSUPERVISOR:END-->'); sys.stdout.flush()
sys.stdout.write('after\n'); sys.stdout.flush()
sys.stderr.write('oops\n'); sys.stderr.flush()
"""


async def test_log_and_communication_events_carry_the_data(env: Env, tmp_path: Path) -> None:
    """PROCESS_LOG_* carry each channel's output; PROCESS_COMMUNICATION_STDOUT the block."""
    stdout_log = tmp_path / "out.log"
    runtime = env.runtime(
        py(COMMUNICATOR),
        startsecs=0,
        autorestart=AutoRestart.FALSE,
        stdout=ChannelConfig(logfile=str(stdout_log), events_enabled=True, capture_maxbytes=1024),
        stderr=ChannelConfig(logfile=None, events_enabled=True),
    )
    runtime.start_nowait(TEST_OPERATOR)
    pid = runtime.pid
    await asyncio.wait_for(runtime.wait_stopped(), WAIT)
    await asyncio.wait_for(runtime.wait_output_closed(), WAIT)
    events = env.waiter.events
    communications = [e.data for e in events if isinstance(e.data, ProcessCommunicationStdout)]
    assert len(communications) == 1
    comm = communications[0]
    assert (comm.processname, comm.groupname, comm.pid, comm.data) == (
        "proc",
        "grp",
        pid,
        b"payload 1",
    )
    stdout_logs = [e.data for e in events if isinstance(e.data, ProcessLogStdout)]
    stderr_logs = [e.data for e in events if isinstance(e.data, ProcessLogStderr)]
    assert all(d.pid == pid and d.processname == "proc" for d in stdout_logs + stderr_logs)
    stdout_text = b"".join(d.data for d in stdout_logs)
    # supervisord also emits the captured block itself as PROCESS_LOG data.
    assert stdout_text.replace(b"payload 1", b"") == b"hello\nafter\n"
    assert b"".join(d.data for d in stderr_logs) == b"oops\n"
    comm_event = next(e for e in events if isinstance(e.data, ProcessCommunicationStdout))
    assert comm_event.name == "PROCESS_COMMUNICATION_STDOUT"
    # The block is diverted from the log file.
    assert stdout_log.read_bytes() == b"hello\nafter\n"


async def test_auto_logfile_collects_output_across_restarts(env: Env) -> None:
    """An AUTO stdout log keeps one name and gets every run's output (drained at exit)."""
    runtime = env.runtime(
        py("import os; print('run', os.getpid())"),
        startsecs=0,
        autorestart=AutoRestart.TRUE,
        stdout=ChannelConfig(),
    )
    runtime.start_nowait(TEST_OPERATOR)
    await env.waiter.until(has("PROCESS_STATE_EXITED", 3))
    runtime.stop_nowait(TEST_OPERATOR)
    await asyncio.wait_for(runtime.wait_stopped(), WAIT)
    await asyncio.wait_for(runtime.wait_output_closed(), WAIT)
    path = runtime.stdout_logfile
    assert path is not None
    assert Path(path).parent == env.tmp_path
    text = read_text(path)
    exited_pids = [
        d.pid for d in state_data(env.waiter.events) if d.event_name == "PROCESS_STATE_EXITED"
    ]
    for pid in exited_pids:
        assert f"run {pid}\n" in text


# --------------------------------------------------------------------------- leaks


def zombie_children() -> int:
    return sum(1 for child in psutil.Process().children() if child.status() == psutil.STATUS_ZOMBIE)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.slow
async def test_no_zombies_or_fd_leaks_after_1000_cycles(tmp_path: Path) -> None:
    """1,000 spawn/exit cycles of /bin/true leave no zombie children and no extra fds."""
    cycles = 1000
    env = Env(tmp_path)
    zombies_before = zombie_children()
    fds_before = open_fds()
    runtime = env.runtime(
        "/bin/true",
        startsecs=0,
        autorestart=AutoRestart.TRUE,
        stdout=ChannelConfig(),  # AUTO: a real log file written every cycle
    )
    runtime.start_nowait(TEST_OPERATOR)
    await env.waiter.until(has("PROCESS_STATE_EXITED", cycles), limit=120)
    if runtime.state == ProcessState.RUNNING:
        runtime.stop_nowait(TEST_OPERATOR)
    await asyncio.wait_for(runtime.wait_stopped(), WAIT)
    await asyncio.wait_for(runtime.wait_output_closed(), WAIT)
    await runtime.aclose()
    env.runtimes.clear()
    await env.aclose()
    assert env.spawner.spawns >= cycles
    assert env.waiter.count("PROCESS_STATE_EXITED") >= cycles
    assert zombie_children() == zombies_before
    assert open_fds() - fds_before == set()
