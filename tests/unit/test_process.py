"""ProcessRuntime over a FakeSpawner and a FakeClock: effects carried out, events, errors.

Time is virtual (the FakeClock is also the runtime's timer scheduler) and children are
``FakeChild`` ren whose exits the tests trigger, so nothing here sleeps. The only
awaits are on futures the runtime completes (``asyncio.sleep(0)`` lets a waiting task
register its future, it does not wait for time).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisor_core import control
from supervisor_core.bus import EventBus
from supervisor_core.config.model import (
    AutoRestart,
    ChannelConfig,
    GroupConfig,
    GroupKind,
    ProcessConfig,
)
from supervisor_core.events import ProcessStateEvent
from supervisor_core.groups import ProcessGroup
from supervisor_core.http.structs import describe
from supervisor_core.lifecycle import ProcessState
from supervisor_core.process import ProcessRuntime
from supervisor_core.spawn import PopenSpawner
from supervisor_core.testing import TEST_OPERATOR, FakeClock, FakeSpawner, capture_events

S = ProcessState
NO_LOG = ChannelConfig(logfile=None)


def config(**overrides: Any) -> ProcessConfig:
    values: dict[str, Any] = {
        "name": "web",
        "program_name": "web",
        "group_name": "web",
        "command": "/bin/true",
        "stdout": NO_LOG,
        "stderr": NO_LOG,
    }
    values.update(overrides)
    return ProcessConfig(**values)


class Lines(logging.Handler):
    """Collects main-log messages."""

    def __init__(self) -> None:
        super().__init__(level=1)
        self.messages: list[str] = []
        self.levels: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.levels.append(record.levelno)


class World:
    """A runtime with its fakes."""

    def __init__(self, cfg: ProcessConfig, *, childlogdir: str = "/nonexistent") -> None:
        self.clock = FakeClock()
        self.bus = EventBus(self.clock)
        self.spawner = FakeSpawner()
        self.lines = Lines()
        self.logger = logging.getLogger(f"test.process.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(1)
        self.logger.addHandler(self.lines)
        self.allowed = True
        self.runtime = ProcessRuntime(
            cfg,
            bus=self.bus,
            spawner=self.spawner,
            clock=self.clock,
            serverurl="unix:///tmp/superd.sock",
            childlogdir=childlogdir,
            identifier="supervisor",
            strip_ansi=False,
            logger=self.logger,
            timers=self.clock,
            starts_allowed=lambda: self.allowed,
        )

    def close(self) -> None:
        self.logger.removeHandler(self.lines)


@pytest.fixture
def make() -> Iterator[Any]:
    worlds: list[World] = []

    def build(**overrides: Any) -> World:
        world = World(config(**overrides))
        worlds.append(world)
        return world

    yield build
    for world in worlds:
        world.close()


def exists(path: str | Path) -> bool:
    return Path(path).exists()


def states(captured: Any) -> list[tuple[str, str, int, int]]:
    """(event name, from_state, tries, pid) per captured state event."""
    rows = []
    for data in captured.data():
        assert isinstance(data, ProcessStateEvent)
        rows.append((data.event_name, data.from_state.name, data.tries, data.pid))
    return rows


# --------------------------------------------------------------------------- histories


async def test_start_publishes_starting_then_running_after_startsecs(make: Any) -> None:
    """An operator start is STARTING at once and RUNNING once the startsecs timer fires."""
    w = make(startsecs=1)
    with capture_events(w.bus, ("PROCESS_STATE",)) as captured:
        w.runtime.start_nowait(TEST_OPERATOR)
        assert w.runtime.state is S.STARTING
        assert w.runtime.pid == 100
        w.clock.jump_to_next_deadline()
    assert w.runtime.state is S.RUNNING
    assert states(captured) == [
        ("PROCESS_STATE_STARTING", "STOPPED", 0, 0),
        ("PROCESS_STATE_RUNNING", "STARTING", 0, 100),
    ]
    assert captured.serials() == [0, 1]
    assert w.lines.messages == [
        "spawned: 'web' with pid 100",
        "success: web entered RUNNING state, process has stayed up for > than 1 seconds "
        "(startsecs)",
    ]


async def test_spawn_request_carries_config_and_serverurl(make: Any) -> None:
    """The spawner gets the command, user, environment and superd's serverurl (AUTO)."""
    w = make(command="/bin/sleep 5", user="nobody", environment={"A": "1"})
    w.runtime.start_nowait(TEST_OPERATOR)
    request = w.spawner.requests[0]
    assert request.command == "/bin/sleep 5"
    assert request.user == "nobody"
    assert dict(request.environment) == {"A": "1"}
    assert request.serverurl == "unix:///tmp/superd.sock"
    assert (request.name, request.group_name) == ("web", "web")


