"""systemd's sd_notify protocol, both ways: superd's children tell it, superd tells systemd.

Rules of this file:
- The protocol: newline-separated ``KEY=VALUE`` assignments in one datagram on an
  AF_UNIX SOCK_DGRAM socket named by ``NOTIFY_SOCKET``: a path, or an abstract name
  written with a leading ``@`` (sd_notify(3)).
- ``NotifyServer`` is superd's socket for its ``ready = notify`` children. It sets
  SO_PASSCRED, so the kernel attaches the *sender's* pid to every datagram
  (SCM_CREDENTIALS; only CAP_SYS_ADMIN may claim another pid): a message is routed
  to the process whose child has that pid (or declared it with ``MAINPID=``), and a
  datagram from any other pid (a grandchild, another program) is dropped and
  counted. No thread: the socket is a reader on the loop.
- ``notify_systemd`` is the client side, for superd itself under a Type=notify unit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import struct
from collections.abc import Callable, Mapping
from types import MappingProxyType

_log = logging.getLogger(__name__)

NOTIFY_SOCKET = "NOTIFY_SOCKET"
_UCRED = struct.Struct("3i")  # pid, uid, gid
_MAX_DATAGRAM = 4096  # systemd accepts at most this much per message too

NotifyCallback = Callable[[Mapping[str, str]], None]


def parse_message(data: bytes) -> Mapping[str, str]:
    """``READY=1\\nSTATUS=x`` -> ``{"READY": "1", "STATUS": "x"}`` (bad lines dropped)."""
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", errors="replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key and key.isupper():
            fields[key] = value
    return MappingProxyType(fields)


def _sockaddr(address: str) -> str | bytes:
    # An abstract name is written "@name" and bound as "\\0name".
    return b"\0" + address[1:].encode() if address.startswith("@") else address


class NotifyServer:
    """superd's NOTIFY_SOCKET: routes each datagram to the process that sent it.

    Example::

        server = NotifyServer()
        server.open(asyncio.get_running_loop())
        server.register(child_pid, runtime.on_notify)   # env NOTIFY_SOCKET=server.address
        ...
        server.close()
    """

    def __init__(self, address: str | None = None) -> None:
        self.address = (
            address
            if address is not None
            else f"@superd-notify-{os.getpid()}-{secrets.token_hex(6)}"
        )
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._routes: dict[int, NotifyCallback] = {}
        self.dropped = 0
        """Datagrams from a pid that is no registered child (impersonation, strays)."""

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the socket and start reading it on ``loop``.

        Raises:
            OSError: the address cannot be bound.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            sock.bind(_sockaddr(self.address))
            if not self.address.startswith("@"):
                os.chmod(self.address, 0o666)  # children may run as other users
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self._loop = loop
        loop.add_reader(sock.fileno(), self._on_readable)

    def register(self, pid: int, callback: NotifyCallback) -> None:
        """Send the messages of ``pid`` to ``callback`` (until ``unregister``)."""
        self._routes[pid] = callback

    def unregister(self, pid: int) -> None:
        """Forget ``pid`` (its child exited)."""
        self._routes.pop(pid, None)

    def _on_readable(self) -> None:
        sock = self._socket
        if sock is None:
            return
        while True:
            try:
                data, ancillary, _flags, _address = sock.recvmsg(
                    _MAX_DATAGRAM, socket.CMSG_SPACE(_UCRED.size)
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                _log.warning("sd_notify socket: %s", error)
                return
            pid = 0
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = _UCRED.unpack(payload[: _UCRED.size])[0]
            callback = self._routes.get(pid)
            if callback is None:
                self.dropped += 1
                _log.debug("sd_notify: dropped a message from pid %d (no such child)", pid)
                continue
            fields = parse_message(data)
            main_pid = fields.get("MAINPID", "")
            if main_pid.isdigit() and int(main_pid) > 0:
                self._routes[int(main_pid)] = callback
            callback(fields)

    def close(self) -> None:
        """Stop reading and close the socket (a path socket is removed)."""
        sock, self._socket = self._socket, None
        if sock is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(sock.fileno())
        sock.close()
        if not self.address.startswith("@"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)


def notify_systemd(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (``READY=1``, ``STATUS=...``) to ``$NOTIFY_SOCKET``; False if unset.

    Never raises: a supervisor must not die because its own supervisor went away.
    """
    address = (os.environ if environ is None else environ).get(NOTIFY_SOCKET)
    if not address or not address.startswith(("/", "@")):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), _sockaddr(address))
    except OSError as error:
        _log.warning("sd_notify to %s failed: %s", address, error)
        return False
    return True


class SystemdNotifier:
    """superd's own sd_notify client under a ``Type=notify`` systemd unit.

    Inactive (every method a no-op) when superd's environment has no
    ``NOTIFY_SOCKET``. With ``WATCHDOG_USEC`` (for this pid, ``WATCHDOG_PID``) it
    sends ``WATCHDOG=1`` every half period from a loop timer: the only periodic wake-up
    superd has, and only because systemd asked for it.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = dict(os.environ if environ is None else environ)
        self._environ = env
        self.active = bool(env.get(NOTIFY_SOCKET))
        self._watchdog: asyncio.TimerHandle | None = None
        period = env.get("WATCHDOG_USEC", "")
        owner = env.get("WATCHDOG_PID", "")
        mine = not owner or owner == str(os.getpid())
        self.watchdog_interval = int(period) / 2e6 if period.isdigit() and mine else None

    def send(self, state: str) -> bool:
        """Send ``state`` if active."""
        return self.active and notify_systemd(state, self._environ)

    def ready(self, status: str) -> None:
        """Every autostart program has been handled: READY=1 (and start the watchdog)."""
        self.send(f"READY=1\nSTATUS={status}")
        if self.active and self.watchdog_interval and self._watchdog is None:
            self._ping()

    def reloading(self) -> None:
        """A restart (SIGHUP, ``supervisor.restart``) began."""
        self.send("RELOADING=1\nSTATUS=reloading")

    def stopping(self) -> None:
        """The shutdown began."""
        self.send("STOPPING=1\nSTATUS=stopping")

    def _ping(self) -> None:
        self.send("WATCHDOG=1")
        assert self.watchdog_interval is not None
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(self.watchdog_interval, self._ping)

    def close(self) -> None:
        """Stop the watchdog pings."""
        handle, self._watchdog = self._watchdog, None
        if handle is not None:
            handle.cancel()
