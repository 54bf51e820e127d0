"""Who is asking: a control-plane request as the ``Requester`` of the transition it causes.

Rules of this file:
- The origin names the channel and the peer as precisely as the connection tells,
  and nothing secret: a unix socket's peer credentials (SO_PEERCRED: pid and uid),
  a TCP peer's address, the basic-auth *username* (never the password) and the
  client's ``User-Agent`` (superctl sends one; supervisorctl sends none).
- The cause is always OPERATOR here; the daemon turns it into LISTENER when the
  peer pid is one of its own event listeners (``Supervisor._attributed``).
"""

from __future__ import annotations

import socket
import struct

from aiohttp import web

from supervisor_core.http.auth import parse_basic_authorization
from supervisor_core.lifecycle import Cause, Requester

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
# A client's User-Agent ends up in the journal and the web page: keep it short and
# printable (it is the client's text, not ours).
_MAX_AGENT = 64


def requester_of(request: web.Request, channel: str) -> Requester:
    """The ``Requester`` for a request on ``channel`` (``"xmlrpc"``, ``"web"``).

    Example: ``xmlrpc, unix socket pid 4242 uid 0, user alice, superctl/0.1.0``.
    """
    parts = [channel]
    peer_pid: int | None = None
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family == socket.AF_UNIX:
        try:
            pid, uid, _gid = _UCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            )
        except OSError:
            parts.append("unix socket")
        else:
            peer_pid = pid if pid > 0 else None
            parts.append(f"unix socket pid {pid} uid {uid}")
    elif request.remote:
        parts.append(request.remote)
    credentials = parse_basic_authorization(request.headers.get("Authorization"))
    if credentials is not None:
        parts.append(f"user {_printable(credentials[0])}")
    agent = request.headers.get("User-Agent")
    if agent:
        parts.append(_printable(agent)[:_MAX_AGENT])
    return Requester(cause=Cause.OPERATOR, origin=", ".join(parts), peer_pid=peer_pid)


def _printable(text: str) -> str:
    return "".join(char if char.isprintable() else "?" for char in text)
