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
- Per-process families are ``exposition.PartedMetric``s: one part per process,
  named by a token (``_Row``, ``_Resources``, ``_LogCounts``). A process whose inputs
  did not change since the previous scrape (the same frozen ``ProcessStats``
  object, state, start time and storm flag; an equal ``TreeSample``; equal log byte
  counts) keeps the very same token, so the encoder reuses its text and nothing
  builds its samples; when no token of a family changed, the family object itself
  is the previous one. The only state kept is the last scrape's tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import is_
from typing import Any, Protocol

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
from exporters.prometheus.exposition import PartedMetric
from exporters.prometheus.sampling import Sampler, TreeSample, sample_trees
from supervisor_core.bus import BusSnapshot
from supervisor_core.control import ControlError, GroupInfo
from supervisor_core.lifecycle import START_CAUSES, ProcessState
from supervisor_core.rpc_timings import RpcDurations

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

HealthGaugeSource = Callable[[], Mapping[str, float]]
"""The daemon's health gauges (``supervisor_core.health.FaultCounters.gauges``)."""

RpcDurationSource = Callable[[], Mapping[tuple[str, str], RpcDurations]]
"""XML-RPC call durations per ``(method, outcome)`` (``supervisor_core.rpc_timings``)."""

StormSource = Callable[[], Collection[ProcessKey]]
"""The processes whose restart storm is under way (the storm detector's seam)."""

NotificationSource = Callable[[], Mapping[tuple[str, str], int]]
"""Notifications per ``(channel, outcome)`` (``exporters.notify.counts``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Row:
    """One process' lifecycle inputs: who it is, where it stands, what is known of it.

    The collector hands out the same ``_Row`` object while these inputs do not
    change (a token for ``exposition.PartedMetric``).
    """

    group: str
    name: str
    state: ProcessState
    start_wall: float | None
    stats: ProcessStats | None
    storm: bool

    @property
    def who(self) -> ProcessKey:
        return (self.group, self.name)


@dataclass(frozen=True, slots=True)
class _Resources:
    """One process tree's resource sample (a token, like ``_Row``)."""

    who: ProcessKey
    sample: TreeSample


@dataclass(frozen=True, slots=True)
class _LogCounts:
    """One process' captured bytes per stream, in ``LOG_STREAMS`` order (a token)."""

    who: ProcessKey
    counts: tuple[int, ...]


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


_EMPTY_READY = RunDurations(
    bounds=cat.READY_SECONDS_BUCKETS,
    counts=(0,) * (len(cat.READY_SECONDS_BUCKETS) + 1),
    total=0.0,
)
_EMPTY_RUNS = RunDurations(
    bounds=RUN_DURATION_BUCKETS, counts=(0,) * (len(RUN_DURATION_BUCKETS) + 1), total=0.0
)

# One builder per family: a part's samples, added to a family of its own. Only the
# parts the encoder has no text for are built (see ``exposition``).
_Build = Callable[[Metric, Any], None]


def _state(family: Metric, row: _Row) -> None:
    for candidate in ProcessState:
        _add(family, (*row.who, candidate.name), 1.0 if candidate is row.state else 0.0)


def _up(family: Metric, row: _Row) -> None:
    _add(family, row.who, 1.0 if row.state is ProcessState.RUNNING else 0.0)


def _start(family: Metric, row: _Row) -> None:
    if row.start_wall is not None:
        _add(family, row.who, row.start_wall)


def _transitions(family: Metric, row: _Row) -> None:
    stats = row.stats
    for (from_state, to_state), count in sorted((stats.transitions if stats else {}).items()):
        _add(family, (*row.who, from_state.name, to_state.name), count)


def _restarts(family: Metric, row: _Row) -> None:
    _add(family, row.who, row.stats.restarts if row.stats else 0)


def _starts(family: Metric, row: _Row) -> None:
    # Every cause is a series from the start (0 until it happens), so rate() and
    # increase() see the first start of each kind.
    started = row.stats.starts if row.stats else {}
    for cause in START_CAUSES:
        _add(family, (*row.who, cause.value), started.get(cause, 0))


def _exits(family: Metric, row: _Row) -> None:
    stats = row.stats
    _add(family, (*row.who, "true"), stats.exits_expected if stats else 0)
    _add(family, (*row.who, "false"), stats.exits_unexpected if stats else 0)


def _last_exit(family: Metric, row: _Row) -> None:
    if row.stats is not None and row.stats.last_exit_code is not None:
        _add(family, row.who, row.stats.last_exit_code)


def _durations(family: Metric, row: _Row) -> None:
    runs = row.stats.run_durations if row.stats else _EMPTY_RUNS
    assert isinstance(family, HistogramMetricFamily)
    family.add_metric(list(row.who), runs.cumulative(), runs.total)


