"""``/events`` over a real aiohttp server on 127.0.0.1: JSON lines, SSE, resumption, 400s."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporters.events_http import EventsEndpoint
from exporters.journal import Journal
from supervisor_core.bus import EventBus
from supervisor_core.clock import SystemClock
from supervisor_core.events import (
    Event,
    ProcessGroupAdded,
    ProcessStateExited,
    ProcessStateRunning,
    ProcessStateStarting,
    Tick5,
    to_json_dict,
)
from supervisor_core.http import make_app
from supervisor_core.lifecycle import Cause, ProcessState
from tests.unit.http.fake_control import make_fake

pytestmark = pytest.mark.integration

SSE = {"Accept": "text/event-stream"}


@dataclass
class Daemon:
    journal: Journal
    bus: EventBus
    endpoint: EventsEndpoint
    client: TestClient[Any, Any]


async def start(tmp_path: Path, **options: float) -> AsyncIterator[Daemon]:
    journal = Journal.open(str(tmp_path / "j.db"), flush_interval=0.005)
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus)
    endpoint = EventsEndpoint(journal, bus, **options)  # type: ignore[arg-type]
    app = make_app(make_fake(), extra_routes=endpoint.routes())
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        try:
            yield Daemon(journal, bus, endpoint, client)
        finally:
            endpoint.close()
    await journal.aclose()


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    async for d in start(tmp_path):
        yield d


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """Parse an SSE body into (id, data) pairs until the server ends it."""
    event_id: int | None = None
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            assert event_id is not None
            yield event_id, json.loads("\n".join(data))
            event_id, data = None, []


def running(name: str) -> ProcessStateRunning:
    return ProcessStateRunning(
        processname=name,
        groupname=name,
        from_state=ProcessState.STARTING,
        cause=Cause.STARTSECS,
        pid=7,
    )


def starting(name: str, cause: Cause) -> ProcessStateStarting:
    return ProcessStateStarting(
        processname=name, groupname=name, from_state=ProcessState.EXITED, cause=cause
    )


def exited(tail: tuple[str, ...], *, expected: bool) -> ProcessStateExited:
    return ProcessStateExited(
        processname="web",
        groupname="web",
        from_state=ProcessState.RUNNING,
        cause=Cause.EXIT,
        run=2,
        episode=1,
        pid=7,
        expected=expected,
        returncode=0 if expected else 3,
        run_duration=1.5,
        stderr_tail=tail,
    )


async def test_json_lines_history_with_filters(daemon: Daemon) -> None:
    """JSON lines return journaled events by since, limit, type family and process."""
    for i in range(10):
        daemon.bus.publish(running("web") if i % 2 else Tick5(when=i))
    response = await daemon.client.get("/events", params={"since": "3", "limit": "4"})
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.headers["X-Next-Serial"] == "11"
    lines = [json.loads(line) for line in (await response.text()).splitlines()]
    assert [e["serial"] for e in lines] == [3, 4, 5, 6]
    response = await daemon.client.get(
        "/events", params={"types": "PROCESS_STATE", "process": "web"}
    )
    lines = [json.loads(line) for line in (await response.text()).splitlines()]
    assert [e["serial"] for e in lines] == [2, 4, 6, 8, 10]
    assert {e["to_state"] for e in lines} == {"RUNNING"}


@pytest.mark.parametrize(
    ("params", "headers", "message"),
    [
        ({"since": "-1"}, {}, "since: must be >= 0"),
        ({"since": "99999999999999999999999"}, {}, "is beyond"),
        ({"since": "x"}, SSE, "since: not an integer"),
        ({"bogus": "1"}, {}, "unknown parameter 'bogus'"),
        ({"types": "NOT_A_TYPE"}, SSE, "unknown event type 'NOT_A_TYPE'"),
        ({}, {**SSE, "Last-Event-ID": "junk"}, "Last-Event-ID: not an integer"),
    ],
)
async def test_bad_queries_are_400_with_a_message(
    daemon: Daemon, params: dict[str, str], headers: dict[str, str], message: str
) -> None:
    """Bad parameters get 400 naming the parameter, and the server keeps serving."""
    response = await daemon.client.get("/events", params=params, headers=headers)
    assert response.status == 400
    assert message in await response.text()
    assert (await daemon.client.get("/events")).status == 200


async def test_sse_reconnect_with_last_event_id_gets_every_event_once(daemon: Daemon) -> None:
    """A client that drops mid-stream and resumes with Last-Event-ID sees each serial once."""
    for i in range(50):
        daemon.bus.publish(Tick5(when=i))
    total = 300

    async def publish_live() -> None:
        for i in range(50, total):
            daemon.bus.publish(Tick5(when=i))
            await asyncio.sleep(0)

    seen: list[int] = []
    response = await daemon.client.get("/events", headers=SSE)
    assert response.headers["Content-Type"] == "text/event-stream"
    publisher = asyncio.create_task(publish_live())
    async for serial, data in sse_events(response):
        assert data["serial"] == serial
        seen.append(serial)
        if len(seen) == 120:
            break
    response.close()  # the client goes away mid-stream
    response = await daemon.client.get("/events", headers={**SSE, "Last-Event-ID": str(seen[-1])})
    async for serial, _ in sse_events(response):
        seen.append(serial)
        if serial == total:
            break
    response.close()
    await publisher
    assert seen == list(range(total + 1))  # serial 0 is SUPERVISOR_DAEMON_START


async def test_sse_filters_history_and_live_alike(daemon: Daemon) -> None:
    """?types= and ?process= select the same events from the journal and from the bus."""
    daemon.bus.publish(running("web"))
    daemon.bus.publish(running("db"))
    response = await daemon.client.get(
        "/events", params={"process": "web", "limit": "2"}, headers=SSE
    )
    daemon.bus.publish(ProcessGroupAdded(groupname="web"))  # no processname: not selected
    daemon.bus.publish(running("db"))
    daemon.bus.publish(running("web"))
    got = [(serial, data["processname"]) async for serial, data in sse_events(response)]
    assert got == [(1, "web"), (5, "web")]  # the stream ends at limit


async def test_slow_client_is_disconnected_and_catches_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A client whose buffer overflows is cut off (drops counted, logged), never slowing the
    publisher; it resumes from the journal without a gap."""
    async for daemon in start(tmp_path, client_buffer=5):
        since = daemon.bus.snapshot().next_serial
        response = await daemon.client.get("/events", params={"since": str(since)}, headers=SSE)
        for i in range(50):  # in one go: the handler cannot run in between
            daemon.bus.publish(Tick5(when=i))
        got = [serial async for serial, _ in sse_events(response)]  # ends: disconnected
        assert daemon.bus.snapshot().dropped["events-http:1"] == 45
        assert "events-http:1" not in daemon.bus.snapshot().subscribers
        assert [r.getMessage() for r in caplog.records if "too slow" in r.getMessage()] == [
            "/events client 127.0.0.1 is too slow (buffer of 5 full); disconnecting"
        ]
        resume = got[-1] if got else since - 1
        response = await daemon.client.get(
            "/events",
            params={"limit": str(since + 50 - resume - 1)},
            headers={**SSE, "Last-Event-ID": str(resume)},
        )
        rest = [serial async for serial, _ in sse_events(response)]
        assert got + rest == list(range(since, since + 50))


