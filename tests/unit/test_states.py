"""The pure process state machine: scripted histories, facts in, transitions and effects out.

Each row of ``ROWS`` is one row of the transition table: a setup history that reaches
the state, one fact, the effects it must produce (rendered compactly, see ``render``)
and the state it must leave the record in. Gotchas of supervisord 4.3 get their own
tests below the table.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

import pytest

from supervisor_core.clock import Instant
from supervisor_core.config.model import AutoRestart, ProcessConfig, ReadyCheck, ReadyKind
from supervisor_core.events import ProcessStateEvent, listener_payload
from supervisor_core.lifecycle import (
    RUNNING_STATES,
    SIGNALLABLE_STATES,
    STOPPED_STATES,
    Cause,
    ProcessState,
    Requester,
)
from supervisor_core.signals import describe_returncode
from supervisor_core.states import (
    SPAWNERR_TOO_QUICKLY,
    TRANSITIONS,
    AlreadyStarted,
    AutoStart,
    CancelTimer,
    Effect,
    Exited,
    Fact,
    IllegalTransition,
    Log,
    NotRunning,
    OperatorSignal,
    OperatorStart,
    OperatorStop,
    PendingTimer,
    ProcessRecord,
    Publish,
    Ready,
    SendSignal,
    SignalFailed,
    Spawn,
    Spawned,
    SpawnFailed,
    StartProbe,
    StartTimer,
    StateUnknown,
    StatusText,
    StillStopping,
    StopProbe,
    SystemStop,
    TimerFired,
    TimerKind,
    WatchdogPing,
    step,
    supervisord_exitstatus,
)

S = ProcessState
OP = Requester(cause=Cause.OPERATOR, origin="test")
START_OP = OperatorStart(requester=OP)
STOP_OP = OperatorStop(requester=OP)
T0 = 1000.0


def signal_op(sig: signal.Signals) -> OperatorSignal:
    """An operator's ``signalProcess``."""
    return OperatorSignal(signal=sig, requester=OP)


WALL0 = 1_700_000_000.0


def config(**overrides: Any) -> ProcessConfig:
    """A [program:web] with supervisord's defaults unless overridden."""
    return ProcessConfig(
        name="web", program_name="web", group_name="web", command="/bin/web", **overrides
    )


@dataclass
class Script:
    """Drives ``step`` through a history on a virtual time line."""

    config: ProcessConfig
    now: float = T0
    record: ProcessRecord = field(init=False)
    last: tuple[Effect, ...] = ()
    all_effects: list[Effect] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.record = ProcessRecord(config=self.config)

    def instant(self) -> Instant:
        return Instant(self.now, WALL0 + (self.now - T0))

    def wait(self, seconds: float) -> Script:
        self.now += seconds
        return self

    def __call__(self, fact: Fact, *, starts_allowed: bool = True) -> tuple[Effect, ...]:
        self.record, self.last = step(
            self.record, fact, self.instant(), starts_allowed=starts_allowed
        )
        self.all_effects.extend(self.last)
        return self.last

    def changes(self) -> list[ProcessStateEvent]:
        return [e.event for e in self.all_effects if isinstance(e, Publish)]


def render(effects: tuple[Effect, ...], now: float) -> list[str]:
    """Effects as short strings; logs are left out (they are not behaviour)."""
    out: list[str] = []
    for effect in effects:
        if isinstance(effect, Publish):
            event = effect.event
            out.append(f"{event.from_state.name}->{event.to_state.name} {event.cause.value}")
        elif isinstance(effect, Spawn):
            out.append("spawn")
        elif isinstance(effect, SendSignal):
            target = "group" if effect.to_group else "pid"
            out.append(f"{effect.signal.name} {target} {effect.pid}")
        elif isinstance(effect, StartTimer):
            out.append(f"timer {effect.kind.value} +{effect.deadline - now:g}")
        elif isinstance(effect, CancelTimer):
            out.append(f"cancel {effect.kind.value}")
        elif isinstance(effect, StartProbe):
            out.append("probe")
        elif isinstance(effect, StopProbe):
            out.append("stop probe")
        else:
            assert isinstance(effect, Log)
    return out


# Setup histories (dt seconds before each fact) that reach each state.
START = [(0.0, START_OP)]
STARTING = [*START, (0.0, Spawned(pid=42))]
RUNNING = [*STARTING, (1.0, TimerFired(kind=TimerKind.STARTSECS))]
BACKOFF = [*STARTING, (0.2, Exited(returncode=1))]
STOPPING = [*RUNNING, (5.0, STOP_OP)]
EXITED = [*RUNNING, (5.0, Exited(returncode=0))]  # expected: no autorestart by default
FATAL = [*START, (0.0, SpawnFailed(error="boom"))] + [
    step_
    for n in (1, 2, 3)
    for step_ in ((float(n), TimerFired(kind=TimerKind.BACKOFF)), (0.0, SpawnFailed(error="boom")))
]
UNKNOWN = [*STOPPING, (0.0, SignalFailed(error="EPERM"))]

