"""promtool, Prometheus' own checker, accepts a real scrape of the exporter."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from exporters.prometheus import ListenAddress, PrometheusExporter, serving_metrics
from supervisor_core.bus import EventBus
from supervisor_core.config.model import ProcessConfig
from supervisor_core.lifecycle import ProcessState
from supervisor_core.testing import FakeClock, RuntimeRig
from tests.peers import require_command
from tests.unit.http.fake_control import FakeControl, FakeProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    with subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    ) as child:
        yield child
        child.kill()


def busy_registry(live_pid: int) -> CollectorRegistry:
    """A registry after a varied history: crashes, failed starts, FATAL, a stop, drops."""
    clock = FakeClock()
    bus = EventBus(clock)
    registry = CollectorRegistry()
    control = FakeControl(
        {
            "web": [FakeProcess("web", "web", ProcessState.RUNNING, pid=live_pid, start=1.0)],
            "jobs": [
                FakeProcess("worker_0", "jobs", ProcessState.FATAL),
                FakeProcess("worker_1", "jobs", ProcessState.STOPPED),
            ],
        }
    )
    PrometheusExporter.install(bus=bus, registry=registry, control=control)
    bus.subscribe_buffer("slow", maxsize=1)

    def harness(name: str, group: str, **options: object) -> RuntimeRig:
        cfg = ProcessConfig(
            name=name,
            program_name=name,
            group_name=group,
            command="/bin/true",
            **options,  # type: ignore[arg-type]
        )
        return RuntimeRig(cfg, clock=clock, bus=bus)

    web = harness("web", "web")
    web.start()
    clock.jump_to_next_deadline()
    for _ in range(3):
        clock.advance(42)
        web.exit(-9)
        clock.jump_to_next_deadline()
    flaky = harness("worker_0", "jobs", startsecs=10, startretries=1)
    flaky.start()
    for _ in range(2):
        clock.advance(0.2)
        flaky.exit(2)
        clock.jump_to_next_deadline()
    stopped = harness("worker_1", "jobs")
    stopped.start()
    clock.jump_to_next_deadline()
    stopped.stop()
    stopped.exit(0)
    return registry


async def test_promtool_check_metrics_accepts_a_real_scrape(
    sleeper: subprocess.Popen[bytes],
) -> None:
    """The body a scraper gets over HTTP passes ``promtool check metrics`` with no remark."""
    promtool = require_command("promtool")
    registry = busy_registry(sleeper.pid)
    listen = ListenAddress(host="127.0.0.1", port=0)
    async with (
        serving_metrics(registry, listen) as (host, port),
        aiohttp.ClientSession() as session,
        session.get(
            f"http://{host}:{port}/metrics", headers={"Accept": "text/plain;version=0.0.4"}
        ) as response,
    ):
        assert response.status == 200
        body = await response.read()
    for family in ("supervisor_process_cpu_seconds_total", "supervisor_process_open_fds"):
        assert family.encode() in body  # the psutil series of the live pid are there
    assert b'supervisor_process_state{group="jobs",name="worker_0",state="FATAL"} 1.0' in body
    checker = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(checker.communicate(body), timeout=60)
    assert (checker.returncode, stdout, stderr) == (0, b"", b"")