async def test_close_ends_live_streams(daemon: Daemon) -> None:
    """endpoint.close() (daemon shutdown) ends a follower's stream promptly."""
    response = await daemon.client.get("/events", headers=SSE)
    assert "events-http:1" in daemon.bus.snapshot().subscribers
    daemon.endpoint.close()
    got = [serial async for serial, _ in sse_events(response)]
    assert got == [0]
    assert "events-http:1" not in daemon.bus.snapshot().subscribers


async def test_history_and_live_serve_the_events_own_json(daemon: Daemon) -> None:
    """An exit's JSON, stderr tail and cause included, is the event's own to_json_dict,
    from the journal and live alike: nothing is cut or dropped on either path."""
    tail = tuple(f"line {i}" for i in range(25))
    published: list[Event] = [
        daemon.bus.publish(exited(tail, expected=False)),
        daemon.bus.publish(exited(("bye",), expected=True)),
    ]
    response = await daemon.client.get(
        "/events", params={"types": "PROCESS_STATE", "limit": "4"}, headers=SSE
    )
    published.append(daemon.bus.publish(exited(tail, expected=False)))
    published.append(daemon.bus.publish(exited(("bye",), expected=True)))
    got = [data async for _, data in sse_events(response)]
    assert got == [to_json_dict(event) for event in published]
    assert got[2]["stderr_tail"] == list(tail)  # live: the whole tail the core sent
    assert got[3]["stderr_tail"] == ["bye"]  # live: an expected exit keeps its tail too
    assert (got[2]["cause"], got[2]["run"], got[2]["episode"]) == ("exit", 2, 1)
    lines = await daemon.client.get("/events", params={"types": "PROCESS_STATE"})
    history = [json.loads(line) for line in (await lines.text()).splitlines()]
    assert history == got


