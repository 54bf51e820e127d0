"""A real Prometheus scrapes a running daemon while its programs are killed and stopped.

The daemon is superd's own ``run_daemon`` (real Supervisor, real children, real bus)
in this process, with the exporter installed the way ``superd`` wires it; Prometheus
is the Debian package, started and stopped (by pid) by the test. The ground truth is
what the bus published; PromQL over Prometheus' HTTP API must agree with it exactly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporters.prometheus import ListenAddress, PrometheusExporter, serving_metrics
from supervisor_core.bus import EventBus
from supervisor_core.clock import SystemClock
from supervisor_core.config import parse
from supervisor_core.events import Event, ProcessStateEvent
from supervisor_core.lifecycle import ProcessState
from supervisor_core.runner import DaemonRun, run_daemon
from supervisor_core.supervisor import Supervisor
from supervisor_core.testing import TEST_OPERATOR
from tests.e2e.prometheus_server import prometheus

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KILLS = 3
DEADLINE = 60.0  # seconds for any one condition; generous for a loaded 2-core machine


class Watcher:
    """Counts PROCESS_STATE events and wakes waiters whenever one arrives."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(DEADLINE):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def running_count(self, name: str) -> int:
        return sum(
            1
            for e in self.events
            if isinstance(e.data, ProcessStateEvent)
            and e.data.processname == name
            and e.data.to_state is ProcessState.RUNNING
        )


async def query(session: aiohttp.ClientSession, base: str, promql: str) -> float | None:
    """The single value of an instant query, or None when it has no result (yet)."""
    try:
        async with session.get(f"{base}/api/v1/query", params={"query": promql}) as response:
            if response.status != 200:
                return None
            body = await response.json()
    except aiohttp.ClientConnectionError:
        return None  # Prometheus still starting
    result = body["data"]["result"]
    if not result:
        return None
    assert len(result) == 1, f"{promql}: expected one series, got {result}"
    return float(result[0]["value"][1])


async def await_query(
    session: aiohttp.ClientSession, base: str, promql: str, expected: float
) -> None:
    """Wait (bounded) until ``promql`` evaluates to ``expected``; fail with the last value."""
    last: float | None = None
    try:
        async with asyncio.timeout(DEADLINE):
            while True:
                last = await query(session, base, promql)
                if last == expected:
                    return
                # Prometheus is an external peer: its HTTP API is all there is to await.
                await asyncio.sleep(0.25)
    except TimeoutError:
        pytest.fail(f"{promql} stayed {last}, expected {expected}")


async def test_promql_matches_what_the_daemon_did(tmp_path: Path) -> None:
    """restarts_total grows by exactly the kills, transitions sum to the PROCESS_STATE
    events, and the stopped program's STOPPED gauge is 1, as Prometheus sees them."""
    sleeper = f"{sys.executable} -c 'import time; time.sleep(3600)'"
    text = (
        f"[supervisord]\nchildlogdir={tmp_path}\nlogfile={tmp_path / 'superd.log'}\n"
        f"[program:crashy]\ncommand={sleeper}\nstartsecs=1\nautorestart=true\n"
        f"[program:steady]\ncommand={sleeper}\nstartsecs=0\nstopwaitsecs=5\n"
    )
    config = parse(text, str(tmp_path / "supervisord.conf"), environ=dict(os.environ))
    bus = EventBus(SystemClock())
    watcher = Watcher()
    bus.subscribe(watcher, name="test-watcher", types=("PROCESS_STATE",))
    registry = CollectorRegistry()
    exporter = PrometheusExporter.install(bus=bus, registry=registry)
    generations: list[Supervisor] = []

    def on_generation(supervisor: Supervisor) -> None:
        exporter.attach(supervisor)
        generations.append(supervisor)

    run = DaemonRun(
        reload=lambda: config, bus=bus, on_generation=on_generation, install_signals=False
    )
    listen = ListenAddress(host="127.0.0.1", port=0)
    async with (
        serving_metrics(registry, listen) as target,
        prometheus(tmp_path, target) as base,
        aiohttp.ClientSession() as session,
    ):
        daemon = asyncio.create_task(run_daemon(config, run))
        try:
            await watcher.wait_for(
                lambda: (
                    watcher.running_count("crashy") == 1 and watcher.running_count("steady") == 1
                )
            )
            crashy = '{group="crashy",name="crashy"}'
            await await_query(session, base, f"supervisor_process_up{crashy}", 1)
            baseline = await query(session, base, f"supervisor_process_restarts_total{crashy}")
            assert baseline == 0
            supervisor = generations[-1]
            for kill in range(1, KILLS + 1):
                (info,) = [
                    p for g in supervisor.groups() for p in g.processes if p.name == "crashy"
                ]
                assert info.pid > 0
                os.kill(info.pid, signal.SIGKILL)
                await watcher.wait_for(lambda k=kill: watcher.running_count("crashy") == 1 + k)
            supervisor.stop_process("steady", TEST_OPERATOR)
            await supervisor.wait_process_stopped("steady")
            await await_query(
                session, base, f"supervisor_process_restarts_total{crashy}", baseline + KILLS
            )
            await await_query(
                session,
                base,
                "sum(supervisor_process_transitions_total)",
                float(len(watcher.events)),
            )
            await await_query(
                session,
                base,
                'supervisor_process_state{group="steady",name="steady",state="STOPPED"}',
                1,
            )
            await await_query(
                session,
                base,
                'supervisor_process_exits_total{name="crashy",expected="false"}',
                KILLS,
            )
            assert await query(session, base, f"supervisor_process_last_exit_code{crashy}") == -9
            rss = await query(session, base, f"supervisor_process_resident_memory_bytes{crashy}")
            assert rss is not None
            assert rss > 0
            assert await query(session, base, 'supervisor_process_up{name="steady"}') == 0
        finally:
            if generations:
                generations[-1].shutdown()
            assert await asyncio.wait_for(daemon, timeout=DEADLINE) == 0
            exporter.close()
