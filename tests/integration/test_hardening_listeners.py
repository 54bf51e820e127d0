"""Hardening of the control-plane listeners: socket modes, timeouts, connection caps (issue 19)."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from supervisor_core.config.model import InetHttpServerConfig, UnixHttpServerConfig
from supervisor_core.http import make_app, serving
from supervisor_core.http.limits import ConnectionLimits
from tests.unit.http.fake_control import FakeControl, make_fake

pytestmark = pytest.mark.integration

DEADLINE = 10.0


@pytest.fixture
def fake(tmp_path: Path) -> FakeControl:
    control = make_fake(str(tmp_path))
    assert control.main_log is not None
    Path(control.main_log).write_bytes(b"")
    return control


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The daemon's umask as an operator may set it (``umask=000``)."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


async def test_unix_socket_never_listens_with_a_looser_mode(
    tmp_path: Path, fake: FakeControl, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under umask 000 the socket file is owner-only from its creation and has its final
    mode before it accepts a connection (listen), on every start."""
    path = str(tmp_path / "ctl.sock")
    seen: list[tuple[str, int | None]] = []
    real_bind, real_listen = socket.socket.bind, socket.socket.listen

    def bind(self: socket.socket, address: object) -> None:
        real_bind(self, address)  # type: ignore[arg-type]
        if address == path:
            seen.append(("bind", _mode(path)))

    def listen(self: socket.socket, *args: int) -> None:
        if self.family == socket.AF_UNIX and self.getsockname() == path:
            seen.append(("listen", _mode(path)))
        real_listen(self, *args)

    monkeypatch.setattr(socket.socket, "bind", bind)
    monkeypatch.setattr(socket.socket, "listen", listen)
    config = UnixHttpServerConfig(file=path, chmod=0o700)
    for _generation in range(2):  # a reload binds the socket anew
        async with serving(make_app(fake), unix=config):
            assert _mode(path) == 0o700
        assert _mode(path) is None
    assert seen == [("bind", 0o700), ("listen", 0o700)] * 2


