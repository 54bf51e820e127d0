"""Every route of the control plane, walked: auth first, no state change cross-site (issue 19)."""

from __future__ import annotations

import base64
import re
import xmlrpc.client
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporters.events_http import EventsEndpoint
from exporters.journal import Journal
from exporters.prometheus import PrometheusExporter, metrics_routes
from exporters.storms import StormExporterSettings, StormMonitor
from supervisor_core.bus import EventBus
from supervisor_core.clock import SystemClock
from supervisor_core.config.model import InetHttpServerConfig
from supervisor_core.http import AuthPolicy, make_app, serving
from supervisor_core.states import ProcessState
from tests.unit.http.fake_control import FakeControl, make_fake

pytestmark = pytest.mark.integration

USER, PASSWORD = "admin", "s3cret"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
STOP_ALL_FORM = {"action": "stopall", "processname": "web:web_0"}
STOP_CALL = xmlrpc.client.dumps(("web:web_0",), "supervisor.stopProcess")
PLACEHOLDERS = {"namespec": "web:web_0", "channel": "stdout", "name": "superd.css"}


@pytest.fixture
def fake(tmp_path: Path) -> FakeControl:
    control = make_fake(str(tmp_path))
    assert control.main_log is not None
    Path(control.main_log).write_bytes(b"")
    for process in [p for group in control.groups_by_name.values() for p in group]:
        process.state = ProcessState.RUNNING
        process.pid = 4000
    return control


def _paths(app: web.Application) -> list[tuple[str, str]]:
    """(method, concrete path) of every route, placeholders filled in."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("path") or info.get("formatter")
        assert template, f"route without a path: {route}"
        path = re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS[m.group(1)], template)
        found.append((route.method, path))
    return sorted(set(found))


async def test_every_route_needs_credentials_and_refuses_cross_site_changes(
    tmp_path: Path, fake: FakeControl
) -> None:
    """Without credentials every route answers 401; with credentials but from a
    cross-site browser page, no route changes anything (the ones that would answer 403)."""
    bus = EventBus(SystemClock())
    journal = Journal.open(str(tmp_path / "j.db"))
    journal.attach(bus)
    registry = CollectorRegistry()
    exporter = PrometheusExporter.install(bus=bus, registry=registry, daemon_metrics=False)
    storms = StormMonitor(StormExporterSettings())
    storms.install(bus)
    inet = InetHttpServerConfig(host="127.0.0.1", port=0, username=USER, password=PASSWORD)
    app = make_app(
        fake,
        auth=AuthPolicy.from_configs(unix=None, inet=inet),
        extra_routes=[
            *metrics_routes(registry),
            *EventsEndpoint(journal, bus).routes(),
            *storms.routes(),
        ],
    )
    paths = _paths(app)
    assert ("POST", "/RPC2") in paths
    assert {"/metrics", "/events", "/logtail/web:web_0", "/index.html"} <= {p for _m, p in paths}
    refused: set[tuple[str, str]] = set()
    async with serving(app, inet=inet) as bound, aiohttp.ClientSession() as session:
        assert bound.inet is not None
        base = f"http://127.0.0.1:{bound.inet[1]}"
        for method, path in paths:
            if method == "HEAD":
                continue
            async with session.request(method, base + path) as response:
                assert response.status == 401, (method, path)
                assert "Basic" in response.headers["WWW-Authenticate"]
        for method, path in paths:
            if method == "HEAD":
                continue
            if path == "/RPC2":
                body: object = STOP_CALL
                headers = {**AUTH, **CROSS_SITE, "Content-Type": "text/plain"}
            elif method == "POST":
                body, headers = STOP_ALL_FORM, {**AUTH, **CROSS_SITE}
            else:
                body, headers = None, {**AUTH, **CROSS_SITE}
            if path.startswith(("/logtail", "/mainlogtail")):
                continue  # followed logs never end (and reading them changes nothing)
            params = STOP_ALL_FORM if method == "GET" and path != "/events" else None
            async with session.request(
                method, base + path, data=body, headers=headers, params=params
            ) as response:
                await response.read()
                if response.status == 403:
                    refused.add((method, path))
                assert response.status < 500, (method, path)
    # Nothing changed, and each route that could change state said 403.
    assert [c for c in fake.calls if c.startswith(("stop", "start", "shutdown", "restart"))] == []
    assert refused == {
        ("POST", "/RPC2"),
        ("GET", "/"),
        ("POST", "/"),
        ("GET", "/index.html"),
        ("POST", "/index.html"),
    }
    storms.close()
    exporter.close()
    await journal.aclose()


async def test_xmlrpc_clients_without_browser_headers_still_work(fake: FakeControl) -> None:
    """A same-origin browser call and a plain XML-RPC client (no Sec-Fetch-Site, no
    Origin) both reach /RPC2."""
    inet = InetHttpServerConfig(host="127.0.0.1", port=0)
    async with serving(make_app(fake), inet=inet) as bound, aiohttp.ClientSession() as session:
        assert bound.inet is not None
        base = f"http://127.0.0.1:{bound.inet[1]}"
        for headers in ({}, {"Sec-Fetch-Site": "same-origin"}, {"Origin": base}):
            async with session.post(f"{base}/RPC2", data=STOP_CALL, headers=headers) as r:
                assert r.status == 200, headers
                assert xmlrpc.client.loads(await r.read())[0] == (True,)
            fake.process("web:web_0").state = ProcessState.RUNNING
