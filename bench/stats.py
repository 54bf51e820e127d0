"""Pure statistics and report rendering for the benchmark suite.

Rules of this file: no I/O, no clocks, no processes. Everything here takes numbers or
frozen report objects and returns numbers or text, so it is unit-tested directly
(``tests/unit/test_bench_stats.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: The daemon every ratio is relative to, and the one being compared with it.
REFERENCE = "supervisord"
CANDIDATE = "superd"


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between order statistics.

    Same definition as numpy's default (``method="linear"``), so figures are comparable
    with a notebook's.

    Raises:
        ValueError: when ``samples`` is empty or ``q`` is outside 0..100.
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be within 0..100, got {q!r}")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100.0
    lower = math.floor(position)
    upper = math.ceil(position)
    if lower == upper:
        return float(ordered[lower])
    fraction = position - lower
    return float(ordered[lower] + (ordered[upper] - ordered[lower]) * fraction)


def median(samples: Sequence[float]) -> float:
    """The median (50th percentile) of ``samples``; raises ``ValueError`` when empty."""
    return percentile(samples, 50.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Order statistics of one metric's samples, pooled over the repetitions."""

    n: int
    median: float
    p99: float
    min: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        """Summarize ``samples``; raises ``ValueError`` when empty."""
        return cls(
            n=len(samples),
            median=median(samples),
            p99=percentile(samples, 99.0),
            min=float(min(samples)),
            max=float(max(samples)),
        )

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready mapping."""
        return {
            "n": self.n,
            "median": self.median,
            "p99": self.p99,
            "min": self.min,
            "max": self.max,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    """What one measured figure means: its key in the samples, label, unit and direction."""

    key: str
    label: str
    unit: str
    lower_is_better: bool = True


def _empty_summaries() -> Mapping[str, Summary]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one daemon achieved in one scenario: summaries, or why there are none."""

    daemon: str
    summaries: Mapping[str, Summary] = field(default_factory=_empty_summaries)
    #: Why the daemon could not run the scenario; None when every repetition ran.
    unavailable: str | None = None
    #: True when the daemon started but the scenario did not complete ("failed"),
    #: False when the daemon could not run it at all ("not available").
    failed: bool = False
    #: Repetitions that completed.
    runs: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioReport:
    """One scenario's results for every daemon, plus an optional non-daemon baseline."""

    name: str
    title: str
    params: Mapping[str, Any]
    metrics: tuple[MetricSpec, ...]
    outcomes: Mapping[str, Outcome]
    #: Figures of a reference pipeline without any supervisor (e.g. ``writer | cat``).
    baseline: Mapping[str, Summary] = field(default_factory=_empty_summaries)
    baseline_label: str = ""


def format_value(value: float, unit: str) -> str:
    """A number with about three significant figures and its unit: ``1.02 s``, ``512 MiB``."""
    magnitude = abs(value)
    if magnitude >= 100 or value == 0:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def format_summary(summary: Summary, unit: str) -> str:
    """``median (min–max)``, or just the median when there was a single sample."""
    middle = format_value(summary.median, unit)
    if summary.n == 1:
        return middle
    low = format_value(summary.min, "")
    high = format_value(summary.max, "")
    return f"{middle} ({low}–{high})"


def ratio(candidate: float, reference: float) -> float | None:
    """``candidate / reference``, or None when the reference is zero (no meaningful ratio)."""
    if reference == 0:
        return None
    return candidate / reference


def format_ratio(value: float | None) -> str:
    """``0.52×``; ``n/a`` when there is no ratio."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{format_value(value, '')}×"


def _cell(outcome: Outcome | None, metric: MetricSpec) -> str:
    if outcome is None:
        return "not run"
    if outcome.unavailable is not None:
        return "failed" if outcome.failed else "not available"
    summary = outcome.summaries.get(metric.key)
    if summary is None:
        return "—"
    return format_summary(summary, metric.unit)


def _ratio_cell(report: ScenarioReport, metric: MetricSpec) -> str:
    reference = report.outcomes.get(REFERENCE)
    candidate = report.outcomes.get(CANDIDATE)
    if reference is None or candidate is None:
        return "n/a"
    ref = reference.summaries.get(metric.key)
    cand = candidate.summaries.get(metric.key)
    if ref is None or cand is None:
        return "n/a"
    return format_ratio(ratio(cand.median, ref.median))


def _escape(text: str) -> str:
    """Keep a cell on one row: pipes and newlines would break the markdown table."""
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(
    reports: Sequence[ScenarioReport], daemons: Sequence[str] = (REFERENCE, CANDIDATE)
) -> str:
    """The results as one markdown table, followed by the reasons a daemon was unavailable.

    Cells read ``median (min–max)`` over every sample of every repetition; the ratio
    column is ``superd median / supervisord median`` (below 1 is better for a metric
    where lower is better).
    """
    header = ["Scenario", "Metric", "Better", *daemons, f"{CANDIDATE}/{REFERENCE}", "Baseline"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    notes: list[str] = []
    for report in reports:
        for metric in report.metrics:
            baseline = report.baseline.get(metric.key)
            baseline_cell = (
                f"{format_summary(baseline, metric.unit)} ({report.baseline_label})"
                if baseline is not None
                else "—"
            )
            row = [
                report.title,
                metric.label,
                "lower" if metric.lower_is_better else "higher",
                *(_cell(report.outcomes.get(name), metric) for name in daemons),
                _ratio_cell(report, metric),
                baseline_cell,
            ]
            lines.append("| " + " | ".join(_escape(cell) for cell in row) + " |")
        for name in daemons:
            outcome = report.outcomes.get(name)
            if outcome is not None and outcome.unavailable is not None:
                kind = "failed" if outcome.failed else "not available"
                notes.append(f"- {report.title}, {name}: {kind}: {outcome.unavailable}")
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\n" + "\n".join(_escape(note) for note in notes) + "\n"
    return text


def report_to_json(reports: Sequence[ScenarioReport]) -> list[dict[str, Any]]:
    """The results as JSON-ready data: every summary, ratio and unavailability reason."""
    out: list[dict[str, Any]] = []
    for report in reports:
        ratios: dict[str, float | None] = {}
        reference = report.outcomes.get(REFERENCE)
        candidate = report.outcomes.get(CANDIDATE)
        for metric in report.metrics:
            ref = reference.summaries.get(metric.key) if reference else None
            cand = candidate.summaries.get(metric.key) if candidate else None
            ratios[metric.key] = (
                ratio(cand.median, ref.median) if ref is not None and cand is not None else None
            )
        out.append(
            {
                "scenario": report.name,
                "title": report.title,
                "params": dict(report.params),
                "metrics": [
                    {
                        "key": m.key,
                        "label": m.label,
                        "unit": m.unit,
                        "lower_is_better": m.lower_is_better,
                    }
                    for m in report.metrics
                ],
                "daemons": {
                    name: {
                        "runs": outcome.runs,
                        "unavailable": outcome.unavailable,
                        "failed": outcome.failed,
                        "summaries": {k: s.as_dict() for k, s in outcome.summaries.items()},
                    }
                    for name, outcome in report.outcomes.items()
                },
                "ratio_candidate_over_reference": ratios,
                "baseline": {
                    "label": report.baseline_label,
                    "summaries": {k: s.as_dict() for k, s in report.baseline.items()},
                },
            }
        )
    return out
