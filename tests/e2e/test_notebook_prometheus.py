"""load_events from a real Prometheus scraping a real superd: the fleet's starts and exits.

superd (a subprocess) runs a crash loop and a steady program; a real Prometheus
scrapes it every second. ``load_events("prometheus+<url>")`` turns the counters back
into rows: ``restarts`` of that frame must equal the increase of
``supervisor_process_restarts_total`` over the same range, as Prometheus itself has it.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from exporters.notebook import load_events, restarts
from tests.e2e.prometheus_server import free_port, prometheus
from tests.e2e.test_postmortem_notebook import metric
from tests.integration.superd_harness import Superd, base_config, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEADLINE = 60.0
SERIES = 'supervisor_process_restarts_total{group="crashy",name="crashy"}'


def query(base: str, promql: str, **params: float) -> list[dict[str, object]]:
    """Prometheus' answer (``result``) to an instant or range query."""
    path = "query_range" if "step" in params else "query"
    encoded = urllib.parse.urlencode({"query": promql, **params})
    with urllib.request.urlopen(f"{base}/api/v1/{path}?{encoded}", timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def scraped(base: str) -> float | None:
    """crashy's restarts as Prometheus last scraped them (None before the first scrape)."""
    result = query(base, SERIES)
    return float(result[0]["value"][1]) if result else None  # type: ignore[index]


async def test_restarts_from_prometheus_equal_the_restart_counter(tmp_path: Path) -> None:
    """restarts() of the Prometheus frame counts, per host and process, what
    supervisor_process_restarts_total increased by over the range; the exits are there too."""
    port = free_port()
    text = (
        base_config(tmp_path)
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{port}\n\n"
        + "[program:crashy]\ncommand = /bin/sh -c 'sleep 0.2; exit 4'\n"
        + "startsecs = 0\nautorestart = true\n\n"
        + "[program:steady]\ncommand = /bin/sh -c 'exec sleep 3600'\nstartsecs = 0\n"
    )
    superd = Superd(tmp_path, text, "-n")
    try:
        superd.wait_running()
        started = time.time()
        async with prometheus(tmp_path, ("127.0.0.1", port)) as base:
            # Prometheus is an external peer: its HTTP API is all there is to await.
            first = await asyncio.to_thread(
                wait_for, lambda: scraped(base), "a first scrape of the restarts", DEADLINE
            )
            # Restarts Prometheus sees happen, not only ones before its first scrape.
            await asyncio.to_thread(
                wait_for, lambda: (scraped(base) or 0) >= first + 3, "3 more restarts", DEADLINE
            )
            superd.call("stopProcess", "crashy")
            final = metric(port, SERIES)
            await asyncio.to_thread(
                wait_for, lambda: scraped(base) == final, "the final count scraped", DEADLINE
            )
            end = time.time() + 1
            events = await asyncio.to_thread(load_events, "prometheus+" + base, started - 5, end)
            counter = query(base, SERIES, start=started - 5, end=end, step=1.0)
    finally:
        superd.close()
    values = [float(v) for _, v in counter[0]["values"]]  # type: ignore[index, misc]
    increase = values[-1] - values[0]
    assert increase >= 3
    counted = restarts(events)
    assert len(counted[counted["process"] == "crashy"]) == increase
    assert set(counted["process"]) == {"crashy"}  # steady never restarted
    assert set(events["host"]) == {f"127.0.0.1:{port}"}
    assert set(counted["cause"]) <= {"autorestart", "damped", "retry"}
    exited = events[(events["process"] == "crashy") & (events["to_state"] == "EXITED")]
    assert len(exited) >= increase  # every restart followed an exit
    assert not exited["expected"].any()  # exit 4 is not in exitcodes
    assert events["time"].is_monotonic_increasing
    assert events["serial"].isna().all()
