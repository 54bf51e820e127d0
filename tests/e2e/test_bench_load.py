"""Smoke test of the load scenario at a tiny size: real superd, supervisord and Prometheus."""

from __future__ import annotations

import pytest

from bench.daemons import DaemonSpec
from bench.harness import run_scenario
from bench.scenarios import QUICK
from bench.scenarios.load import Load
from bench.stats import render_markdown
from tests.peers import require_command

TINY = QUICK.with_overrides(
    reps=1,
    load_programs=20,
    load_crashing=5,
    load_sse_clients=3,
    load_rpc_clients=5,
    load_duration=4.0,
)
#: What only superd has: SSE, the journal, Prometheus scrapes of the listen port.
EXPORTER_KEYS = {
    "events_per_s",
    "lag_p50_ms",
    "lag_p99_ms",
    "lag_max_ms",
    "sse_share_min",
    "sse_lost",
    "sse_duplicates",
    "sse_reconnects",
    "journal_share",
    "scrape_p50_ms",
    "scrape_p99_ms",
    "scrape_max_ms",
    "scrapes_per_s",
    "scrapes_failed",
    "sse_cpu_pct",
    "prometheus_cpu_pct",
}


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_load_scenario_measures_both_daemons_and_superd_loses_no_event() -> None:
    """At a tiny size the load scenario yields every figure for superd (no event lost to any
    SSE client or the journal, no RPC failure) and the RPC, storm and RSS ones for supervisord."""
    require_command("prometheus")
    daemons = [
        DaemonSpec(name="supervisord", argv=(require_command("supervisord"),)),
        DaemonSpec(name="superd", argv=(require_command("superd"),)),
    ]
    scenario = Load(TINY)
    report = run_scenario(scenario, daemons, reps=1)

    superd = report.outcomes["superd"]
    assert superd.unavailable is None, superd.unavailable
    figures = {key: summary.median for key, summary in superd.summaries.items()}
    assert {metric.key for metric in scenario.metrics} <= set(figures)
    assert figures["rpc_errors"] == 0
    assert figures["sse_lost"] == 0
    assert figures["sse_duplicates"] == 0
    assert figures["sse_share_min"] == 1.0
    assert figures["journal_share"] == 1.0
    assert figures["restarts_per_s"] > 0
    assert figures["events_per_s"] > 0
    assert 0 < figures["rpc_p50_ms"] <= figures["rpc_p99_ms"]
    assert 0 <= figures["lag_p50_ms"] <= figures["lag_p99_ms"] <= figures["lag_max_ms"]
    assert 0 < figures["scrape_p50_ms"] <= figures["scrape_p99_ms"] <= figures["scrape_max_ms"]
    assert figures["rss_max_mib"] >= max(figures["rss_start_mib"], figures["rss_end_mib"]) > 0

    supervisord = report.outcomes["supervisord"]
    assert supervisord.unavailable is None, supervisord.unavailable
    keys = set(supervisord.summaries)
    assert {"rpc_p99_ms", "restarts_per_s", "rss_end_mib", "cpu_pct"} <= keys
    assert supervisord.summaries["rpc_errors"].median == 0
    assert not keys & EXPORTER_KEYS
    assert "| load |" in render_markdown([report])