async def test_cause_filter_selects_history_and_live_alike(daemon: Daemon) -> None:
    """?cause= selects the same state changes from the journal and from the bus."""
    daemon.bus.publish(starting("web", Cause.AUTORESTART))
    daemon.bus.publish(starting("web", Cause.OPERATOR))
    response = await daemon.client.get(
        "/events", params={"cause": "autorestart,retry", "limit": "3"}, headers=SSE
    )
    daemon.bus.publish(Tick5(when=1))  # no cause: never selected
    daemon.bus.publish(starting("web", Cause.RETRY))
    daemon.bus.publish(starting("web", Cause.DAMPED))
    daemon.bus.publish(starting("web", Cause.AUTORESTART))
    got = [(serial, data["cause"]) async for serial, data in sse_events(response)]
    assert got == [(1, "autorestart"), (4, "retry"), (6, "autorestart")]
    bad = await daemon.client.get("/events", params={"cause": "crash"})
    assert bad.status == 400
    assert "cause: unknown cause 'crash'" in await bad.text()


async def test_restart_counts_since_the_daemon_started(tmp_path: Path) -> None:
    """/events/restarts counts automatic restarts per process since this daemon's
    SUPERVISOR_DAEMON_START, by cause, ignoring an earlier daemon's and operator starts."""
    async for first in start(tmp_path):
        first.bus.publish(starting("web", Cause.AUTORESTART))  # an earlier daemon's restart
    async for daemon in start(tmp_path):
        for cause in (Cause.AUTORESTART, Cause.DAMPED, Cause.RETRY, Cause.OPERATOR):
            daemon.bus.publish(starting("web", cause))
        daemon.bus.publish(starting("db", Cause.OPERATOR))
        daemon.bus.publish(
            ProcessStateStarting(
                processname="w_0",
                groupname="pool",
                from_state=ProcessState.BACKOFF,
                cause=Cause.RETRY,
            )
        )
        response = await daemon.client.get("/events/restarts")
        assert response.status == 200
        assert response.headers["X-Next-Serial"] == "9"
        assert await response.json() == {
            "since": 2,
            "next_serial": 9,
            "restarts": [
                {"groupname": "pool", "processname": "w_0", "restarts": 1},
                {"groupname": "web", "processname": "web", "restarts": 3},
            ],
        }
        bad = await daemon.client.get("/events/restarts", params={"since": "0"})
        assert bad.status == 400
        assert "unknown parameter 'since'" in await bad.text()
