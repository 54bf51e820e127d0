"""Restart damping: the backoff function as (history -> delay) tables, the start limit,
and the state machine's damped histories (virtual time, no sleeping)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from supervisor_core.clock import Instant
from supervisor_core.config.model import AutoRestart, ProcessConfig
from supervisor_core.damping import (
    BackoffPolicy,
    StartLimit,
    backoff_delay,
    jitter_rng,
    recent_starts,
    replay_delays,
    start_limit_reached,
    streak_after,
)
from supervisor_core.lifecycle import ProcessState
from supervisor_core.states import (
    Exited,
    ExitForensics,
    IllegalTransition,
    OperatorStart,
    OperatorStop,
    ProcessRecord,
    Publish,
    Spawn,
    Spawned,
    StartTimer,
    SystemStop,
    TimerFired,
    TimerKind,
    spawnerr_start_limit,
    step,
)
from supervisor_core.testing import TEST_OPERATOR

S = ProcessState
POLICY = BackoffPolicy(initial=1.0, factor=2.0, maximum=10.0, jitter=0.0, reset=60.0)


# --------------------------------------------------------------------------- backoff table


@pytest.mark.parametrize(
    ("runs", "delays"),
    [
        ([0.5], (1.0,)),
        ([0.5, 0.5, 0.5, 0.5], (1.0, 2.0, 4.0, 8.0)),
        ([0.5] * 7, (1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0)),  # capped at backoff_max
        ([0.5, 0.5, 61.0, 0.5], (1.0, 2.0, 1.0, 2.0)),  # a long run resets the sequence
        ([120.0, 120.0], (1.0, 1.0)),  # healthy crashes always restart after initial
        ([0.5, 60.0], (1.0, 1.0)),  # exactly backoff_reset counts as long
        ([0.5, None, 0.5], (1.0, 2.0, 4.0)),  # unknown durations count as short
    ],
)
def test_backoff_delays_follow_the_history(
    runs: list[float | None], delays: tuple[float, ...]
) -> None:
    """Each run's delay is initial * factor ** (short streak - 1), capped, reset by a long run."""
    assert replay_delays(POLICY, runs) == delays


def test_disabled_policy_never_delays() -> None:
    """backoff_initial=0 (the default) is supervisord's immediate restart."""
    assert not BackoffPolicy().enabled
    assert replay_delays(BackoffPolicy(), [0.1] * 5) == (0.0,) * 5


def test_huge_streaks_do_not_overflow() -> None:
    """A storm of a day (thousands of short runs) stays at backoff_max, no float overflow."""
    assert backoff_delay(POLICY, 100_000) == 10.0


@pytest.mark.parametrize("streak", [1, 2, 3, 4, 5, 9])
def test_jitter_stays_within_its_fraction(streak: int) -> None:
    """With backoff_jitter=j the delay lies in [d * (1 - j), d * (1 + j)] for every draw."""
    policy = BackoffPolicy(initial=1.0, factor=2.0, maximum=10.0, jitter=0.25, reset=60.0)
    base = backoff_delay(BackoffPolicy(initial=1.0, maximum=10.0), streak)
    rng = random.Random(7)
    delays = [backoff_delay(policy, streak, rng) for _ in range(500)]
    assert all(base * 0.75 <= d <= base * 1.25 for d in delays)
    assert max(delays) - min(delays) > base * 0.3  # it does spread


def test_jitter_is_deterministic_given_the_history() -> None:
    """The same name, streak and exit time give the same jittered delay; another name does not."""
    policy = BackoffPolicy(initial=1.0, maximum=10.0, jitter=0.5)
    first = backoff_delay(policy, 3, jitter_rng("web", 3, 1700000000.25))
    again = backoff_delay(policy, 3, jitter_rng("web", 3, 1700000000.25))
    other = backoff_delay(policy, 3, jitter_rng("api", 3, 1700000000.25))
    assert first == again
    assert first != other
    replayed = replay_delays(
        policy, [0.1, 0.1, 0.1], name="web", exit_wall_times=[1.0, 2.0, 1700000000.25]
    )
    assert replayed[2] == first


def test_streak_after() -> None:
    """A short run extends the streak, a long run starts a new one of 1."""
    assert streak_after(POLICY, 0, 0.1) == 1
    assert streak_after(POLICY, 4, 0.1) == 5
    assert streak_after(POLICY, 4, 600.0) == 1


# --------------------------------------------------------------------------- start limit


def test_start_limit_counts_starts_inside_the_interval() -> None:
    """burst starts within interval forbid the next; older starts fall out of the count."""
    limit = StartLimit(burst=3, interval=10.0)
    assert not start_limit_reached(limit, [1.0, 2.0], 3.0)
    assert start_limit_reached(limit, [1.0, 2.0, 3.0], 4.0)
    assert not start_limit_reached(limit, [1.0, 2.0, 3.0], 11.5)
    assert not start_limit_reached(StartLimit(), [1.0] * 100, 1.0)  # burst 0: off


