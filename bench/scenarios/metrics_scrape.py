"""/metrics scrape latency with N programs RUNNING (psutil samples of every process tree).

``GET /metrics`` on the control plane's inet port, M times in sequence after a 1 s
settle; request and full body are timed, and the body's size recorded.

supervisord has no ``/metrics``; the best existing path for it is an exporter in the
style of the supervisord Prometheus exporters: ``supervisor.getAllProcessInfo`` over
XML-RPC, parsed, rendered as Prometheus text (state, up, start time per process).
That path is timed the same way for supervisord (and its XML body size recorded), so
the two columns answer one question: what one scrape of N processes costs.

"psutil sampling" is the cost of the /proc reads behind the per-process CPU, memory
and fd metrics, measured in the harness over the daemon's children with the same
function superd's collector uses (a supervisord exporter needs the same reads).
"""

from __future__ import annotations

import asyncio
import time
import xmlrpc.client
from collections.abc import Mapping
from typing import Any

import aiohttp
import psutil
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from bench.daemons import (
    DaemonSpec,
    ScenarioFailed,
    all_running_timeout,
    running_daemon,
    wait_all_running,
)
from bench.scenarios import Profile, Samples, sleeper_programs
from bench.stats import MetricSpec, median, percentile

SETTLE = 1.0
REQUEST_TIMEOUT = 30.0


def render_from_process_info(infos: list[dict[str, Any]]) -> bytes:
    """What a getAllProcessInfo-based exporter serves: state, up, start time per process."""
    registry = CollectorRegistry()
    labels = ("group", "name")
    state = Gauge("supervisor_process_state_code", "state", labels, registry=registry)
    up = Gauge("supervisor_process_up", "1 while RUNNING", labels, registry=registry)
    start = Gauge("supervisor_process_start_time_seconds", "start", labels, registry=registry)
    for info in infos:
        key = (info["group"], info["name"])
        state.labels(*key).set(info["state"])
        up.labels(*key).set(1 if info["statename"] == "RUNNING" else 0)
        start.labels(*key).set(info["start"])
    return generate_latest(registry)


async def _scrapes(url: str, rpc_url: str, count: int) -> tuple[list[float], int, bool]:
    """(latencies, bytes of one answer, whether it was superd's own /metrics)."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    latencies: list[float] = []
    size = 0
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url) as probe:
            own = probe.status != 404
            await probe.read()
        request = xmlrpc.client.dumps((), "supervisor.getAllProcessInfo").encode()
        for _ in range(count + 1):  # the first one warms the connection up, untimed
            started = time.perf_counter()
            if own:
                async with session.get(url) as response:
                    body = await response.read()
                ok = response.status == 200 and b"supervisor_process_up" in body
            else:
                headers = {"Content-Type": "text/xml"}
                async with session.post(rpc_url, data=request, headers=headers) as response:
                    body = await response.read()
                ok = response.status == 200
                if ok:
                    ((infos,), _method) = xmlrpc.client.loads(body)
                    if not isinstance(infos, list):
                        raise ScenarioFailed(f"getAllProcessInfo answered {type(infos).__name__}")
                    render_from_process_info(infos)
            elapsed = time.perf_counter() - started
            if not ok:
                raise ScenarioFailed(f"scrape: HTTP {response.status}: {body[:200]!r}")
            latencies.append(elapsed)
            size = len(body)
    return latencies[1:], size, own


def psutil_sampling_ms(daemon_pid: int) -> float:
    """Time to sample every child tree of the daemon once, as superd's collector does."""
    from exporters.prometheus.sampling import sample_trees

    pids = [child.pid for child in psutil.Process(daemon_pid).children()]
    started = time.perf_counter()
    sample_trees(pids)
    return 1000 * (time.perf_counter() - started)


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
            MetricSpec(key="body_kib", label=f"{n} programs, bytes per scrape", unit="KiB"),
            MetricSpec(key="psutil_ms", label=f"/proc sampling of {n} trees", unit="ms"),
        )

    def params(self) -> Mapping[str, Any]:
        """Programs and scrapes per run."""
        return {"programs": self.programs, "scrapes": self.scrapes}

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Start N sleepers, then scrape in sequence."""
        with running_daemon(daemon, sleeper_programs(self.programs)) as running:
            wait_all_running(running, self.programs, all_running_timeout(self.programs))
            time.sleep(SETTLE)
            rpc_url = running.layout.rpc_url
            url = rpc_url.rsplit("/", 1)[0] + "/metrics"
            try:
                latencies, size, _own = asyncio.run(_scrapes(url, rpc_url, self.scrapes))
            except (aiohttp.ClientError, TimeoutError) as error:
                raise ScenarioFailed(f"{type(error).__name__}: {error}") from error
            sampling = psutil_sampling_ms(running.pid)
        return {
            "median_ms": [1000 * median(latencies)],
            "p99_ms": [1000 * percentile(latencies, 99)],
            "body_kib": [size / 1024],
            "psutil_ms": [sampling],
        }

    def baseline_once(self) -> Samples | None:
        """No supervisor-free reference."""
        return None
