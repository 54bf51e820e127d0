"""The load scenario's figures: RSS slope, the soak verdict, SSE delivery shares, run-queue wait."""

from __future__ import annotations

import os

import pytest

from bench.load_figures import (
    MIB,
    rss_figures,
    slope_per_minute,
    soak_verdict,
    sse_figures,
    wait_between,
)
from bench.scenarios.load import run_queue_wait
from bench.stats import MetricSpec, Outcome, ScenarioReport, Summary


def test_slope_of_a_straight_line_is_its_growth_in_mib_per_minute() -> None:
    """RSS growing 1 MiB every 30 s has a slope of 2 MiB/min, whatever its offset."""
    points = [(30.0 * i, 50 * MIB + i * MIB) for i in range(10)]
    assert slope_per_minute(points) == pytest.approx(2.0)


def test_slope_of_fewer_than_two_points_or_one_instant_is_zero() -> None:
    """No slope can be fitted to one point or to points at a single instant: 0."""
    assert slope_per_minute([]) == 0.0
    assert slope_per_minute([(1.0, 5.0 * MIB)]) == 0.0
    assert slope_per_minute([(1.0, 5.0 * MIB), (1.0, 9.0 * MIB)]) == 0.0


def test_rss_figures_separate_the_warm_up_from_the_second_half() -> None:
    """A rise in the first half then a plateau: positive whole-window slope, flat late slope."""
    points = [(float(t), (40 + min(t, 50) / 5) * MIB) for t in range(0, 121, 5)]
    figures = rss_figures(points)
    assert figures["rss_start_mib"] == pytest.approx(40.0)
    assert figures["rss_end_mib"] == pytest.approx(50.0)
    assert figures["rss_max_mib"] == pytest.approx(50.0)
    assert figures["rss_slope_mib_per_min"] > 1.0
    assert figures["rss_late_slope_mib_per_min"] == pytest.approx(0.0)
    assert rss_figures([]) == {}


def _report(slopes: dict[str, float | None]) -> ScenarioReport:
    outcomes = {}
    for name, slope in slopes.items():
        if slope is None:
            outcomes[name] = Outcome(daemon=name, unavailable="exited", failed=True)
            continue
        summaries = {
            "rss_late_slope_mib_per_min": Summary.of([slope]),
            "rss_start_mib": Summary.of([60.0]),
            "rss_end_mib": Summary.of([61.0]),
        }
        outcomes[name] = Outcome(daemon=name, summaries=summaries, runs=1)
    metric = MetricSpec(key="rss_late_slope_mib_per_min", label="slope", unit="MiB/min")
    return ScenarioReport(
        name="load", title="load", params={}, metrics=(metric,), outcomes=outcomes
    )


def test_soak_verdict_passes_a_flat_daemon_and_flags_a_growing_one() -> None:
    """A late slope within the bound is flat; above it, or missing, fails the soak."""
    flat, text = soak_verdict(_report({"superd": 0.1}), bound=0.25)
    assert flat
    assert "superd: RSS 60.0 -> 61.0 MiB" in text
    assert "flat" in text
    growing, text = soak_verdict(_report({"superd": 0.4}), bound=0.25)
    assert not growing
    assert "GROWING" in text
    missing, text = soak_verdict(_report({"superd": None}), bound=0.25)
    assert not missing
    assert "no RSS slope (exited)" in text


def _client(first: int, expected: int, received: int, lost: int = 0) -> dict[str, object]:
    return {
        "first": first,
        "expected": expected,
        "received": received,
        "lost": lost,
        "duplicates": 0,
        "reconnects": 0,
        "errors": [],
    }


def test_sse_figures_count_every_serial_from_a_clients_first_to_the_end() -> None:
    """A client that got serials 10..99 of end=100 has share 1; one missing 5 of them 0.95."""
    result = {
        "clients": [_client(10, 100, 90), _client(0, 100, 95, lost=5)],
        "lag_sample": [0.001, 0.002, 0.010],
        "lag_max": 0.010,
    }
    samples, first = sse_figures(result, end=100)
    assert first == 0
    assert samples["sse_share_min"] == [pytest.approx(0.95)]
    assert samples["sse_lost"] == [5.0]
    assert samples["lag_max_ms"] == [pytest.approx(10.0)]
    assert samples["lag_p50_ms"] == [pytest.approx(2.0)]


def test_sse_figures_count_a_client_that_fell_short_of_the_end_as_a_loss() -> None:
    """A client that stopped at serial 49 of end=100 received half of what was published."""
    result = {"clients": [_client(0, 50, 50)], "lag_sample": [], "lag_max": 0.0}
    samples, _ = sse_figures(result, end=100)
    assert samples["sse_share_min"] == [pytest.approx(0.5)]
    assert "lag_p50_ms" not in samples


def test_run_queue_wait_sums_the_threads_present_in_both_readings() -> None:
    """Wait of threads seen twice is summed; a thread that came or went is left out."""
    assert wait_between({1: 100, 2: 50}, {1: 1_000_000_100, 2: 500_000_050, 3: 9}) == 1.5
    assert run_queue_wait(os.getpid())  # this process has at least one thread with a figure
