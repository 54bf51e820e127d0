"""Rotating log files, read/tail and the main log format, against supervisord's own code."""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from supervisor import loggers
from supervisor.options import readFile, tailFile

from supervisor_core.config.model import AUTO
from supervisor_core.logs.files import (
    LogReadError,
    RotatingFileWriter,
    empty_file,
    read_log,
    resolve_logfile,
    tail_log,
)
from supervisor_core.logs.mainlog import MainLogHandler, format_main_log_line, main_log_line


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _supervisord_rotation(
    directory: Path, chunks: list[bytes], maxbytes: int, backups: int
) -> None:
    logger = loggers.getLogger(loggers.LevelsByName.INFO)
    loggers.handle_file(
        logger,
        str(directory / "app.log"),
        "%(message)s",
        rotating=bool(maxbytes),
        maxbytes=maxbytes,
        backups=backups,
    )
    for chunk in chunks:
        logger.info(chunk)
    logger.close()


def _our_rotation(directory: Path, chunks: list[bytes], maxbytes: int, backups: int) -> None:
    writer = RotatingFileWriter(str(directory / "app.log"), maxbytes=maxbytes, backups=backups)
    for chunk in chunks:
        writer.write(chunk)
    writer.close()


def test_rotation_exact_names_and_sizes(tmp_path: Path) -> None:
    """file.1 is the newest backup; a chunk lands whole and rotation follows it."""
    writer = RotatingFileWriter(str(tmp_path / "app.log"), maxbytes=10, backups=2)
    for index in range(7):
        writer.write(bytes([65 + index]) * 4)  # AAAA BBBB ... GGGG
    writer.close()
    # 12 bytes (AAAABBBBCCCC) >= 10 -> .1; DDDDEEEEFFFF -> .1, old .1 -> .2; GGGG stays.
    assert _files(tmp_path) == {
        "app.log": b"GGGG",
        "app.log.1": b"DDDDEEEEFFFF",
        "app.log.2": b"AAAABBBBCCCC",
    }


def test_rotation_drops_beyond_backups(tmp_path: Path) -> None:
    """Only `backups` rotated files are kept; the oldest falls off."""
    writer = RotatingFileWriter(str(tmp_path / "app.log"), maxbytes=5, backups=2)
    for index in range(5):
        writer.write(bytes([48 + index]) * 5)
    writer.close()
    assert _files(tmp_path) == {"app.log": b"", "app.log.1": b"44444", "app.log.2": b"33333"}


def test_zero_backups_truncates(tmp_path: Path) -> None:
    """With backups=0 a full file is truncated, keeping no history (supervisord's doRollover)."""
    writer = RotatingFileWriter(str(tmp_path / "app.log"), maxbytes=8, backups=0)
    for chunk in (b"12345", b"6789", b"ab"):
        writer.write(chunk)
    writer.close()
    assert _files(tmp_path) == {"app.log": b"ab"}


def test_zero_maxbytes_never_rotates(tmp_path: Path) -> None:
    """maxbytes=0 disables rotation whatever the size."""
    writer = RotatingFileWriter(str(tmp_path / "app.log"), maxbytes=0, backups=3)
    for _ in range(100):
        writer.write(b"x" * 100)
    writer.close()
    assert _files(tmp_path) == {"app.log": b"x" * 10_000}


def test_rotation_counts_existing_content(tmp_path: Path) -> None:
    """A file that already holds data rotates when the total, not our writes, reaches maxbytes."""
    (tmp_path / "app.log").write_bytes(b"old-data")
    writer = RotatingFileWriter(str(tmp_path / "app.log"), maxbytes=10, backups=1)
    writer.write(b"new")
    writer.close()
    assert _files(tmp_path) == {"app.log": b"", "app.log.1": b"old-datanew"}


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=9), max_size=25),
    maxbytes=st.integers(min_value=0, max_value=20),
    backups=st.integers(min_value=0, max_value=3),
)
def test_rotation_matches_supervisord(
    tmp_path_factory: pytest.TempPathFactory, chunks: list[bytes], maxbytes: int, backups: int
) -> None:
    """For any chunk sequence the files are those supervisord's RotatingFileHandler leaves."""
    ours = tmp_path_factory.mktemp("ours")
    theirs = tmp_path_factory.mktemp("theirs")
    _our_rotation(ours, chunks, maxbytes, backups)
    _supervisord_rotation(theirs, chunks, maxbytes, backups)
    assert _files(ours) == _files(theirs)


