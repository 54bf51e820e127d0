"""The syslog sender: glibc's datagram format, supervisord's message text, counted drops."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from supervisor import loggers

from supervisor_core.logs.syslog_socket import (
    SyslogHandler,
    SyslogSocket,
    format_datagram,
    severity_of,
)

WHEN = time.mktime((2024, 3, 5, 7, 8, 9, 0, 0, -1))  # local time, a one-digit day


@pytest.fixture
def bound(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "log.sock"))
    sock.setblocking(False)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(65536).decode())
        except BlockingIOError:
            return out


def test_datagram_is_glibcs_format() -> None:
    """``<PRI>Mmm dd hh:mm:ss IDENT[PID]: MSG`` with the day padded by a space."""
    datagram = format_datagram(
        facility=8, severity=6, ident="superd", pid=42, message="hé", when=WHEN
    )
    assert datagram == "<14>Mar  5 07:08:09 superd[42]: hé".encode()


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        (logging.CRITICAL, 2),
        (logging.ERROR, 3),
        (logging.WARNING, 4),
        (logging.INFO, 6),
        (logging.DEBUG, 7),
        (5, 7),
        (3, 7),
    ],
)
def test_severity_by_level(level: int, severity: int) -> None:
    """superd's levels map to syslog severities (trace and blather are debug)."""
    assert severity_of(level) == severity


def supervisord_messages(fmt: str, message: str, level: int) -> list[str]:
    """What supervisord's own SyslogHandler hands to syslog.syslog for one record."""
    captured: list[str] = []
    handler = loggers.SyslogHandler()
    handler._syslog = captured.append  # type: ignore[method-assign]  # its test seam
    handler.setFormat(fmt)
    handler.setLevel(loggers.LevelsByName.BLAT)
    handler.emit(loggers.LogRecord(level, message))
    return captured


def test_child_lines_match_supervisords(bound: socket.socket, tmp_path: Path) -> None:
    """Child output: one message per line, ``NAME LINE``, as supervisord's child syslog."""
    sink = SyslogSocket(str(tmp_path / "log.sock"), clock=lambda: WHEN)
    handler = SyslogHandler(sink, main_log_format=False)
    output = "first\nsecond\n\nthird\n"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "%s %s", ("web", ""), None)
    # capture.py logs each line separately; supervisord's handler splits one chunk.
    for line in output.rstrip("\n").split("\n"):
        record.args = ("web", line)
        handler.emit(record)
    handler.close()
    ours = [d.split(": ", 1)[1] for d in received(bound)]
    theirs = supervisord_messages("web %(message)s", output, loggers.LevelsByName.INFO)
    assert ours == theirs == ["web first", "web second", "web ", "web third"]


def test_main_log_lines_match_supervisords(bound: socket.socket, tmp_path: Path) -> None:
    """logfile=syslog: each line is supervisord's main-log line (time, level, text)."""
    sink = SyslogSocket(str(tmp_path / "log.sock"))
    handler = SyslogHandler(sink, main_log_format=True)
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "a\nb", None, None)
    handler.emit(record)
    handler.close()
    ours = [d.split(": ", 1)[1] for d in received(bound)]
    theirs = supervisord_messages(
        "%(asctime)s %(levelname)s %(message)s\n", "a\nb", loggers.LevelsByName.WARN
    )
    stamp = len("2024-03-05 07:08:09,123 ")
    assert [m[stamp:] for m in ours] == [m[stamp:].rstrip("\n") for m in theirs]
    assert [m[stamp:] for m in ours] == ["WARN a", "WARN b"]


def test_missing_socket_drops_counts_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Sends to a missing socket are dropped and counted; one warning per failing streak."""
    sink = SyslogSocket(str(tmp_path / "absent.sock"))
    with pytest.raises(FileNotFoundError):
        sink.check()
    assert [sink.send(6, "x") for _ in range(3)] == [False, False, False]
    assert sink.dropped == 3
    warnings = [r for r in caplog.records if "syslog: cannot send" in r.message]
    assert len(warnings) == 1


def test_full_receiver_drops_instead_of_blocking(bound: socket.socket, tmp_path: Path) -> None:
    """A receiver that reads nothing makes sends fail at once (counted), never block."""
    sink = SyslogSocket(str(tmp_path / "log.sock"))
    results = [sink.send(6, "x" * 1000) for _ in range(2000)]
    assert results[0] is True
    assert results.count(False) == sink.dropped > 0
    received(bound)  # drain: the next send goes through again
    assert sink.send(6, "after") is True
    assert received(bound)[-1].endswith(": after")
    sink.close()
