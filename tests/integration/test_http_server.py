"""Listeners and log tails: the app on a unix socket and TCP, /logtail and /mainlogtail."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import stat
import xmlrpc.client
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from supervisor_core.config.model import InetHttpServerConfig, UnixHttpServerConfig
from supervisor_core.http import (
    AuthPolicy,
    BoundAddresses,
    ServerStartError,
    make_app,
    serve,
    serving,
)
from tests.unit.http.fake_control import FakeControl, make_fake

pytestmark = pytest.mark.integration


def write(path: str | Path, data: bytes, mode: str = "wb") -> None:
    with open(path, mode) as f:
        f.write(data)


def exists(path: str) -> bool:
    return os.path.exists(path)


async def rpc_over(
    session: aiohttp.ClientSession, url: str, method: str, *params: Any, auth: str | None = None
) -> tuple[int, Any]:
    """POST one XML-RPC call; return the HTTP status and the decoded result (or None)."""
    headers = {"Content-Type": "text/xml"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    body = xmlrpc.client.dumps(params, method)
    async with session.post(url, data=body, headers=headers) as response:
        data = await response.read()
        if response.status != 200:
            return response.status, None
        return response.status, xmlrpc.client.loads(data)[0][0]


@pytest.fixture
def fake(tmp_path: Path) -> FakeControl:
    control = make_fake(str(tmp_path))
    assert control.main_log is not None
    write(control.main_log, b"")
    return control


async def test_unix_socket_serves_rpc_with_mode_and_is_removed(
    tmp_path: Path, fake: FakeControl
) -> None:
    """The unix socket gets its chmod, answers XML-RPC, and is unlinked when serving ends."""
    sock = str(tmp_path / "supervisor.sock")
    config = UnixHttpServerConfig(file=sock, chmod=0o760)
    async with serving(make_app(fake), unix=config) as bound:
        assert bound == BoundAddresses(unix=sock)
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o760
        connector = aiohttp.UnixConnector(path=sock)
        async with aiohttp.ClientSession(connector=connector) as session:
            assert await rpc_over(session, "http://localhost/RPC2", "supervisor.getPID") == (
                200,
                4242,
            )
    assert not exists(sock)


async def test_credentials_are_per_listener(
    tmp_path: Path, fake: FakeControl, caplog: pytest.LogCaptureFixture
) -> None:
    """One app on both listeners: the open unix socket needs nothing, the TCP port its password.

    The open listener is reported critical in supervisord's words; the protected one is not.
    """
    unix = UnixHttpServerConfig(file=str(tmp_path / "s.sock"))
    inet = InetHttpServerConfig(host="127.0.0.1", port=0, username="u", password="p")
    app = make_app(fake, auth=AuthPolicy.from_configs(unix=unix, inet=inet))
    async with serving(app, unix=unix, inet=inet) as bound:
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
            (
                "CRITICAL",
                "Server 'unix_http_server' running without any HTTP authentication checking",
            )
        ]
        assert bound.inet is not None
        url = f"http://127.0.0.1:{bound.inet[1]}/RPC2"
        async with aiohttp.ClientSession() as session:
            assert (await rpc_over(session, url, "supervisor.getPID"))[0] == 401
            assert (await rpc_over(session, url, "supervisor.getPID", auth="u:x"))[0] == 401
            assert await rpc_over(session, url, "supervisor.getPID", auth="u:p") == (200, 4242)
            async with session.get(f"http://127.0.0.1:{bound.inet[1]}/mainlogtail") as r:
                assert r.status == 401  # the log tails are protected too
        connector = aiohttp.UnixConnector(path=unix.file)
        async with aiohttp.ClientSession(connector=connector) as session:
            assert await rpc_over(session, "http://x/RPC2", "supervisor.getPID") == (200, 4242)


async def test_stale_socket_file_is_replaced(tmp_path: Path, fake: FakeControl) -> None:
    """A socket file nobody listens on (left by a crash) is removed and rebound."""
    path = str(tmp_path / "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    async with serving(make_app(fake), unix=UnixHttpServerConfig(file=path)) as bound:
        assert bound.unix == path


async def test_live_socket_and_non_socket_files_are_refused(
    tmp_path: Path, fake: FakeControl
) -> None:
    """A socket another program listens on, or a regular file, is never taken over."""
    path = str(tmp_path / "live.sock")
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(path)
        live.listen()
        with pytest.raises(ServerStartError, match=r"\[unix_http_server\] file=.*listening"):
            async with serving(make_app(fake), unix=UnixHttpServerConfig(file=path)):
                pass
    assert exists(path)
    regular = tmp_path / "regular"
    write(regular, b"keep me")
    with pytest.raises(ServerStartError, match="not a socket"):
        async with serving(make_app(fake), unix=UnixHttpServerConfig(file=str(regular))):
            pass
    assert regular.read_bytes() == b"keep me"


async def test_unusable_listeners_name_their_section(tmp_path: Path, fake: FakeControl) -> None:
    """A port in use or a socket in a missing directory fails naming the config section."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        inet = InetHttpServerConfig(host="127.0.0.1", port=port)
        with pytest.raises(ServerStartError, match=rf"\[inet_http_server\] port=127.0.0.1:{port}"):
            async with serving(make_app(fake), inet=inet):
                pass
    missing = UnixHttpServerConfig(file=str(tmp_path / "no" / "such" / "dir.sock"))
    with pytest.raises(ServerStartError, match=r"\[unix_http_server\] file="):
        async with serving(make_app(fake), unix=missing):
            pass