def test_fifo_target_is_never_rotated(tmp_path: Path) -> None:
    """A FIFO log target with maxbytes set is written through without seeking or rotating."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        writer = RotatingFileWriter(str(fifo), maxbytes=4, backups=2)
        assert not writer.seekable
        for chunk in (b"hello", b" ", b"world"):
            writer.write(chunk)
        writer.remove()  # must not delete the FIFO
        writer.write(b"!")
        writer.close()
        assert os.read(reader, 100) == b"hello world!"
    finally:
        os.close(reader)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_dev_null_target(tmp_path: Path) -> None:
    """A character device accepts writes with rotation configured and is never rotated."""
    writer = RotatingFileWriter("/dev/null", maxbytes=1, backups=1)
    writer.write(b"x" * 100)
    writer.rollover()
    writer.close()
    assert os.path.exists("/dev/null")
    assert not os.path.exists("/dev/null.1")


def test_dev_stdout_is_duplicated_not_reopened(tmp_path: Path) -> None:
    """/dev/stdout writes to our fd 1 even when it cannot be reopened by path."""
    read_end, write_end = os.pipe()
    saved = os.dup(1)
    try:
        os.dup2(write_end, 1)
        writer = RotatingFileWriter("/dev/stdout", maxbytes=2, backups=1)
        writer.write(b"to stdout")
        writer.close()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(write_end)
    try:
        assert os.read(read_end, 100) == b"to stdout"
    finally:
        os.close(read_end)


def test_reopen_follows_external_rename(tmp_path: Path) -> None:
    """After an external rename (logrotate), reopen() starts writing a fresh file."""
    path = tmp_path / "app.log"
    writer = RotatingFileWriter(str(path), maxbytes=0)
    writer.write(b"one")
    path.rename(tmp_path / "app.log.old")
    writer.write(b"two")
    writer.reopen()
    writer.write(b"three")
    writer.close()
    assert _files(tmp_path) == {"app.log": b"three", "app.log.old": b"onetwo"}


def test_remove_deletes_file_but_keeps_backups(tmp_path: Path) -> None:
    """remove() empties the log like clearProcessLogs; backups stay, remove_backups() drops them."""
    writer = RotatingFileWriter(str(tmp_path / "app.log"), maxbytes=3, backups=2)
    writer.write(b"abc")
    writer.write(b"de")
    writer.remove()
    assert _files(tmp_path) == {"app.log": b"", "app.log.1": b"abc"}
    writer.remove_backups()
    writer.write(b"f")
    writer.close()
    assert _files(tmp_path) == {"app.log": b"f"}


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common umask, under which supervisord re-creates logs world-readable."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_recreated_files_never_widen_a_private_log(tmp_path: Path) -> None:
    """A 0600 log stays 0600 after rollover, remove and a reopen of a moved-away file."""
    path = tmp_path / "auto.log"
    auto = resolve_logfile(
        AUTO, name="a", channel="stdout", identifier="t", childlogdir=str(tmp_path)
    )
    assert auto is not None
    os.rename(auto, path)
    assert _mode(path) == 0o600  # mkstemp's, before anything was written
    writer = RotatingFileWriter(str(path), maxbytes=4, backups=1)
    writer.write(b"12345")  # rotates: app.log.1 is the old file, app.log is new
    assert (tmp_path / "auto.log.1").read_bytes() == b"12345"
    assert _mode(path) == 0o600
    writer.remove()
    assert _mode(path) == 0o600
    path.rename(tmp_path / "moved.log")
    writer.reopen()
    assert path.exists()
    assert _mode(path) == 0o600
    writer.close()


@pytest.mark.usefixtures("umask_022")
def test_a_new_log_file_follows_the_umask(tmp_path: Path) -> None:
    """A log file that did not exist is created 0666 & ~umask, as supervisord creates it."""
    writer = RotatingFileWriter(str(tmp_path / "new.log"))
    writer.close()
    assert _mode(tmp_path / "new.log") == 0o644


def test_empty_file_truncates_in_place_and_ignores_the_absent(tmp_path: Path) -> None:
    """empty_file keeps the file and its mode, and leaves a missing path missing."""
    path = tmp_path / "log"
    path.write_bytes(b"old output")
    path.chmod(0o600)
    empty_file(str(path))
    assert path.read_bytes() == b""
    assert _mode(path) == 0o600
    empty_file(str(tmp_path / "absent"))
    assert not (tmp_path / "absent").exists()


def test_write_after_close_is_an_error(tmp_path: Path) -> None:
    """Writing to a closed writer names the file."""
    writer = RotatingFileWriter(str(tmp_path / "app.log"))
    writer.close()
    writer.close()
    with pytest.raises(ValueError, match=r"app\.log"):
        writer.write(b"x")


def test_auto_log_name(tmp_path: Path) -> None:
    """AUTO names follow supervisord: NAME-CHANNEL---IDENT-RANDOM.log in childlogdir."""
    path = resolve_logfile(
        AUTO, name="web", channel="stdout", identifier="supervisor", childlogdir=str(tmp_path)
    )
    assert path is not None
    assert os.path.dirname(path) == str(tmp_path)
    assert re.fullmatch(r"web-stdout---supervisor-\w+\.log", os.path.basename(path))
    assert (
        resolve_logfile(None, name="w", channel="stdout", identifier="s", childlogdir="/") is None
    )
    assert (
        resolve_logfile("/x.log", name="w", channel="stdout", identifier="s", childlogdir="/")
        == "/x.log"
    )


CONTENT = bytes(range(48, 58)) * 3  # 30 bytes


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, 0), (0, 5), (5, 10), (25, 100), (100, 5), (-5, 0), (-100, 0), (30, 0)],
)
def test_read_log_matches_readfile(tmp_path: Path, offset: int, length: int) -> None:
    """read_log returns what supervisord's readFile returns for the same offset/length."""
    path = tmp_path / "app.log"
    path.write_bytes(CONTENT)
    assert read_log(str(path), offset, length) == readFile(str(path), offset, length)


