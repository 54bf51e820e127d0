"""The custom collector: renders every superd metric at scrape time.

Rules of this file:
- No counter is stored here: each ``collect()`` reads the aggregate's snapshot, the
  core's read-only snapshots (``groups()``, the bus' counters) and fresh psutil
  samples, and builds metric families from them (client_python's
  ``ProcessCollector`` pattern).
- Which processes exist comes from ``groups()`` when given (a process that never
  changed state still shows up, STOPPED); counters for it come from the aggregate,
  0 before its first event. Without ``groups()`` the aggregate's processes are shown.
- Series are bounded per process (see ``catalogue``): the state gauge has one series
  per state, transitions one per (from, to) pair seen, the rest a fixed few.
- ``collect()`` must run on the event loop's thread (see ``sampling``).
- A process whose inputs did not change since the previous scrape (the same
  frozen ``ProcessStats`` object, state, start time and storm flag; an equal
  ``TreeSample``; equal log byte counts) contributes the very same ``Sample``
  objects again, so neither ``add_metric`` nor, in ``text``, the formatting of its
  lines is repeated. The only state kept is that cache of the last scrape's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from exporters.prometheus import catalogue as cat
from exporters.prometheus.aggregate import (
    ProcessKey,
    ProcessMetricsAggregate,
    ProcessStats,
    RunDurations,
)
from exporters.prometheus.catalogue import CPU_MODES, LOG_STREAMS, RUN_DURATION_BUCKETS, MetricSpec
from exporters.prometheus.sampling import Sampler, TreeSample, sample_trees
from supervisor_core.bus import BusSnapshot
from supervisor_core.control import ControlError, GroupInfo
from supervisor_core.lifecycle import START_CAUSES, ProcessState

logger = logging.getLogger(__name__)

GroupsSource = Callable[[], Sequence[GroupInfo]]
"""The core's read-only process snapshots (``SupervisorControl.groups``)."""


class ProcessSnapshots(Protocol):
    """The one thing the exporter reads from the daemon (``SupervisorControl`` has it)."""

    def groups(self) -> Sequence[GroupInfo]:
        """Frozen snapshots of every active group and its processes."""
        ...


BusSource = Callable[[], BusSnapshot]
"""The bus' counters (``EventBus.snapshot``)."""

LogBytesSource = Callable[[], Mapping[ProcessKey, Mapping[str, int]]]
"""Bytes captured so far per process and stream (``"stdout"``/``"stderr"``)."""

FaultSource = Callable[[], Mapping[tuple[str, str], int]]
"""The daemon's handled-failure counters (``supervisor_core.health.FaultCounters.snapshot``)."""

StormSource = Callable[[], Collection[ProcessKey]]
"""The processes whose restart storm is under way (the storm detector's seam)."""

NotificationSource = Callable[[], Mapping[tuple[str, str], int]]
"""Notifications per ``(channel, outcome)`` (``exporters.notify.counts``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Row:
    """One process to render: who it is, where it stands, and what is known of it."""

    group: str
    name: str
    state: ProcessState
    pid: int
    start_wall: float | None
    stats: ProcessStats | None


def _family(spec: MetricSpec) -> Metric:
    labels = list(spec.all_labels)
    if spec.type is cat.MetricType.COUNTER:
        return CounterMetricFamily(spec.family, spec.help, labels=labels)
    if spec.type is cat.MetricType.HISTOGRAM:
        return HistogramMetricFamily(spec.family, spec.help, labels=labels)
    return GaugeMetricFamily(spec.family, spec.help, labels=labels)


def _add(family: Metric, labels: Sequence[str], value: float) -> None:
    # CounterMetricFamily and GaugeMetricFamily share this signature.
    assert isinstance(family, CounterMetricFamily | GaugeMetricFamily)
    family.add_metric(list(labels), value)


def _state_of(code: int) -> ProcessState | None:
    try:
        return ProcessState(code)
    except ValueError:
        return None


_Parts = tuple[list[Sample], ...]
"""One process' samples, one list per family, in the families' order."""

_LifecycleKey = tuple[ProcessState, float | None, ProcessStats | None, bool]
"""What one process' lifecycle samples are rendered from: state, start, stats, storm."""

_EMPTY_READY = RunDurations(
    bounds=cat.READY_SECONDS_BUCKETS,
    counts=(0,) * (len(cat.READY_SECONDS_BUCKETS) + 1),
    total=0.0,
)
_EMPTY_RUNS = RunDurations(
    bounds=RUN_DURATION_BUCKETS, counts=(0,) * (len(RUN_DURATION_BUCKETS) + 1), total=0.0
)


