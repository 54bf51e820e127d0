"""Supervisor over FakeSpawner/FakeClock: names, priority order, moods, ticks, reload.

Children are ``FakeChild`` ren that exit when signalled (on the next loop turn), time is
a ``FakeClock``; the only awaits are on futures the code under test completes
(``asyncio.sleep(0)`` lets the run task take its next step, it waits for no time).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from supervisor_core import control
from supervisor_core import supervisor as supervisor_module
from supervisor_core.bus import EventBus
from supervisor_core.config import Config, ConfigError, parse
from supervisor_core.config.errors import Problem
from supervisor_core.config.model import Origin
from supervisor_core.events import Event, Tick5, Tick60, Tick3600
from supervisor_core.lifecycle import ProcessState, SupervisorState
from supervisor_core.logs import MainLogHandler
from supervisor_core.process import ProcessRuntime
from supervisor_core.spawn import SpawnRequest
from supervisor_core.supervisor import ProcessSetup, Supervisor, TickScheduler
from supervisor_core.testing import TEST_OPERATOR, FakeChild, FakeClock, FakeSpawner, capture_events


class ExitingChild(FakeChild):
    """A FakeChild that dies of the first signal it gets, on the next loop turn."""

    def send_signal(self, sig: int, *, to_group: bool = False) -> None:
        super().send_signal(sig, to_group=to_group)
        if len(self.signals) == 1:
            asyncio.get_running_loop().call_soon(self.exit, -sig)


class ExitingSpawner(FakeSpawner):
    """FakeSpawner whose children exit when signalled."""

    def spawn(self, request: SpawnRequest) -> FakeChild:
        self.requests.append(request)
        child = ExitingChild(100 + len(self.children), request)
        self.children.append(child)
        return child


BASE = """
[supervisord]
childlogdir = %(here)s
identifier = unit

[program:late]
command = /bin/sleep 1000
priority = 300
startsecs = 0
stdout_logfile = NONE
stderr_logfile = NONE

[program:early]
command = /bin/sleep 1000
priority = 5
startsecs = 0
stdout_logfile = NONE
stderr_logfile = NONE

[program:pool]
command = /bin/sleep 1000
process_name = pool_%(process_num)d
numprocs = 2
priority = 50
startsecs = 0
stdout_logfile = NONE
stderr_logfile = NONE

[program:manual]
command = /bin/sleep 1000
autostart = false
startsecs = 0
stdout_logfile = NONE
stderr_logfile = NONE

