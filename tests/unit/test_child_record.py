"""The children record (child_record.py), the registry that writes it (survivors.py) and
the ``[supervisord] survivors`` option."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from supervisor_core import control
from supervisor_core.child_record import (
    ChildEntry,
    ChildRecordError,
    RecordWriter,
    boot_id,
    encode_entry,
    process_identity,
    read_record,
)
from supervisor_core.children import ChildRegistry
from supervisor_core.config import ConfigError, parse
from supervisor_core.config.model import SurvivorAction
from supervisor_core.http.structs import describe
from supervisor_core.lifecycle import ProcessState
from supervisor_core.survivors import find_survivors
from tests.peers import require_root


def entry(pid: int, name: str = "web", starttime: int = 7) -> ChildEntry:
    return ChildEntry(pid=pid, starttime=starttime, group=name, name=name, spawned_at=1.5)


def test_a_record_reads_back_what_was_written(tmp_path: Path) -> None:
    """Entries, the boot id and the writing superd's identity come back as written; a
    shorter rewrite in place leaves nothing of the longer one; the file is 0600."""
    path = str(tmp_path / "children")
    writer = RecordWriter(path)
    writer.write("boot-1", [encode_entry(entry(10, 'we"b')), encode_entry(entry(11, "db"))])
    writer.write("boot-1", [encode_entry(entry(12))])
    record = read_record(path)
    assert record is not None
    assert record.boot_id == "boot-1"
    assert record.children == (entry(12),)
    assert record.superd == process_identity(os.getpid())
    assert os.stat(path).st_mode & 0o777 == 0o600
    writer.close(remove=True)
    assert read_record(path) is None


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"not json", "unreadable record"),
        (b'{"format": "other"}', "not a superd children record"),
        (b'{"format":"superd-children/1","boot_id":"b","children":[[1,2,"g"]]}', "bad entry"),
        (b'{"format":"superd-children/1","boot_id":"b","children":[[true,2,"g","n",1]]}', "bad"),
    ],
)
def test_an_unreadable_record_is_refused_with_its_path(
    tmp_path: Path, content: bytes, why: str
) -> None:
    """A file that is not a record is refused with an error naming the path and why."""
    path = tmp_path / "children"
    path.write_bytes(content)
    with pytest.raises(ChildRecordError, match=why) as error:
        read_record(str(path))
    assert str(path) in str(error.value)


def test_a_symlink_or_a_fifo_is_never_read_or_written(tmp_path: Path) -> None:
    """The record is not followed through a symlink nor taken from a non-regular file."""
    target = tmp_path / "elsewhere"
    target.write_text("x")
    link = tmp_path / "children"
    link.symlink_to(target)
    with pytest.raises(ChildRecordError, match="cannot open"):
        read_record(str(link))
    with pytest.raises(ChildRecordError, match="cannot open"):
        RecordWriter(str(link))
    assert target.read_text() == "x"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ChildRecordError, match="not a regular file"):
        read_record(str(fifo))


def test_a_record_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """A record another user could have written names pids superd would signal: refused."""
    require_root("only root can give a file to another user")
    path = tmp_path / "children"
    RecordWriter(str(path)).write("b", [encode_entry(entry(10))])
    os.chown(path, 65534, 65534)
    with pytest.raises(ChildRecordError, match="owned by uid 65534"):
        read_record(str(path))
    with pytest.raises(ChildRecordError, match="owned by uid 65534"):
        RecordWriter(str(path))


def test_a_zombie_or_a_missing_pid_has_no_identity() -> None:
    """A live process has an identity; once it has exited (a zombie, unreaped) it has none."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert process_identity(child.pid) is not None
        pidfd = os.pidfd_open(child.pid)
        assert child.stdin is not None
        child.stdin.close()
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        os.close(pidfd)
        assert process_identity(child.pid) is None
    finally:
        child.wait()
    assert process_identity(child.pid) is None


def test_the_registry_writes_once_per_loop_turn_and_removes_the_record_when_empty(
    tmp_path: Path,
) -> None:
    """Many changes in one loop turn cost one write; a close with no child left removes
    the record, a close with children keeps them recorded."""
    path = str(tmp_path / "children")

    async def scenario() -> None:
        registry = ChildRegistry(path, boot="b", delay=0)
        for pid in range(100, 110):
            registry.add(entry(pid, f"p{pid}"))
        registry.discard(105)
        assert registry.writes == 0  # nothing until the loop turns
        await asyncio.sleep(0)
        assert registry.writes == 1
        record = read_record(path)
        assert record is not None
        assert [e.pid for e in record.children] == [p for p in range(100, 110) if p != 105]
        for pid in range(100, 110):
            registry.discard(pid)
        registry.close()
        assert read_record(path) is None
        kept = ChildRegistry(path, boot="b", delay=0)
        kept.add(entry(200))
        kept.close()
        record = read_record(path)
        assert record is not None
        assert [e.pid for e in record.children] == [200]

    asyncio.run(scenario())