def _same_lifecycle(old: _LifecycleKey, new: _LifecycleKey) -> bool:
    # Stats by identity: the aggregate hands out the same object until an event
    # changes that process (ProcessStats equality would compare its mappings).
    return old[0] is new[0] and old[1] == new[1] and old[2] is new[2] and old[3] == new[3]


def _lifecycle_families() -> tuple[Metric, ...]:
    """state, up, start, transitions, restarts, starts, exits, last exit, durations,
    ready, ready durations, storm."""
    durations = HistogramMetricFamily(
        cat.PROCESS_RUN_DURATION.family,
        cat.PROCESS_RUN_DURATION.help,
        labels=list(cat.PROCESS_RUN_DURATION.all_labels),
    )
    ready_durations = HistogramMetricFamily(
        cat.PROCESS_READY_SECONDS.family,
        cat.PROCESS_READY_SECONDS.help,
        labels=list(cat.PROCESS_READY_SECONDS.all_labels),
    )
    return (
        _family(cat.PROCESS_STATE),
        _family(cat.PROCESS_UP),
        _family(cat.PROCESS_START_TIME),
        _family(cat.PROCESS_TRANSITIONS),
        _family(cat.PROCESS_RESTARTS),
        _family(cat.PROCESS_STARTS),
        _family(cat.PROCESS_EXITS),
        _family(cat.PROCESS_LAST_EXIT_CODE),
        durations,
        _family(cat.PROCESS_READY),
        ready_durations,
        _family(cat.PROCESS_RESTART_STORM),
    )


def _lifecycle_parts(row: _Row, *, storm_on: bool) -> _Parts:
    """One process' lifecycle samples, rendered into families of its own."""
    families = _lifecycle_families()
    (
        state,
        up,
        start,
        transitions,
        restarts,
        starts,
        exits,
        last_exit,
        durations,
        ready,
        ready_durations,
        storm,
    ) = families
    who = (row.group, row.name)
    for candidate in ProcessState:
        _add(state, (*who, candidate.name), 1.0 if candidate is row.state else 0.0)
    _add(up, who, 1.0 if row.state is ProcessState.RUNNING else 0.0)
    if row.start_wall is not None:
        _add(start, who, row.start_wall)
    stats = row.stats
    for (from_state, to_state), count in sorted((stats.transitions if stats else {}).items()):
        _add(transitions, (*who, from_state.name, to_state.name), count)
    _add(restarts, who, stats.restarts if stats else 0)
    # Every cause is a series from the start (0 until it happens), so rate() and
    # increase() see the first start of each kind.
    started = stats.starts if stats else {}
    for cause in START_CAUSES:
        _add(starts, (*who, cause.value), started.get(cause, 0))
    _add(exits, (*who, "true"), stats.exits_expected if stats else 0)
    _add(exits, (*who, "false"), stats.exits_unexpected if stats else 0)
    if stats is not None and stats.last_exit_code is not None:
        _add(last_exit, who, stats.last_exit_code)
    runs = stats.run_durations if stats else _EMPTY_RUNS
    assert isinstance(durations, HistogramMetricFamily)
    durations.add_metric(list(who), runs.cumulative(), runs.total)
    _add(ready, who, 1.0 if row.state is ProcessState.RUNNING else 0.0)
    readies = stats.ready_durations if stats else _EMPTY_READY
    assert isinstance(ready_durations, HistogramMetricFamily)
    ready_durations.add_metric(list(who), readies.cumulative(), readies.total)
    _add(storm, who, 1.0 if storm_on else 0.0)
    return tuple(family.samples for family in families)


def _resource_families() -> tuple[Metric, ...]:
    """cpu, rss, fds, threads, tree members."""
    return (
        _family(cat.PROCESS_CPU),
        _family(cat.PROCESS_RSS),
        _family(cat.PROCESS_OPEN_FDS),
        _family(cat.PROCESS_THREADS),
        _family(cat.PROCESS_TREE_PROCESSES),
    )


def _resource_parts(who: ProcessKey, sample: TreeSample) -> _Parts:
    """One process tree's resource samples, rendered into families of its own."""
    cpu, rss, fds, threads, members = _resource_families()
    _add(cpu, (*who, CPU_MODES[0]), sample.cpu_user)
    _add(cpu, (*who, CPU_MODES[1]), sample.cpu_system)
    _add(rss, who, sample.rss)
    if sample.open_fds is not None:
        _add(fds, who, sample.open_fds)
    _add(threads, who, sample.threads)
    _add(members, who, sample.processes)
    return tuple(family.samples for family in (cpu, rss, fds, threads, members))