def test_recent_starts_keeps_only_what_can_count() -> None:
    """The record keeps at most burst start times, none older than the interval."""
    limit = StartLimit(burst=2, interval=10.0)
    assert recent_starts(limit, (1.0, 2.0), 5.0) == (2.0, 5.0)
    assert recent_starts(limit, (1.0,), 20.0) == (20.0,)
    assert recent_starts(StartLimit(), (1.0,), 2.0) == ()


# --------------------------------------------------------------------------- the machine


def config(**overrides: Any) -> ProcessConfig:
    """A [program:web] with supervisord's defaults unless overridden."""
    return ProcessConfig(
        name="web", program_name="web", group_name="web", command="/bin/web", **overrides
    )


class Machine:
    """Steps a record through facts on a virtual time line, feeding Spawned for Spawn."""

    def __init__(self, cfg: ProcessConfig) -> None:
        self.record = ProcessRecord(config=cfg)
        self.now = 100.0
        self.pid = 0
        self.starts: list[float] = []
        self.changes: list[tuple[str, str]] = []

    def instant(self) -> Instant:
        return Instant(self.now, 1_700_000_000.0 + self.now)

    def feed(self, fact: Any, *, starts_allowed: bool = True) -> list[Any]:
        self.record, effects = step(
            self.record, fact, self.instant(), starts_allowed=starts_allowed
        )
        follow: list[Any] = []
        for effect in effects:
            if isinstance(effect, Publish):
                change = effect.event
                self.changes.append((change.from_state.name, change.to_state.name))
            if isinstance(effect, Spawn):
                self.pid += 1
                self.starts.append(self.now)
                follow.append(Spawned(pid=self.pid))
        for fact_ in follow:
            self.feed(fact_, starts_allowed=starts_allowed)
        return list(effects)

    def run_for(self, seconds: float) -> None:
        """Let the child live ``seconds`` (firing the startsecs timer on the way)."""
        timer = self.record.timer
        if (
            timer is not None
            and timer.kind is TimerKind.STARTSECS
            and timer.deadline <= self.now + seconds
        ):
            self.now = timer.deadline
            self.feed(TimerFired(kind=TimerKind.STARTSECS))
        self.now += max(0.0, seconds - (self.now - self.starts[-1]))

    def fire(self) -> float:
        """Jump to the pending timer and fire it; returns the wait."""
        timer = self.record.timer
        assert timer is not None
        waited = timer.deadline - self.now
        self.now = timer.deadline
        self.feed(TimerFired(kind=timer.kind))
        return waited


def test_default_config_restarts_at_once_forever() -> None:
    """Without the new options an exit from RUNNING restarts in the same step, endlessly."""
    machine = Machine(config(autorestart=AutoRestart.TRUE))
    machine.feed(OperatorStart(requester=TEST_OPERATOR))
    for _ in range(50):
        machine.run_for(2.0)
        machine.feed(Exited(returncode=1))
        assert machine.record.state is S.STARTING
        assert machine.record.timer is not None
        assert machine.record.timer.kind is TimerKind.STARTSECS
    assert len(machine.starts) == 51


def test_backoff_delays_restarts_after_running_exits() -> None:
    """EXITED waits initial, initial*factor, ... (capped) before each automatic restart."""
    machine = Machine(
        config(backoff_initial=1.0, backoff_factor=2.0, backoff_max=5.0, backoff_reset=30.0)
    )
    machine.feed(OperatorStart(requester=TEST_OPERATOR))
    waits = []
    for _ in range(5):
        machine.run_for(1.5)
        assert machine.record.state is S.RUNNING
        machine.feed(Exited(returncode=1))
        assert machine.record.state is S.EXITED
        waits.append(machine.fire())
        assert machine.record.state is S.STARTING
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0]
    # A long healthy run resets the sequence to backoff_initial.
    machine.run_for(40.0)
    machine.feed(Exited(returncode=1))
    assert machine.fire() == 1.0


def test_backoff_applies_to_failed_starts_too() -> None:
    """With backoff enabled, BACKOFF retries follow the exponential sequence, not 1, 2, 3 s."""
    machine = Machine(config(backoff_initial=0.5, backoff_factor=3.0, startretries=5))
    machine.feed(OperatorStart(requester=TEST_OPERATOR))
    waits = []
    for _ in range(3):
        machine.feed(Exited(returncode=1))  # before startsecs: a failed start
        assert machine.record.state is S.BACKOFF
        waits.append(machine.fire())
    assert waits == [0.5, 1.5, 4.5]


