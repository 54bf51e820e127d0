"""The Prometheus exporter against real processes and a real HTTP stack."""

from __future__ import annotations

import asyncio
import base64
import errno
import gzip
import socket
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from exporters.prometheus import (
    ListenAddress,
    MetricsListenerError,
    PrometheusExporter,
    metrics_routes,
    sample_tree,
    sample_trees,
    serving_metrics,
)
from supervisor_core.bus import EventBus
from supervisor_core.clock import SystemClock
from supervisor_core.http import AuthPolicy, make_app
from supervisor_core.http.auth import Credentials
from supervisor_core.lifecycle import ProcessState
from tests.unit.http.fake_control import FakeControl, FakeProcess

pytestmark = pytest.mark.integration

MB = 1024 * 1024

# A child that: runs a CPU-burning grandchild to completion and reaps it (its time
# must still count), keeps a second grandchild alive, holds 64 MB, starts a thread,
# then reports ready and waits for stdin to close.
TREE_CHILD = r"""
import subprocess, sys, threading
burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
subprocess.run([sys.executable, "-c", burn], check=True)
sleeper = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                           stdin=subprocess.PIPE)
ballast = bytearray(64 * 1024 * 1024)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
threading.Thread(target=sys.stdin.read, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
sleeper.stdin.close()
sleeper.wait()
"""


@pytest.fixture
def tree_child() -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-c", TREE_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "ready\n"  # blocks until the tree is built
            yield child
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)


def test_sample_tree_covers_the_whole_tree(tree_child: subprocess.Popen[str]) -> None:
    """A real tree: both live members, their memory and threads, and the CPU time of a
    grandchild that already exited and was reaped inside the tree."""
    sample = sample_tree(tree_child.pid)
    assert sample is not None
    assert sample.processes == 2
    assert sample.rss >= 64 * MB
    assert sample.threads >= 3  # the child's two threads and the grandchild's one
    assert sample.open_fds is not None
    assert sample.open_fds >= 6  # stdio of both members, at least
    assert sample.cpu_user + sample.cpu_system >= 0.3


def test_sample_tree_of_a_gone_process_is_none(tree_child: subprocess.Popen[str]) -> None:
    """Once the child has exited (zombie) and once reaped, the sample is None, not zeros."""
    tree_child.kill()
    assert tree_child.stdout is not None
    tree_child.stdout.read()  # EOF: the child is dead (a zombie until reaped)
    assert sample_tree(tree_child.pid) is None
    tree_child.wait(timeout=30)
    assert sample_tree(tree_child.pid) is None


def test_sample_trees_share_one_proc_scan(tree_child: subprocess.Popen[str]) -> None:
    """sample_trees finds the same tree members as psutil's children() and None for a gone pid."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    samples = sample_trees([tree_child.pid, gone.pid])
    alone = sample_tree(tree_child.pid)
    together = samples[tree_child.pid]
    assert alone is not None
    assert together is not None
    assert together.processes == alone.processes == 2
    assert together.threads == alone.threads
    # /proc/PID/stat read directly agrees with psutil's readings of the same tree.
    assert together.open_fds == alone.open_fds
    assert abs(together.rss - alone.rss) <= 4 * MB
    assert abs(together.cpu_user - alone.cpu_user) <= 0.1
    assert abs(together.cpu_system - alone.cpu_system) <= 0.1
    assert together.cpu_user + together.cpu_system >= 0.3
    assert samples[gone.pid] is None


def test_collector_samples_the_pid_of_the_snapshot(tree_child: subprocess.Popen[str]) -> None:
    """The rendered resource series of a RUNNING process come from its real tree."""
    control = FakeControl(
        {"tree": [FakeProcess("tree", "tree", ProcessState.RUNNING, pid=tree_child.pid)]}
    )
    registry = CollectorRegistry()
    exporter = PrometheusExporter.install(
        bus=EventBus(SystemClock()), registry=registry, control=control, daemon_metrics=False
    )
    who = {"group": "tree", "name": "tree"}
    rss = registry.get_sample_value("supervisor_process_resident_memory_bytes", who)
    assert rss is not None
    assert rss >= 64 * MB
    assert registry.get_sample_value("supervisor_process_tree_processes", who) == 2
    assert registry.get_sample_value("supervisor_process_up", who) == 1
    exporter.close()


# --------------------------------------------------------------------------- HTTP


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    registry = CollectorRegistry()
    exporter = PrometheusExporter.install(
        bus=EventBus(SystemClock()),
        registry=registry,
        control=FakeControl({"web": [FakeProcess("web", "web")]}),
    )
    yield registry
    exporter.close()


async def test_metrics_route_in_the_control_app_behind_its_auth(
    registry: CollectorRegistry,
) -> None:
    """make_app(extra_routes=metrics_routes(...)) serves /metrics with the app's auth."""
    auth = AuthPolicy(inet=Credentials(username="user", password="secret"))
    control = FakeControl({})
    app = make_app(control, auth=auth, extra_routes=metrics_routes(registry))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        denied = await client.get("/metrics")
        assert denied.status == 401
        basic = base64.b64encode(b"user:secret").decode()
        response = await client.get("/metrics", headers={"Authorization": f"Basic {basic}"})
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        families = {f.name for f in text_string_to_metric_families(await response.text())}
        assert {"supervisor_process_state", "supervisor_info", "process_cpu_seconds"} <= families


async def test_content_negotiation_and_compression(registry: CollectorRegistry) -> None:
    """OpenMetrics when Accept asks for it (as Prometheus does), gzip when allowed."""
    app = make_app(FakeControl({}), extra_routes=metrics_routes(registry))
    prometheus_accept = (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get(
            "/metrics",
            headers={"Accept": prometheus_accept, "Accept-Encoding": "gzip"},
            auto_decompress=False,
        )
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert response.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(await response.read()).decode()
        assert body.endswith("# EOF\n")
        assert 'supervisor_process_state{group="web",name="web",state="STOPPED"} 1.0' in body
        plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        assert "# EOF" not in await plain.text()


async def test_own_listener_serves_metrics_without_auth(registry: CollectorRegistry) -> None:
    """[exporter:prometheus] listen=: /metrics only, no auth, on the bound port."""
    async with (
        serving_metrics(registry, ListenAddress(host="127.0.0.1", port=0)) as (host, port),
        aiohttp.ClientSession() as session,
    ):
        async with session.get(f"http://{host}:{port}/metrics") as response:
            assert response.status == 200
            assert "supervisor_info" in await response.text()
        async with session.get(f"http://{host}:{port}/RPC2") as response:
            assert response.status == 404
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session:
            await session.get(f"http://{host}:{port}/metrics")


async def test_own_listener_on_a_busy_port_names_the_section(
    registry: CollectorRegistry,
) -> None:
    """A port in use is a MetricsListenerError that names [exporter:prometheus] listen=."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(MetricsListenerError) as caught:
            async with serving_metrics(registry, ListenAddress(host="127.0.0.1", port=port)):
                await asyncio.sleep(0)
    assert caught.value.errno == errno.EADDRINUSE
    assert f"[exporter:prometheus] listen=127.0.0.1:{port}" in str(caught.value)
