"""XML-RPC and log-tail HTTP over ``unix://`` sockets and ``http://`` with basic auth.

Deliberately synchronous and small: a client makes one request at a time. The XML-RPC
side is stdlib ``xmlrpc.client`` with a transport that picks the socket family from
the server URL (``ServerProxy`` itself only accepts http URLs, so it is given a
placeholder URL and the transport decides where to connect, as supervisorctl does;
that placeholder is also what appears in ``ProtocolError`` text).
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import http.client
import socket
import urllib.parse
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass

from supervisor_core import __version__

# The URL ServerProxy is built with; only its path ("/RPC2") is used on the wire.
PLACEHOLDER_URL = "http://127.0.0.1"
_UNIX_PREFIX = "unix://"
_HTTP_PREFIX = "http://"


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection over a UNIX domain socket at ``socket_path``."""

    def __init__(self, socket_path: str, timeout: float | None = None) -> None:
        # The Host header needs some name; the socket path may be too long for one.
        super().__init__("localhost")
        self.socket_path = socket_path
        self._connect_timeout = timeout

    def connect(self) -> None:
        """Open the UNIX socket (``ENOENT``/``ECONNREFUSED`` propagate as ``OSError``)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if self._connect_timeout is not None:
                sock.settimeout(self._connect_timeout)
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def open_connection(serverurl: str) -> http.client.HTTPConnection:
    """A not-yet-connected HTTP connection to ``serverurl`` (``unix://`` or ``http://``).

    Raises:
        ValueError: the URL is neither ``unix://...`` nor ``http://...``.
    """
    if serverurl.startswith(_HTTP_PREFIX):
        parsed = urllib.parse.urlsplit(serverurl)
        return http.client.HTTPConnection(parsed.hostname or "", parsed.port or 80)
    if serverurl.startswith(_UNIX_PREFIX):
        return UnixHTTPConnection(serverurl[len(_UNIX_PREFIX) :])
    raise ValueError(f"Unknown protocol for serverurl {serverurl}")


def basic_auth_header(username: str | None, password: str | None) -> str:
    """The ``Authorization`` value for HTTP basic auth."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class SupervisorTransport(xmlrpc.client.Transport):
    """An ``xmlrpc.client`` transport to a supervisord-compatible server.

    Keeps one persistent connection; sends basic auth when both a username and a
    password are configured (an empty password counts, as in supervisorctl).
    """

    # Names superctl in the origin of the transitions it causes (journal, web page).
    user_agent = f"superctl/{__version__}"

    def __init__(self, serverurl: str, username: str | None, password: str | None) -> None:
        super().__init__()
        self.serverurl = serverurl
        self.username = username
        self.password = password
        # Fail now, not at the first request, on a URL we cannot speak to.
        open_connection(serverurl)

    def make_connection(self, host: object) -> http.client.HTTPConnection:
        """Reuse the open connection, or open one to ``serverurl`` (``host`` is ignored)."""
        if self._connection[1] is None:
            self._connection = (PLACEHOLDER_URL, open_connection(self.serverurl))
        connection = self._connection[1]
        assert connection is not None  # set just above
        return connection

    def send_headers(
        self, connection: http.client.HTTPConnection, headers: list[tuple[str, str]]
    ) -> None:
        """Add basic auth to the standard XML-RPC headers."""
        if self.username is not None and self.password is not None:
            connection.putheader("Authorization", basic_auth_header(self.username, self.password))
        super().send_headers(connection, headers)


def make_server_proxy(
    serverurl: str, username: str | None, password: str | None
) -> xmlrpc.client.ServerProxy:
    """A ``ServerProxy`` talking to ``serverurl``'s ``/RPC2``.

    Raises:
        ValueError: the URL scheme is neither ``unix`` nor ``http``.
    """
    transport = SupervisorTransport(serverurl, username, password)
    return xmlrpc.client.ServerProxy(PLACEHOLDER_URL, transport=transport)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamError:
    """Why a log stream could not be followed (the text supervisorctl prints)."""

    url: str
    message: str

    def __str__(self) -> str:
        return f"{self.url} {self.message}"


class LogStream:
    """A followed log: ``GET /logtail/NAME/CHANNEL`` or ``/mainlogtail``, chunk by chunk.

    The server keeps the response open and sends new log text as it is written;
    :meth:`follow` hands each piece of decoded text to ``sink`` until the server ends
    the response or :meth:`close` is called from another thread.
    """

    def __init__(
        self, serverurl: str, path: str, username: str | None, password: str | None
    ) -> None:
        self.url = serverurl + path
        self._serverurl = serverurl
        self._path = path
        self._username = username
        self._password = password
        self._connection: http.client.HTTPConnection | None = None
        self._closed = False

    def follow(self, sink: Callable[[str], None]) -> StreamError | None:
        """Stream the log into ``sink``; return why it could not be read, or None."""
        try:
            connection = open_connection(self._serverurl)
            self._connection = connection
            headers = {"Accept": "*/*"}
            # supervisorctl sends credentials only when a password is set.
            if self._password:
                headers["Authorization"] = basic_auth_header(self._username, self._password)
            connection.request("GET", self._path, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            if self._closed:
                return None
            return StreamError(
                url=self.url, message=f"Cannot connect, error: {type(error)} ({error})"
            )
        if response.status != 200:
            self.close()
            return StreamError(url=self.url, message=f"Cannot read, status code {response.status}")
        # Chunks may split a multi-byte character: decode incrementally.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            while True:
                data = response.read1(65536)
                if not data:
                    break
                text = decoder.decode(data)
                if text:
                    sink(text)
        except (OSError, http.client.HTTPException, ValueError):
            # close() from another thread shuts the socket down under us.
            if not self._closed:
                raise
        finally:
            self.close()
        return None

    def close(self) -> None:
        """Stop following (safe from another thread, and more than once)."""
        self._closed = True
        connection = self._connection
        if connection is None:
            return
        sock = connection.sock
        if sock is not None:
            # Already disconnected means nothing is left to interrupt.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        connection.close()