# fmt: off
ROWS: list[
    tuple[str, dict[str, Any], list[tuple[float, Fact | None]], Fact, list[str], ProcessState]
] = [
    # ---- starting
    ("stopped+start", {}, [], START_OP, ["STOPPED->STARTING operator", "spawn"], S.STARTING),
    ("exited+start", {}, EXITED, START_OP, ["EXITED->STARTING operator", "spawn"], S.STARTING),
    ("fatal+start", {}, FATAL, START_OP, ["FATAL->STARTING operator", "spawn"], S.STARTING),
    ("stopped+autostart", {}, [], AutoStart(), ["STOPPED->STARTING autostart", "spawn"],
     S.STARTING),
    ("autostart=false", {"autostart": False}, [], AutoStart(), [], S.STOPPED),
    ("autostart after a run", {}, [*STOPPING, (0, Exited(returncode=-15))], AutoStart(), [],
     S.STOPPED),
    ("autostart while running", {}, RUNNING, AutoStart(), [], S.RUNNING),
    ("spawned", {}, START, Spawned(pid=7), ["timer startsecs +1"], S.STARTING),
    ("spawned startsecs=5", {"startsecs": 5}, START, Spawned(pid=7), ["timer startsecs +5"],
     S.STARTING),
    ("spawned startsecs=0", {"startsecs": 0}, START, Spawned(pid=7),
     ["STARTING->RUNNING startsecs"],
     S.RUNNING),
    ("spawn failed", {}, START, SpawnFailed(error="ENOENT"),
     ["STARTING->BACKOFF spawn_error", "timer backoff +1"], S.BACKOFF),
    ("startsecs passed", {}, STARTING, TimerFired(kind=TimerKind.STARTSECS),
     ["STARTING->RUNNING startsecs"], S.RUNNING),
    ("exit too quickly", {}, STARTING, Exited(returncode=0),
     ["cancel startsecs", "STARTING->BACKOFF exit", "timer backoff +1"], S.BACKOFF),
    ("exit after startsecs, timer not yet delivered", {}, [*STARTING, (1.5, None)],
     Exited(returncode=3),
     ["cancel startsecs", "STARTING->RUNNING startsecs", "RUNNING->EXITED exit",
      "EXITED->STARTING autorestart", "spawn"],
     S.STARTING),
    ("backoff delay passed", {}, BACKOFF, TimerFired(kind=TimerKind.BACKOFF),
     ["BACKOFF->STARTING retry", "spawn"], S.STARTING),
    ("backoff retries whatever autorestart says", {"autorestart": AutoRestart.FALSE}, BACKOFF,
     TimerFired(kind=TimerKind.BACKOFF), ["BACKOFF->STARTING retry", "spawn"], S.STARTING),
    # ---- exits from RUNNING: autorestart x expected
    ("exit expected, autorestart=unexpected", {}, RUNNING, Exited(returncode=0),
     ["RUNNING->EXITED exit"], S.EXITED),
    ("exit unexpected, autorestart=unexpected", {}, RUNNING, Exited(returncode=1),
     ["RUNNING->EXITED exit", "EXITED->STARTING autorestart", "spawn"], S.STARTING),
    ("exit expected, autorestart=true", {"autorestart": AutoRestart.TRUE}, RUNNING,
     Exited(returncode=0), ["RUNNING->EXITED exit", "EXITED->STARTING autorestart", "spawn"],
     S.STARTING),
    ("exit unexpected, autorestart=true", {"autorestart": AutoRestart.TRUE}, RUNNING,
     Exited(returncode=1), ["RUNNING->EXITED exit", "EXITED->STARTING autorestart", "spawn"],
     S.STARTING),
    ("exit expected, autorestart=false", {"autorestart": AutoRestart.FALSE}, RUNNING,
     Exited(returncode=0), ["RUNNING->EXITED exit"], S.EXITED),
    ("exit unexpected, autorestart=false", {"autorestart": AutoRestart.FALSE}, RUNNING,
     Exited(returncode=1), ["RUNNING->EXITED exit"], S.EXITED),
    ("killed by a signal is unexpected", {}, RUNNING, Exited(returncode=-9),
     ["RUNNING->EXITED exit", "EXITED->STARTING autorestart", "spawn"], S.STARTING),
    ("exitcodes=0,2 makes 2 expected", {"exitcodes": frozenset({0, 2})}, RUNNING,
     Exited(returncode=2), ["RUNNING->EXITED exit"], S.EXITED),
    ("exitcodes=2 makes 0 unexpected", {"exitcodes": frozenset({2})}, RUNNING,
     Exited(returncode=0), ["RUNNING->EXITED exit", "EXITED->STARTING autorestart", "spawn"],
     S.STARTING),
    # ---- stopping
    ("stop running", {}, RUNNING, STOP_OP,
     ["RUNNING->STOPPING operator", "SIGTERM pid 42", "timer stopwaitsecs +10"], S.STOPPING),
    ("stop starting", {}, STARTING, STOP_OP,
     ["cancel startsecs", "STARTING->STOPPING operator", "SIGTERM pid 42",
      "timer stopwaitsecs +10"],
     S.STOPPING),
    ("stop with stopsignal and stopasgroup",
     {"stopsignal": signal.SIGINT, "stopasgroup": True, "stopwaitsecs": 3}, RUNNING,
     STOP_OP, ["RUNNING->STOPPING operator", "SIGINT group 42", "timer stopwaitsecs +3"],
     S.STOPPING),
    ("stop backoff", {}, BACKOFF, STOP_OP, ["cancel backoff", "BACKOFF->STOPPED operator"],
     S.STOPPED),
    ("exit while stopping", {}, STOPPING, Exited(returncode=-15),
     ["cancel stopwaitsecs", "STOPPING->STOPPED operator"], S.STOPPED),
    ("stopwaitsecs passed: SIGKILL", {}, STOPPING, TimerFired(kind=TimerKind.STOPWAITSECS),
     ["SIGKILL pid 42", "timer stopwaitsecs +10"], S.STOPPING),
    ("stopwaitsecs passed: SIGKILL to the group with killasgroup",
     {"killasgroup": True, "stopasgroup": True}, STOPPING,
     TimerFired(kind=TimerKind.STOPWAITSECS), ["SIGKILL group 42", "timer stopwaitsecs +10"],
     S.STOPPING),
    ("killasgroup alone does not signal the group on stop", {"killasgroup": True}, RUNNING,
     STOP_OP, ["RUNNING->STOPPING operator", "SIGTERM pid 42", "timer stopwaitsecs +10"],
     S.STOPPING),
    # ---- shutdown
    ("system stop running", {}, RUNNING, SystemStop(),
     ["RUNNING->STOPPING shutdown", "SIGTERM pid 42", "timer stopwaitsecs +10"], S.STOPPING),
    ("system stop starting", {}, STARTING, SystemStop(),
     ["cancel startsecs", "STARTING->STOPPING shutdown", "SIGTERM pid 42",
      "timer stopwaitsecs +10"],
     S.STOPPING),
    ("system stop backoff gives up", {}, BACKOFF, SystemStop(),
     ["cancel backoff", "BACKOFF->FATAL shutdown"], S.FATAL),
    ("system stop stopped", {}, [], SystemStop(), [], S.STOPPED),
    ("system stop exited", {}, EXITED, SystemStop(), [], S.EXITED),
    ("system stop fatal", {}, FATAL, SystemStop(), [], S.FATAL),
    ("system stop stopping", {}, STOPPING, SystemStop(), [], S.STOPPING),
    ("system stop unknown", {}, UNKNOWN, SystemStop(), [], S.UNKNOWN),
    # ---- signals
    ("signal running", {}, RUNNING, signal_op(signal.SIGHUP), ["SIGHUP pid 42"],
     S.RUNNING),
    ("signal starting", {}, STARTING, signal_op(signal.SIGUSR1), ["SIGUSR1 pid 42"],
     S.STARTING),
    ("signal stopping (never the group)", {"stopasgroup": True}, STOPPING,
     signal_op(signal.SIGUSR2), ["SIGUSR2 pid 42"], S.STOPPING),
    ("kill fails while stopping", {}, STOPPING, SignalFailed(error="EPERM"),
     ["cancel stopwaitsecs", "STOPPING->UNKNOWN signal_error"], S.UNKNOWN),
    ("signal fails while running", {}, RUNNING, SignalFailed(error="EPERM"),
     ["RUNNING->UNKNOWN signal_error"], S.UNKNOWN),
    ("signal fails while starting", {}, STARTING, SignalFailed(error="EPERM"),
     ["cancel startsecs", "STARTING->UNKNOWN signal_error"], S.UNKNOWN),
    ("exit from unknown after a stop", {}, UNKNOWN, Exited(returncode=0),
     ["UNKNOWN->STOPPED operator"], S.STOPPED),
    ("exit from unknown, no stop asked", {}, [*RUNNING, (1, SignalFailed(error="EPERM"))],
     Exited(returncode=1), ["UNKNOWN->EXITED exit"], S.EXITED),
]
# fmt: on


