"""A minimal SMTP server on 127.0.0.1 that appends every message's DATA to a file.

Enough of RFC 5321 for ``smtplib.SMTP.sendmail`` (EHLO/HELO, MAIL, RCPT, DATA, QUIT);
used for superlance's ``fatalmailbatch``, which speaks SMTP instead of sendmail.
"""

from __future__ import annotations

import socketserver
import threading
from pathlib import Path


class _Handler(socketserver.StreamRequestHandler):
    server: SmtpSink

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 sink ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            command = line.decode("ascii", "replace").strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.reply("250 sink")
            elif command.startswith(("MAIL", "RCPT", "RSET", "NOOP")):
                self.reply("250 OK")
            elif command == "DATA":
                self.reply("354 go ahead")
                body = []
                while (data := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    body.append(data.decode("utf-8", "replace"))
                with self.server.path.open("a", encoding="utf-8") as f:
                    f.write("".join(body) + "\n--- end of message ---\n")
                self.reply("250 queued")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class SmtpSink(socketserver.ThreadingTCPServer):
    """``with SmtpSink(path) as sink:`` serves on ``sink.port`` in a thread until exit."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, path: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.path = path
        self.port = self.server_address[1]
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)