async def test_crash_is_exited_then_restarted_with_a_new_pid(make: Any) -> None:
    """An unexpected exit from RUNNING publishes EXITED (expected 0) and restarts."""
    w = make(startsecs=1)
    w.runtime.start_nowait(TEST_OPERATOR)
    w.clock.jump_to_next_deadline()
    with capture_events(w.bus, ("PROCESS_STATE",)) as captured:
        w.spawner.latest.exit(-signal.SIGKILL)
        assert w.runtime.pid == 101
        w.clock.jump_to_next_deadline()
    assert states(captured) == [
        ("PROCESS_STATE_EXITED", "RUNNING", 0, 100),
        ("PROCESS_STATE_STARTING", "EXITED", 0, 0),
        ("PROCESS_STATE_RUNNING", "STARTING", 0, 101),
    ]
    exited = captured.data()[0]
    assert isinstance(exited, ProcessStateEvent)
    assert exited.expected is False
    assert exited.returncode == -signal.SIGKILL
    assert exited.signal == signal.SIGKILL
    assert exited.run_duration == pytest.approx(1.0)
    assert captured.payloads()[0] == (
        "processname:web groupname:web from_state:RUNNING expected:0 pid:100"
    )
    assert "exited: web (terminated by SIGKILL; not expected)" in w.lines.messages


async def test_fail_fast_backs_off_then_gives_up_after_startretries(make: Any) -> None:
    """startretries=2: three spawns, BACKOFF after each, then FATAL, tries counting up."""
    w = make(startsecs=1, startretries=2)
    with capture_events(w.bus, ("PROCESS_STATE",)) as captured:
        w.runtime.start_nowait(TEST_OPERATOR)
        for _ in range(3):
            w.spawner.latest.exit(1)
            w.clock.jump_to_next_deadline()
    assert len(w.spawner.children) == 3
    assert w.runtime.state is S.FATAL
    assert states(captured) == [
        ("PROCESS_STATE_STARTING", "STOPPED", 0, 0),
        ("PROCESS_STATE_BACKOFF", "STARTING", 1, 100),
        ("PROCESS_STATE_STARTING", "BACKOFF", 1, 0),
        ("PROCESS_STATE_BACKOFF", "STARTING", 2, 101),
        ("PROCESS_STATE_STARTING", "BACKOFF", 2, 0),
        ("PROCESS_STATE_BACKOFF", "STARTING", 3, 102),
        ("PROCESS_STATE_FATAL", "BACKOFF", 0, 0),
    ]
    assert w.clock.pending() == 0
    assert "exited: web (exit status 1; not expected)" in w.lines.messages
    assert w.lines.messages[-1] == (
        "gave up: web entered FATAL state, too many start retries too quickly"
    )
    info = w.runtime.snapshot()
    assert describe(info) == "Exited too quickly (process log may have details)"


async def test_backoff_delay_grows_linearly(make: Any) -> None:
    """The retry after the n-th failure comes n seconds later (supervisord's backoff)."""
    w = make(startsecs=1, startretries=5)
    w.runtime.start_nowait(TEST_OPERATOR)
    delays = []
    for _ in range(3):
        w.spawner.latest.exit(1)
        before = w.clock.monotonic()
        w.clock.jump_to_next_deadline()
        delays.append(w.clock.monotonic() - before)
    assert delays == [1.0, 2.0, 3.0]


