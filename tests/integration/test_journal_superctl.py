"""``superctl events`` against a real /events server on a unix socket and on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporters.events_http import EventsEndpoint
from exporters.journal import Journal
from supervisor_core.bus import EventBus
from supervisor_core.clock import SystemClock
from supervisor_core.config.model import InetHttpServerConfig, UnixHttpServerConfig
from supervisor_core.ctl.events import run_events
from supervisor_core.events import (
    ProcessStateExited,
    ProcessStateRunning,
    ProcessStateStarting,
    ProcessStateStopping,
    Tick5,
)
from supervisor_core.http import AuthPolicy, make_app, serving
from supervisor_core.lifecycle import Cause, ProcessState
from tests.unit.http.fake_control import make_fake

pytestmark = pytest.mark.integration


@dataclass
class Server:
    bus: EventBus
    endpoint: EventsEndpoint
    unix_url: str
    http_url: str


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    journal = Journal.open(str(tmp_path / "j.db"), flush_interval=0.005)
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus)
    endpoint = EventsEndpoint(journal, bus)
    unix = UnixHttpServerConfig(file=str(tmp_path / "s.sock"))
    inet = InetHttpServerConfig(host="127.0.0.1", port=0, username="admin", password="secret")
    app = make_app(
        make_fake(),
        auth=AuthPolicy.from_configs(unix=unix, inet=inet),
        extra_routes=endpoint.routes(),
    )
    async with serving(app, unix=unix, inet=inet) as bound:
        assert bound.inet is not None
        yield Server(bus, endpoint, f"unix://{unix.file}", f"http://127.0.0.1:{bound.inet[1]}")
        endpoint.close()
    await journal.aclose()


def publish_history(bus: EventBus) -> None:
    bus.publish(
        ProcessStateRunning(
            processname="web",
            groupname="web",
            from_state=ProcessState.STARTING,
            cause=Cause.STARTSECS,
        )
    )
    bus.publish(Tick5(when=1_700_000_000))
    bus.publish(
        ProcessStateExited(
            processname="web",
            groupname="web",
            from_state=ProcessState.RUNNING,
            cause=Cause.EXIT,
            pid=31,
            expected=False,
            returncode=-11,
            run_duration=2.25,
        )
    )


async def events(url: str, arg: str, **auth: str | None) -> tuple[int, str]:
    out = io.StringIO()
    status = await asyncio.to_thread(
        run_events,
        arg,
        serverurl=url,
        username=auth.get("username"),
        password=auth.get("password"),
        stdout=out,
    )
    return status, out.getvalue()


async def test_history_as_json_over_the_unix_socket(server: Server) -> None:
    """--json prints one JSON object per journaled event; names and --since filter."""
    publish_history(server.bus)
    status, out = await events(server.unix_url, "--json --since 1 web")
    assert status == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(e["serial"], e["type"]) for e in lines] == [
        (1, "PROCESS_STATE_RUNNING"),
        (3, "PROCESS_STATE_EXITED"),
    ]


async def test_people_format_over_http_with_auth(server: Server) -> None:
    """Over http with credentials the output is aligned columns with the exit explained."""
    publish_history(server.bus)
    status, out = await events(
        server.http_url, "--types PROCESS_STATE", username="admin", password="secret"
    )
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[1].split()[0] == "3"
    assert "PROCESS_STATE_EXITED" in lines[1]
    assert "RUNNING -> EXITED, pid 31, killed by SIGSEGV, unexpected, ran 2.250s" in lines[1]
    assert "\x1b[" not in out  # no colour when not a tty
    assert lines[0].index("PROCESS_STATE") == lines[1].index("PROCESS_STATE")


async def test_server_refusals_are_reported(server: Server) -> None:
    """A 401 is one error line with exit 1; a bad --types is a usage error (exit 2)
    naming the flag, never the internal URL."""
    status, out = await events(server.http_url, "", username="admin", password="wrong")
    assert status == 1
    assert out == f"error: {server.http_url}: 401 Server requires authentication\n"
    status, out = await events(server.http_url, "--types NOPE", username="admin", password="secret")
    assert (status, out) == (2, "Error: --types: unknown event type 'NOPE'\n")


async def test_ticks_are_hidden_unless_asked_for(server: Server) -> None:
    """The TICK family is left out by default and shown when --types names it."""
    publish_history(server.bus)
    _, out = await events(server.unix_url, "--json")
    assert [json.loads(line)["serial"] for line in out.splitlines()] == [0, 1, 3]
    _, out = await events(server.unix_url, "--json --types TICK")
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["TICK_5"]


async def test_last_n_and_since_a_time(server: Server) -> None:
    """-n N prints the last N shown events; --since takes a duration or a local time."""
    publish_history(server.bus)
    _, out = await events(server.unix_url, "--json -n 2")
    assert [json.loads(line)["serial"] for line in out.splitlines()] == [1, 3]
    _, out = await events(server.unix_url, "--json -n 1 --types TICK")
    assert [json.loads(line)["serial"] for line in out.splitlines()] == [2]
    _, out = await events(server.unix_url, "--json --since 1h")
    assert [json.loads(line)["serial"] for line in out.splitlines()] == [0, 1, 3]
    status, out = await events(server.unix_url, "--json --since 2999-01-01T00:00")
    assert (status, out) == (0, "")


async def test_unknown_names_are_an_error(server: Server) -> None:
    """A NAME no process has (and the journal never saw) is reported, exit 1."""
    publish_history(server.bus)
    status, out = await events(server.unix_url, "nosuch web")
    assert (status, out) == (1, "nosuch: ERROR (no such process)\n")
    status, out = await events(server.unix_url, "--json web")
    assert status == 0
    assert len(out.splitlines()) == 2


async def test_cause_filter_selects_restarts_and_shows_who_acted(server: Server) -> None:
    """--cause keeps only the state changes with those causes; a requested change names
    its origin."""
    publish_history(server.bus)
    for cause in (Cause.AUTORESTART, Cause.OPERATOR, Cause.DAMPED):
        server.bus.publish(
            ProcessStateStarting(
                processname="web",
                groupname="web",
                from_state=ProcessState.EXITED,
                cause=cause,
                origin="web page, 127.0.0.1" if cause is Cause.OPERATOR else None,
            )
        )
    server.bus.publish(
        ProcessStateStopping(
            processname="web",
            groupname="web",
            from_state=ProcessState.RUNNING,
            cause=Cause.OPERATOR,
            origin="xmlrpc, unix socket pid 42 uid 0, superctl/0.1",
        )
    )
    status, out = await events(server.unix_url, "--json --cause autorestart,damped,retry")
    assert status == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(e["serial"], e["cause"]) for e in lines] == [(4, "autorestart"), (6, "damped")]
    status, out = await events(server.unix_url, "--cause operator")
    assert status == 0
    starting, stopping = out.splitlines()
    assert starting.endswith("EXITED -> STARTING (operator), by web page, 127.0.0.1")
    assert stopping.endswith(
        "RUNNING -> STOPPING (operator), by xmlrpc, unix socket pid 42 uid 0, superctl/0.1"
    )
    status, out = await events(server.unix_url, "--cause crash")
    assert status == 2
    assert "--cause: unknown cause 'crash' (known: autostart, operator" in out


async def test_unreachable_server_and_usage_errors(server: Server, tmp_path: Path) -> None:
    """No daemon behind the socket is exit 1; bad arguments are exit 2 with the usage."""
    status, out = await events(f"unix://{tmp_path}/missing.sock", "")
    assert (status, out.startswith("error: ")) == (1, True)
    status, out = await events(server.unix_url, "--since -3")
    assert status == 2
    assert "events [-n N] [--since WHEN]" in out


class _Sink(io.StringIO):
    """Collects output and wakes the test when a line mentions a serial."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.lines: asyncio.Queue[str] = asyncio.Queue()

    def write(self, text: str) -> int:
        for line in text.splitlines():
            self.loop.call_soon_threadsafe(self.lines.put_nowait, line)
        return super().write(text)


