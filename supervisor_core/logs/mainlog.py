"""superd's own log file in supervisord's format, rotated like the child logs.

A ``logging.Handler``, so library code logs with the standard ``logging`` module and
only the CLI entry point installs this handler (no logging configured at import).
"""

from __future__ import annotations

import functools
import logging
import time

from supervisor_core.logs.files import RotatingFileWriter

# supervisord's four-letter level names (loggers.LevelsByName).
_LEVEL_NAMES = {
    logging.CRITICAL: "CRIT",
    logging.ERROR: "ERRO",
    logging.WARNING: "WARN",
    logging.INFO: "INFO",
    logging.DEBUG: "DEBG",
    5: "TRAC",
    3: "BLAT",
}


# A burst of lines (a crash storm logs two per restart) shares one
# localtime/strftime per second; a few seconds are kept for lines that arrive
# slightly out of order.
@functools.lru_cache(maxsize=4)
def _stamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def format_main_log_line(level: int, message: str, when: float) -> str:
    """One line as supervisord writes it: ``2024-05-01 12:00:00,123 INFO message``."""
    seconds = int(when)
    millis = int((when - seconds) * 1000)
    name = _LEVEL_NAMES.get(level) or logging.getLevelName(level)
    return f"{_stamp(seconds)},{millis:03d} {name} {message}\n"


# Where ``main_log_line`` keeps a record's line: the file, stdout and syslog copies
# of the main log are one line formatted once.
_LINE_ATTRIBUTE = "_superd_main_log_line"


def main_log_line(record: logging.LogRecord) -> str:
    """``record`` as one main-log line (with its traceback), formatted once per record.

    Every handler of the main log (file, foreground stdout, syslog) asks for the
    same text; the first one formats it and the others reuse it.
    """
    line: str | None = record.__dict__.get(_LINE_ATTRIBUTE)
    if line is None:
        line = format_main_log_line(record.levelno, record.getMessage(), record.created)
        if record.exc_info:
            line += logging.Formatter().formatException(record.exc_info) + "\n"
        record.__dict__[_LINE_ATTRIBUTE] = line
    return line


class MainLogHandler(logging.Handler):
    """Writes records to superd's ``logfile`` with ``logfile_maxbytes``/``logfile_backups``."""

    def __init__(self, path: str, *, maxbytes: int = 0, backups: int = 0) -> None:
        super().__init__()
        self.writer = RotatingFileWriter(path, maxbytes=maxbytes, backups=backups)

    def emit(self, record: logging.LogRecord) -> None:
        """Format and write one record (errors go to ``handleError``, never raise)."""
        try:
            self.writer.write(main_log_line(record).encode("utf-8", "replace"))
        except (OSError, ValueError):
            self.handleError(record)

    def reopen(self) -> None:
        """Reopen the file (SIGUSR2)."""
        self.acquire()
        try:
            self.writer.reopen()
        finally:
            self.release()

    def close(self) -> None:
        """Close the file."""
        self.writer.close()
        super().close()