async def test_serve_runs_until_cancelled(tmp_path: Path, fake: FakeControl) -> None:
    """serve() reports its addresses when ready and cleans up when its task is cancelled."""
    sock = str(tmp_path / "serve.sock")
    ready: asyncio.Future[BoundAddresses] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(make_app(fake), unix=UnixHttpServerConfig(file=sock), on_ready=ready.set_result)
    )
    assert (await asyncio.wait_for(ready, 30)).unix == sock
    connector = aiohttp.UnixConnector(path=sock)
    async with aiohttp.ClientSession(connector=connector) as session:
        assert (await rpc_over(session, "http://x/RPC2", "supervisor.getAPIVersion"))[1] == "3.0"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not exists(sock)


@pytest.fixture
async def tcp(fake: FakeControl) -> AsyncIterator[str]:
    inet = InetHttpServerConfig(host="127.0.0.1", port=0)
    async with serving(make_app(fake, logtail_poll_interval=0.02), inet=inet) as bound:
        assert bound.inet is not None
        yield f"http://127.0.0.1:{bound.inet[1]}"


async def test_logtail_sends_the_tail_then_follows(tcp: str, fake: FakeControl) -> None:
    """/logtail/NAME starts with the last 1024 bytes, then streams appended output."""
    log = fake.process("worker").stdout_logfile
    history = bytes(i % 251 for i in range(3000))
    write(log, history)
    async with aiohttp.ClientSession() as session, session.get(f"{tcp}/logtail/worker") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain;charset=utf-8"
        assert r.headers["X-Accel-Buffering"] == "no"
        assert r.headers["Transfer-Encoding"] == "chunked"
        assert "Last-Modified" in r.headers
        assert await asyncio.wait_for(r.content.readexactly(1024), 30) == history[-1024:]
        write(log, b"appended line\n", "ab")
        assert await asyncio.wait_for(r.content.readexactly(14), 30) == b"appended line\n"


async def test_logtail_channels_and_missing_logs(tcp: str, fake: FakeControl) -> None:
    """stderr is served from /logtail/NAME/stderr; unknown names, channels or files are 404."""
    write(fake.process("worker").stderr_logfile, b"oops\n")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{tcp}/logtail/worker:worker/stderr") as r:
            assert r.status == 200
            assert await asyncio.wait_for(r.content.readexactly(5), 30) == b"oops\n"
        for path in (
            "/logtail/nope",
            "/logtail/worker/stdin",
            "/logtail/web:web_0",  # configured log not created yet
            "/logtail/web:web_0/stderr",  # not logged at all
            "/logtail/web:*",
        ):
            async with session.get(f"{tcp}{path}") as r:
                assert r.status == 404, path
        async with session.post(f"{tcp}/logtail/worker") as r:
            assert r.status == 405


async def test_mainlogtail(tcp: str, fake: FakeControl) -> None:
    """/mainlogtail follows the daemon's log (without the proxy header), 404 when there is none."""
    assert fake.main_log is not None
    write(fake.main_log, b"started\n")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{tcp}/mainlogtail") as r:
            assert r.status == 200
            assert "X-Accel-Buffering" not in r.headers
            assert await asyncio.wait_for(r.content.readexactly(8), 30) == b"started\n"
        fake.main_log = None
        async with session.get(f"{tcp}/mainlogtail") as r:
            assert r.status == 404


async def test_shutdown_ends_open_tails_cleanly(tmp_path: Path, fake: FakeControl) -> None:
    """Stopping the server finishes open log tails with a complete chunked response."""
    write(fake.process("worker").stdout_logfile, b"x\n")
    inet = InetHttpServerConfig(host="127.0.0.1", port=0)
    async with aiohttp.ClientSession() as session:
        async with serving(make_app(fake), inet=inet, shutdown_timeout=60) as bound:
            assert bound.inet is not None
            response = await session.get(f"http://127.0.0.1:{bound.inet[1]}/logtail/worker")
            assert await asyncio.wait_for(response.content.readexactly(2), 30) == b"x\n"
        # The stream ended with its terminating chunk (not a cut connection).
        assert await asyncio.wait_for(response.content.read(), 30) == b""
        response.release()