async def test_follow_prints_live_events_until_the_server_ends(server: Server) -> None:
    """--follow prints history, then live events as they come, and returns when the
    daemon shuts the stream down."""
    sink = _Sink(asyncio.get_running_loop())
    follower = asyncio.create_task(
        asyncio.to_thread(
            run_events,
            "--follow --json --types TICK,SUPERVISOR_DAEMON_START",
            serverurl=server.unix_url,
            username=None,
            password=None,
            stdout=sink,
        )
    )
    first = json.loads(await asyncio.wait_for(sink.lines.get(), 30))
    assert first["type"] == "SUPERVISOR_DAEMON_START"
    for when in range(3):
        server.bus.publish(Tick5(when=when))
        line = json.loads(await asyncio.wait_for(sink.lines.get(), 30))
        assert (line["serial"], line["when"]) == (when + 1, when)
    server.endpoint.close()
    assert await asyncio.wait_for(follower, 30) == 0
    assert "the server ended the stream" in sink.getvalue()


async def test_superctl_command_line_runs_events(server: Server) -> None:
    """``superctl -s URL events --json`` is a registered superctl action."""
    publish_history(server.bus)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "supervisor_core.cli.superctl",
        "-s",
        server.unix_url,
        "events",
        "--json",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert [json.loads(line)["serial"] for line in out.decode().splitlines()] == [0, 1, 3]