def _ready_durations(family: Metric, row: _Row) -> None:
    readies = row.stats.ready_durations if row.stats else _EMPTY_READY
    assert isinstance(family, HistogramMetricFamily)
    family.add_metric(list(row.who), readies.cumulative(), readies.total)


def _storm(family: Metric, row: _Row) -> None:
    _add(family, row.who, 1.0 if row.storm else 0.0)


_LIFECYCLE: tuple[tuple[MetricSpec, _Build], ...] = (
    (cat.PROCESS_STATE, _state),
    (cat.PROCESS_UP, _up),
    (cat.PROCESS_START_TIME, _start),
    (cat.PROCESS_TRANSITIONS, _transitions),
    (cat.PROCESS_RESTARTS, _restarts),
    (cat.PROCESS_STARTS, _starts),
    (cat.PROCESS_EXITS, _exits),
    (cat.PROCESS_LAST_EXIT_CODE, _last_exit),
    (cat.PROCESS_RUN_DURATION, _durations),
    (cat.PROCESS_READY, _up),  # ready means RUNNING (after startsecs or READY=1)
    (cat.PROCESS_READY_SECONDS, _ready_durations),
    (cat.PROCESS_RESTART_STORM, _storm),
)


def _cpu(family: Metric, token: _Resources) -> None:
    _add(family, (*token.who, CPU_MODES[0]), token.sample.cpu_user)
    _add(family, (*token.who, CPU_MODES[1]), token.sample.cpu_system)


def _rss(family: Metric, token: _Resources) -> None:
    _add(family, token.who, token.sample.rss)


def _fds(family: Metric, token: _Resources) -> None:
    if token.sample.open_fds is not None:
        _add(family, token.who, token.sample.open_fds)


def _threads(family: Metric, token: _Resources) -> None:
    _add(family, token.who, token.sample.threads)


def _members(family: Metric, token: _Resources) -> None:
    _add(family, token.who, token.sample.processes)


_RESOURCES: tuple[tuple[MetricSpec, _Build], ...] = (
    (cat.PROCESS_CPU, _cpu),
    (cat.PROCESS_RSS, _rss),
    (cat.PROCESS_OPEN_FDS, _fds),
    (cat.PROCESS_THREADS, _threads),
    (cat.PROCESS_TREE_PROCESSES, _members),
)


def _log_bytes(family: Metric, token: _LogCounts) -> None:
    for stream, count in zip(LOG_STREAMS, token.counts, strict=True):
        _add(family, (*token.who, stream), count)


def _builder(spec: MetricSpec, build: _Build) -> Callable[[object], Sequence[Sample]]:
    """``build`` as ``PartedMetric`` wants it: a token in, that part's samples out."""

    def samples(token: object) -> Sequence[Sample]:
        family = _family(spec)
        build(family, token)
        return family.samples

    return samples


class _PartedFamilies:
    """Parted families over one kind of token; the same objects while no token changed."""

    def __init__(self, specs: Sequence[tuple[MetricSpec, _Build]]) -> None:
        self._templates = tuple((_family(spec), _builder(spec, build)) for spec, build in specs)
        self._tokens: tuple[object, ...] = ()
        self._metrics: tuple[PartedMetric, ...] = ()

    def families(self, tokens: Sequence[object]) -> tuple[PartedMetric, ...]:
        """The families over ``tokens``: the previous ones when they are the same objects."""
        previous = self._tokens
        if self._metrics and len(previous) == len(tokens) and all(map(is_, previous, tokens)):
            return self._metrics
        self._tokens = tuple(tokens)
        self._metrics = tuple(
            PartedMetric(template, self._tokens, build) for template, build in self._templates
        )
        return self._metrics


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


def _health_gauge_families(values: Mapping[str, float]) -> list[Metric]:
    """The ``HEALTH_GAUGE_METRICS`` families from the daemon's health gauges."""
    families: list[Metric] = []
    for name, value in sorted(values.items()):
        spec = cat.HEALTH_GAUGE_METRICS.get(name)
        if spec is None:
            continue  # a gauge no metric shows (yet)
        family = _family(spec)
        _add(family, (), value)
        families.append(family)
    return families