async def test_stop_sends_stopsignal_to_group_and_publishes_stopping_stopped(make: Any) -> None:
    """stop: STOPPING with stopsignal (to the group with stopasgroup), STOPPED at exit."""
    w = make(startsecs=0, stopsignal=signal.SIGINT, stopasgroup=True)
    w.runtime.start_nowait(TEST_OPERATOR)
    child = w.spawner.latest
    with capture_events(w.bus, ("PROCESS_STATE",)) as captured:
        w.runtime.stop_nowait(TEST_OPERATOR)
        assert child.signals == [(signal.SIGINT, True)]
        child.exit(-signal.SIGINT)
    assert states(captured) == [
        ("PROCESS_STATE_STOPPING", "RUNNING", 0, 100),
        ("PROCESS_STATE_STOPPED", "STOPPING", 0, 100),
    ]
    assert w.lines.messages[-1] == "stopped: web (terminated by SIGINT)"
    assert w.clock.pending() == 0
    assert child.closed


async def test_stop_escalates_to_sigkill_after_stopwaitsecs(make: Any) -> None:
    """A child ignoring stopsignal gets SIGKILL after stopwaitsecs (to the group: killasgroup)."""
    w = make(startsecs=0, stopwaitsecs=3, killasgroup=True)
    w.runtime.start_nowait(TEST_OPERATOR)
    child = w.spawner.latest
    w.runtime.stop_nowait(TEST_OPERATOR)
    start = w.clock.monotonic()
    w.clock.jump_to_next_deadline()
    assert w.clock.monotonic() - start == 3
    assert child.signals == [(signal.SIGTERM, False), (signal.SIGKILL, True)]
    assert "killing 'web' (100) with SIGKILL" in w.lines.messages
    assert w.runtime.state is S.STOPPING
    child.exit(-signal.SIGKILL)
    assert w.runtime.state is S.STOPPED


async def test_signal_failure_makes_the_process_unknown(make: Any) -> None:
    """A signal error other than ESRCH is SignalFailed: UNKNOWN, and stop raises Failed."""
    w = make(startsecs=0)
    w.runtime.start_nowait(TEST_OPERATOR)
    w.spawner.latest.signal_error = PermissionError(errno.EPERM, "Operation not permitted")
    with pytest.raises(control.Failed, match="unknown problem killing web"):
        w.runtime.stop_nowait(TEST_OPERATOR)
    assert w.runtime.state is S.UNKNOWN
    with pytest.raises(control.Failed, match="unknown process state"):
        w.runtime.start_nowait(TEST_OPERATOR)


async def test_esrch_while_stopping_is_ignored(make: Any) -> None:
    """A child that is already gone when signalled is not an error: its exit follows."""
    w = make(startsecs=0)
    w.runtime.start_nowait(TEST_OPERATOR)
    w.spawner.latest.signal_error = ProcessLookupError(errno.ESRCH, "No such process")
    w.runtime.stop_nowait(TEST_OPERATOR)
    assert w.runtime.state is S.STOPPING
    w.spawner.latest.exit(0)
    assert w.runtime.state is S.STOPPED


async def test_spawn_error_is_backoff_with_spawnerr(make: Any) -> None:
    """A SpawnError becomes SpawnFailed: BACKOFF with spawnerr, and start raises SpawnFailed."""
    w = make(startsecs=1)
    w.spawner.fail_next("couldn't setuid to nobody: EPERM")
    with pytest.raises(control.SpawnFailed) as raised:
        w.runtime.start_nowait(TEST_OPERATOR)
    assert raised.value.detail == "web"
    info = w.runtime.snapshot()
    assert info.state is S.BACKOFF
    assert info.spawnerr == "couldn't setuid to nobody: EPERM"
    assert "spawnerr: couldn't setuid to nobody: EPERM" in w.lines.messages
    w.clock.jump_to_next_deadline()  # the retry succeeds
    assert w.runtime.state is S.STARTING
    assert w.runtime.snapshot().spawnerr == ""


