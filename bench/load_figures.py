"""The load scenario's figures from raw readings (pure: no I/O, no clocks).

RSS samples give start, end, max and least-squares slopes; the SSE client process's
result gives lag percentiles and delivery shares; the soak's verdict compares a late
RSS slope with a stated bound. Unit-tested in ``tests/unit/test_bench_load.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.daemons import ScenarioFailed
from bench.scenarios import Samples
from bench.stats import ScenarioReport, median, percentile

MIB = 1024 * 1024


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of ``(seconds, bytes)`` points, in MiB per minute (0 for < 2)."""
    if len(points) < 2:
        return 0.0
    xs = [x / 60.0 for x, _ in points]
    ys = [y / MIB for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def rss_figures(points: Sequence[tuple[float, float]]) -> dict[str, float]:
    """Start, end, max (MiB) and slopes (whole window, second half) of RSS samples."""
    if not points:
        return {}
    half = points[-1][0] / 2
    return {
        "rss_start_mib": points[0][1] / MIB,
        "rss_end_mib": points[-1][1] / MIB,
        "rss_max_mib": max(y for _, y in points) / MIB,
        "rss_slope_mib_per_min": slope_per_minute(points),
        "rss_late_slope_mib_per_min": slope_per_minute([p for p in points if p[0] >= half]),
    }


def soak_verdict(report: ScenarioReport, bound: float) -> tuple[bool, str]:
    """Whether every daemon's late RSS slope stayed within ``bound`` MiB/min, and why."""
    lines, flat = [], True
    for name, outcome in report.outcomes.items():
        summary = outcome.summaries.get("rss_late_slope_mib_per_min")
        if summary is None:
            flat = False
            lines.append(f"{name}: no RSS slope ({outcome.unavailable or 'not measured'})")
            continue
        ok = summary.max <= bound
        flat = flat and ok
        start = outcome.summaries["rss_start_mib"].median
        end = outcome.summaries["rss_end_mib"].median
        lines.append(
            f"{name}: RSS {start:.1f} -> {end:.1f} MiB, slope over the second half "
            f"{summary.max:+.3f} MiB/min: {'flat' if ok else 'GROWING'} (bound {bound} MiB/min)"
        )
    return flat, "; ".join(lines)


def sse_figures(result: Mapping[str, Any], end: int) -> tuple[Samples, int]:
    """Lag, delivery and reconnect figures from the SSE process; also the first serial seen."""
    clients = result["clients"]
    firsts = [c["first"] for c in clients if c["first"] >= 0]
    if len(firsts) != len(clients):
        raise ScenarioFailed(f"an SSE client received no event: {clients}")
    # A client stops at the first serial >= end, so ``expected`` is at least ``end`` unless it
    # fell short; events beyond ``end`` it saw while the end was not yet known count too.
    shares = [c["received"] / max(1, max(c["expected"], end) - c["first"]) for c in clients]
    lags = result["lag_sample"]
    samples: Samples = {
        "sse_share_min": [min(shares)],
        "sse_lost": [float(sum(c["lost"] for c in clients))],
        "sse_duplicates": [float(sum(c["duplicates"] for c in clients))],
        "sse_reconnects": [float(sum(c["reconnects"] for c in clients))],
    }
    if lags:
        samples["lag_p50_ms"] = [1000 * median(lags)]
        samples["lag_p99_ms"] = [1000 * percentile(lags, 99)]
        samples["lag_max_ms"] = [1000 * float(result["lag_max"])]
    return samples, min(firsts)


def wait_between(before: Mapping[int, int], after: Mapping[int, int]) -> float:
    """Seconds of run-queue wait between two readings, over the threads in both."""
    return sum(after[tid] - before[tid] for tid in before.keys() & after.keys()) / 1e9