class _Child:
    """The two things ChildRegistry.track uses of a ChildHandle."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.on_exit: list[Callable[[object], None]] = []

    def add_exit_callback(self, callback: Callable[[object], None]) -> None:
        self.on_exit.append(callback)


def test_a_spawned_child_is_read_from_proc_at_the_write_not_at_the_spawn(tmp_path: Path) -> None:
    """track() reads nothing; the write reads the child's start time, a child that exited
    before the write is never written, and an exit after it removes the entry."""
    path = str(tmp_path / "children")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:

        async def scenario() -> None:
            registry = ChildRegistry(path, boot="b", delay=0)
            child, quick = _Child(live.pid), _Child(live.pid + 10_000_000)  # no such pid
            registry.track(child, group="web", name="web")
            registry.track(quick, group="quick", name="quick")
            assert registry.entries() == ()  # nothing read at the spawn
            await asyncio.sleep(0)
            identity = process_identity(live.pid)
            assert identity is not None
            assert [(e.pid, e.starttime, e.name) for e in registry.entries()] == [
                (live.pid, identity.starttime, "web")
            ]
            child.on_exit[0](None)
            await asyncio.sleep(0)
            assert read_record(path) is not None
            registry.close()
            assert read_record(path) is None  # no child left: removed

        asyncio.run(scenario())
    finally:
        live.kill()
        live.wait()


def test_a_registry_that_never_changed_leaves_the_record_alone(tmp_path: Path) -> None:
    """A superd that fails to start (its socket is another superd's) neither writes nor
    removes the record it read."""
    path = tmp_path / "children"
    path.write_bytes(b"previous")
    ChildRegistry(str(path), boot="b").close()
    assert path.read_bytes() == b"previous"


def test_only_a_live_process_with_the_recorded_start_time_in_this_boot_survives(
    tmp_path: Path,
) -> None:
    """find_survivors names a recorded pid only when it is alive with the same start time,
    in the same boot, and the superd that wrote the record is gone."""
    path = str(tmp_path / "children")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        identity = process_identity(child.pid)
        assert identity is not None
        alive = entry(child.pid, starttime=identity.starttime)
        recycled = entry(child.pid, "other", starttime=identity.starttime + 1)

        def write(boot: str, *entries: ChildEntry) -> None:
            # Written by this very process: a record of a live superd would name none,
            # so the test's record names no writer (read as a superd long gone).
            children = ",".join(encode_entry(e).decode() for e in entries)
            Path(path).write_text(
                f'{{"format":"superd-children/1","boot_id":"{boot}","superd":null,'
                f'"children":[{children}]}}\n'
            )

        write(boot_id(), alive, recycled)
        found = find_survivors(path)
        assert [s.entry for s in found] == [alive]
        for survivor in found:
            os.close(survivor.pidfd)
        write("another boot", alive)
        assert find_survivors(path) == []
        # A record whose writer still runs (here: this process) names no survivor.
        writer = RecordWriter(path)
        writer.write(boot_id(), [encode_entry(alive)])
        writer.close(remove=False)
        record = read_record(path)
        assert record is not None
        assert record.superd == process_identity(os.getpid())
        assert find_survivors(path) == []
    finally:
        child.kill()
        child.wait()


def test_survivors_option_is_parsed_and_a_bad_value_names_the_place() -> None:
    """[supervisord] survivors is kill by default; a bad value is a file:line error."""
    text = "[supervisord]\n[program:web]\ncommand=/bin/true\n"
    assert parse(text, "/etc/s.conf").supervisord.survivors is SurvivorAction.KILL
    adopt = parse(text.replace("]\n", "]\nsurvivors = Adopt\n", 1), "/etc/s.conf")
    assert adopt.supervisord.survivors is SurvivorAction.ADOPT
    with pytest.raises(ConfigError) as error:
        parse(text.replace("]\n", "]\nsurvivors = maybe\n", 1), "/etc/s.conf")
    assert str(error.value.problems[0]) == (
        "/etc/s.conf:2: [supervisord] survivors: not a survivors action "
        "(use kill, adopt or leave): 'maybe'"
    )


def test_the_status_description_shows_a_survivor_note() -> None:
    """getProcessInfo's description carries the survivor note after supervisord's text."""
    info = control.ProcessInfo(
        name="web",
        group="web",
        state=ProcessState.RUNNING,
        start=100.0,
        stop=0.0,
        now=161.0,
        pid=42,
        spawnerr="",
        exitstatus=0,
        stdout_logfile="",
        stderr_logfile="",
        survivor="adopted from a killed superd (pid 42)",
    )
    assert describe(info) == "pid 42, uptime 0:01:01, adopted from a killed superd (pid 42)"