async def test_main_log_messages_with_percent_signs_are_logged_as_they_are(make: Any) -> None:
    """A machine Log message is never %-interpolated: '%s' and '%' reach the log intact."""
    w = make(startsecs=1)
    w.spawner.fail_next("can't find command '/opt/100%s/run %d'")
    with pytest.raises(control.SpawnFailed):
        w.runtime.start_nowait(TEST_OPERATOR)
    assert "spawnerr: can't find command '/opt/100%s/run %d'" in w.lines.messages


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("/nonexistent/prog", control.NoFile),
        ("no-such-program-anywhere", control.NoFile),
        ("/etc/passwd", control.NotExecutable),
        ("/tmp", control.NotExecutable),
        ("'unbalanced", control.NotExecutable),
    ],
)
async def test_start_checks_the_command_first(
    make: Any, command: str, error: type[control.ControlError]
) -> None:
    """start raises NoFile / NotExecutable like supervisord, before any state change.

    The check is the spawner's (PopenSpawner's here, the real one): a fake spawner
    would accept any command.
    """
    w = make(command=command)
    w.spawner.check_command = PopenSpawner().check_command  # type: ignore[method-assign]
    with pytest.raises(error):
        w.runtime.start_nowait(TEST_OPERATOR)
    assert w.runtime.state is S.STOPPED
    assert w.spawner.requests == []


async def test_start_refused_in_running_states_and_stopping(make: Any) -> None:
    """start raises AlreadyStarted in STARTING/RUNNING/BACKOFF, AbnormalTermination in STOPPING."""
    w = make(startsecs=1)
    w.runtime.start_nowait(TEST_OPERATOR)
    with pytest.raises(control.AlreadyStarted):
        w.runtime.start_nowait(TEST_OPERATOR)  # STARTING
    w.spawner.latest.exit(1)
    with pytest.raises(control.AlreadyStarted):
        w.runtime.start_nowait(TEST_OPERATOR)  # BACKOFF
    w.clock.jump_to_next_deadline()
    w.clock.jump_to_next_deadline()
    assert w.runtime.state is S.RUNNING
    with pytest.raises(control.AlreadyStarted):
        w.runtime.start_nowait(TEST_OPERATOR)
    w.runtime.stop_nowait(TEST_OPERATOR)
    with pytest.raises(control.AbnormalTermination):
        w.runtime.start_nowait(TEST_OPERATOR)


async def test_stop_and_signal_refused_when_not_running(make: Any) -> None:
    """stop and signal raise NotRunning on a stopped process; a bad number is BadSignal."""
    w = make()
    with pytest.raises(control.NotRunning):
        w.runtime.stop_nowait(TEST_OPERATOR)
    with pytest.raises(control.NotRunning):
        w.runtime.signal(signal.SIGHUP, TEST_OPERATOR)
    with pytest.raises(control.BadSignal):
        w.runtime.signal(12345, TEST_OPERATOR)


async def test_stop_in_backoff_goes_straight_to_stopped(make: Any) -> None:
    """Stopping a BACKOFF process cancels the retry and publishes STOPPED."""
    w = make(startsecs=1)
    w.runtime.start_nowait(TEST_OPERATOR)
    w.spawner.latest.exit(1)
    w.runtime.stop_nowait(TEST_OPERATOR)
    assert w.runtime.state is S.STOPPED
    assert w.clock.pending() == 0


async def test_signal_goes_to_the_child_only(make: Any) -> None:
    """signalProcess sends the signal to the child, never to its group."""
    w = make(startsecs=0, stopasgroup=True)
    w.runtime.start_nowait(TEST_OPERATOR)
    w.runtime.signal(signal.SIGHUP, TEST_OPERATOR)
    assert w.spawner.latest.signals == [(signal.SIGHUP, False)]
    assert w.runtime.state is S.RUNNING


# --------------------------------------------------------------------------- waits


