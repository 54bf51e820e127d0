"""The pure aggregate behind the per-process counters, kept up to date by bus events.

Rules of this file:
- Pure: ``observe(event)`` is the only input; no clock, no I/O, no psutil. It is a
  cheap synchronous bus subscriber (it runs on the supervisor's hot path).
- Everything counted here is derived from the events alone, so the metrics agree
  with the journal and the traces, which see the same sequence.
- Starts are counted by the ``cause`` the state machine put on their STARTING
  event, and a restart is a start whose cause is an automatic restart
  (``lifecycle.AUTOMATIC_RESTART_CAUSES``: autorestart, damped, retry). Nothing here
  infers a cause from states or timestamps: the journal, the web page, the notebook
  and the traces count the same field.
- Memory is bounded: per process a fixed set of counters plus one counter per
  observed (from, to) pair, of which the state table allows a handful. A removed
  group (``PROCESS_GROUP_REMOVED``) is forgotten.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from exporters.prometheus.catalogue import READY_SECONDS_BUCKETS, RUN_DURATION_BUCKETS
from supervisor_core.config.model import SurvivorAction
from supervisor_core.events import Event, ProcessGroupRemoved, ProcessStateEvent, ProcessSurvivor
from supervisor_core.lifecycle import Cause, ProcessState

SURVIVOR_ACTIONS = tuple(action.value for action in SurvivorAction)

ProcessKey = tuple[str, str]
"""``(group, name)`` of one process."""

Transition = tuple[ProcessState, ProcessState]
"""``(from_state, to_state)``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDurations:
    """A histogram of run durations: ``counts[i]`` runs lasted <= ``bounds[i]`` seconds
    and more than ``bounds[i-1]`` (the last count is beyond the last bound: ``+Inf``)."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float  # the sum of all observed durations

    @property
    def count(self) -> int:
        """How many runs were observed."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus buckets: ``(le, runs <= le)``, ending with ``+Inf``."""
        result: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            result.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return result


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStats:
    """What the events say about one process, frozen at one moment."""

    group: str
    name: str
    state: ProcessState
    transitions: Mapping[Transition, int]
    restarts: int
    starts: Mapping[Cause, int]
    exits_expected: int
    exits_unexpected: int
    last_exit_code: int | None  # Popen returncode; None before the first exit
    last_start_wall: float | None  # unix time of the last STARTING; None before one
    run_durations: RunDurations
    ready_durations: RunDurations  # STARTING -> RUNNING of each start that got there


def _counts(counts: list[int] | None, bounds: tuple[float, ...]) -> tuple[int, ...]:
    """A histogram's counts per bucket (``+Inf`` last); all 0 before any observation."""
    return tuple(counts) if counts is not None else (0,) * (len(bounds) + 1)


def _observe(counts: list[int] | None, bounds: tuple[float, ...], value: float) -> list[int]:
    """``counts`` with ``value`` added to its bucket (made on the first observation)."""
    if counts is None:
        counts = [0] * (len(bounds) + 1)
    counts[bisect.bisect_left(bounds, value)] += 1
    return counts


@dataclass(slots=True)
class _Process:
    """The mutable counters of one process (private to the aggregate)."""

    group: str
    name: str
    state: ProcessState = ProcessState.STOPPED
    transitions: Counter[Transition] = field(default_factory=Counter)
    restarts: int = 0
    starts: Counter[Cause] = field(default_factory=Counter)
    exits_expected: int = 0
    exits_unexpected: int = 0
    last_exit_code: int | None = None
    last_start_wall: float | None = None
    # Histogram counts: None until the first observation (a fleet of thousands of
    # quiet programs has no run duration yet; see ``_counts``).
    run_counts: list[int] | None = None
    run_total: float = 0.0
    started_at: float | None = None  # monotonic stamp of the current run's STARTING
    ready_counts: list[int] | None = None
    ready_total: float = 0.0

    def freeze(self) -> ProcessStats:
        return ProcessStats(
            group=self.group,
            name=self.name,
            state=self.state,
            transitions=MappingProxyType(dict(self.transitions)),
            restarts=self.restarts,
            starts=MappingProxyType(dict(self.starts)),
            exits_expected=self.exits_expected,
            exits_unexpected=self.exits_unexpected,
            last_exit_code=self.last_exit_code,
            last_start_wall=self.last_start_wall,
            run_durations=RunDurations(
                bounds=RUN_DURATION_BUCKETS,
                counts=_counts(self.run_counts, RUN_DURATION_BUCKETS),
                total=self.run_total,
            ),
            ready_durations=RunDurations(
                bounds=READY_SECONDS_BUCKETS,
                counts=_counts(self.ready_counts, READY_SECONDS_BUCKETS),
                total=self.ready_total,
            ),
        )


