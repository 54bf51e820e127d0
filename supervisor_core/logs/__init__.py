"""Child output capture and log files.

- ``capture``: ``ProcessOutput`` / ``ChannelLog`` read a child's pipes on the loop and
  write its log files, with ``on_log`` / ``on_communication`` callbacks.
- ``files``: supervisord's rotating writer, AUTO names, ``read_log`` / ``tail_log``.
- ``filters``: pure capture-mode parsing and ANSI stripping.
- ``mainlog``: superd's own log file handler.
- ``syslog_socket``: datagrams to the local syslog daemon (``logfile=syslog``,
  ``*_syslog=true``).
"""

from __future__ import annotations

from supervisor_core.logs.capture import (
    PIPE_SIZE,
    READ_SIZE,
    SPLICE_CHUNK,
    Channel,
    ChannelLog,
    ChannelSettings,
    LogOpenError,
    OnCommunication,
    OnError,
    OnLog,
    ProcessOutput,
)
from supervisor_core.logs.files import (
    LogReadError,
    RotatingFileWriter,
    TailResult,
    auto_log_name,
    read_log,
    resolve_logfile,
    tail_log,
)
from supervisor_core.logs.filters import (
    BEGIN_TOKEN,
    END_TOKEN,
    AnsiStripper,
    ChannelFilter,
    Communication,
    Output,
)
from supervisor_core.logs.mainlog import MainLogHandler, format_main_log_line, main_log_line

__all__ = [
    "BEGIN_TOKEN",
    "END_TOKEN",
    "PIPE_SIZE",
    "READ_SIZE",
    "SPLICE_CHUNK",
    "AnsiStripper",
    "Channel",
    "ChannelFilter",
    "ChannelLog",
    "ChannelSettings",
    "Communication",
    "LogOpenError",
    "LogReadError",
    "MainLogHandler",
    "OnCommunication",
    "OnError",
    "OnLog",
    "Output",
    "ProcessOutput",
    "RotatingFileWriter",
    "TailResult",
    "auto_log_name",
    "format_main_log_line",
    "main_log_line",
    "read_log",
    "resolve_logfile",
    "tail_log",
]