async def test_wait_started_completes_on_running(make: Any) -> None:
    """wait_started returns once the startsecs timer moved the process to RUNNING."""
    w = make(startsecs=5)
    w.runtime.start_nowait(TEST_OPERATOR)
    waiter = asyncio.ensure_future(w.runtime.wait_started())
    await asyncio.sleep(0)
    assert not waiter.done()
    w.clock.jump_to_next_deadline()
    await asyncio.wait_for(waiter, 1)


async def test_wait_started_raises_spawnfailed_on_a_quick_exit(make: Any) -> None:
    """A child that exits before startsecs makes wait_started raise SpawnFailed."""
    w = make(startsecs=5)
    w.runtime.start_nowait(TEST_OPERATOR)
    waiter = asyncio.ensure_future(w.runtime.wait_started())
    await asyncio.sleep(0)
    w.spawner.latest.exit(3)
    with pytest.raises(control.SpawnFailed):
        await asyncio.wait_for(waiter, 1)


async def test_wait_started_raises_abnormal_termination_when_stopped(make: Any) -> None:
    """A process stopped while STARTING makes wait_started raise AbnormalTermination."""
    w = make(startsecs=5)
    w.runtime.start_nowait(TEST_OPERATOR)
    waiter = asyncio.ensure_future(w.runtime.wait_started())
    await asyncio.sleep(0)
    w.runtime.stop_nowait(TEST_OPERATOR)
    with pytest.raises(control.AbnormalTermination):
        await asyncio.wait_for(waiter, 1)


async def test_wait_started_when_already_decided(make: Any) -> None:
    """wait_started returns at once when RUNNING and raises at once when FATAL/STOPPED."""
    w = make(startsecs=0, startretries=0)
    with pytest.raises(control.AbnormalTermination):
        await w.runtime.wait_started()  # never started
    w.runtime.start_nowait(TEST_OPERATOR)
    await w.runtime.wait_started()
    w2 = make(startsecs=1, startretries=0)
    w2.runtime.start_nowait(TEST_OPERATOR)
    w2.spawner.latest.exit(1)
    assert w2.runtime.state is S.FATAL
    with pytest.raises(control.SpawnFailed):
        await w2.runtime.wait_started()


async def test_wait_stopped_completes_on_stopped_and_logs_waiting(make: Any) -> None:
    """wait_stopped returns once the child exited after the stop signal."""
    w = make(startsecs=0)
    w.runtime.start_nowait(TEST_OPERATOR)
    w.runtime.stop_nowait(TEST_OPERATOR)
    waiter = asyncio.ensure_future(w.runtime.wait_stopped())
    await asyncio.sleep(0)
    assert not waiter.done()
    assert "waiting for web to stop" in w.lines.messages
    w.spawner.latest.exit(0)
    await asyncio.wait_for(waiter, 1)
    await w.runtime.wait_stopped()  # at once now


# --------------------------------------------------------------------------- stdin


async def test_write_stdin(make: Any) -> None:
    """stdin reaches the child; NotRunning without a child or while killing; NoFile on EPIPE."""
    w = make(startsecs=0, stopwaitsecs=5)
    with pytest.raises(control.NotRunning):
        w.runtime.write_stdin(b"x")
    w.runtime.start_nowait(TEST_OPERATOR)
    w.runtime.write_stdin(b"hello ")
    w.runtime.write_stdin(b"world")
    await w.runtime.wait_stdin_drained()
    assert bytes(w.spawner.latest.stdin) == b"hello world"
    w.spawner.latest.close_stdin()
    with pytest.raises(control.NoFile):
        w.runtime.write_stdin(b"x")
    w.runtime.stop_nowait(TEST_OPERATOR)
    with pytest.raises(control.NotRunning):
        w.runtime.write_stdin(b"x")


# --------------------------------------------------------------------------- snapshot


