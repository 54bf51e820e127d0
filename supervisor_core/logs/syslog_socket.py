"""Log lines to the local syslog daemon over its datagram socket (``/dev/log``).

Rules of this file:
- The wire format is what glibc's ``syslog(3)`` writes to a local socket, which is
  what supervisord's Python ``syslog`` module ends up calling:
  ``<PRI>Mmm dd hh:mm:ss IDENT[PID]: MESSAGE`` (RFC 3164), one datagram per line.
  rsyslog, syslog-ng and journald parse ours exactly as they parse supervisord's.
- The socket path is a parameter (``[supervisord] syslog_socket``, default
  ``/dev/log``), so tests bind their own socket and containers can point elsewhere.
- Never blocks the daemon: the socket is non-blocking. A datagram that cannot go
  now (receiver queue full, socket missing or refused) is dropped and counted in
  :attr:`SyslogSocket.dropped`; the first drop of a streak is logged as a warning
  (which reaches the main log, or stdout in the foreground). A refused or missing
  socket is reconnected at the next send, as glibc does after syslogd restarts.
- Child output goes through the logger :data:`CHILD_SYSLOG_LOGGER` (supervisord
  also sends it through a logger with a syslog handler): the capture code logs
  ``NAME LINE`` there at INFO, and only the CLI attaches the handler.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from collections.abc import Callable

from supervisor_core.logs.mainlog import format_main_log_line

DEFAULT_SOCKET = "/dev/log"
CHILD_SYSLOG_LOGGER = "supervisor_core.childlog.syslog"

LOG_USER = 1 << 3  # facility "user", as Python's syslog module uses by default
_SEVERITY = {  # logging level -> syslog severity (RFC 5424 numbers)
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
}
_DEBUG = 7
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

logger = logging.getLogger(__name__)


def severity_of(level: int) -> int:
    """The syslog severity of a ``logging`` level (below INFO: debug)."""
    for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if level >= threshold:
            return _SEVERITY[threshold]
    return _DEBUG


def format_datagram(
    *, facility: int, severity: int, ident: str, pid: int, message: str, when: float
) -> bytes:
    """One datagram as glibc's syslog(3) sends it: ``<PRI>Mmm dd hh:mm:ss IDENT[PID]: MSG``."""
    local = time.localtime(when)
    # glibc's "%h %e %T": the day of the month padded with a space, not a zero.
    stamp = f"{_MONTHS[local.tm_mon - 1]} {local.tm_mday:2d} {time.strftime('%H:%M:%S', local)}"
    return f"<{facility | severity}>{stamp} {ident}[{pid}]: {message}".encode("utf-8", "replace")


class SyslogSocket:
    """A non-blocking sender of syslog datagrams to a local AF_UNIX socket.

    Args:
        path: the syslog daemon's socket (``/dev/log``).
        ident: the program name every message carries (``superd``).
        clock: wall-clock time for the timestamp.
    """

    def __init__(
        self,
        path: str = DEFAULT_SOCKET,
        *,
        ident: str = "superd",
        facility: int = LOG_USER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.ident = ident
        self.facility = facility
        self._clock = clock
        self._socket: socket.socket | None = None
        self._failing = False
        self.sent = 0
        self.dropped = 0

    def check(self) -> None:
        """Connect now, so a missing socket is reported at startup.

        Raises:
            OSError: the socket cannot be connected to.
        """
        self._connect()

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.setblocking(False)
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        return sock

    def send(self, severity: int, message: str) -> bool:
        """Send one message (one line); False when it was dropped (counted, see rules)."""
        datagram = format_datagram(
            facility=self.facility,
            severity=severity,
            ident=self.ident,
            pid=os.getpid(),
            message=message,
            when=self._clock(),
        )
        for attempt in (1, 2):
            try:
                sock = self._socket if self._socket is not None else self._connect()
                sock.send(datagram)
            except OSError as error:
                reconnectable = error.errno in (errno.ECONNREFUSED, errno.ENOTCONN, errno.ENOENT)
                if self._socket is not None and reconnectable and attempt == 1:
                    self.close()  # syslogd restarted: its path is a new socket
                    continue
                self._drop(error)
                return False
            else:
                self.sent += 1
                self._failing = False
                return True
        return False  # pragma: no cover (the loop always returns)

    def _drop(self, error: OSError) -> None:
        self.dropped += 1
        if self._socket is not None and error.errno != errno.EAGAIN:
            self.close()
        if not self._failing:
            self._failing = True
            logger.warning(
                "syslog: cannot send to %s (%s); dropping messages until it works again",
                self.path,
                error.strerror or error,
            )

    def close(self) -> None:
        """Close the socket (the next send reconnects)."""
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()


class SyslogHandler(logging.Handler):
    """A ``logging.Handler`` sending each line of each record to a :class:`SyslogSocket`.

    ``main_log_format`` (superd's own log) sends supervisord's main-log line as the
    message (``2024-05-01 12:00:00,123 INFO spawned: ...``), as supervisord does with
    ``logfile=syslog``; otherwise the message alone (child output: ``NAME LINE``).
    """

    def __init__(self, sink: SyslogSocket, *, main_log_format: bool) -> None:
        super().__init__()
        self.sink = sink
        self._main_log_format = main_log_format

    def emit(self, record: logging.LogRecord) -> None:
        """Send every line of the record (supervisord splits on newlines too)."""
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            severity = severity_of(record.levelno)
            for line in text.rstrip("\n").split("\n"):
                if self._main_log_format:
                    line = format_main_log_line(record.levelno, line, record.created).rstrip("\n")
                self.sink.send(severity, line)
        except (OSError, ValueError):
            self.handleError(record)

    def close(self) -> None:
        """Close the socket."""
        self.sink.close()
        super().close()