[eventlistener:listen]
command = /bin/sleep 1000
events = TICK_5
startsecs = 0
stdout_logfile = NONE
stderr_logfile = NONE
"""


def load_text(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "supervisord.conf"
    path.write_text(text)
    return parse(text, str(path))


class World:
    """A Supervisor with fakes, run as a task of the test."""

    def __init__(
        self,
        tmp_path: Path,
        text: str = BASE,
        *,
        main_log: MainLogHandler | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.clock = FakeClock(wall=1_700_000_002.5)
        self.bus = EventBus(self.clock)
        self.spawner = ExitingSpawner()
        self.next_text: str | None = None
        self.config = load_text(tmp_path, text)
        self.supervisor = Supervisor(
            self.config,
            bus=self.bus,
            clock=self.clock,
            process_factory=self.make,
            timers=self.clock,
            read_config=self.read,
            main_log=main_log,
        )
        self.task: asyncio.Task[SupervisorState] | None = None

    def make(self, setup: ProcessSetup) -> ProcessRuntime:
        return ProcessRuntime(
            setup.config,
            bus=self.bus,
            spawner=self.spawner,
            clock=self.clock,
            serverurl=None,
            childlogdir=str(self.tmp_path),
            identifier="unit",
            strip_ansi=False,
            timers=self.clock,
            starts_allowed=setup.starts_allowed,
            stdin_fd=setup.stdin_fd,
        )

    def read(self, path: str) -> Config:
        assert path == self.config.path
        if self.next_text is None:
            raise ConfigError(
                [Problem(origin=Origin(path, 3), section=None, reason="broken on purpose")]
            )
        return load_text(self.tmp_path, self.next_text)

    async def start(self) -> None:
        self.task = asyncio.create_task(self.supervisor.run())
        await asyncio.sleep(0)

    async def finish(self) -> SupervisorState:
        assert self.task is not None
        return await asyncio.wait_for(self.task, timeout=5)

    def spawned(self) -> list[str]:
        return [request.name for request in self.spawner.requests]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = World(tmp_path)
    await w.start()
    yield w
    if w.task is not None and not w.task.done():
        w.supervisor.shutdown()
        await w.finish()


async def test_resolve_names(world: World) -> None:
    """``name``, ``group:name`` and ``group:*`` resolve to processes; others are BadName."""
    supervisor = world.supervisor
    assert [p.name for p in supervisor.resolve("early")] == ["early"]
    assert [p.name for p in supervisor.resolve("pool:pool_1")] == ["pool_1"]
    assert [p.name for p in supervisor.resolve("pool:*")] == ["pool_0", "pool_1"]
    for bad in ("nosuch", "pool", "pool:pool_9", "nosuch:*"):
        with pytest.raises(control.BadName):
            supervisor.resolve(bad)
    with pytest.raises(control.BadName):
        supervisor.start_process("pool:*", TEST_OPERATOR)


async def test_start_in_priority_order_listeners_first(world: World) -> None:
    """Groups autostart lowest priority first (listener pools at -1), autostart=false stays."""
    assert world.spawned() == ["listen", "early", "pool_0", "pool_1", "late"]
    names = [g.name for g in world.supervisor.groups()]
    assert names == ["listen", "early", "pool", "late", "manual"]
    manual = world.supervisor.groups()[4].processes[0]
    assert manual.state is ProcessState.STOPPED


async def test_shutdown_stops_groups_in_reverse_priority_one_at_a_time(world: World) -> None:
    """Shutdown publishes STOPPING, then stops each group fully before the next (reverse)."""
    with capture_events(world.bus, ("PROCESS_STATE", "SUPERVISOR_STATE_CHANGE")) as events:
        world.supervisor.shutdown()
        assert await world.finish() is SupervisorState.SHUTDOWN
    assert events.names()[0] == "SUPERVISOR_STATE_CHANGE_STOPPING"
    transitions = [
        (e.data.processname, e.name.removeprefix("PROCESS_STATE_"))  # type: ignore[attr-defined]
        for e in events
        if e.name.startswith("PROCESS_STATE")
    ]
    assert transitions == [
        ("late", "STOPPING"),
        ("late", "STOPPED"),
        ("pool_1", "STOPPING"),
        ("pool_0", "STOPPING"),
        ("pool_1", "STOPPED"),
        ("pool_0", "STOPPED"),
        ("early", "STOPPING"),
        ("early", "STOPPED"),
        ("listen", "STOPPING"),
        ("listen", "STOPPED"),
    ]
    assert all(child.exit_status is not None for child in world.spawner.children)


async def test_running_event_and_groups_added_at_start(tmp_path: Path) -> None:
    """Start-up publishes PROCESS_GROUP_ADDED per group, then SUPERVISOR_STATE_CHANGE_RUNNING."""
    w = World(tmp_path)
    with capture_events(w.bus, ("PROCESS_GROUP", "SUPERVISOR_STATE_CHANGE")) as events:
        await w.start()
        w.supervisor.shutdown()
        await w.finish()
    assert events.names() == [
        *["PROCESS_GROUP_ADDED"] * 5,
        "SUPERVISOR_STATE_CHANGE_RUNNING",
        "SUPERVISOR_STATE_CHANGE_STOPPING",
    ]


@pytest.mark.parametrize(
    ("sig", "mood"),
    [
        (signal.SIGTERM, SupervisorState.SHUTDOWN),
        (signal.SIGINT, SupervisorState.SHUTDOWN),
        (signal.SIGQUIT, SupervisorState.SHUTDOWN),
        (signal.SIGHUP, SupervisorState.RESTARTING),
    ],
)
async def test_signals_end_the_run_with_a_mood(
    world: World, sig: signal.Signals, mood: int
) -> None:
    """TERM/INT/QUIT end the run in SHUTDOWN, HUP in RESTARTING, after stopping everything."""
    world.next_text = BASE
    world.supervisor.receive_signal(sig)
    assert await world.finish() == mood
    assert all(child.exit_status is not None for child in world.spawner.children)


async def test_hup_during_shutdown_is_ignored(world: World) -> None:
    """A HUP after a TERM does not turn the shutdown into a restart (supervisord's rule)."""
    world.supervisor.receive_signal(signal.SIGTERM)
    world.supervisor.receive_signal(signal.SIGHUP)
    assert await world.finish() is SupervisorState.SHUTDOWN


async def test_usr2_reopens_the_main_log(tmp_path: Path) -> None:
    """SIGUSR2 reopens the main log: after a rename, new lines go to a new file."""
    path = tmp_path / "main.log"
    handler = MainLogHandler(str(path))
    w = World(tmp_path, main_log=handler)
    await w.start()
    path.rename(tmp_path / "main.log.old")
    w.supervisor.receive_signal(signal.SIGUSR2)
    await asyncio.sleep(0)
    handler.emit(logging.LogRecord("t", logging.INFO, __file__, 1, "after", None, None))
    assert "after" in path.read_text()
    assert "after" not in (tmp_path / "main.log.old").read_text()
    w.supervisor.shutdown()
    await w.finish()
    handler.close()


async def test_start_refused_once_shutting_down(world: World) -> None:
    """After shutdown() the control plane gets ShutdownState for starts and group adds."""
    world.supervisor.shutdown()
    with pytest.raises(control.ShutdownState):
        world.supervisor.start_process("manual", TEST_OPERATOR)
    with pytest.raises(control.ShutdownState):
        await world.supervisor.add_process_group("early")
    await world.finish()


def test_ticks_align_to_wall_clock_boundaries() -> None:
    """TICK_5/60/3600 fire at wall-clock boundaries with ``when`` = the boundary, none at start."""
    clock = FakeClock(wall=3600 * 472_222 - 62.5)  # 62.5 s before an hour boundary
    bus = EventBus(clock)
    ticks = TickScheduler(bus, clock, clock)
    with capture_events(bus, ("TICK",)) as events:
        ticks.start()
        assert events.names() == []
        clock.jump_to_next_deadline()
        first = 3600 * 472_222 - 60
        assert events.data() == [Tick5(when=first), Tick60(when=first)]
        for _ in range(12):
            clock.jump_to_next_deadline()
        hour = 3600 * 472_222
        assert events.data()[-3:] == [Tick5(when=hour), Tick60(when=hour), Tick3600(when=hour)]
        assert [d.when for d in events.data() if isinstance(d, Tick5)] == list(
            range(first, hour + 1, 5)
        )
        ticks.stop()
        assert clock.pending() == 0


def test_tick_timer_is_one_per_period_not_a_poll() -> None:
    """Between two ticks exactly one timer is pending, due at the next 5 s wall boundary."""
    clock = FakeClock(monotonic=50.0, wall=1_700_000_001.0)
    bus = EventBus(clock)
    ticks = TickScheduler(bus, clock, clock)
    ticks.start()
    assert clock.pending() == 1
    assert clock.next_deadline() == pytest.approx(54.0)
    ticks.stop()


async def test_supervisor_publishes_ticks(world: World) -> None:
    """A running Supervisor publishes TICK_5 on its timers (the FakeClock here)."""
    with capture_events(world.bus, ("TICK_5",)) as events:
        world.clock.jump_to_next_deadline()
    assert events.data() == [Tick5(when=1_700_000_005)]


async def test_reload_diff_then_add_and_remove(world: World) -> None:
    """reload_config reports added/changed/removed vs the active groups; add/remove apply them."""
    world.next_text = BASE.replace("priority = 300", "priority = 301").replace(
        "[program:manual]", "[program:fresh]"
    )
    result = await world.supervisor.reload_config()
    assert result == control.ReloadResult(added=("fresh",), changed=("late",), removed=("manual",))
    assert "fresh" in [g.name for g in world.supervisor.config_groups()]

    with capture_events(world.bus, ("PROCESS_GROUP",)) as events:
        await world.supervisor.remove_process_group("manual")  # never started
        with pytest.raises(control.StillRunning):
            await world.supervisor.remove_process_group("late")
        world.supervisor.stop_process("late", TEST_OPERATOR)
        await world.supervisor.wait_process_stopped("late")
        await world.supervisor.remove_process_group("late")
        await world.supervisor.add_process_group("late")
        await world.supervisor.add_process_group("fresh")
        with pytest.raises(control.AlreadyAdded):
            await world.supervisor.add_process_group("fresh")
        with pytest.raises(control.BadName):
            await world.supervisor.add_process_group("manual")
    assert events.names() == [
        "PROCESS_GROUP_REMOVED",
        "PROCESS_GROUP_REMOVED",
        "PROCESS_GROUP_ADDED",
        "PROCESS_GROUP_ADDED",
    ]
    groups = {g.name: g for g in world.supervisor.groups()}
    assert "manual" not in groups
    assert groups["late"].priority == 301
    assert groups["fresh"].processes[0].state is ProcessState.STOPPED  # autostart=false
    assert world.spawned()[-1] == "late"  # re-added group autostarted
    assert (await world.supervisor.reload_config()) == control.ReloadResult()


async def test_reload_of_a_broken_file_is_cant_reread(world: World) -> None:
    """A file that does not parse gives CantReread naming file:line and changes nothing."""
    with pytest.raises(control.CantReread, match=r"supervisord\.conf:3"):
        await world.supervisor.reload_config()
    assert world.supervisor.config_groups() == world.config.groups


async def test_reload_naming_an_event_type_unknown_to_the_bus_is_cant_reread(world: World) -> None:
    """events= is checked against the bus' registry on reload: file:line, nothing changes."""
    world.next_text = BASE.replace("events = TICK_5", "events = TICK_5,TICK_7")
    line = world.next_text.splitlines().index("events = TICK_5,TICK_7") + 1
    with pytest.raises(
        control.CantReread,
        match=rf"supervisord\.conf:{line}: \[eventlistener:listen\] events: unknown event "
        r"type: 'TICK_7'",
    ):
        await world.supervisor.reload_config()
    assert world.supervisor.config_groups() == world.config.groups


async def test_restart_reads_the_file_first_and_hands_it_to_the_next_run(world: World) -> None:
    """restart() reads the file before stopping anything; the run ends RESTARTING with it."""
    world.next_text = BASE.replace("priority = 300", "priority = 301")
    world.supervisor.restart()
    assert await world.finish() is SupervisorState.RESTARTING
    next_config = world.supervisor.next_config
    assert next_config is not None
    assert next_config.group("late").priority == 301  # type: ignore[union-attr]


async def test_restart_of_a_broken_file_is_refused_loudly(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """restart() of a file that does not load raises CantReread, logs CRIT, stops nothing."""
    running = world.spawner.children[:]
    with pytest.raises(control.CantReread, match=r"supervisord\.conf:3"):
        world.supervisor.restart()
    assert world.supervisor.supervisor_state() is SupervisorState.RUNNING
    assert world.supervisor.next_config is None
    assert all(child.exit_status is None for child in running)
    assert [r.levelno for r in caplog.records if "restart refused" in r.message] == [
        logging.CRITICAL
    ]
    world.supervisor.shutdown()
    assert await world.finish() is SupervisorState.SHUTDOWN


async def test_hup_with_a_broken_file_keeps_running(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A HUP whose file does not load is logged CRIT and the daemon keeps running."""
    running = world.spawner.children[:]
    world.supervisor.receive_signal(signal.SIGHUP)

    def refused() -> bool:
        return any(
            r.levelno == logging.CRITICAL and "restart refused" in r.message for r in caplog.records
        )

    for _ in range(100):  # the run task acts on the signal at its next wake-up
        if refused():
            break
        await asyncio.sleep(0)
    assert refused()
    assert world.supervisor.supervisor_state() is SupervisorState.RUNNING
    assert all(child.exit_status is None for child in running)
    world.supervisor.shutdown()
    assert await world.finish() is SupervisorState.SHUTDOWN


async def test_control_operations_reach_the_process(world: World) -> None:
    """start/stop/signal/stdin/remote-comm go to the named process or the bus."""
    supervisor = world.supervisor
    supervisor.start_process("manual", TEST_OPERATOR)
    await supervisor.wait_process_started("manual")
    child = world.spawner.latest
    supervisor.send_process_stdin("manual", b"hello")
    assert bytes(child.stdin) == b"hello"
    with capture_events(world.bus, ("REMOTE_COMMUNICATION",)) as events:
        supervisor.send_remote_comm_event("kind", "body")
    assert len(events) == 1
    supervisor.signal_process("manual", signal.SIGUSR1, TEST_OPERATOR)
    assert child.signals[0] == (signal.SIGUSR1, False)
    await supervisor.wait_process_stopped("manual")  # ExitingChild dies of it
    assert supervisor.identification() == "unit"
    assert supervisor.supervisor_state() is SupervisorState.RUNNING
    assert supervisor.main_logfile() is None
    with pytest.raises(control.NoFile):
        supervisor.clear_log()


async def test_snapshot_key_changes_exactly_when_a_snapshot_would(world: World) -> None:
    """snapshot_key holds while groups() answers the same; a transition or a new second moves it."""
    key = world.supervisor.snapshot_key()
    assert world.supervisor.snapshot_key() == key
    world.clock.set_wall(1_700_000_002.9)  # same whole second: descriptions are unchanged
    assert world.supervisor.snapshot_key() == key
    world.clock.set_wall(1_700_000_003.0)
    next_second = world.supervisor.snapshot_key()
    assert next_second != key
    world.supervisor.start_process("manual", TEST_OPERATOR)
    assert world.supervisor.snapshot_key() != next_second
    assert world.supervisor.groups()[4].processes[0].state is not ProcessState.STOPPED


@pytest.fixture
def yield_before_every_spawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every autostart slice ends at once: the pass yields to the loop before each spawn."""
    monkeypatch.setattr(supervisor_module, "AUTOSTART_SLICE", -1.0)
    monkeypatch.setattr(supervisor_module, "AUTOSTART_SHARE", 0.0)


async def running(w: World, name: str) -> None:
    """Until ``name`` publishes PROCESS_STATE_RUNNING (a dependent not yet spawned is no
    "start in progress" for ``wait_process_started``)."""
    seen = asyncio.Event()

    def on_running(event: Event) -> None:
        if getattr(event.data, "processname", None) == name:
            seen.set()

    subscription = w.bus.subscribe(on_running, name="test", types=("PROCESS_STATE_RUNNING",))
    try:
        await asyncio.wait_for(seen.wait(), timeout=5)
    finally:
        subscription.close()


@pytest.mark.usefixtures("yield_before_every_spawn")
async def test_a_yielding_autostart_pass_keeps_the_priority_order(tmp_path: Path) -> None:
    """With a yield before every spawn, groups still start by priority, each process once."""
    w = World(tmp_path)
    with capture_events(w.bus, ("PROCESS_STATE",)) as events:
        waiting = asyncio.create_task(running(w, "late"))
        await w.start()
        await waiting
        w.supervisor.shutdown()
        await w.finish()
    assert w.spawned() == ["listen", "early", "pool_0", "pool_1", "late"]
    starting = [e.data.processname for e in events if e.name == "PROCESS_STATE_STARTING"]  # type: ignore[attr-defined]
    assert starting == w.spawned()


@pytest.mark.usefixtures("yield_before_every_spawn")
async def test_sigterm_between_autostart_spawns_starts_no_more(tmp_path: Path) -> None:
    """A SIGTERM that arrives mid-pass ends it: later programs never spawn, earlier ones stop."""
    w = World(tmp_path)

    def term_after_early(event: Event) -> None:
        if getattr(event.data, "processname", None) == "early":
            w.supervisor.receive_signal(signal.SIGTERM)

    w.bus.subscribe(term_after_early, name="test", types=("PROCESS_STATE_RUNNING",))
    await w.start()
    assert await w.finish() is SupervisorState.SHUTDOWN
    assert w.spawned() == ["listen", "early"]
    assert all(child.exit_status is not None for child in w.spawner.children)


@pytest.mark.usefixtures("yield_before_every_spawn")
async def test_a_yielding_autostart_pass_keeps_depends_on(tmp_path: Path) -> None:
    """depends_on still holds a dependent until its dependency runs when the pass yields."""
    text = (
        "[supervisord]\nchildlogdir = %(here)s\nidentifier = unit\n\n"
        "[program:app]\ncommand = /bin/sleep 1000\npriority = 1\ndepends_on = db\n"
        "startsecs = 0\nstdout_logfile = NONE\nstderr_logfile = NONE\n\n"
        "[program:db]\ncommand = /bin/sleep 1000\npriority = 2\nstartsecs = 0\n"
        "stdout_logfile = NONE\nstderr_logfile = NONE\n"
    )
    w = World(tmp_path, text)
    waiting = asyncio.create_task(running(w, "app"))
    await w.start()
    await waiting
    w.supervisor.shutdown()
    await w.finish()
    assert w.spawned() == ["db", "app"]
