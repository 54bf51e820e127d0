"""Connection limits for every listener superd opens (control plane and ``/metrics`` port).

Rules of this file:
- An idle connection, or one that never finishes sending its request headers
  (slowloris), is closed after ``idle_timeout``: aiohttp's keep-alive timer starts at
  ``connection_made`` and fires whenever the handler waits for the next complete
  request, so the one timer bounds both (supervisord closes neither; 1,208 idle
  connections used up its fd table).
- A request body must arrive within ``body_timeout`` (``read_body``), or the
  connection is answered 408 and closed.
- Each listener serves at most ``max_connections`` connections at once; one more
  gets a fixed ``503 Service Unavailable`` and is closed at once, so a flood costs
  one fd per connection for one loop step and never starves the daemon's children
  of file descriptors. Connections are counted from ``connection_made`` to
  ``connection_lost`` by a thin protocol around aiohttp's handler.
- The cap is also at most a quarter of the daemon's soft ``RLIMIT_NOFILE`` (read
  when the listener starts): with the control plane's two listeners and the
  ``/metrics`` port full, a quarter of the fds stays for the daemon and its
  children's pipes. (At ``ulimit -n 300`` a cap of 256 per listener left none:
  accept() failed with EMFILE and a killed child could not be respawned.)
"""

from __future__ import annotations

import asyncio
import resource
import socket
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

# The fixed answer to a connection over the cap; no request is read.
_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 39\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n\r\n"
    b"too many connections to this listener\r\n"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLimits:
    """How long and how many connections one listener keeps.

    ``idle_timeout``: seconds a connection may sit without a complete request
    (idle keep-alive, or headers still arriving) before it is closed; pass it as
    ``web.AppRunner(keepalive_timeout=...)``.
    ``body_timeout``: seconds a request body may take to arrive.
    ``max_connections``: connections served at once per listener (503 beyond).
    """

    idle_timeout: float = 30.0
    body_timeout: float = 30.0
    max_connections: int = 256

    def __post_init__(self) -> None:
        if self.idle_timeout <= 0 or self.body_timeout <= 0:
            raise ValueError("connection timeouts must be > 0")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, not {self.max_connections}")


DEFAULT_LIMITS = ConnectionLimits()

LIMITS_KEY = web.AppKey("connection_limits", ConnectionLimits)


async def read_body(request: web.Request) -> bytes:
    """The request body, within the app's ``body_timeout`` (408 when it is not sent in time).

    Raises:
        web.HTTPRequestTimeout: the body did not arrive in time.
        web.HTTPRequestEntityTooLarge: beyond ``client_max_size``.
    """
    limits = request.app.get(LIMITS_KEY, DEFAULT_LIMITS)
    try:
        async with asyncio.timeout(limits.body_timeout):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            text=f"request body not received within {limits.body_timeout:g}s\n",
            headers={"Connection": "close"},
        ) from None


class _Counted(asyncio.Protocol):
    """Counts one connection against its listener's cap, around the real protocol.

    The count moves at ``connection_made``/``connection_lost`` (not when the
    protocol is made: asyncio makes it a loop step before connecting it). Over the
    cap the connection gets the fixed 503 and is closed; the aiohttp handler never
    sees it.
    """

    __slots__ = ("_cap", "_counted", "_inner")

    def __init__(self, inner: asyncio.Protocol, cap: CappedFactory) -> None:
        self._inner = inner
        self._cap = cap
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._cap.active >= self._cap.limit:
            self._cap.refused += 1
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(_BUSY_RESPONSE)
            transport.close()
            return
        self._counted = True
        self._cap.active += 1
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._counted:
            return
        self._counted = False
        self._cap.active -= 1
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._counted:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._counted else None

    def pause_writing(self) -> None:
        if self._counted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._counted:
            self._inner.resume_writing()


# A listener holds at most 1/_FD_SHARE of the daemon's file descriptors.
_FD_SHARE = 4


def fd_bounded(max_connections: int) -> int:
    """``max_connections``, lowered to a quarter of the soft fd limit (at least 1)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_connections
    return max(1, min(max_connections, soft // _FD_SHARE))


# asyncio accepts up to ``backlog`` connections per wake-up, and a refused one holds its
# fd for a few loop steps (the 503 is written, then the close is scheduled): at a low
# fd limit two or three bursts of 128 were enough to hit EMFILE (accept() failed and
# the children record could not be written). The burst is bounded by the fd budget too.
_BACKLOG_SHARE = 16


def fd_bounded_backlog(backlog: int) -> int:
    """``backlog``, lowered to 1/16 of the soft fd limit (at least 8)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return backlog
    return max(8, min(backlog, soft // _BACKLOG_SHARE))


class CappedFactory:
    """A protocol factory whose connections count against ``limit`` (503 beyond)."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], limit: int) -> None:
        self._factory = factory
        self.limit = limit
        self.active = 0
        """Connections open now."""
        self.refused = 0
        """Connections answered 503 so far."""

    def __call__(self) -> asyncio.Protocol:
        return _Counted(self._factory(), self)


class LimitedSite(web.BaseSite):
    """A listening socket (already bound) or a TCP address, served with a connection cap.

    ``sock``: a bound (not yet listening) socket, e.g. the unix socket after its
    chmod; otherwise ``host``/``port`` are bound like ``web.TCPSite`` does.
    """

    __slots__ = ("_factory", "_host", "_limit", "_port", "_site_name", "_sock")

    def __init__(
        self,
        runner: web.BaseRunner,
        *,
        max_connections: int,
        sock: socket.socket | None = None,
        host: str | None = None,
        port: int = 0,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._sock = sock
        self._host = host
        self._port = port
        self._limit = max_connections
        self._factory: CappedFactory | None = None
        self._site_name = (
            f"http://unix:{sock.getsockname()}:" if sock is not None else f"http://{host}:{port}"
        )

    @property
    def name(self) -> str:
        """Where this site listens (for aiohttp's messages)."""
        return self._site_name

    @property
    def factory(self) -> CappedFactory | None:
        """The capped protocol factory (None before ``start``)."""
        return self._factory

    async def start(self) -> None:
        """Listen: from now on connections are accepted (up to the cap)."""
        await super().start()
        server = self._runner.server
        assert server is not None
        # The fd limit as it is now: a reload starts the listeners again.
        self._factory = CappedFactory(server, fd_bounded(self._limit))
        backlog = fd_bounded_backlog(self._backlog)
        loop = asyncio.get_running_loop()
        if self._sock is not None:
            self._server = await loop.create_server(self._factory, sock=self._sock, backlog=backlog)
        else:
            self._server = await loop.create_server(
                self._factory, self._host, self._port, backlog=backlog, reuse_address=True
            )