async def test_snapshot_fields_and_descriptions(make: Any) -> None:
    """snapshot() has getProcessInfo's fields; describe() renders supervisord's texts."""
    w = make(startsecs=1)
    info = w.runtime.snapshot()
    assert (info.state, info.start, info.stop, info.pid, info.exitstatus) == (S.STOPPED, 0, 0, 0, 0)
    assert describe(info) == "Not started"
    assert (info.stdout_logfile, info.stderr_logfile) == ("", "")
    started_wall = w.clock.wall()
    w.runtime.start_nowait(TEST_OPERATOR)
    w.clock.jump_to_next_deadline()
    w.clock.advance(61)
    info = w.runtime.snapshot()
    assert info.start == started_wall
    assert info.now == w.clock.wall()
    assert describe(info) == "pid 100, uptime 0:01:02"
    w.runtime.stop_nowait(TEST_OPERATOR)
    w.spawner.latest.exit(0)
    info = w.runtime.snapshot()
    assert info.state is S.STOPPED
    assert info.stop == w.clock.wall()
    assert info.exitstatus == 0
    assert info.pid == 0


async def test_auto_logfiles_are_named_once_and_removed_on_request(tmp_path: Path) -> None:
    """AUTO logs get supervisord's names in childlogdir; remove_logs deletes only those."""
    fixed = tmp_path / "fixed.log"
    cfg = config(
        stdout=ChannelConfig(),  # AUTO
        stderr=ChannelConfig(logfile=str(fixed)),
    )
    w = World(cfg, childlogdir=str(tmp_path))
    try:
        out = w.runtime.stdout_logfile
        assert out is not None
        assert Path(out).name.startswith("web-stdout---supervisor-")
        assert w.runtime.stderr_logfile == str(fixed)
        w.runtime.start_nowait(TEST_OPERATOR)  # opens both files
        assert exists(fixed)
        assert w.runtime.snapshot().stdout_logfile == out
        w.runtime.stop_nowait(TEST_OPERATOR)
        w.spawner.latest.exit(0)
        await w.runtime.aclose()
        w.runtime.remove_logs()
        assert not exists(out)
        assert exists(fixed)
    finally:
        w.close()


# --------------------------------------------------------------------------- daemon hooks


async def test_autostart_starts_once_and_respects_starts_allowed(make: Any) -> None:
    """autostart starts a never-started autostart process once; not during shutdown."""
    w = make(startsecs=0)
    w.allowed = False
    w.runtime.autostart()
    assert w.runtime.state is S.STOPPED
    w.allowed = True
    w.runtime.autostart()
    assert w.runtime.state is S.RUNNING
    w.runtime.stop_nowait(TEST_OPERATOR)
    w.spawner.latest.exit(0)
    w.runtime.autostart()  # it already ran
    assert w.runtime.state is S.STOPPED
    off = make(autostart=False)
    off.runtime.autostart()
    assert off.runtime.state is S.STOPPED


async def test_no_restart_while_shutting_down(make: Any) -> None:
    """With starts_allowed False an exit is not followed by an automatic restart."""
    w = make(startsecs=0, autorestart=AutoRestart.TRUE)
    w.runtime.start_nowait(TEST_OPERATOR)
    w.allowed = False
    w.spawner.latest.exit(-signal.SIGKILL)
    assert w.runtime.state is S.EXITED
    assert len(w.spawner.children) == 1
    info = w.runtime.snapshot()
    assert info.exitstatus == -1  # supervisord's exit status for any signal death
    assert info.spawnerr == "Bad exit code -1"


async def test_system_stop_gives_up_backoff_and_stops_running(make: Any) -> None:
    """system_stop: BACKOFF -> FATAL, RUNNING -> STOPPING, STOPPED untouched; never raises."""
    backoff = make(startsecs=1)
    backoff.runtime.start_nowait(TEST_OPERATOR)
    backoff.spawner.latest.exit(1)
    backoff.runtime.system_stop()
    assert backoff.runtime.state is S.FATAL
    running = make(startsecs=0)
    running.runtime.start_nowait(TEST_OPERATOR)
    running.runtime.system_stop()
    assert running.runtime.state is S.STOPPING
    idle = make()
    idle.runtime.system_stop()
    assert idle.runtime.state is S.STOPPED