async def test_unix_socket_chmod_looser_than_umask_is_applied_before_listen(
    tmp_path: Path, fake: FakeControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configured chmod of 0o766 is what the file has when the socket starts listening."""
    path = str(tmp_path / "shared.sock")
    modes: list[int | None] = []
    real_listen = socket.socket.listen

    def listen(self: socket.socket, *args: int) -> None:
        if self.family == socket.AF_UNIX:
            modes.append(_mode(path))
        real_listen(self, *args)

    monkeypatch.setattr(socket.socket, "listen", listen)
    async with serving(make_app(fake), unix=UnixHttpServerConfig(file=path, chmod=0o766)):
        pass
    assert modes == [0o766]


async def _tcp(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(DEADLINE):
        return await reader.read()


async def test_idle_and_half_sent_requests_are_closed(fake: FakeControl) -> None:
    """A connection that sends nothing, or only part of its headers, is closed after
    the idle timeout; a slow body gets 408."""
    limits = ConnectionLimits(idle_timeout=0.3, body_timeout=0.3)
    inet = InetHttpServerConfig(host="127.0.0.1", port=0)
    async with serving(make_app(fake), inet=inet, limits=limits) as bound:
        assert bound.inet is not None
        port = bound.inet[1]
        idle_reader, idle_writer = await _tcp(port)
        half_reader, half_writer = await _tcp(port)
        half_writer.write(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\n")
        body_reader, body_writer = await _tcp(port)
        body_writer.write(
            b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Content-Length: 100\r\n\r\n<?xml"
        )
        assert await _closed_by_server(idle_reader) == b""
        assert await _closed_by_server(half_reader) == b""
        async with asyncio.timeout(DEADLINE):
            assert (await body_reader.readline()).startswith(b"HTTP/1.1 408 ")
        for writer in (idle_writer, half_writer, body_writer):
            writer.close()
        # The listener still serves a well-behaved client.
        async with aiohttp.ClientSession() as session:
            body = xmlrpc.client.dumps((), "supervisor.getPID")
            async with session.post(f"http://127.0.0.1:{port}/RPC2", data=body) as response:
                assert response.status == 200


async def test_connections_beyond_the_cap_get_503_and_the_listener_recovers(
    tmp_path: Path, fake: FakeControl
) -> None:
    """The connection past ``max_connections`` is answered 503 at once, on TCP and the
    unix socket; once others close, new connections are served again."""
    limits = ConnectionLimits(max_connections=3)
    inet = InetHttpServerConfig(host="127.0.0.1", port=0)
    unix = UnixHttpServerConfig(file=str(tmp_path / "cap.sock"))
    async with serving(make_app(fake), inet=inet, unix=unix, limits=limits) as bound:
        assert bound.inet is not None
        port = bound.inet[1]
        held = [await _tcp(port) for _ in range(3)]
        # Each listener counts its own connections: the unix socket is not full.
        unix_held = [await asyncio.open_unix_connection(unix.file) for _ in range(3)]
        for opener in (lambda: _tcp(port), lambda: asyncio.open_unix_connection(unix.file)):
            reader, writer = await opener()
            answer = await _closed_by_server(reader)
            assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
            writer.close()
        for _reader, writer in [*held, *unix_held]:
            writer.close()
            await writer.wait_closed()
        async with asyncio.timeout(DEADLINE), aiohttp.ClientSession() as session:
            body = xmlrpc.client.dumps((), "supervisor.getPID")
            while True:
                async with session.post(f"http://127.0.0.1:{port}/RPC2", data=body) as r:
                    if r.status == 200:
                        break
                    assert r.status == 503  # the server has not seen the closes yet
                await asyncio.sleep(0.01)


async def test_metrics_port_closes_idle_connections_and_caps_them() -> None:
    """The unauthenticated ``[exporter:prometheus] listen=`` port closes idle and
    half-sent connections and answers 503 past its connection cap."""
    from prometheus_client import CollectorRegistry

    from exporters.prometheus import ListenAddress, serving_metrics

    limits = ConnectionLimits(idle_timeout=0.3, max_connections=2)
    listen = ListenAddress(host="127.0.0.1", port=0)
    async with serving_metrics(CollectorRegistry(), listen, limits=limits) as (_host, port):
        idle = await _tcp(port)
        half = await _tcp(port)
        half[1].write(b"GET /metrics HTTP/1.1\r\n")
        over_reader, over_writer = await _tcp(port)
        assert (await _closed_by_server(over_reader)).startswith(b"HTTP/1.1 503 ")
        assert await _closed_by_server(idle[0]) == b""
        assert await _closed_by_server(half[0]) == b""
        for writer in (idle[1], half[1], over_writer):
            writer.close()
        async with asyncio.timeout(DEADLINE), aiohttp.ClientSession() as session:
            while True:  # closed connections free their place within a second
                async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                    if response.status == 200:
                        break
                    assert response.status == 503
                await asyncio.sleep(0.05)


async def test_many_short_connections_in_a_row_never_hit_the_cap(fake: FakeControl) -> None:
    """Connections count from connect to close: 50 one-request connections in a row
    through a listener capped at 3 are all served (a client per call, as supervisorctl)."""
    limits = ConnectionLimits(max_connections=3)
    inet = InetHttpServerConfig(host="127.0.0.1", port=0)
    async with serving(make_app(fake), inet=inet, limits=limits) as bound:
        assert bound.inet is not None
        url = f"http://127.0.0.1:{bound.inet[1]}/RPC2"
        body = xmlrpc.client.dumps((), "supervisor.getPID")
        for _ in range(50):
            connector = aiohttp.TCPConnector(force_close=True)
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.post(url, data=body) as response,
            ):
                assert response.status == 200
