"""Many programs: launch, idle CPU, RSS, getAllProcessInfo and /metrics with N = 2,000.

One daemon per repetition with N sleeping programs (``startsecs=1``, AUTO logs, the
defaults of ``sleeper_programs``). Measured in order: launch -> ``getState`` RUNNING
and -> all N RUNNING (``getAllProcessInfo`` polled, as in ``launch``; supervisord's
answer takes seconds at this size, so its figure is quantized by its own answer
time), then after a settle the daemon's CPU over an idle window and its RSS, then
``getAllProcessInfo`` in sequence (full answer read and parsed once), then
``GET /metrics`` in sequence with the body size (supervisord: "—", it has no
``/metrics``; ``metrics_scrape`` has the getAllProcessInfo-exporter comparison).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import xmlrpc.client
from collections.abc import Mapping
from typing import Any

import aiohttp

from bench.daemons import (
    DaemonSpec,
    ScenarioFailed,
    all_running_timeout,
    cpu_between,
    running_daemon,
    wait_all_running,
)
from bench.scenarios import MIB, Profile, Samples, sleeper_programs
from bench.stats import MetricSpec, median

SETTLE = 1.0
#: supervisord needs ~19 s to be RUNNING with 2,000 programs (a bound, not a figure).
READY_TIMEOUT = 120.0
REQUEST_TIMEOUT = 60.0


async def _latencies(
    url: str, count: int, *, post: bytes | None = None
) -> tuple[list[float], bytes | None]:
    """``count`` sequential requests (after one untimed); latencies and the last body.

    The body is None when the daemon answers 404 (no such page).
    """
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    latencies: list[float] = []
    body = b""
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for _ in range(count + 1):
            started = time.perf_counter()
            if post is None:
                request = session.get(url)
            else:
                request = session.post(url, data=post, headers={"Content-Type": "text/xml"})
            async with request as response:
                body = await response.read()
            elapsed = time.perf_counter() - started
            if response.status == 404:
                return [], None
            if response.status != 200 or b"<fault>" in body:
                raise ScenarioFailed(f"{url}: HTTP {response.status}: {body[:200]!r}")
            latencies.append(elapsed)
    return latencies[1:], body


class ManyPrograms:
    """A daemon with thousands of programs: launch, idle cost, and its two big answers."""

    name = "many_programs"
    title = "many programs"
    baseline_label = ""

    def __init__(self, profile: Profile) -> None:
        self.programs = profile.many_programs
        self.window = profile.idle_window
        self.calls = profile.many_calls
        n = self.programs
        self.metrics: tuple[MetricSpec, ...] = (
            MetricSpec(key="ready_s", label=f"launch → getState RUNNING ({n})", unit="s"),
            MetricSpec(key="all_running_s", label=f"launch → {n} programs RUNNING", unit="s"),
            MetricSpec(key="cpu_percent", label=f"idle daemon CPU, {n} programs", unit="% core"),
            MetricSpec(key="rss_mib", label=f"daemon RSS, {n} programs", unit="MiB"),
            MetricSpec(key="rpc_ms", label=f"getAllProcessInfo, {n} programs, median", unit="ms"),
            MetricSpec(key="rpc_kib", label="getAllProcessInfo answer size", unit="KiB"),
            MetricSpec(key="metrics_ms", label=f"/metrics, {n} programs, median", unit="ms"),
            MetricSpec(key="metrics_kib", label="/metrics body size", unit="KiB"),
        )

    def params(self) -> Mapping[str, Any]:
        """Programs, idle window and sequential calls per answer."""
        return {"programs": self.programs, "window_s": self.window, "calls": self.calls}

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Launch N sleepers and measure launch, idle CPU, RSS and both answers."""
        daemon = dataclasses.replace(daemon, ready_timeout=READY_TIMEOUT)
        with running_daemon(daemon, sleeper_programs(self.programs)) as running:
            all_running = wait_all_running(
                running, self.programs, all_running_timeout(self.programs)
            )
            samples: Samples = {
                "ready_s": [running.ready_at - running.launched_at],
                "all_running_s": [all_running - running.launched_at],
            }
            time.sleep(SETTLE)
            cpu_before = running.cpu_reading()
            wall_before = time.perf_counter()
            time.sleep(self.window)
            cpu_after = running.cpu_reading()
            elapsed = time.perf_counter() - wall_before
            samples["cpu_percent"] = [100.0 * cpu_between(cpu_before, cpu_after) / elapsed]
            samples["rss_mib"] = [running.rss_bytes() / MIB]
            rpc_url = running.layout.rpc_url
            request = xmlrpc.client.dumps((), "supervisor.getAllProcessInfo").encode()
            try:
                rpc, body = asyncio.run(_latencies(rpc_url, self.calls, post=request))
                metrics, page = asyncio.run(
                    _latencies(rpc_url.rsplit("/", 1)[0] + "/metrics", self.calls)
                )
            except (aiohttp.ClientError, TimeoutError) as error:
                raise ScenarioFailed(f"{type(error).__name__}: {error}") from error
            if body is None:
                raise ScenarioFailed("getAllProcessInfo: 404")
            ((infos,), _method) = xmlrpc.client.loads(body)
            if not isinstance(infos, list) or len(infos) != self.programs:
                raise ScenarioFailed(f"getAllProcessInfo did not list {self.programs} programs")
            samples["rpc_ms"] = [1000 * median(rpc)]
            samples["rpc_kib"] = [len(body) / 1024]
            if page is not None:
                samples["metrics_ms"] = [1000 * median(metrics)]
                samples["metrics_kib"] = [len(page) / 1024]
        return samples

    def baseline_once(self) -> Samples | None:
        """No supervisor-free reference."""
        return None
