"""Following a log file: initial head, appends, truncation and rotation."""

from __future__ import annotations

import os
from pathlib import Path

from supervisor_core import control
from supervisor_core.http.logtail import TRUNCATED_NOTICE, FileFollower, process_log_path

from .fake_control import make_fake


def test_starts_with_the_last_head_bytes(tmp_path: Path) -> None:
    """A long file starts `head` bytes before its end; a short one from its start."""
    path = tmp_path / "a.log"
    path.write_bytes(b"0123456789")
    follower = FileFollower(str(path), 4)
    assert follower.read_new() == b"6789"
    assert follower.read_new() == b""
    follower.close()
    short = FileFollower(str(path), 100)
    assert short.read_new() == b"0123456789"
    short.close()


def test_follows_appends_truncation_and_rotation(tmp_path: Path) -> None:
    """Appended bytes arrive once; truncation says so; a new inode is read from its start."""
    path = tmp_path / "a.log"
    path.write_bytes(b"abc")
    follower = FileFollower(str(path), 1024)
    assert follower.read_new() == b"abc"
    with path.open("ab") as f:
        f.write(b"def")
    assert follower.read_new() == b"def"
    path.write_bytes(b"x")  # truncated in place
    assert follower.read_new() == TRUNCATED_NOTICE
    assert follower.read_new() == b"x"
    os.rename(path, tmp_path / "a.log.1")
    assert follower.read_new() == b""  # unlinked: keep the old file
    path.write_bytes(b"new file\n")
    assert follower.read_new() == b"new file\n"
    follower.close()


def test_large_appends_come_in_bounded_chunks(tmp_path: Path) -> None:
    """A burst larger than one chunk is delivered over several reads, nothing lost."""
    path = tmp_path / "a.log"
    path.write_bytes(b"")
    follower = FileFollower(str(path), 0)
    payload = os.urandom(200_000)
    path.write_bytes(payload)
    received = b""
    while chunk := follower.read_new():
        assert len(chunk) <= 64 * 1024
        received += chunk
    assert received == payload
    follower.close()


def test_process_log_path_resolution() -> None:
    """Namespecs and channels resolve to configured logs; anything else is None (404)."""
    fake = make_fake("/logs")
    groups = fake.groups()
    assert process_log_path(groups, "web:web_0", "stdout") == "/logs/web_0.log"
    assert process_log_path(groups, "worker", "stderr") == "/logs/worker.err.log"
    assert process_log_path(groups, "worker:worker", "stdout") == "/logs/worker.log"
    assert process_log_path(groups, "web", "stdout") is None  # group, not a process
    assert process_log_path(groups, "web:*", "stdout") is None
    assert process_log_path(groups, "web:web_0", "stderr") is None  # not logged
    assert process_log_path(groups, "web:web_0", "stdin") is None
    assert process_log_path(groups, "nope", "stdout") is None
    assert isinstance(fake, control.SupervisorControl)