def _fault_families(counts: Mapping[tuple[str, str], int]) -> list[Metric]:
    """The ``FAULT_METRICS`` families from the daemon's failure counters."""
    families: dict[str, Metric] = {}
    for (name, label), count in sorted(counts.items()):
        spec = cat.FAULT_METRICS.get(name)
        if spec is None:
            continue  # a counter no metric shows (yet)
        family = families.get(name)
        if family is None:
            family = families[name] = _family(spec)
        _add(family, (label,) if spec.labels else (), count)
    return list(families.values())


class SupervisorCollector(Collector):
    """Renders superd's metrics from an aggregate, the core's snapshots and psutil.

    Args:
        aggregate: the per-process counters, fed by the bus.
        groups: the core's process snapshots; None shows the aggregate's processes.
        bus: the bus' counters for ``supervisor_events_*``; None leaves them out.
        version: the ``version`` label of ``supervisor_info``.
        sampler: samples one process tree (tests inject a fake); None: psutil,
            with one scan of ``/proc`` per scrape for every tree (``sample_trees``).
        log_bytes: bytes captured per process and stream; None leaves
            ``supervisor_process_log_bytes_total`` out.
        storms: processes in a restart storm; None means none (the storm detector
            plugs in here).
        faults: the daemon's handled-failure counters; None leaves their metrics out.
        notifications: counts per ``(channel, outcome)``; None leaves
            ``supervisor_notifications_total`` out.
    """

    def __init__(
        self,
        aggregate: ProcessMetricsAggregate,
        *,
        groups: GroupsSource | None = None,
        bus: BusSource | None = None,
        version: str,
        sampler: Sampler | None = None,
        log_bytes: LogBytesSource | None = None,
        storms: StormSource | None = None,
        faults: FaultSource | None = None,
        notifications: NotificationSource | None = None,
    ) -> None:
        self._aggregate = aggregate
        self._faults = faults
        self._notifications = notifications
        self._groups = groups
        self._bus = bus
        self._version = version
        self._sampler = sampler
        self._log_bytes = log_bytes
        self._storms = storms
        # Last scrape's samples per process: (inputs, samples per family).
        self._lifecycle_rows: dict[ProcessKey, tuple[_LifecycleKey, _Parts]] = {}
        self._resource_rows: dict[ProcessKey, tuple[TreeSample, _Parts]] = {}
        self._log_rows: dict[ProcessKey, tuple[tuple[int, ...], _Parts]] = {}

    def set_groups(self, groups: GroupsSource | None) -> None:
        """Read process snapshots from ``groups`` from now on (a new daemon generation)."""
        self._groups = groups

    def set_log_bytes(self, log_bytes: LogBytesSource | None) -> None:
        """Read captured byte counts from ``log_bytes`` from now on (None: leave them out)."""
        self._log_bytes = log_bytes

    def describe(self) -> Iterator[Metric]:
        """The metric families, without samples (lets the registry check names
        without a scrape's worth of work at registration)."""
        for spec in cat.CATALOGUE:
            yield _family(spec)

    def _snapshot_groups(self) -> Sequence[GroupInfo] | None:
        if self._groups is None:
            return None
        try:
            return self._groups()
        except ControlError as error:
            # A daemon shutting down may refuse snapshots; the scrape still answers
            # from the events alone rather than failing.
            logger.debug("process snapshots unavailable (%s); rendering from events", error)
            return None

    def _rows(self) -> list[_Row]:
        stats = self._aggregate.snapshot()
        groups = self._snapshot_groups()
        if groups is None:
            return [
                _Row(
                    group=s.group,
                    name=s.name,
                    state=s.state,
                    pid=0,
                    start_wall=s.last_start_wall,
                    stats=s,
                )
                for s in stats.values()
            ]
        rows: list[_Row] = []
        for group in groups:
            for info in group.processes:
                state = _state_of(info.state)
                if state is None:
                    continue  # not a state code we know: nothing sensible to show
                known = stats.get((info.group, info.name))
                start = info.start if info.start > 0 else None
                if start is None and known is not None:
                    start = known.last_start_wall
                rows.append(
                    _Row(
                        group=info.group,
                        name=info.name,
                        state=state,
                        pid=info.pid,
                        start_wall=start,
                        stats=known,
                    )
                )
        return rows

    def collect(self) -> Iterator[Metric]:
        """Every metric family, rendered now."""
        rows = sorted(self._rows(), key=lambda r: (r.group, r.name))
        yield from self._lifecycle(rows)
        yield from self._resources(rows)
        yield from self._daemon()

    # ------------------------------------------------------------------ lifecycle

    def _lifecycle(self, rows: Sequence[_Row]) -> Iterator[Metric]:
        families = _lifecycle_families()
        in_storm = frozenset(self._storms()) if self._storms is not None else frozenset()
        previous, current = self._lifecycle_rows, {}
        for row in rows:
            who = (row.group, row.name)
            key = (row.state, row.start_wall, row.stats, who in in_storm)
            hit = previous.get(who)
            if hit is not None and _same_lifecycle(hit[0], key):
                parts = hit[1]
            else:
                parts = _lifecycle_parts(row, storm_on=key[3])
            current[who] = (key, parts)
            for family, part in zip(families, parts, strict=True):
                family.samples.extend(part)
        self._lifecycle_rows = current
        yield from families

    # ------------------------------------------------------------------ resources

    def _resources(self, rows: Sequence[_Row]) -> Iterator[Metric]:
        families = _resource_families()
        # No child: absent, not zero.
        pids = [row.pid for row in rows if row.pid > 0]
        sampler = self._sampler
        samples = sample_trees(pids) if sampler is None else {pid: sampler(pid) for pid in pids}
        previous, current = self._resource_rows, {}
        for row in rows:
            if row.pid <= 0:
                continue
            sample: TreeSample | None = samples.get(row.pid)
            if sample is None:
                continue
            who = (row.group, row.name)
            hit = previous.get(who)
            parts = hit[1] if hit is not None and hit[0] == sample else _resource_parts(who, sample)
            current[who] = (sample, parts)
            for family, part in zip(families, parts, strict=True):
                family.samples.extend(part)
        self._resource_rows = current
        yield from families
        if self._log_bytes is not None:
            logged = _family(cat.PROCESS_LOG_BYTES)
            shown = {(row.group, row.name) for row in rows}
            previous_logs, current_logs = self._log_rows, {}
            for who, streams in sorted(self._log_bytes().items()):
                if who not in shown:
                    continue
                counts = tuple(streams.get(stream, 0) for stream in LOG_STREAMS)
                log_hit = previous_logs.get(who)
                if log_hit is not None and log_hit[0] == counts:
                    log_parts = log_hit[1]
                else:
                    single = _family(cat.PROCESS_LOG_BYTES)
                    for stream, count in zip(LOG_STREAMS, counts, strict=True):
                        _add(single, (*who, stream), count)
                    log_parts = (single.samples,)
                current_logs[who] = (counts, log_parts)
                logged.samples.extend(log_parts[0])
            self._log_rows = current_logs
            yield logged

    # ------------------------------------------------------------------ daemon

    def _daemon(self) -> Iterator[Metric]:
        if self._bus is not None:
            bus = self._bus()
            events = _family(cat.EVENTS)
            # Every concrete type from the start, so increase() sees the first one.
            totals = dict.fromkeys(bus.event_types, 0)
            totals.update(bus.events_total)
            for name, count in sorted(totals.items()):
                _add(events, (name,), count)
            dropped = _family(cat.EVENTS_DROPPED)
            errors = _family(cat.SUBSCRIBER_ERRORS)
            for subscriber in sorted({*bus.subscribers, *bus.dropped}):
                _add(dropped, (subscriber,), bus.dropped.get(subscriber, 0))
            for subscriber in sorted({*bus.subscribers, *bus.subscriber_errors}):
                _add(errors, (subscriber,), bus.subscriber_errors.get(subscriber, 0))
            yield from (events, dropped, errors)
        if self._faults is not None:
            yield from _fault_families(self._faults())
        if self._notifications is not None:
            notifications = _family(cat.NOTIFICATIONS)
            for (channel, outcome), count in sorted(self._notifications().items()):
                _add(notifications, (channel, outcome), count)
            yield notifications
        survivors = _family(cat.SURVIVORS)
        for action, count in sorted(self._aggregate.survivors().items()):
            _add(survivors, (action,), count)
        yield survivors
        info = _family(cat.INFO)
        _add(info, (self._version,), 1.0)
        yield info