class ProcessMetricsAggregate:
    """Per-process counters folded from ``PROCESS_STATE`` and ``PROCESS_GROUP`` events.

    Example::

        aggregate = ProcessMetricsAggregate()
        bus.subscribe(aggregate.observe, name="prometheus", types=aggregate.EVENT_TYPES)
        aggregate.snapshot()[("web", "web")].restarts
    """

    EVENT_TYPES: tuple[str, ...] = ("PROCESS_STATE", "PROCESS_GROUP_REMOVED", "PROCESS_SURVIVOR")
    """The event families ``observe`` needs; subscribe with exactly these."""

    def __init__(self) -> None:
        self._processes: dict[ProcessKey, _Process] = {}
        # Frozen stats of processes with no event since their last snapshot: a scrape
        # of a quiet fleet reuses them (and the collector its rendered samples, which
        # it keys on their identity).
        self._frozen: dict[ProcessKey, ProcessStats] = {}
        # PROCESS_SURVIVOR events by action; every action shown from the start.
        self._survivors: Counter[str] = Counter(dict.fromkeys(SURVIVOR_ACTIONS, 0))

    def survivors(self) -> Mapping[str, int]:
        """Survivors of a killed superd found at start, by action (kill, adopt, leave)."""
        return MappingProxyType(dict(self._survivors))

    def observe(self, event: Event) -> None:
        """Fold one event in (other types are ignored)."""
        data = event.data
        if isinstance(data, ProcessStateEvent):
            self._observe_state(event, data)
        elif isinstance(data, ProcessSurvivor):
            self._survivors[data.action] += 1
        elif isinstance(data, ProcessGroupRemoved):
            for key in [k for k in self._processes if k[0] == data.groupname]:
                del self._processes[key]
                self._frozen.pop(key, None)

    def _observe_state(self, event: Event, data: ProcessStateEvent) -> None:
        key = (data.groupname, data.processname)
        self._frozen.pop(key, None)
        process = self._processes.get(key)
        if process is None:
            process = self._processes[key] = _Process(group=key[0], name=key[1])
        to_state = data.to_state
        process.transitions[(data.from_state, to_state)] += 1
        process.state = to_state
        if to_state is ProcessState.RUNNING and process.started_at is not None:
            ready = max(0.0, event.monotonic_time - process.started_at)
            process.ready_counts = _observe(process.ready_counts, READY_SECONDS_BUCKETS, ready)
            process.ready_total += ready
            process.started_at = None
        if to_state is ProcessState.STARTING:
            process.started_at = event.monotonic_time
            process.last_start_wall = event.wall_time
            process.starts[data.cause] += 1
            if data.cause.is_automatic_restart:
                process.restarts += 1
        if data.returncode is not None:
            if data.expected:
                process.exits_expected += 1
            else:
                process.exits_unexpected += 1
            process.last_exit_code = data.returncode
        if data.run_duration is not None:
            duration = max(0.0, data.run_duration)
            process.run_counts = _observe(process.run_counts, RUN_DURATION_BUCKETS, duration)
            process.run_total += duration

    def snapshot(self) -> Mapping[ProcessKey, ProcessStats]:
        """Every known process' stats, frozen, by ``(group, name)``.

        A process with no event since the previous snapshot gives the same
        ``ProcessStats`` object again.
        """
        frozen = self._frozen
        for key, process in self._processes.items():
            if key not in frozen:
                frozen[key] = process.freeze()
        return MappingProxyType(dict(frozen))
