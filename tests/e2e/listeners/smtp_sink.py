"""A real SMTP server (aiosmtpd) on 127.0.0.1 that appends every message it accepts to a file.

superlance's batch mailers (``fatalmailbatch``, ``crashmailbatch``, ``crashsms``)
speak SMTP through ``smtplib``; this is the relay they talk to. Each message is
written whole (headers and body) followed by ``--- end of message ---``.
"""

from __future__ import annotations

import errno
import socket
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _AppendToFile:
    """aiosmtpd handler: every accepted message is appended to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        text = bytes(envelope.content).decode("utf-8", "replace")
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\n{text}")
            f.write("\n--- end of message ---\n")
        return "250 Message accepted for delivery"


class SmtpSink:
    """``with SmtpSink(path) as sink:`` serves SMTP on ``127.0.0.1:sink.port`` until exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = 0
        self._controller: Controller | None = None

    def __enter__(self) -> SmtpSink:
        # aiosmtpd's threaded controller needs the port up front: probe for a free
        # one, and try another if someone took it in between (bounded).
        for _ in range(5):
            port = _free_port()
            controller = Controller(_AppendToFile(self.path), hostname="127.0.0.1", port=port)
            try:
                controller.start()
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                continue
            self._controller, self.port = controller, port
            return self
        raise RuntimeError("no free port for the SMTP sink after 5 tries")

    def __exit__(self, *exc: object) -> None:
        if self._controller is not None:
            self._controller.stop()