@pytest.mark.parametrize(
    ("overrides", "setup", "fact", "expected", "final"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_transition_table_row(
    overrides: dict[str, Any],
    setup: list[tuple[float, Fact | None]],
    fact: Fact,
    expected: list[str],
    final: ProcessState,
) -> None:
    """Each (state, fact) row produces exactly supervisord's transitions and effects."""
    script = Script(config(**overrides))
    for dt, setup_fact in setup:
        script.wait(dt)
        if setup_fact is not None:
            script(setup_fact)
    effects = script(fact)
    assert render(effects, script.now) == expected
    assert script.record.state is final


def test_every_table_row_has_a_scripted_test() -> None:
    """Every (state, fact type) pair of TRANSITIONS is exercised by a row above."""
    covered: set[tuple[ProcessState, type[Any]]] = set()
    for _, overrides, setup, fact, _, _ in ROWS:
        script = Script(config(**overrides))
        for dt, setup_fact in setup:
            script.wait(dt)
            if setup_fact is not None:
                script(setup_fact)
        covered.add((script.record.state, type(fact)))
    missing = {(s.name, f.__name__) for (s, f) in TRANSITIONS if (s, f) not in covered}
    # AutoStart/SystemStop are broadcast no-ops in the other states; one row each shows it.
    missing -= {(s.name, "AutoStart") for s in ProcessState}
    missing -= {(s.name, "SystemStop") for s in ProcessState}
    assert missing == set()


FACTS: list[Fact] = [
    START_OP,
    STOP_OP,
    signal_op(signal.SIGHUP),
    Spawned(pid=9),
    SpawnFailed(error="x"),
    Exited(returncode=0),
    SignalFailed(error="x"),
]


ILLEGAL = [
    pytest.param(state, fact, id=f"{state.name}+{type(fact).__name__}")
    for state in ProcessState
    for fact in FACTS
    if (state, type(fact)) not in TRANSITIONS
]


@pytest.mark.parametrize(("state", "fact"), ILLEGAL)
def test_pairs_outside_the_table_raise_illegal_transition(state: ProcessState, fact: Fact) -> None:
    """A fact with no row for the state raises IllegalTransition naming process, state, fact."""
    record = ProcessRecord(config=config(), state=state, pid=0)
    with pytest.raises(IllegalTransition) as caught:
        step(record, fact, Instant(T0, WALL0))
    assert caught.value.process == "web"
    assert caught.value.state is state
    assert caught.value.fact == fact
    assert state.name in str(caught.value)


def test_start_request_faults_follow_supervisord_state_groups() -> None:
    """OperatorStart is refused exactly in RUNNING_STATES, STOPPING and UNKNOWN."""
    refused = {s for s in ProcessState if (s, OperatorStart) not in TRANSITIONS}
    assert refused == set(RUNNING_STATES) | {S.STOPPING, S.UNKNOWN}
    stoppable = {s for s in ProcessState if (s, OperatorStop) in TRANSITIONS}
    assert stoppable == set(RUNNING_STATES)
    signallable = {s for s in ProcessState if (s, OperatorSignal) in TRANSITIONS}
    assert signallable == set(SIGNALLABLE_STATES)
    assert S.STOPPED in STOPPED_STATES


@pytest.mark.parametrize("state", [S.STARTING, S.RUNNING], ids=lambda s: s.name)
def test_stop_or_signal_without_a_pid_is_illegal(state: ProcessState) -> None:
    """Signalling before Spawned would hit pid 0 (our own group), so it is refused."""
    record = ProcessRecord(config=config(), state=state, pid=0, laststart=Instant(T0, WALL0))
    for fact in (STOP_OP, signal_op(signal.SIGHUP)):
        with pytest.raises(IllegalTransition):
            step(record, fact, Instant(T0, WALL0))


def test_second_spawned_is_illegal() -> None:
    """A Spawned or SpawnFailed for a process that already has a child is a runtime bug."""
    script = Script(config())
    script(START_OP)
    script(Spawned(pid=5))
    for fact in (Spawned(pid=6), SpawnFailed(error="x")):
        with pytest.raises(IllegalTransition):
            script(fact)


# --------------------------------------------------------------------------- gotchas


@pytest.mark.parametrize("startretries", [0, 1, 3, 5])
def test_fatal_after_exactly_one_plus_startretries_failed_starts(startretries: int) -> None:
    """The process gives up on the (1 + startretries)-th failed start, not before."""
    script = Script(config(startretries=startretries))
    script(START_OP)
    failures = 0
    while script.record.state is not S.FATAL:
        assert script.record.state is S.STARTING
        script(Spawned(pid=100 + failures))
        script.wait(0.1)
        script(Exited(returncode=1))
        failures += 1
        if script.record.state is S.BACKOFF:
            assert script.record.timer is not None
            script.wait(script.record.timer.deadline - script.now)
            script(TimerFired(kind=TimerKind.BACKOFF))
    assert failures == 1 + startretries
    assert script.record.backoff == 0  # give_up resets the counter
    assert script.record.system_stop is True
    assert [(c.from_state, c.to_state) for c in script.changes()][-2:] == [
        (S.STARTING, S.BACKOFF),
        (S.BACKOFF, S.FATAL),
    ]


def test_backoff_delay_is_linear_in_the_number_of_tries() -> None:
    """The BACKOFF delay is 1 s, then 2 s, then 3 s (supervisord's now + backoff)."""
    script = Script(config(startretries=3))
    script(START_OP)
    delays = []
    for _ in range(3):
        effects = script(SpawnFailed(error="ENOENT"))
        timers = [e for e in effects if isinstance(e, StartTimer)]
        assert len(timers) == 1
        delays.append(timers[0].deadline - script.now)
        script.wait(delays[-1])
        script(TimerFired(kind=TimerKind.BACKOFF))
    assert delays == [1, 2, 3]


def test_tries_in_starting_and_backoff_payloads() -> None:
    """STARTING carries the tries so far, BACKOFF the tries including this failure."""
    script = Script(config(startretries=2))
    script(START_OP)
    script(SpawnFailed(error="ENOENT"))
    script.wait(1)
    script(TimerFired(kind=TimerKind.BACKOFF))
    script(Spawned(pid=10))
    script.wait(0.5)
    script(Exited(returncode=2))
    script.wait(2)
    script(TimerFired(kind=TimerKind.BACKOFF))
    script(SpawnFailed(error="ENOENT"))
    payloads = [listener_payload(c) for c in script.changes()]
    assert payloads == [
        "processname:web groupname:web from_state:STOPPED tries:0",
        "processname:web groupname:web from_state:STARTING tries:1",
        "processname:web groupname:web from_state:BACKOFF tries:1",
        "processname:web groupname:web from_state:STARTING tries:2",
        "processname:web groupname:web from_state:BACKOFF tries:2",
        "processname:web groupname:web from_state:STARTING tries:3",
        "processname:web groupname:web from_state:BACKOFF",
    ]


def test_startsecs_zero_never_counts_as_a_failed_start() -> None:
    """With startsecs=0 an instant exit is RUNNING -> EXITED, never BACKOFF or FATAL."""
    script = Script(config(startsecs=0, startretries=0, autorestart=AutoRestart.TRUE))
    script(START_OP)
    for pid in range(5):
        script(Spawned(pid=200 + pid))
        assert script.record.state is S.RUNNING
        script(Exited(returncode=1))
        assert script.record.state is S.STARTING
        assert script.record.backoff == 0
    assert S.BACKOFF not in {c.to_state for c in script.changes()}


def test_running_resets_the_backoff_counter() -> None:
    """Reaching RUNNING resets the tries, so later failures get the full retry budget."""
    script = Script(config(startretries=1))
    script(START_OP)
    script(SpawnFailed(error="x"))
    assert script.record.backoff == 1
    script.wait(1)(TimerFired(kind=TimerKind.BACKOFF))
    script(Spawned(pid=3))
    script.wait(1)(TimerFired(kind=TimerKind.STARTSECS))
    assert script.record.backoff == 0
    script.wait(10)(Exited(returncode=1))  # unexpected: restart
    script(SpawnFailed(error="x"))
    assert script.record.state is S.BACKOFF  # one failure again, not FATAL


def test_stop_in_backoff_keeps_the_tries_like_supervisord() -> None:
    """supervisord quirk: BACKOFF -> STOPPED keeps the counter, so a start reports it."""
    script = Script(config(startretries=3))
    script(START_OP)
    script(SpawnFailed(error="x"))
    script.wait(1)(TimerFired(kind=TimerKind.BACKOFF))
    script(SpawnFailed(error="x"))
    effects = script(STOP_OP)
    (change,) = [e.event for e in effects if isinstance(e, Publish)]
    assert (change.from_state, change.to_state, change.pid) == (S.BACKOFF, S.STOPPED, 0)
    assert script.record.administrative_stop is True
    effects = script(START_OP)
    (change,) = [e.event for e in effects if isinstance(e, Publish)]
    assert change.tries == 2


def test_child_that_survives_sigkill_stays_stopping() -> None:
    """A child that ignores SIGKILL stays STOPPING and gets SIGKILL every stopwaitsecs."""
    script = Script(config(stopwaitsecs=4))
    for dt, fact in RUNNING:
        script.wait(dt)(fact)
    script(STOP_OP)
    kills = []
    for _ in range(3):
        script.wait(4)
        effects = script(TimerFired(kind=TimerKind.STOPWAITSECS))
        kills += [e.signal for e in effects if isinstance(e, SendSignal)]
        assert script.record.state is S.STOPPING
        assert not any(isinstance(e, Publish) for e in effects)
        assert script.record.timer == PendingTimer(
            kind=TimerKind.STOPWAITSECS, deadline=script.now + 4
        )
    assert kills == [signal.SIGKILL] * 3
    script(Exited(returncode=-9))
    assert script.record.state is S.STOPPED


def test_stale_timer_is_ignored() -> None:
    """A TimerFired for a timer the record no longer holds changes nothing."""
    script = Script(config())
    for dt, fact in RUNNING:
        script.wait(dt)(fact)
    before = script.record
    for kind in TimerKind:
        assert script(TimerFired(kind=kind)) == ()
    assert script.record is before


def test_backoff_timer_during_shutdown_does_not_restart() -> None:
    """With starts_allowed=False a BACKOFF retry is suppressed (supervisord's mood check)."""
    script = Script(config())
    for dt, fact in BACKOFF:
        script.wait(dt)(fact)
    script.wait(1)
    assert script(TimerFired(kind=TimerKind.BACKOFF), starts_allowed=False) == ()
    assert script.record.state is S.BACKOFF
    assert script.record.timer is None


def test_autorestart_suppressed_during_shutdown() -> None:
    """An unexpected exit while shutting down stays EXITED."""
    script = Script(config(autorestart=AutoRestart.TRUE))
    for dt, fact in RUNNING:
        script.wait(dt)(fact)
    script(Exited(returncode=1), starts_allowed=False)
    assert script.record.state is S.EXITED
    assert script(AutoStart(), starts_allowed=False) == ()


def test_exit_facts_recorded_like_getprocessinfo_needs() -> None:
    """An exit records laststart/laststop on both clocks, exitstatus, spawnerr, pid 0."""
    script = Script(config(autorestart=AutoRestart.FALSE))
    script(START_OP)
    start = script.instant()
    script(Spawned(pid=77))
    script.wait(1)(TimerFired(kind=TimerKind.STARTSECS))
    script.wait(60)
    effects = script(Exited(returncode=-11))
    record = script.record
    assert record.laststart == start
    assert record.laststop == script.instant()
    assert record.laststop.wall - record.laststart.wall == 61
    assert (record.pid, record.exitstatus, record.returncode) == (0, -1, -11)
    assert record.spawnerr == "Bad exit code -1"
    assert record.expected is False
    (change,) = [e.event for e in effects if isinstance(e, Publish)]
    assert (change.pid, change.returncode, change.run_duration) == (77, -11, 61)
    assert change.expected is False


def test_too_quick_exit_clears_exitstatus_and_sets_spawnerr() -> None:
    """A failed start records supervisord's spawnerr and no exitstatus, but keeps the code."""
    script = Script(config())
    script(START_OP)
    script(Spawned(pid=5))
    script.wait(0.25)
    effects = script(Exited(returncode=3))
    assert script.record.exitstatus is None
    assert script.record.returncode == 3
    assert script.record.spawnerr == SPAWNERR_TOO_QUICKLY
    (change,) = [e.event for e in effects if isinstance(e, Publish)]
    assert (change.pid, change.returncode, change.run_duration) == (5, 3, 0.25)


def test_start_clears_previous_run_facts() -> None:
    """A new start clears spawnerr, exitstatus and the stop flags, as spawn() does."""
    script = Script(config(autorestart=AutoRestart.FALSE))
    for dt, fact in STOPPING:
        script.wait(dt)(fact)
    script(Exited(returncode=1))
    assert script.record.exitstatus == 1
    assert script.record.administrative_stop is True
    script(START_OP)
    record = script.record
    assert (record.spawnerr, record.exitstatus, record.administrative_stop) == (None, None, False)
    assert record.killing is False


def test_spawnerr_from_spawn_failure_and_cleared_on_spawn() -> None:
    """SpawnFailed's error becomes spawnerr; a later Spawned clears it."""
    script = Script(config())
    script(START_OP)
    script(SpawnFailed(error="can't find command '/bin/web'"))
    assert script.record.spawnerr == "can't find command '/bin/web'"
    script.wait(1)(TimerFired(kind=TimerKind.BACKOFF))
    assert script.record.spawnerr is None
    script(Spawned(pid=9))
    assert script.record.spawnerr is None


def test_stopped_exit_status_and_expectation() -> None:
    """A stop's exit records supervisord's exitstatus (-1 for a signal) and expectation."""
    script = Script(config())
    for dt, fact in STOPPING:
        script.wait(dt)(fact)
    effects = script(Exited(returncode=-15))
    (change,) = [e.event for e in effects if isinstance(e, Publish)]
    assert change.expected is False
    assert change.returncode == -15
    assert script.record.exitstatus == -1
    assert script.record.killing is False
    assert script.record.timer is None


def test_step_is_pure() -> None:
    """step never mutates its input record and is deterministic."""
    record = ProcessRecord(config=config())
    now = Instant(T0, WALL0)
    first = step(record, START_OP, now)
    second = step(record, START_OP, now)
    assert first == second
    assert record.state is S.STOPPED


@pytest.mark.parametrize(
    ("returncode", "exitstatus", "text"),
    [
        (0, 0, "exit status 0"),
        (2, 2, "exit status 2"),
        (-9, -1, "terminated by SIGKILL"),
        (-200, -1, "terminated by signal 200"),
    ],
)
def test_returncode_conversions(returncode: int, exitstatus: int, text: str) -> None:
    """Popen returncodes map to supervisord's exitstatus and log wording."""
    assert supervisord_exitstatus(returncode) == exitstatus
    assert describe_returncode(returncode) == text


def test_record_names() -> None:
    """The record exposes name, group and statename as supervisord spells them."""
    record = ProcessRecord(config=config(), state=S.BACKOFF)
    assert (record.name, record.group, record.statename) == ("web", "web", "BACKOFF")


# --------------------------------------------------------------------------- causes


def causes(script: Script) -> list[tuple[str, str, int, int]]:
    """(to_state, cause, run, episode) of every transition so far."""
    return [(c.to_state.name, c.cause.value, c.run, c.episode) for c in script.changes()]


@pytest.mark.parametrize(
    ("state_setup", "fact", "refusal"),
    [
        (RUNNING, START_OP, AlreadyStarted),
        (STARTING, START_OP, AlreadyStarted),
        (BACKOFF, START_OP, AlreadyStarted),
        (STOPPING, START_OP, StillStopping),
        (UNKNOWN, START_OP, StateUnknown),
        ([], STOP_OP, NotRunning),
        (EXITED, STOP_OP, NotRunning),
        (FATAL, signal_op(signal.SIGHUP), NotRunning),
        (START, signal_op(signal.SIGHUP), NotRunning),  # STARTING before the child exists
    ],
)
def test_requests_are_refused_with_typed_errors(
    state_setup: list[tuple[float, Fact | None]], fact: Fact, refusal: type[IllegalTransition]
) -> None:
    """A request the state does not allow raises the one refusal the control plane maps."""
    script = Script(config())
    for dt, setup_fact in state_setup:
        script.wait(dt)
        if setup_fact is not None:
            script(setup_fact)
    before = script.record
    with pytest.raises(refusal) as raised:
        script(fact)
    assert type(raised.value) is refusal
    assert script.record is before


def test_internal_protocol_errors_are_plain_illegal_transitions() -> None:
    """A fact out of the runtime protocol is an IllegalTransition, not a request refusal."""
    script = Script(config())
    with pytest.raises(IllegalTransition) as raised:
        script(Exited(returncode=0))
    assert type(raised.value) is IllegalTransition


def test_runs_and_episodes_number_a_crash_loop_and_its_requests() -> None:
    """Automatic restarts of short runs stay in the episode a request opened."""
    script = Script(config(autorestart=AutoRestart.TRUE))
    script(AutoStart())
    script(Spawned(pid=1))
    script.wait(2)(Exited(returncode=1))  # a short run: autorestart, same episode
    script(Spawned(pid=2))
    script.wait(2)(Exited(returncode=1))
    script(Spawned(pid=3))
    script.wait(120)(Exited(returncode=1))  # a long run (> backoff_reset 60 s): new episode
    script(Spawned(pid=4))
    script.wait(2)(STOP_OP)
    script(Exited(returncode=-15))
    script.wait(2)(START_OP)  # a request: new episode
    assert causes(script) == [
        ("STARTING", "autostart", 1, 1),
        ("RUNNING", "startsecs", 1, 1),
        ("EXITED", "exit", 1, 1),
        ("STARTING", "autorestart", 2, 1),
        ("RUNNING", "startsecs", 2, 1),
        ("EXITED", "exit", 2, 1),
        ("STARTING", "autorestart", 3, 1),
        ("RUNNING", "startsecs", 3, 1),
        ("EXITED", "exit", 3, 1),
        ("STARTING", "autorestart", 4, 4),
        ("STOPPING", "operator", 4, 4),  # stopped while STARTING
        ("STOPPED", "operator", 4, 4),
        ("STARTING", "operator", 5, 5),
    ]
    assert [c.origin for c in script.changes()][-3:] == ["test", "test", "test"]


def test_damped_restart_and_start_limit_causes() -> None:
    """A delayed restart is DAMPED; the start limit's refusal is STARTLIMIT."""
    script = Script(
        config(
            autorestart=AutoRestart.TRUE,
            startsecs=0,
            backoff_initial=0.5,
            startlimit_burst=2,
            startlimit_interval=60,
        )
    )
    script(START_OP)
    script(Spawned(pid=1))
    script.wait(1)(Exited(returncode=1))
    script.wait(0.5)(TimerFired(kind=TimerKind.RESTART))
    script(Spawned(pid=2))
    script.wait(1)(Exited(returncode=1))
    script.wait(1)(TimerFired(kind=TimerKind.RESTART))
    assert [(c.to_state.name, c.cause.value) for c in script.changes()] == [
        ("STARTING", "operator"),
        ("RUNNING", "startsecs"),
        ("EXITED", "exit"),
        ("STARTING", "damped"),
        ("RUNNING", "startsecs"),
        ("EXITED", "exit"),
        ("FATAL", "startlimit"),
    ]


def test_reload_stops_and_autostarts_say_so() -> None:
    """A SystemStop and an AutoStart carry the requester's cause (reload, update)."""
    reload_ = Requester(cause=Cause.RELOAD)
    update = Requester(cause=Cause.UPDATE, origin="group web")
    script = Script(config())
    script(AutoStart(requester=update))
    script(Spawned(pid=1))
    script.wait(2)(TimerFired(kind=TimerKind.STARTSECS))
    script(SystemStop(requester=reload_))
    script(Exited(returncode=-15))
    assert [(c.to_state.name, c.cause.value, c.origin) for c in script.changes()] == [
        ("STARTING", "update", "group web"),
        ("RUNNING", "startsecs", None),
        ("STOPPING", "reload", None),
        ("STOPPED", "reload", None),
    ]


def test_a_requester_must_carry_a_requested_cause() -> None:
    """Requester refuses a cause nobody can ask for (the machine's own causes)."""
    with pytest.raises(ValueError, match="autorestart"):
        Requester(cause=Cause.AUTORESTART)


# --------------------------------------------------------------------------- readiness


def ready_config(kind: ReadyKind, **overrides: Any) -> ProcessConfig:
    target = {ReadyKind.TCP: "127.0.0.1:5432", ReadyKind.HTTP: "http://127.0.0.1/"}.get(kind, "")
    return config(ready=ReadyCheck(kind=kind, target=target), ready_timeout=10, **overrides)


@pytest.mark.parametrize("kind", [ReadyKind.NOTIFY, ReadyKind.TCP, ReadyKind.HTTP])
def test_ready_modes_enter_running_on_ready_not_on_startsecs(kind: ReadyKind) -> None:
    """With ready= the process stays STARTING past startsecs and is RUNNING on Ready."""
    script = Script(ready_config(kind))
    script(START_OP)
    effects = script(Spawned(pid=7))
    probe = [e for e in effects if isinstance(e, StartProbe)]
    assert probe == (
        [] if kind is ReadyKind.NOTIFY else [StartProbe(check=script.config.ready, interval=0.5)]
    )
    assert render(effects, script.now) == ["timer ready_timeout +10", *(["probe"] if probe else [])]
    script.wait(5)
    effects = script(Ready())
    assert script.record.state is S.RUNNING
    rendered = render(effects, script.now)
    assert rendered[-1] == "STARTING->RUNNING ready"
    assert ("stop probe" in rendered) is (kind is not ReadyKind.NOTIFY)
    assert script(Ready()) == ()  # a second READY=1 changes nothing


def test_not_ready_in_time_is_a_failed_start_killed_by_superd() -> None:
    """ready_timeout kills the child; its exit is BACKOFF with cause ready_timeout."""
    script = Script(ready_config(ReadyKind.TCP, killasgroup=True))
    script(START_OP)
    script(Spawned(pid=7))
    script.wait(10)
    effects = script(TimerFired(kind=TimerKind.READY_TIMEOUT))
    assert render(effects, script.now) == ["stop probe", "SIGKILL group 7"]
    effects = script(Exited(returncode=-9))
    assert render(effects, script.now)[:1] == ["STARTING->BACKOFF ready_timeout"]
    assert script.record.spawnerr == "Not ready within 10 seconds (ready_timeout)"
    assert script.record.backoff == 1


def test_exit_before_ready_is_a_failed_start_whatever_startsecs() -> None:
    """A notify process that exits before READY=1 failed to start, even after startsecs."""
    script = Script(ready_config(ReadyKind.NOTIFY, startsecs=1))
    script(START_OP)
    script(Spawned(pid=7))
    script.wait(5)
    script(Exited(returncode=0))
    assert script.record.state is S.BACKOFF
    assert script.changes()[-1].cause is Cause.EXIT
    assert script.record.spawnerr == "Exited before it was ready (process log may have details)"


def test_watchdog_expiry_kills_and_the_exit_says_watchdog() -> None:
    """Pings re-arm the watchdog; silence kills the child, EXITED cause watchdog, restart."""
    script = Script(ready_config(ReadyKind.NOTIFY, watchdog_timeout=3))
    script(START_OP)
    script(Spawned(pid=7))
    effects = script(Ready())
    assert render(effects, script.now)[-1] == "timer watchdog +3"
    script.wait(2)
    assert render(script(WatchdogPing()), script.now) == ["timer watchdog +3"]
    script.wait(3)
    effects = script(TimerFired(kind=TimerKind.WATCHDOG))
    assert render(effects, script.now) == ["SIGKILL pid 7"]
    script(WatchdogPing())  # too late: ignored, the kill stands
    effects = script(Exited(returncode=-9))
    assert render(effects, script.now)[:3] == [
        "RUNNING->EXITED watchdog",
        "EXITED->STARTING autorestart",
        "spawn",
    ]


def test_status_text_is_kept_per_run() -> None:
    """STATUS= text is recorded in any state and cleared by the next start."""
    script = Script(ready_config(ReadyKind.NOTIFY))
    script(START_OP)
    script(Spawned(pid=7))
    assert script(StatusText(text="loading 40%")) == ()
    assert script.record.status_text == "loading 40%"
    script(STOP_OP)
    script(Exited(returncode=-15))
    script(START_OP)
    assert script.record.status_text is None


def test_stray_ready_facts_are_ignored_everywhere() -> None:
    """Ready and WatchdogPing in any other state, or for a startsecs process, do nothing."""
    for setup in (RUNNING, STOPPING, EXITED, FATAL, BACKOFF, STARTING, []):
        script = Script(config())
        for dt, setup_fact in setup:
            script.wait(dt)
            if setup_fact is not None:
                script(setup_fact)
        before = script.record
        assert script(Ready()) == ()
        assert script(WatchdogPing()) == ()
        assert script.record == before