def test_stop_cancels_a_pending_damped_restart() -> None:
    """Stopping EXITED with a restart pending goes to STOPPED; without one it is illegal."""
    machine = Machine(config(backoff_initial=5.0))
    machine.feed(OperatorStart(requester=TEST_OPERATOR))
    machine.run_for(2.0)
    machine.feed(Exited(returncode=1))
    effects = machine.feed(OperatorStop(requester=TEST_OPERATOR))
    assert machine.record.state is S.STOPPED
    assert machine.record.timer is None
    assert machine.changes[-1] == ("EXITED", "STOPPED")
    assert any(type(e).__name__ == "CancelTimer" for e in effects)
    plain = Machine(config(autorestart=AutoRestart.FALSE))
    plain.feed(OperatorStart(requester=TEST_OPERATOR))
    plain.run_for(2.0)
    plain.feed(Exited(returncode=1))
    with pytest.raises(IllegalTransition):
        plain.feed(OperatorStop(requester=TEST_OPERATOR))


def test_shutdown_cancels_a_pending_damped_restart() -> None:
    """SystemStop in EXITED cancels the restart timer; a stale fire then changes nothing."""
    machine = Machine(config(backoff_initial=5.0))
    machine.feed(OperatorStart(requester=TEST_OPERATOR))
    machine.run_for(2.0)
    machine.feed(Exited(returncode=1))
    machine.feed(SystemStop(), starts_allowed=False)
    assert machine.record.timer is None
    assert machine.feed(TimerFired(kind=TimerKind.RESTART)) == []
    assert machine.record.state is S.EXITED


def test_restart_timer_during_shutdown_does_not_start() -> None:
    """A damped restart that comes due while starts are not allowed is dropped."""
    machine = Machine(config(backoff_initial=1.0))
    machine.feed(OperatorStart(requester=TEST_OPERATOR))
    machine.run_for(2.0)
    machine.feed(Exited(returncode=1))
    machine.now += 1.0
    machine.feed(TimerFired(kind=TimerKind.RESTART), starts_allowed=False)
    assert machine.record.state is S.EXITED
    assert machine.record.timer is None


def test_start_limit_sends_the_process_fatal_after_burst_starts() -> None:
    """startlimit_burst=3: three starts, then FATAL with a spawnerr naming the limit."""
    machine = Machine(
        config(autorestart=AutoRestart.TRUE, startlimit_burst=3, startlimit_interval=60.0)
    )
    machine.feed(OperatorStart(requester=TEST_OPERATOR))
    for _ in range(3):
        machine.run_for(2.0)
        machine.feed(Exited(returncode=1))
    assert len(machine.starts) == 3
    assert machine.record.state is S.FATAL
    assert machine.changes[-2:] == [("RUNNING", "EXITED"), ("EXITED", "FATAL")]
    limit_text = spawnerr_start_limit(_limit(3, 60.0))
    assert machine.record.spawnerr == limit_text
    assert "startlimit_burst" in limit_text
    # An operator start is a fresh budget.
    machine.feed(OperatorStart(requester=TEST_OPERATOR))
    assert machine.record.state is S.STARTING
    assert machine.record.start_times == (machine.now,)


def _limit(burst: int, interval: float) -> StartLimit:
    return StartLimit(burst=burst, interval=interval)


def test_start_limit_spares_slow_restarts() -> None:
    """Starts spread wider than startlimit_interval never trip the limit."""
    machine = Machine(
        config(autorestart=AutoRestart.TRUE, startlimit_burst=2, startlimit_interval=5.0)
    )
    machine.feed(OperatorStart(requester=TEST_OPERATOR))
    for _ in range(10):
        machine.run_for(6.0)
        machine.feed(Exited(returncode=1))
    assert machine.record.state is S.STARTING
    assert len(machine.starts) == 11


def test_start_limit_applies_to_backoff_retries() -> None:
    """A BACKOFF retry that would exceed the limit ends FATAL with the limit's spawnerr."""
    machine = Machine(config(startretries=10, startlimit_burst=2, startlimit_interval=60.0))
    machine.feed(OperatorStart(requester=TEST_OPERATOR))
    machine.feed(Exited(returncode=1))
    machine.fire()
    machine.feed(Exited(returncode=1))
    machine.fire()
    assert machine.record.state is S.FATAL
    assert machine.changes[-1] == ("BACKOFF", "FATAL")
    assert machine.record.spawnerr == spawnerr_start_limit(_limit(2, 60.0))


def test_exit_forensics_reach_the_state_change() -> None:
    """The Exited fact's forensics travel unchanged into the EXITED change."""
    machine = Machine(config(autorestart=AutoRestart.FALSE))
    machine.feed(OperatorStart(requester=TEST_OPERATOR))
    machine.run_for(2.0)
    forensics = ExitForensics(core_dumped=True, oom_killed=False, stderr_tail=("boom",))
    effects = machine.feed(Exited(returncode=-6, forensics=forensics))
    published = [e.event for e in effects if isinstance(e, Publish)]
    exited = published[-1]
    assert (exited.core_dumped, exited.oom_killed, exited.stderr_tail) == (True, False, ("boom",))
    timers = [e for e in effects if isinstance(e, StartTimer)]
    assert timers == []
