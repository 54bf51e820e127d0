"""Real peers for the notifier's tests: an HTTP webhook receiver and an SMTP sink.

Both run in threads of their own on 127.0.0.1 (ephemeral ports), so sync tests
driving a ``superd`` subprocess and async tests alike can use them. Waiting is
bounded and event-driven (a condition variable), never sleep-and-check.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

DEADLINE = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Request:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class _Recorder:
    """Things received, and a bounded wait for a condition on them."""

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._changed = threading.Condition()

    def _add(self, item: Any) -> None:
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def items(self) -> list[Any]:
        with self._changed:
            return list(self._items)

    def wait_for(
        self, condition: Callable[[list[Any]], bool], what: str, deadline: float = DEADLINE
    ) -> list[Any]:
        """Until ``condition(items)`` holds; AssertionError after ``deadline`` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self._items), timeout=deadline):
                raise AssertionError(f"timed out waiting for {what}; got {self._items!r}")
            return list(self._items)


class WebhookReceiver(_Recorder):
    """A real HTTP server answering POSTs with ``status`` (200 unless told otherwise)."""

    def __init__(self, port: int = 0) -> None:
        super().__init__()
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = receiver.status
                if 200 <= status < 300:
                    receiver._add(Request(self.path, dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def kinds(self) -> list[str]:
        """The ``kind`` of every JSON body received, in order."""
        return [r.json()["kind"] for r in self.items()]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if address in self.sink.refuse:
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.sink._add((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpSink(_Recorder):
    """A real SMTP server (aiosmtpd) keeping every mail: ``(mail_from, rcpt_tos, message)``."""

    def __init__(
        self, *, port: int = 0, refuse: tuple[str, ...] = (), **server_options: Any
    ) -> None:
        super().__init__()
        self.refuse = refuse
        # aiosmtpd's start-up check connects to the port it was given: pick one first.
        self.port = port or free_port()
        self.controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, **server_options
        )

    def messages(self) -> list[EmailMessage]:
        return [m for _, _, m in self.items()]

    def kinds(self) -> list[str]:
        """The ``X-Superd-Kind`` of every mail received, in order."""
        return [str(m["X-Superd-Kind"]) for m in self.messages()]

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def kinds_by_name(kinds_and_names: Iterator[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """How many notifications of each (kind, name)."""
    counts: dict[tuple[str, str], int] = {}
    for pair in kinds_and_names:
        counts[pair] = counts.get(pair, 0) + 1
    return counts
