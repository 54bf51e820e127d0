"""The shipped fakes: FakeClock's timer wheel, capture_events, and RuntimeRig histories."""

from __future__ import annotations

import signal

import pytest

from supervisor_core import control
from supervisor_core.clock import Clock, SystemClock
from supervisor_core.config.model import AutoRestart, ProcessConfig
from supervisor_core.lifecycle import Cause, ProcessState
from supervisor_core.testing import FakeClock, RuntimeRig, capture_events

S = ProcessState


def config(**overrides: object) -> ProcessConfig:
    return ProcessConfig(
        name="web",
        program_name="web",
        group_name="web",
        command="/bin/web",
        **overrides,  # type: ignore[arg-type]
    )


def test_clocks_satisfy_the_protocol() -> None:
    """FakeClock and SystemClock are both Clocks; the system one reads sane values."""
    assert isinstance(FakeClock(), Clock)
    assert isinstance(SystemClock(), Clock)
    now = SystemClock().now()
    assert now.wall > 1_600_000_000
    assert now.monotonic > 0


def test_fake_clock_moves_only_when_told() -> None:
    """Both clocks advance together; set_wall steps the wall clock alone."""
    clock = FakeClock(monotonic=10.0, wall=1000.0)
    assert clock.now().monotonic == 10.0
    clock.advance(2.5)
    assert (clock.monotonic(), clock.wall()) == (12.5, 1002.5)
    clock.set_wall(5.0)
    assert (clock.monotonic(), clock.wall()) == (12.5, 5.0)
    with pytest.raises(ValueError, match="negative"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="back"):
        clock.advance_to(1.0)


def test_timers_fire_in_deadline_order_at_their_own_time() -> None:
    """advance fires due timers in deadline order with the clock set to each deadline."""
    clock = FakeClock(monotonic=0.0)
    fired: list[tuple[str, float]] = []
    clock.call_at(3.0, lambda: fired.append(("c", clock.monotonic())))
    clock.call_at(1.0, lambda: fired.append(("a", clock.monotonic())))
    clock.call_at(1.0, lambda: fired.append(("b", clock.monotonic())))
    cancelled = clock.call_later(2.0, lambda: fired.append(("x", clock.monotonic())))
    cancelled.cancel()
    assert clock.pending() == 3
    assert clock.advance(5.0) == 3
    assert fired == [("a", 1.0), ("b", 1.0), ("c", 3.0)]
    assert clock.monotonic() == 5.0
    assert clock.next_deadline() is None


def test_timers_scheduled_by_callbacks_fire_in_the_same_advance() -> None:
    """A callback that schedules a timer due before the target sees it fire too."""
    clock = FakeClock(monotonic=0.0)
    fired: list[float] = []

    def again() -> None:
        fired.append(clock.monotonic())
        if len(fired) < 3:
            clock.call_later(1.0, again)

    clock.call_later(1.0, again)
    clock.advance(10)
    assert fired == [1.0, 2.0, 3.0]


def test_jump_to_next_deadline() -> None:
    """jump_to_next_deadline moves exactly to the earliest deadline; False when idle."""
    clock = FakeClock(monotonic=0.0)
    hits: list[float] = []
    clock.call_at(7.0, lambda: hits.append(clock.monotonic()))
    assert clock.next_deadline() == 7.0
    assert clock.jump_to_next_deadline() is True
    assert hits == [7.0]
    assert clock.jump_to_next_deadline() is False


def test_capture_events_collects_only_inside_the_block() -> None:
    """capture_events subscribes for the with-block only and keeps the order."""
    rig = RuntimeRig(config())
    with capture_events(rig.bus) as captured:
        rig.start()
    rig.stop()
    assert captured.names() == ["PROCESS_STATE_STARTING"]
    assert captured.payloads() == ["processname:web groupname:web from_state:STOPPED tries:0"]
    assert len(captured) == 1
    assert captured[0].serial == 0
    assert [d.event_name for d in captured.data()] == ["PROCESS_STATE_STARTING"]
    assert rig.bus.snapshot().subscribers == ()


def test_rig_history_to_fatal_in_virtual_time() -> None:
    """A command that dies at once goes STARTING/BACKOFF four times, then FATAL, in 6 s."""
    rig = RuntimeRig(config(startretries=3))
    start = rig.clock.monotonic()
    with capture_events(rig.bus) as captured:
        rig.start()
        while rig.state is not S.FATAL:
            if rig.state is S.STARTING:
                rig.exit(1)
            else:
                assert rig.clock.jump_to_next_deadline()
    assert [e.data.to_state for e in captured] == [  # type: ignore[attr-defined]
        S.STARTING, S.BACKOFF, S.STARTING, S.BACKOFF,
        S.STARTING, S.BACKOFF, S.STARTING, S.BACKOFF, S.FATAL,
    ]  # fmt: skip
    assert [e.data.cause for e in captured] == [  # type: ignore[attr-defined]
        Cause.OPERATOR, Cause.EXIT, Cause.RETRY, Cause.EXIT,
        Cause.RETRY, Cause.EXIT, Cause.RETRY, Cause.EXIT, Cause.STARTRETRIES,
    ]  # fmt: skip
    assert rig.clock.monotonic() - start == 1 + 2 + 3
    assert captured.serials() == list(range(9))
    assert rig.clock.pending() == 0


def test_rig_startsecs_timer_makes_running() -> None:
    """The startsecs timer fires through the fake clock and the process is RUNNING."""
    rig = RuntimeRig(config(startsecs=3))
    rig.start()
    assert rig.record.pid == 100
    rig.clock.advance(2.9)
    assert rig.state is S.STARTING
    rig.clock.advance(0.1)
    assert rig.state is S.RUNNING


def test_rig_stop_escalates_to_sigkill_and_cancels_on_exit() -> None:
    """A stop sends stopsignal, SIGKILL after stopwaitsecs, and the exit cancels the timer."""
    rig = RuntimeRig(config(startsecs=0, stopwaitsecs=5, killasgroup=True))
    rig.start()
    rig.stop()
    rig.clock.advance(5)
    child = rig.child
    rig.exit(-signal.SIGKILL)
    assert child.signals == [(signal.SIGTERM, False), (signal.SIGKILL, True)]
    assert rig.state is S.STOPPED
    assert rig.clock.pending() == 0


def test_rig_spawn_failures_feed_spawn_failed() -> None:
    """A spawn the FakeSpawner fails becomes spawnerr, and the start is SPAWN_ERROR."""
    rig = RuntimeRig(config())
    rig.spawner.fail_next("can't find command '/bin/web'")
    with pytest.raises(control.SpawnFailed):
        rig.start()
    assert rig.state is S.BACKOFF
    assert rig.record.spawnerr == "can't find command '/bin/web'"


def test_rig_missing_command_is_no_file_before_any_transition() -> None:
    """A command the spawner reports missing is NO_FILE, and nothing changes state."""
    rig = RuntimeRig(config())
    rig.spawner.missing_commands.add("/bin/web")
    with capture_events(rig.bus) as captured, pytest.raises(control.NoFile):
        rig.start()
    assert rig.state is S.STOPPED
    assert len(captured) == 0


def test_rig_autorestart_respects_starts_allowed() -> None:
    """With starts_allowed=False (shutdown) an unexpected exit is not restarted."""
    rig = RuntimeRig(config(startsecs=0, autorestart=AutoRestart.TRUE))
    rig.start()
    rig.starts_allowed = False
    rig.exit(1)
    assert rig.state is S.EXITED
