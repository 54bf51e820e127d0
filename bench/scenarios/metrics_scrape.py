"""/metrics scrape latency with N programs RUNNING (psutil samples of every process tree).

``GET /metrics`` on the control plane's inet port, M times in sequence after a 1 s
settle; request and full body are timed. A daemon without ``/metrics`` (supervisord
answers 404) is *not available* here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from bench.daemons import (
    DaemonSpec,
    DaemonUnavailable,
    ScenarioFailed,
    all_running_timeout,
    running_daemon,
    wait_all_running,
)
from bench.scenarios import Profile, Samples, sleeper_programs
from bench.stats import MetricSpec, median, percentile

SETTLE = 1.0
REQUEST_TIMEOUT = 30.0


async def _scrapes(url: str, count: int) -> list[float] | None:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    latencies: list[float] = []
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for _ in range(count + 1):  # the first one warms the connection up, untimed
            started = time.perf_counter()
            async with session.get(url) as response:
                body = await response.read()
            elapsed = time.perf_counter() - started
            if response.status == 404:
                return None
            if response.status != 200 or b"supervisor_process_up" not in body:
                raise ScenarioFailed(f"GET /metrics: HTTP {response.status}: {body[:200]!r}")
            latencies.append(elapsed)
    return latencies[1:]


class MetricsScrape:
    """Sequential ``/metrics`` scrapes with N programs RUNNING."""

    name = "metrics_scrape"
    title = "/metrics scrape"
    baseline_label = ""

    def __init__(self, profile: Profile) -> None:
        self.programs = profile.programs
        self.scrapes = profile.metrics_scrapes
        n = self.programs
        self.metrics: tuple[MetricSpec, ...] = (
            MetricSpec(key="median_ms", label=f"{n} programs, median", unit="ms"),
            MetricSpec(key="p99_ms", label=f"{n} programs, p99", unit="ms"),
        )

    def params(self) -> Mapping[str, Any]:
        """Programs and scrapes per run."""
        return {"programs": self.programs, "scrapes": self.scrapes}

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Start N sleepers, then scrape in sequence."""
        with running_daemon(daemon, sleeper_programs(self.programs)) as running:
            wait_all_running(running, self.programs, all_running_timeout(self.programs))
            time.sleep(SETTLE)
            url = running.layout.rpc_url.rsplit("/", 1)[0] + "/metrics"
            try:
                latencies = asyncio.run(_scrapes(url, self.scrapes))
            except (aiohttp.ClientError, TimeoutError) as error:
                raise ScenarioFailed(f"{type(error).__name__}: {error}") from error
        if latencies is None:
            raise DaemonUnavailable("no /metrics endpoint (HTTP 404)")
        return {
            "median_ms": [1000 * median(latencies)],
            "p99_ms": [1000 * percentile(latencies, 99)],
        }

    def baseline_once(self) -> Samples | None:
        """No supervisor-free reference."""
        return None
