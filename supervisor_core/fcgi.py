"""The listening socket of an ``[fcgi-program:x]``, which superd hands to each process as fd 0.

supervisord creates the socket on the first spawn and closes it when no process of
the group holds it any more; superd opens it when the group is added and closes it
when the group goes (removed, updated or at shutdown). The difference is only
visible while every process of an fcgi group is stopped: the port stays bound,
which is what a restart wants anyway (no window where connections are refused).
"""

from __future__ import annotations

import contextlib
import os
import socket

from supervisor_core.config.model import FcgiSocketConfig, SocketFamily


class FcgiSocketError(OSError):
    """The socket could not be created; the message names the url."""


def open_fcgi_socket(config: FcgiSocketConfig) -> socket.socket:
    """Create, bind and listen on the socket ``config`` describes (blocking mode).

    A unix socket path is replaced if it exists, then gets ``socket_mode`` and
    ``socket_owner`` as supervisord applies them. The backlog defaults to
    ``socket.SOMAXCONN`` like supervisord's.

    Raises:
        FcgiSocketError: binding or listening failed.
    """
    backlog = config.backlog if config.backlog is not None else socket.SOMAXCONN
    try:
        if config.family is SocketFamily.TCP:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((config.host or "", config.port or 0))
                sock.listen(backlog)
            except OSError:
                sock.close()
                raise
            return sock
        path = config.path or ""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            os.chmod(path, config.mode if config.mode is not None else 0o700)
            if config.owner is not None:
                os.chown(path, *config.owner)
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
        return sock
    except OSError as error:
        raise FcgiSocketError(
            error.errno, f"fcgi socket {config.url}: {error.strerror or error}"
        ) from error


def close_fcgi_socket(sock: socket.socket, config: FcgiSocketConfig) -> None:
    """Close the socket and remove a unix socket's path."""
    sock.close()
    if config.family is SocketFamily.UNIX and config.path:
        with contextlib.suppress(OSError):
            os.unlink(config.path)
