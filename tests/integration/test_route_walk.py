"""Every route a running superd serves, walked: 401 without credentials, 403 cross-site
for whatever changes state (issue 19).

The routes are not a list in this file: the daemon runs in-process exactly as
``superd`` wires it (every installed extension, its config read by ``load``), and the
walk enumerates the router of the application the daemon serves, so a route added
by the core or by any extension is walked the day it exists. Which routes change
state is not a list either: each request is sent cross-site first (it must change
nothing), then from the page's own origin; a route whose same-origin request changed
a process is a state-changing route and must have said 403 cross-site.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import xmlrpc.client
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from supervisor_core import runner
from supervisor_core.bus import EventBus
from supervisor_core.clock import SystemClock
from supervisor_core.config import load
from supervisor_core.events import Event
from supervisor_core.extensions import (
    check_extensions,
    discover_extensions,
    first_serial,
    installed_event_types,
)
from supervisor_core.runner import DaemonRun, run_daemon
from supervisor_core.supervisor import Supervisor
from supervisor_core.testing import TEST_OPERATOR
from tests.fuzzing import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

USER, PASSWORD = "admin", "s3cret"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
# Values for the path placeholders of today's routes; a new placeholder fails the
# walk with a KeyError naming it, so that it gets a value here.
PLACEHOLDERS = {"namespec": "a", "channel": "stdout", "name": "superd.css"}
STOP_A = {"action": "stop", "processname": "a"}
DEADLINE = 20.0


@dataclass
class Running:
    """The in-process daemon: its served application and what it publishes."""

    app: web.Application
    base: str
    supervisor: Supervisor
    changes: list[Event]
    published: asyncio.Event


async def _until(published: asyncio.Event, condition: Callable[[], Any], what: str) -> None:
    """Until ``condition`` holds, re-checked after each event the bus publishes."""
    try:
        async with asyncio.timeout(DEADLINE):
            while not condition():
                published.clear()
                await published.wait()
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


@contextlib.asynccontextmanager
async def running_superd(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    """superd as ``superd -c`` wires it, in this loop, with basic auth on a TCP port."""
    port = free_port()
    path = tmp / "supervisord.conf"
    path.write_text(
        f"[inet_http_server]\nport = 127.0.0.1:{port}\nusername = {USER}\npassword = {PASSWORD}\n"
        f"[supervisord]\nlogfile = {tmp / 'main.log'}\npidfile = {tmp / 'superd.pid'}\n"
        f"childlogdir = {tmp}\nnodaemon = true\n"
        "[program:a]\ncommand = /bin/sleep 86400\nstartsecs = 0\nstopwaitsecs = 2\n"
    )
    factories = discover_extensions()
    registry = installed_event_types(factories)
    config = load(str(path), event_types=registry)
    check_extensions(factories, config)
    extensions = [e for f in factories if (e := f.open(config)) is not None]
    bus = EventBus(SystemClock(), registry=registry, first_serial=first_serial(extensions))
    changes: list[Event] = []
    bus.subscribe(changes.append, name="route-walk", types=("PROCESS_STATE",))
    published = asyncio.Event()
    bus.subscribe(lambda _event: published.set(), name="route-walk-wakeup")
    # The app the daemon serves, as it builds it (a spy that calls through).
    apps: list[web.Application] = []
    build = runner.make_app  # type: ignore[attr-defined]  # runner's own import

    def spy(*args: Any, **kwargs: Any) -> web.Application:
        apps.append(build(*args, **kwargs))
        return apps[-1]

    monkeypatch.setattr(runner, "make_app", spy)
    generations: list[Supervisor] = []
    run = DaemonRun(
        reload=lambda: load(str(path), event_types=registry),
        bus=bus,
        event_types=registry,
        extensions=extensions,
        on_generation=generations.append,
        install_signals=False,
    )
    task = asyncio.create_task(run_daemon(config, run))
    try:
        await _until(
            published, lambda: generations and _state(generations[-1]) == "RUNNING", "a RUNNING"
        )
        changes.clear()
        yield Running(apps[-1], f"http://127.0.0.1:{port}", generations[-1], changes, published)
    finally:
        if generations:
            generations[-1].shutdown()
        else:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.timeout(DEADLINE):
                await task


def _state(supervisor: Supervisor) -> str:
    (info,) = [p for g in supervisor.groups() for p in g.processes if p.name == "a"]
    return info.state.name


def routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, concrete path) of every route of ``app``, placeholders filled in."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("path") or info.get("formatter")
        assert template, f"route without a path: {route}"
        path = re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS[m.group(1)], template)
        found.add((route.method, path))
    return sorted(found)


def variants(method: str, path: str) -> list[dict[str, Any]]:
    """The requests that could change state through this route: supervisord's
    stopProcess on /RPC2, the status page's stop action elsewhere."""
    if path == "/RPC2":
        call = xmlrpc.client.dumps(("a",), "supervisor.stopProcess")
        return [{"data": call, "headers": {"Content-Type": "text/plain"}}]
    if method == "POST":
        return [{"data": STOP_A}, {}]
    return [{"params": STOP_A}, {}]


async def test_every_served_route_needs_credentials_and_refuses_cross_site_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without credentials every route of the served app answers 401; with them from a
    cross-site page no request changes a process, and each route whose same-origin
    request does change one answered that cross-site request with 403."""
    async with running_superd(tmp_path, monkeypatch) as daemon, aiohttp.ClientSession() as s:
        walked = routes(daemon.app)
        # The extensions' routes are there without this file naming them.
        assert {"/RPC2", "/metrics", "/events", "/storms"} <= {p for _m, p in walked}
        changing: set[tuple[str, str]] = set()
        refused: set[tuple[str, str]] = set()
        for method, path in walked:
            url = daemon.base + path
            async with s.request(method, url, allow_redirects=False) as response:
                assert response.status == 401, (method, path)
                assert "Basic" in response.headers["WWW-Authenticate"]
            for variant in variants(method, path):
                headers = {**AUTH, **CROSS_SITE, **variant.get("headers", {})}
                request = {**variant, "headers": headers, "allow_redirects": False}
                async with s.request(method, url, **request) as response:
                    assert response.status < 500, (method, path, response.status)
                    if response.status == 403:
                        refused.add((method, path))
                assert daemon.changes == [], (method, path, "changed state cross-site")
                own = {**AUTH, "Sec-Fetch-Site": "same-origin", "Origin": daemon.base}
                request["headers"] = {**own, **variant.get("headers", {})}
                async with s.request(method, url, **request) as response:
                    assert response.status < 500, (method, path, response.status)
                if daemon.changes:
                    changing.add((method, path))
                    daemon.supervisor.start_process("a", TEST_OPERATOR)
                    await _until(
                        daemon.published,
                        lambda: _state(daemon.supervisor) == "RUNNING",
                        "a RUNNING again",
                    )
                    daemon.changes.clear()
        # The walk can fail: the state-changing routes were found by changing state.
        assert ("POST", "/RPC2") in changing
        assert ("POST", "/") in changing
        assert changing <= refused, changing - refused