def _rpc_family(durations: Mapping[tuple[str, str], RpcDurations]) -> Metric:
    """``supervisor_rpc_request_duration_seconds``: one histogram per called pair."""
    family = _family(cat.RPC_DURATION)
    assert isinstance(family, HistogramMetricFamily)
    for (method, outcome), histogram in sorted(durations.items()):
        buckets = RunDurations(
            bounds=histogram.bounds, counts=histogram.counts, total=histogram.total
        ).cumulative()
        family.add_metric([method, outcome], buckets, histogram.total)
    return family


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
        health_gauges: the daemon's health gauges (the journal's lag); None leaves
            their metrics out.
        rpc_durations: XML-RPC call durations; None leaves
            ``supervisor_rpc_request_duration_seconds`` out.
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
        health_gauges: HealthGaugeSource | None = None,
        notifications: NotificationSource | None = None,
        rpc_durations: RpcDurationSource | None = None,
    ) -> None:
        self._aggregate = aggregate
        self._faults = faults
        self._health_gauges = health_gauges
        self._rpc_durations = rpc_durations
        self._notifications = notifications
        self._groups = groups
        self._bus = bus
        self._version = version
        self._sampler = sampler
        self._log_bytes = log_bytes
        self._storms = storms
        # Last scrape's tokens per process: the same object while its inputs are
        # the same (the encoder reuses their text; see ``exposition``).
        self._rows_by_who: dict[ProcessKey, _Row] = {}
        self._resource_tokens: dict[ProcessKey, _Resources] = {}
        self._log_tokens: dict[ProcessKey, _LogCounts] = {}
        self._lifecycle_families = _PartedFamilies(_LIFECYCLE)
        self._resource_families = _PartedFamilies(_RESOURCES)
        self._log_families = _PartedFamilies(((cat.PROCESS_LOG_BYTES, _log_bytes),))

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

    @staticmethod
    def _row(
        previous: Mapping[ProcessKey, _Row],
        who: ProcessKey,
        state: ProcessState,
        *,
        start: float | None,
        stats: ProcessStats | None,
        storm: bool,
    ) -> _Row:
        row = previous.get(who)
        if (
            row is not None
            and row.state is state
            and row.start_wall == start
            and row.stats is stats  # the aggregate's same object until an event
            and row.storm is storm
        ):
            return row
        return _Row(
            group=who[0], name=who[1], state=state, start_wall=start, stats=stats, storm=storm
        )

    def _rows(self) -> list[tuple[_Row, int]]:
        """Every process to show, sorted by ``(group, name)``, with its pid (0: none)."""
        stats = self._aggregate.snapshot()
        groups = self._snapshot_groups()
        in_storm = frozenset(self._storms()) if self._storms is not None else frozenset()
        previous = self._rows_by_who
        rows: list[tuple[_Row, int]] = []
        if groups is None:
            for who, snapshot in stats.items():
                row = self._row(
                    previous,
                    who,
                    snapshot.state,
                    start=snapshot.last_start_wall,
                    stats=snapshot,
                    storm=who in in_storm,
                )
                rows.append((row, 0))
        else:
            for group in groups:
                for info in group.processes:
                    state = _state_of(info.state)
                    if state is None:
                        continue  # not a state code we know: nothing sensible to show
                    who = (info.group, info.name)
                    known = stats.get(who)
                    start = info.start if info.start > 0 else None
                    if start is None and known is not None:
                        start = known.last_start_wall
                    row = self._row(
                        previous, who, state, start=start, stats=known, storm=who in in_storm
                    )
                    rows.append((row, info.pid))
        rows.sort(key=lambda item: (item[0].group, item[0].name))
        self._rows_by_who = {row.who: row for row, _pid in rows}
        return rows

    def collect(self) -> Iterator[Metric]:
        """Every metric family, rendered now."""
        rows = self._rows()
        yield from self._lifecycle_families.families([row for row, _pid in rows])
        yield from self._resources(rows)
        yield from self._daemon()

    # ------------------------------------------------------------------ resources

    def _resources(self, rows: Sequence[tuple[_Row, int]]) -> Iterator[Metric]:
        # No child: absent, not zero.
        pids = [pid for _row, pid in rows if pid > 0]
        sampler = self._sampler
        samples = sample_trees(pids) if sampler is None else {pid: sampler(pid) for pid in pids}
        previous, current = self._resource_tokens, {}
        tokens: list[_Resources] = []
        for row, pid in rows:
            sample = samples.get(pid) if pid > 0 else None
            if sample is None:
                continue
            token = previous.get(row.who)
            if token is None or token.sample != sample:
                token = _Resources(row.who, sample)
            current[row.who] = token
            tokens.append(token)
        self._resource_tokens = current
        yield from self._resource_families.families(tokens)
        if self._log_bytes is not None:
            shown = {row.who for row, _pid in rows}
            previous_logs, current_logs = self._log_tokens, {}
            log_tokens: list[_LogCounts] = []
            for who, streams in sorted(self._log_bytes().items()):
                if who not in shown:
                    continue
                counts = tuple(streams.get(stream, 0) for stream in LOG_STREAMS)
                log_token = previous_logs.get(who)
                if log_token is None or log_token.counts != counts:
                    log_token = _LogCounts(who, counts)
                current_logs[who] = log_token
                log_tokens.append(log_token)
            self._log_tokens = current_logs
            yield from self._log_families.families(log_tokens)

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
        if self._health_gauges is not None:
            yield from _health_gauge_families(self._health_gauges())
        if self._rpc_durations is not None:
            yield _rpc_family(self._rpc_durations())
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
