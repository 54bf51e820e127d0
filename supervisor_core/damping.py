"""Restart damping: exponential backoff and a start limit, as pure functions of history.

Rules of this file:
- Pure: no clock, no global random state. Everything a decision depends on comes in
  as arguments (the policy, the durations of past runs, start times, a seeded RNG),
  so the state machine stays pure and a notebook can replay a journal and ask "what
  would this policy have done".
- Both mechanisms are opt-in per program (``[program:x]`` options supervisord
  ignores); the defaults (``backoff_initial=0``, ``startlimit_burst=0``) turn them
  off, and the machine then behaves exactly like supervisord: restart at once after
  an exit from RUNNING, forever, and 1 s, 2 s, 3 s ... between failed starts.

The backoff sequence. A run *shorter than* ``backoff_reset`` seconds is a short
run; ``streak`` is the number of consecutive short runs ending with the one that just
ended (at least 1: a long run restarts the sequence at its first step). The delay
before the next automatic start is::

    min(backoff_max, backoff_initial * backoff_factor ** (streak - 1))

then, with ``backoff_jitter = j > 0``, multiplied by a factor drawn uniformly from
``[1 - j, 1 + j]`` with the RNG passed in (cap first, jitter second: with jitter a
delay may exceed ``backoff_max`` by at most the fraction ``j``).

Example::

    policy = BackoffPolicy(initial=1.0, factor=2.0, maximum=30.0, jitter=0.0, reset=60.0)
    replay_delays(policy, [0.2, 0.3, 0.1, 120.0, 0.5])  # (1.0, 2.0, 4.0, 1.0, 2.0)
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from supervisor_core.config.model import ProcessConfig

__all__ = [
    "BackoffPolicy",
    "StartLimit",
    "backoff_delay",
    "jitter_rng",
    "recent_starts",
    "replay_delays",
    "start_limit_reached",
    "streak_after",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffPolicy:
    """Exponential backoff between automatic restarts (``backoff_*`` options).

    ``initial`` 0 disables it (supervisord's behaviour).
    """

    initial: float = 0.0
    factor: float = 2.0
    maximum: float = 300.0
    jitter: float = 0.0
    reset: float = 60.0

    @property
    def enabled(self) -> bool:
        """Whether the policy delays anything at all."""
        return self.initial > 0

    @classmethod
    def from_config(cls, config: ProcessConfig) -> BackoffPolicy:
        """The policy of a ``[program:x]``."""
        return cls(
            initial=config.backoff_initial,
            factor=config.backoff_factor,
            maximum=config.backoff_max,
            jitter=config.backoff_jitter,
            reset=config.backoff_reset,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StartLimit:
    """At most ``burst`` starts within ``interval`` seconds (``startlimit_*`` options).

    ``burst`` 0 disables it (supervisord's behaviour).
    """

    burst: int = 0
    interval: float = 10.0

    @property
    def enabled(self) -> bool:
        """Whether the limit applies at all."""
        return self.burst > 0

    @classmethod
    def from_config(cls, config: ProcessConfig) -> StartLimit:
        """The start limit of a ``[program:x]``."""
        return cls(burst=config.startlimit_burst, interval=config.startlimit_interval)


def streak_after(policy: BackoffPolicy, streak: int, run_duration: float | None) -> int:
    """The short-run streak once a run of ``run_duration`` seconds has ended.

    ``streak`` is the count before this run (0 for none); a run that lasted at least
    ``policy.reset`` seconds starts a new streak of 1 (the first step again). An
    unknown duration (None) counts as short.
    """
    if run_duration is not None and run_duration >= policy.reset:
        return 1
    return streak + 1


def backoff_delay(policy: BackoffPolicy, streak: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before the next automatic start after ``streak`` short runs.

    Args:
        policy: the backoff options; a disabled policy always gives 0.
        streak: consecutive short runs ending with the one that just ended (>= 1).
        rng: draws the jitter; required for a deterministic result when
            ``policy.jitter > 0`` (``jitter_rng`` makes one from the history).

    Returns:
        The delay in seconds (0 when the policy is disabled).
    """
    if not policy.enabled:
        return 0.0
    exponent = max(streak, 1) - 1
    delay = policy.initial
    # Multiply step by step and stop at the cap: factor ** exponent overflows a float
    # after a few thousand crashes, which a storm of a day can reach.
    for _ in range(exponent):
        if delay >= policy.maximum:
            break
        delay *= policy.factor
    delay = min(delay, policy.maximum)
    if policy.jitter > 0:
        generator = rng if rng is not None else random.Random(0)
        delay *= 1.0 + policy.jitter * (2.0 * generator.random() - 1.0)
    return max(delay, 0.0)


def jitter_rng(name: str, streak: int, wall_time: float) -> random.Random:
    """The RNG the state machine uses for one backoff decision.

    Seeded from the process name, its streak and the wall time of the exit, so the
    same history always gives the same delay (replayable from the journal), while
    programs, and hosts restarting at different moments, are spread apart.
    """
    return random.Random(f"{name}:{streak}:{wall_time!r}")


def start_limit_reached(limit: StartLimit, start_times: Iterable[float], now: float) -> bool:
    """Whether another start at ``now`` would exceed the limit.

    ``start_times`` are the monotonic times of past starts (any order); those within
    ``interval`` seconds before ``now`` count.
    """
    if not limit.enabled:
        return False
    recent = sum(1 for started in start_times if now - started < limit.interval)
    return recent >= limit.burst


def recent_starts(limit: StartLimit, start_times: Sequence[float], now: float) -> tuple[float, ...]:
    """``start_times`` plus ``now``, keeping only what the limit can still count."""
    if not limit.enabled:
        return ()
    kept = [started for started in start_times if now - started < limit.interval]
    kept.append(now)
    return tuple(kept[-limit.burst :])


def replay_delays(
    policy: BackoffPolicy,
    run_durations: Iterable[float | None],
    *,
    name: str | None = None,
    exit_wall_times: Iterable[float] | None = None,
) -> tuple[float, ...]:
    """The delay the policy would have chosen after each run of a history.

    For notebooks: feed the run durations of one process from the journal (oldest
    first). With ``name`` and ``exit_wall_times`` the jitter is drawn exactly as the
    daemon draws it; without them jitter uses a fixed seed.
    """
    delays: list[float] = []
    streak = 0
    walls = iter(exit_wall_times) if exit_wall_times is not None else None
    for duration in run_durations:
        streak = streak_after(policy, streak, duration)
        rng: random.Random | None = None
        if name is not None and walls is not None:
            rng = jitter_rng(name, streak, next(walls))
        delays.append(backoff_delay(policy, streak, rng))
    return tuple(delays)