async def test_aclose_requires_stopped_and_releases_everything(make: Any) -> None:
    """aclose refuses a running process; afterwards timers are cancelled and calls refused."""
    w = make(startsecs=1)
    w.runtime.start_nowait(TEST_OPERATOR)
    with pytest.raises(control.StillRunning):
        await w.runtime.aclose()
    w.spawner.latest.exit(1)  # BACKOFF still is a running state
    with pytest.raises(control.StillRunning):
        await w.runtime.aclose()
    w.runtime.stop_nowait(TEST_OPERATOR)
    await w.runtime.aclose()
    await w.runtime.aclose()  # idempotent
    assert w.clock.pending() == 0
    with pytest.raises(control.Failed):
        w.runtime.start_nowait(TEST_OPERATOR)


async def test_late_callbacks_after_aclose_are_harmless(make: Any) -> None:
    """An exit arriving for a child we stopped watching (aclose in UNKNOWN) changes nothing."""
    w = make(startsecs=0)
    w.runtime.start_nowait(TEST_OPERATOR)
    child = w.spawner.latest
    child.signal_error = PermissionError(errno.EPERM, "nope")
    with pytest.raises(control.Failed):
        w.runtime.stop_nowait(TEST_OPERATOR)
    await w.runtime.aclose()
    child.signal_error = None
    child.exit(0)
    assert w.runtime.state is S.UNKNOWN


# --------------------------------------------------------------------------- groups


def group_of(*names_priorities: tuple[str, int]) -> GroupConfig:
    processes = tuple(
        config(name=name, program_name="g", group_name="g", priority=priority, startsecs=0)
        for name, priority in sorted(names_priorities, key=lambda item: item[1])
    )
    return GroupConfig(name="g", kind=GroupKind.GROUP, priority=5, processes=processes)


async def test_group_starts_in_priority_order_and_stops_in_reverse() -> None:
    """ProcessGroup autostarts lowest priority first and stops highest priority first."""
    clock = FakeClock()
    bus = EventBus(clock)
    spawner = FakeSpawner()

    def make_process(cfg: ProcessConfig) -> ProcessRuntime:
        return ProcessRuntime(
            cfg,
            bus=bus,
            spawner=spawner,
            clock=clock,
            serverurl=None,
            childlogdir="/nonexistent",
            identifier="supervisor",
            strip_ansi=False,
            timers=clock,
        )

    group = ProcessGroup(group_of(("b", 20), ("a", 10), ("c", 30)), make_process)
    assert list(group.processes) == ["a", "b", "c"]
    assert len(group) == 3
    with capture_events(bus, ("PROCESS_STATE_STARTING", "PROCESS_STATE_STOPPING")) as captured:
        group.autostart()
        group.system_stop()
    names = [(e.name, getattr(e.data, "processname", "")) for e in captured]
    assert names == [
        ("PROCESS_STATE_STARTING", "a"),
        ("PROCESS_STATE_STARTING", "b"),
        ("PROCESS_STATE_STARTING", "c"),
        ("PROCESS_STATE_STOPPING", "c"),
        ("PROCESS_STATE_STOPPING", "b"),
        ("PROCESS_STATE_STOPPING", "a"),
    ]
    assert [r.name for r in group.unstopped()] == ["a", "b", "c"]
    with pytest.raises(control.StillRunning):
        await group.aclose()
    waiter = asyncio.ensure_future(group.wait_stopped())
    for child in spawner.children:
        child.exit(-signal.SIGTERM)
    await asyncio.wait_for(waiter, 1)
    snapshot = group.snapshot()
    assert (snapshot.name, snapshot.priority) == ("g", 5)
    assert [p.name for p in snapshot.processes] == ["a", "b", "c"]
    assert group.process("b").name == "b"
    with pytest.raises(control.BadName, match="g:zzz"):
        group.process("zzz")
    group.reopen_logs()
    await group.aclose()


