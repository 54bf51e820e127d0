"""``load_events`` from Prometheus: starts and exits of many hosts, from the counters.

Prometheus keeps no events, only counters sampled at each scrape; this module turns
their increases back into rows of the ``load_events`` frame, so ``restarts`` and
``common_cause``-style questions work across a fleet (``runs`` and ``exit_summary``
need run durations and exit codes: the journal or ``/events`` has them):

- ``supervisor_process_starts_total{cause}``: each increase of k between two samples
  is k ``PROCESS_STATE_STARTING`` rows with that cause, at the later sample's time
  (so ``restarts`` counts what ``supervisor_process_restarts_total`` counts);
- ``supervisor_process_exits_total{expected}``: k ``PROCESS_STATE_EXITED`` rows;
- ``supervisor_process_restart_storm``: superd's own storm detector, per host: a rise
  to 1 is a ``PROCESS_STORM_BEGIN`` row, a fall to 0 a ``PROCESS_STORM_END`` row (the
  events superd publishes), a storm under way at the first sample a BEGIN there.

Rules: times are as precise as the query's step; a counter that went down was reset
(superd restarted) and its new value is the increase; what happened before the first
sample of the range is unknown and left out; pids, exit codes and serials are NA.
Each row carries ``host``: the series' ``instance`` label.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence

from exporters.journal.filters import ProcessSpec

PREFIX = "prometheus+"
"""``load_events("prometheus+http://prometheus:9090")`` reads Prometheus."""

DEFAULT_RANGE = 86_400.0  # seconds read when ``since`` is not given
_MAX_POINTS = 10_000  # Prometheus refuses more than 11,000 points per series

_STORM_GAUGE = "supervisor_process_restart_storm"
_QUERIES = (
    ("supervisor_process_starts_total", "PROCESS_STATE_STARTING"),
    ("supervisor_process_exits_total", "PROCESS_STATE_EXITED"),
)


def prometheus_rows(
    url: str,
    low: float | None,
    high: float | None,
    specs: Sequence[ProcessSpec],
    timeout: float,
) -> tuple[list[tuple[object, ...]], list[str]]:
    """Rows in ``sources._READ`` order (and each row's host), oldest first.

    Raises:
        OSError: Prometheus cannot be reached; ValueError: it answered with an error.
    """
    end = high if high is not None else time.time()
    start = low if low is not None else end - DEFAULT_RANGE
    step = max(1.0, (end - start) / _MAX_POINTS)
    found: list[tuple[float, str, tuple[object, ...]]] = []
    for metric, type_ in _QUERIES:
        for labels, samples in _query_range(
            url, metric, start=start, end=end, step=step, timeout=timeout
        ):
            group, name = labels.get("group"), labels.get("name")
            if specs and not any(spec.matches(group, name) for spec in specs):
                continue
            host = labels.get("instance", "")
            for at, count in _increases(samples):
                row = _row(type_, at, group, name, labels)
                found.extend((at, host, row) for _ in range(count))
    for labels, samples in _query_range(
        url, _STORM_GAUGE, start=start, end=end, step=step, timeout=timeout
    ):
        group, name = labels.get("group"), labels.get("name")
        if specs and not any(spec.matches(group, name) for spec in specs):
            continue
        host = labels.get("instance", "")
        for at, type_ in _storm_changes(samples):
            found.append((at, host, _storm_row(type_, at, group, name)))
    found.sort(key=lambda item: item[0])
    return [row for _, _, row in found], [host for _, host, _ in found]


def _row(
    type_: str, at: float, group: str | None, name: str | None, labels: dict[str, str]
) -> tuple[object, ...]:
    starting = type_ == "PROCESS_STATE_STARTING"
    expected = labels.get("expected")
    return (
        None,  # serial
        at,
        type_,
        group,
        name,
        None,  # from_state: not in the counters
        "STARTING" if starting else "EXITED",
        labels.get("cause") if starting else "exit",
        None,  # origin
        None,  # run
        None,  # episode
        None,  # pid
        None,  # exit_status
        None,  # signal
        None if starting or expected is None else expected == "true",
        None,  # run_duration
        None,  # stderr_tail
    )


def _storm_row(type_: str, at: float, group: str | None, name: str | None) -> tuple[object, ...]:
    return (None, at, type_, group, name, *([None] * 12))


def _storm_changes(samples: list[tuple[float, float]]) -> list[tuple[float, str]]:
    """(time, BEGIN or END) where the storm gauge rose or fell (a storm at the start: BEGIN)."""
    changes: list[tuple[float, str]] = []
    if samples and samples[0][1] > 0:
        changes.append((samples[0][0], "PROCESS_STORM_BEGIN"))
    for (_, before), (at, value) in itertools.pairwise(samples):
        if value > 0 and before <= 0:
            changes.append((at, "PROCESS_STORM_BEGIN"))
        elif value <= 0 < before:
            changes.append((at, "PROCESS_STORM_END"))
    return changes


def _increases(samples: list[tuple[float, float]]) -> list[tuple[float, int]]:
    """(time, how many) for each sample above the previous one (a drop is a reset)."""
    result: list[tuple[float, int]] = []
    for (_, before), (at, value) in itertools.pairwise(samples):
        delta = value - before if value >= before else value
        if delta > 0:
            result.append((at, round(delta)))
    return result


def _query_range(
    url: str, metric: str, *, start: float, end: float, step: float, timeout: float
) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    query = urllib.parse.urlencode({"query": metric, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(
        f"{url.rstrip('/')}/api/v1/query_range?{query}", timeout=timeout
    ) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise ValueError(f"Prometheus {url}: {body.get('error', body)}")
    return [
        (dict(series["metric"]), [(float(t), float(v)) for t, v in series["values"]])
        for series in body["data"]["result"]
    ]