@pytest.mark.parametrize(("offset", "length"), [(-5, 3), (0, -1)])
def test_read_log_bad_arguments(tmp_path: Path, offset: int, length: int) -> None:
    """Mixed-sign offset/length is BAD_ARGUMENTS, as in supervisord."""
    path = tmp_path / "app.log"
    path.write_bytes(CONTENT)
    with pytest.raises(ValueError, match="BAD_ARGUMENTS"):
        readFile(str(path), offset, length)
    with pytest.raises(LogReadError) as caught:
        read_log(str(path), offset, length)
    assert caught.value.fault == "BAD_ARGUMENTS"


def test_read_log_missing_and_failed(tmp_path: Path) -> None:
    """A missing or unconfigured log is NO_FILE; an unreadable one is FAILED."""
    for path in (None, str(tmp_path / "missing.log")):
        with pytest.raises(LogReadError) as caught:
            read_log(path, 0, 0)
        assert caught.value.fault == "NO_FILE"
    with pytest.raises(LogReadError) as caught:
        read_log(str(tmp_path), 0, 0)  # a directory exists but cannot be read
    assert caught.value.fault == "FAILED"


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, 10), (0, 100), (20, 5), (29, 5), (30, 5), (40, 5), (0, 0), (10, 0), (25, 5)],
)
def test_tail_log_matches_tailfile(tmp_path: Path, offset: int, length: int) -> None:
    """tail_log gives supervisord's tailFile data, next offset and overflow flag."""
    path = tmp_path / "app.log"
    path.write_bytes(CONTENT)
    result = tail_log(str(path), offset, length)
    data, next_offset, overflow = tailFile(str(path), offset, length)
    assert (result.data.decode(), result.offset, result.overflow) == (data, next_offset, overflow)


def test_tail_log_missing(tmp_path: Path) -> None:
    """A missing log tails as empty at offset 0, as supervisord's tailProcessLog does."""
    result = tail_log(str(tmp_path / "missing.log"), 10, 10)
    assert (result.data, result.offset, result.overflow) == (b"", 0, False)
    assert tail_log(None, 0, 5).offset == 0


def test_main_log_line_format() -> None:
    """Main log lines use supervisord's timestamp and four-letter levels."""
    line = format_main_log_line(logging.WARNING, "hello", 1_700_000_000.25)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,250 WARN hello\n", line)
    assert " DEBG " in format_main_log_line(logging.DEBUG, "x", 0.0)