async def test_group_rejects_duplicate_process_names() -> None:
    """Two processes with one name in a group are a clear error, not a silent overwrite."""
    clock = FakeClock()
    bus = EventBus(clock)

    def make_process(cfg: ProcessConfig) -> ProcessRuntime:
        return ProcessRuntime(
            cfg,
            bus=bus,
            spawner=FakeSpawner(),
            clock=clock,
            serverurl=None,
            childlogdir="/nonexistent",
            identifier="supervisor",
            strip_ansi=False,
            timers=clock,
        )

    with pytest.raises(ValueError, match="duplicate process name 'a'"):
        ProcessGroup(group_of(("a", 1), ("a", 2)), make_process)


# --------------------------------------------------------------------------- log files


async def test_clear_and_reopen_logs(tmp_path: Path) -> None:
    """clear_logs empties the log; reopen_logs recreates a moved file; failures are Failed."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    out = logdir / "out.log"
    w = World(config(stdout=ChannelConfig(logfile=str(out))), childlogdir=str(tmp_path))
    try:
        w.runtime.start_nowait(TEST_OPERATOR)  # opens the file
        out.write_bytes(b"old output\n")
        w.runtime.clear_logs()
        assert out.read_bytes() == b""
        out.rename(logdir / "out.log.rotated")
        w.runtime.reopen_logs()
        assert out.exists()
        (logdir / "out.log.rotated").unlink()
        out.unlink()
        logdir.rmdir()
        with pytest.raises(control.Failed, match="web"):
            w.runtime.reopen_logs()
        with pytest.raises(control.Failed, match="web"):
            w.runtime.clear_logs()
        w.runtime.stop_nowait(TEST_OPERATOR)
        w.spawner.latest.exit(0)
        await w.runtime.aclose()
    finally:
        w.close()


async def test_signal_failure_raises_failed(make: Any) -> None:
    """signalProcess failing with EPERM raises Failed and leaves the process UNKNOWN."""
    w = make(startsecs=0)
    w.runtime.start_nowait(TEST_OPERATOR)
    w.spawner.latest.signal_error = PermissionError(errno.EPERM, "Operation not permitted")
    with pytest.raises(control.Failed, match="unknown problem killing web"):
        w.runtime.signal(signal.SIGUSR1, TEST_OPERATOR)
    assert w.runtime.state is S.UNKNOWN
    assert w.lines.levels[-1] == logging.CRITICAL


async def test_unexpected_spawner_oserror_becomes_a_spawn_failure(make: Any) -> None:
    """An OSError escaping the spawner is a spawn failure (BACKOFF), not a daemon crash."""
    w = make(startsecs=1)

    def broken(request: Any) -> Any:
        raise OSError(errno.ENOMEM, "Cannot allocate memory")

    w.spawner.spawn = broken
    with pytest.raises(control.SpawnFailed):
        w.runtime.start_nowait(TEST_OPERATOR)
    assert w.runtime.state is S.BACKOFF
    assert "Cannot allocate memory" in w.runtime.snapshot().spawnerr


async def test_autorestart_forks_before_the_exit_is_fanned_out(make: Any) -> None:
    """An autorestart spawns before EXITED is published; events and log lines keep their order."""
    w = make(startsecs=0, autorestart=AutoRestart.TRUE)
    w.runtime.start_nowait(TEST_OPERATOR)
    children_when_published: list[tuple[str, int]] = []
    w.bus.subscribe(
        lambda event: children_when_published.append(
            (event.data.event_name, len(w.spawner.children))
        ),
        name="spawn-order",
        types=("PROCESS_STATE",),
    )
    with capture_events(w.bus, ("PROCESS_STATE",)) as captured:
        w.spawner.latest.exit(-signal.SIGKILL)
    assert children_when_published[0] == ("PROCESS_STATE_EXITED", 2)
    assert states(captured) == [
        ("PROCESS_STATE_EXITED", "RUNNING", 0, 100),
        ("PROCESS_STATE_STARTING", "EXITED", 0, 0),
        ("PROCESS_STATE_RUNNING", "STARTING", 0, 101),
    ]
    exited = next(index for index, line in enumerate(w.lines.messages) if "exited:" in line)
    spawned = next(
        index for index, line in enumerate(w.lines.messages) if "spawned:" in line and "101" in line
    )
    assert exited < spawned
