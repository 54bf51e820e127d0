"""getAllProcessInfo latency with N programs: one client in sequence, then C at once.

Requests go to the inet XML-RPC endpoint through aiohttp. Timing covers request and
full response body; the client checks the HTTP status and the absence of a
``<fault>`` but does not parse the XML inside the timed span (parsing N structs in
the client would be the client's cost, not the daemon's). One untimed call is parsed
and must list all N processes.
"""

from __future__ import annotations

import asyncio
import time
import xmlrpc.client
from collections.abc import Mapping
from typing import Any

import aiohttp

from bench.daemons import (
    RPC_ERRORS,
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
BODY = xmlrpc.client.dumps((), "supervisor.getAllProcessInfo").encode()


async def _call(session: aiohttp.ClientSession, url: str) -> float:
    """One timed getAllProcessInfo round trip, in seconds."""
    started = time.perf_counter()
    async with session.post(url, data=BODY, headers={"Content-Type": "text/xml"}) as response:
        body = await response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200 or b"<fault>" in body:
        raise ScenarioFailed(f"getAllProcessInfo: HTTP {response.status}: {body[:200]!r}")
    return elapsed


async def _measure(url: str, sequential: int, clients: int, per_client: int) -> Samples:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=0)  # 0: no pool cap, all C clients at once
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await _call(session, url)  # warm up: connect once outside the measurement
        seq = [await _call(session, url) for _ in range(sequential)]

        async def client() -> list[float]:
            return [await _call(session, url) for _ in range(per_client)]

        started = time.perf_counter()
        per_client_latencies = await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - started
    concurrent = [latency for latencies in per_client_latencies for latency in latencies]
    return {
        "seq_median_ms": [1000 * median(seq)],
        "seq_p99_ms": [1000 * percentile(seq, 99)],
        "conc_median_ms": [1000 * median(concurrent)],
        "conc_p99_ms": [1000 * percentile(concurrent, 99)],
        "conc_calls_per_s": [len(concurrent) / wall],
    }


class RpcLatency:
    """Sequential and concurrent getAllProcessInfo latency with N programs RUNNING."""

    name = "rpc_latency"
    title = "getAllProcessInfo"
    baseline_label = ""

    def __init__(self, profile: Profile) -> None:
        self.programs = profile.programs
        self.sequential = profile.rpc_sequential_calls
        self.clients = profile.rpc_clients
        self.per_client = profile.rpc_calls_per_client
        n, c = self.programs, self.clients
        self.metrics: tuple[MetricSpec, ...] = (
            MetricSpec(key="seq_median_ms", label=f"{n} programs, sequential, median", unit="ms"),
            MetricSpec(key="seq_p99_ms", label=f"{n} programs, sequential, p99", unit="ms"),
            MetricSpec(key="conc_median_ms", label=f"{n} programs, {c} clients, median", unit="ms"),
            MetricSpec(key="conc_p99_ms", label=f"{n} programs, {c} clients, p99", unit="ms"),
            MetricSpec(
                key="conc_calls_per_s",
                label=f"{n} programs, {c} clients, throughput",
                unit="calls/s",
                lower_is_better=False,
            ),
        )

    def params(self) -> Mapping[str, Any]:
        """Programs, sequential calls, clients (C) and calls per client."""
        return {
            "programs": self.programs,
            "sequential_calls": self.sequential,
            "clients": self.clients,
            "calls_per_client": self.per_client,
        }

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Start N sleepers, check one parsed answer, then time the two call patterns."""
        with running_daemon(daemon, sleeper_programs(self.programs)) as running:
            wait_all_running(running, self.programs, all_running_timeout(self.programs))
            try:
                infos = running.rpc.supervisor.getAllProcessInfo()
            except RPC_ERRORS as error:
                raise ScenarioFailed(f"getAllProcessInfo failed: {error}") from error
            if not isinstance(infos, list) or len(infos) != self.programs:
                count = len(infos) if isinstance(infos, list) else type(infos).__name__
                raise ScenarioFailed(f"getAllProcessInfo listed {count}, not {self.programs}")
            time.sleep(SETTLE)
            try:
                return asyncio.run(
                    _measure(running.layout.rpc_url, self.sequential, self.clients, self.per_client)
                )
            except (aiohttp.ClientError, TimeoutError) as error:
                raise ScenarioFailed(f"{type(error).__name__}: {error}") from error

    def baseline_once(self) -> Samples | None:
        """No supervisor-free reference."""
        return None