def test_main_log_stamps_follow_the_second_of_each_line() -> None:
    """Lines in the same or alternating seconds each carry their own second's stamp."""
    for when in (1_700_000_000.1, 1_700_000_000.9, 1_700_000_001.0, 1_700_000_000.5, 86_399.999):
        expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(when)))
        millis = int((when - int(when)) * 1000)
        assert format_main_log_line(logging.INFO, "m", when) == f"{expected},{millis:03d} INFO m\n"


def test_main_log_line_is_formatted_once_per_record(tmp_path: Path) -> None:
    """Every main-log handler writes the same line, traceback included, for one record."""
    path = tmp_path / "superd.log"
    handler = MainLogHandler(str(path))
    logger = logging.getLogger("test_main_log_line_is_formatted_once_per_record")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed %s", "here")
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "a %d", (5,), None)
        first = main_log_line(record)
        record.msg = "changed"  # a second handler gets the line of the first
        assert main_log_line(record) == first
        assert first.endswith(" WARN a 5\n")
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = path.read_text()
    assert " ERRO failed here\nTraceback (most recent call last):" in text
    assert text.endswith("ValueError: boom\n")


def test_main_log_handler_rotates(tmp_path: Path) -> None:
    """MainLogHandler writes formatted records and rotates at logfile_maxbytes."""
    path = tmp_path / "superd.log"
    handler = MainLogHandler(str(path), maxbytes=60, backups=1)
    logger = logging.getLogger("test_main_log_handler_rotates")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for index in range(3):
            logger.info("message number %d", index)
        handler.reopen()
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = path.read_text() + (tmp_path / "superd.log.1").read_text()
    assert text.count(" INFO message number ") == 3
    assert os.path.getsize(tmp_path / "superd.log.1") >= 60


def test_splice_from_appends_at_the_end_and_rotates(tmp_path: Path) -> None:
    """splice_from moves pipe bytes after existing content and rotates like write."""
    path = tmp_path / "app.log"
    path.write_bytes(b"old\n")
    writer = RotatingFileWriter(str(path), maxbytes=12, backups=1)
    reader, sender = os.pipe()
    try:
        os.write(sender, b"spliced\n")
        assert writer.splice_from(reader, 1 << 20) == 8
        # 4 + 8 bytes reached maxbytes=12: rotated, like a write of the same chunk.
        assert (tmp_path / "app.log.1").read_bytes() == b"old\nspliced\n"
        assert path.read_bytes() == b""
        os.write(sender, b"next")
        assert writer.splice_from(reader, 1 << 20) == 4
        writer.write(b"+w")
        assert path.read_bytes() == b"next+w"
        os.close(sender)
        sender = -1
        assert writer.splice_from(reader, 1 << 20) == 0
    finally:
        writer.close()
        os.close(reader)
        if sender != -1:
            os.close(sender)


def test_splice_from_follows_an_external_truncate(tmp_path: Path) -> None:
    """After a copytruncate-style truncation, spliced bytes land at the new end (no hole)."""
    path = tmp_path / "app.log"
    writer = RotatingFileWriter(str(path))
    reader, sender = os.pipe()
    try:
        os.write(sender, b"before truncation\n")
        writer.splice_from(reader, 1 << 20)
        os.truncate(path, 0)
        os.write(sender, b"after\n")
        writer.splice_from(reader, 1 << 20)
        writer.write(b"written\n")
        assert path.read_bytes() == b"after\nwritten\n"
    finally:
        writer.close()
        os.close(reader)
        os.close(sender)


def test_splice_from_refuses_non_regular_targets_and_empty_pipes(tmp_path: Path) -> None:
    """A FIFO target raises EINVAL (the caller falls back to read+write); an empty pipe EAGAIN."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    keep_open = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fifo_writer = RotatingFileWriter(str(fifo))
    file_writer = RotatingFileWriter(str(tmp_path / "app.log"))
    reader, sender = os.pipe()
    os.set_blocking(reader, False)
    try:
        os.write(sender, b"data")
        with pytest.raises(OSError) as refused:
            fifo_writer.splice_from(reader, 1 << 20)
        assert refused.value.errno == errno.EINVAL
        assert file_writer.splice_from(reader, 1 << 20) == 4
        with pytest.raises(BlockingIOError):
            file_writer.splice_from(reader, 1 << 20)
    finally:
        fifo_writer.close()
        file_writer.close()
        for fd in (keep_open, reader, sender):
            os.close(fd)
