"""Running the control-plane app on supervisord's listeners (unix socket and/or TCP).

``serving()`` is an async context manager that binds the listeners and yields their
actual addresses (a TCP port of 0 picks a free one); ``serve()`` runs until cancelled,
so the daemon starts it as one task of its TaskGroup and cancels it to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import stat
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

from supervisor_core.config.model import InetHttpServerConfig, UnixHttpServerConfig
from supervisor_core.http.limits import DEFAULT_LIMITS, LIMITS_KEY, ConnectionLimits, LimitedSite

logger = logging.getLogger(__name__)

# How long shutdown waits for in-flight requests (a stopProcess waiting for its
# child, say) before closing their connections.
DEFAULT_SHUTDOWN_TIMEOUT = 5.0


class ServerStartError(OSError):
    """A listener could not be created; the message names the config section."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundAddresses:
    """Where the control plane actually listens."""

    unix: str | None = None
    inet: tuple[str, int] | None = None


def bind_host(host: str) -> str | None:
    """The host to bind for ``[inet_http_server] port=host:port``; None means all interfaces.

    ``*:9001`` and ``:9001`` (host "" after parsing) listen on every interface.
    """
    return None if host in ("", "*") else host


def _unix_socket_in_use(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def check_unix_socket_free(config: UnixHttpServerConfig) -> None:
    """Refuse, as binding would, a ``file=`` that is not a socket or that a program listens on.

    superd calls it before it touches what a daemon already running on the same file
    uses (its AUTO logs, its journal), so a second daemon refused here changed nothing.

    Raises:
        ServerStartError: EEXIST (not a socket) or EADDRINUSE (someone listens on it).
    """
    path = config.file
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    where = f"[unix_http_server] file={path}"
    if not stat.S_ISSOCK(mode):
        raise ServerStartError(errno.EEXIST, f"{where}: exists and is not a socket")
    if _unix_socket_in_use(path):
        raise ServerStartError(errno.EADDRINUSE, f"{where}: another program is listening on it")


def _prepare_unix_path(config: UnixHttpServerConfig) -> None:
    # asyncio removes any existing socket file before binding, which would steal the
    # socket of a live daemon; refuse like supervisord when someone is listening and
    # only clean up a stale file.
    check_unix_socket_free(config)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(config.file)


# While the socket file is created: owner-only, whatever the daemon's umask (supervisord
# runs with umask 022 or the configured one, 000 in some setups).
_BIND_UMASK = 0o077


def bind_unix_socket(config: UnixHttpServerConfig) -> socket.socket:
    """A unix socket bound at ``config.file`` with its chmod/chown applied, not yet listening.

    Nobody can talk to it before its final mode: the file is created under an
    owner-only umask, gets ``chmod``/``chown`` next, and only then does the caller
    ``listen()`` (until then a ``connect()`` is refused). aiohttp's ``UnixSite``
    listens first and leaves the mode to the caller, which let any local user call
    ``getState`` in that window when the daemon's umask is 000 (issue 19).

    Raises:
        OSError: bind, chmod or chown failed (the socket is closed, the file removed).
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = False
    try:
        previous = os.umask(_BIND_UMASK)
        try:
            sock.bind(config.file)
        finally:
            os.umask(previous)
        bound = True
        os.chmod(config.file, config.chmod)
        if config.chown != (-1, -1):
            os.chown(config.file, *config.chown)
        sock.setblocking(False)
    except OSError:
        sock.close()
        if bound:
            with contextlib.suppress(OSError):
                os.unlink(config.file)
        raise
    return sock


def _warn_if_open(section: str, username: str | None) -> None:
    # supervisord's own wording, so that log watchers keyed on it keep working.
    if not username:
        logger.critical("Server %r running without any HTTP authentication checking", section)


@contextlib.asynccontextmanager
async def serving(
    app: web.Application,
    *,
    unix: UnixHttpServerConfig | None = None,
    inet: InetHttpServerConfig | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    limits: ConnectionLimits = DEFAULT_LIMITS,
) -> AsyncIterator[BoundAddresses]:
    """Serve ``app`` on the configured listeners while the block runs.

    The unix socket gets the configured ``chmod``/``chown`` before it accepts a
    connection, and is removed on exit. Each listener applies ``limits`` (idle and
    header timeouts, a body timeout, a connection cap answered 503).

    Raises:
        ServerStartError: a listener could not be bound (the message names the
            section, the address and the OS error).
    """
    if LIMITS_KEY not in app:
        app[LIMITS_KEY] = limits
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=shutdown_timeout,
        keepalive_timeout=limits.idle_timeout,
    )
    await runner.setup()
    unix_inode: int | None = None
    bound_unix: str | None = None
    bound_inet: tuple[str, int] | None = None
    try:
        if unix is not None:
            _prepare_unix_path(unix)
            try:
                sock = bind_unix_socket(unix)
                try:
                    await LimitedSite(
                        runner, sock=sock, max_connections=limits.max_connections
                    ).start()
                except OSError:
                    sock.close()
                    os.unlink(unix.file)
                    raise
            except OSError as e:
                raise ServerStartError(
                    e.errno, f"[unix_http_server] file={unix.file}: {e.strerror or e}"
                ) from e
            unix_inode = os.stat(unix.file).st_ino
            bound_unix = unix.file
            _warn_if_open("unix_http_server", unix.username)
        if inet is not None:
            site = LimitedSite(
                runner,
                host=bind_host(inet.host),
                port=inet.port,
                max_connections=limits.max_connections,
            )
            try:
                await site.start()
            except OSError as e:
                raise ServerStartError(
                    e.errno, f"[inet_http_server] port={inet.host}:{inet.port}: {e.strerror or e}"
                ) from e
            for address in runner.addresses:
                if isinstance(address, tuple):
                    bound_inet = (str(address[0]), int(address[1]))
                    break
            _warn_if_open("inet_http_server", inet.username)
        yield BoundAddresses(unix=bound_unix, inet=bound_inet)
    finally:
        await runner.cleanup()
        if unix is not None and unix_inode is not None:
            with contextlib.suppress(OSError):
                if os.stat(unix.file).st_ino == unix_inode:
                    os.unlink(unix.file)


async def serve(
    app: web.Application,
    *,
    unix: UnixHttpServerConfig | None = None,
    inet: InetHttpServerConfig | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    on_ready: Callable[[BoundAddresses], None] | None = None,
) -> None:
    """Serve ``app`` until cancelled (run it as a task of the daemon's TaskGroup).

    ``on_ready`` is called once every listener is bound, with the bound addresses.
    """
    async with serving(app, unix=unix, inet=inet, shutdown_timeout=shutdown_timeout) as addresses:
        if on_ready is not None:
            on_ready(addresses)
        await asyncio.get_running_loop().create_future()
