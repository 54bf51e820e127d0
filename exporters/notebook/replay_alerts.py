"""Which of the shipped alerts a history of runs would have fired (for ``replay_policy``).

Rules of this file:
- One truth: every threshold, ``for:`` duration and window is read from
  ``exporters.alerts.rules`` (``alert_specs``) for the ``AlertConfig`` given, and the
  storm gauge is superd's own storm detector (``exporters.storms.StormDetector``)
  fed the history, raised at its BEGIN and lowered at its END; nothing is copied here.
- An alert's condition is evaluated exactly on the history (as Prometheus would with
  a sample at every change): ``increase()``'s extrapolation at the window's edges and
  the rule group's evaluation interval are left out, so a condition that holds for
  less than an evaluation interval may fire here and not in Prometheus.
- Only the alerts about one process' own runs are evaluated (``ProcessRestartStorm``,
  ``ProcessFlapping``, ``ProcessFatal``, ``ProcessDown``); the others are about superd
  itself and are listed with ``applies`` False.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from exporters.alerts.rules import AlertConfig, AlertSpec, alert_specs
from exporters.notebook._common import _time
from exporters.storms import StormSettings
from exporters.storms.detector import (
    ChangeKind,
    Observation,
    ObservationKind,
    StormDetector,
    StormScope,
)
from supervisor_core.lifecycle import Cause

__all__ = ["ALERT_COLUMNS", "History", "alerts_fired", "gauge_intervals"]

ALERT_COLUMNS = ("alertname", "severity", "applies", "fires", "first_firing", "condition")


@dataclass(frozen=True, slots=True, kw_only=True)
class History:
    """One process' runs as the alerts see them (wall seconds).

    ``runs`` are (start, end) pairs, oldest first; the first start is the one that
    opened the window, every later one an automatic restart. ``fatal_at`` is when it
    went FATAL (None: never). ``end`` is where the history stops being known: the
    program is taken as stopped there (unless FATAL), so no storm outlives it; what
    counters remember (``ProcessFlapping``'s window) still counts after it.
    """

    group: str
    name: str
    runs: Sequence[tuple[float, float]]
    fatal_at: float | None
    end: float

    @property
    def restarts(self) -> list[float]:
        """When each automatic restart happened."""
        return [start for start, _end in self.runs[1:]]


def _intervals_over(
    changes: list[tuple[float, int]], threshold: float
) -> list[tuple[float, float]]:
    """Where a step function (``changes``: time, +/- delta) is above ``threshold``."""
    level = 0
    since: float | None = None
    found: list[tuple[float, float]] = []
    for at, delta in sorted(changes):
        level += delta
        if level > threshold and since is None:
            since = at
        elif level <= threshold and since is not None:
            found.append((since, at))
            since = None
    if since is not None:
        found.append((since, float("inf")))
    return found


def _first_firing(intervals: list[tuple[float, float]], for_seconds: float) -> float | None:
    """When an alert whose condition holds over ``intervals`` first fires (``for:``)."""
    for start, end in intervals:
        if end - start >= for_seconds:
            return start + for_seconds
    return None


def _flapping(spec: AlertSpec, history: History) -> tuple[float | None, str]:
    # increase(restarts[window]) > threshold: each restart counts for ``window`` seconds.
    window = spec.lookback_seconds
    changes = [(t, 1) for t in history.restarts] + [(t + window, -1) for t in history.restarts]
    intervals = _intervals_over(changes, spec.threshold)
    condition = (
        f"more than {spec.threshold:g} restarts within {window:g} s, for {spec.for_seconds:g} s"
    )
    return _first_firing(intervals, spec.for_seconds), condition


def _storm(
    spec: AlertSpec, history: History, settings: StormSettings | None
) -> tuple[float | None, str]:
    observations: list[Observation] = []
    group, name = history.group, history.name
    for index, (start, end) in enumerate(history.runs):
        cause = Cause.AUTOSTART if index == 0 else Cause.AUTORESTART
        observations.append(
            Observation(at=start, group=group, name=name, kind=ObservationKind.START, cause=cause)
        )
        observations.append(
            Observation(
                at=end,
                group=group,
                name=name,
                kind=ObservationKind.EXIT,
                expected=False,
                run_duration=end - start,
            )
        )
    # After ``end`` nothing is known: the program counts as stopped there (as a replayed
    # storm's recorded one was, or the window closed), so a storm does not last forever.
    last, kind = (
        (history.fatal_at, ObservationKind.FATAL)
        if history.fatal_at is not None
        else (history.end, ObservationKind.STOPPED)
    )
    observations.append(Observation(at=last, group=group, name=name, kind=kind))
    observations.sort(key=lambda o: o.at)
    intervals = gauge_intervals(observations, settings)
    condition = f"superd's storm detector reports a storm for {spec.for_seconds:g} s"
    return _first_firing(intervals, spec.for_seconds), condition


def gauge_intervals(
    observations: Sequence[Observation], settings: StormSettings | None = None
) -> list[tuple[float, float]]:
    """When superd's ``supervisor_process_restart_storm`` gauge would be 1: from each
    process storm's BEGIN to its END, as the detector publishes them (a storm's
    ``start`` is its first restart, earlier than the BEGIN that raises the gauge)."""
    detector = StormDetector(settings)
    began: dict[tuple[str, str], float] = {}
    intervals: list[tuple[float, float]] = []
    for observation in observations:
        for change in detector.feed(observation):
            if change.storm.scope is not StormScope.PROCESS:
                continue
            key = (change.storm.group, change.storm.name)
            if change.kind is ChangeKind.BEGIN:
                began[key] = change.at
            elif key in began:
                intervals.append((began.pop(key), change.at))
    intervals.extend((start, float("inf")) for start in began.values())
    return sorted(intervals)


def _fatal(spec: AlertSpec, history: History) -> tuple[float | None, str]:
    # FATAL is terminal: once there, the condition holds until someone acts.
    fires = None if history.fatal_at is None else history.fatal_at + spec.for_seconds
    return fires, f"FATAL for {spec.for_seconds:g} s"


def _down(spec: AlertSpec, history: History) -> tuple[float | None, str]:
    # Between two runs the process waits in a down state (EXITED/BACKOFF, then
    # STARTING); FATAL and STOPPED are not down states (rules.DOWN_STATES).
    gaps = [
        (end, following)
        for (_s, end), (following, _e) in zip(history.runs, history.runs[1:], strict=False)
    ]
    last_end = history.runs[-1][1] if history.runs else None
    if last_end is not None and history.fatal_at is None and last_end < history.end:
        gaps.append((last_end, history.end))  # still waiting when the history ends
    if history.fatal_at is not None:
        gaps = [(start, min(end, history.fatal_at)) for start, end in gaps]
    return _first_firing(gaps, spec.for_seconds), f"not RUNNING for {spec.for_seconds:g} s"


def alerts_fired(
    history: History,
    config: AlertConfig | None = None,
    settings: StormSettings | None = None,
) -> pd.DataFrame:
    """Every shipped alert and whether (and when first) ``history`` would have fired it.

    Args:
        history: one process' runs.
        config: the alert thresholds (default: the shipped rule files').
        settings: the host's ``[exporter:storms]`` (for ``ProcessRestartStorm``).

    Returns:
        One row per alert of ``alert_specs`` with the columns ``ALERT_COLUMNS``:
        ``applies`` (False for the alerts about superd itself), ``fires``,
        ``first_firing`` (NaT when it does not fire) and ``condition`` (in words,
        with the thresholds used).
    """
    config = config if config is not None else AlertConfig()
    evaluators: dict[str, Callable[[AlertSpec], tuple[float | None, str]]] = {
        "ProcessFlapping": lambda spec: _flapping(spec, history),
        "ProcessRestartStorm": lambda spec: _storm(spec, history, settings),
        "ProcessFatal": lambda spec: _fatal(spec, history),
        "ProcessDown": lambda spec: _down(spec, history),
    }
    rows: list[dict[str, object]] = []
    for spec in alert_specs(config):
        evaluate = evaluators.get(spec.name)
        if evaluate is None:
            rows.append(
                {
                    "alertname": spec.name,
                    "severity": spec.severity.value,
                    "applies": False,
                    "fires": False,
                    "first_firing": pd.NaT,
                    "condition": "about superd itself, not this process",
                }
            )
            continue
        fires, condition = evaluate(spec)
        rows.append(
            {
                "alertname": spec.name,
                "severity": spec.severity.value,
                "applies": True,
                "fires": fires is not None,
                "first_firing": pd.NaT if fires is None else _time(fires),
                "condition": condition,
            }
        )
    return pd.DataFrame(rows, columns=list(ALERT_COLUMNS))
