"""The journal under a real EventBus and real SQLite: lossless, durable, resumable."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from exporters.journal import Journal, JournalError, RetentionPolicy, open_journal
from exporters.journal.rows import SCHEMA_VERSION
from supervisor_core.bus import EventBus
from supervisor_core.clock import Instant, SystemClock
from supervisor_core.events import (
    ProcessLogStderr,
    ProcessStateExited,
    ProcessStateRunning,
    ProcessStateStarting,
    Tick5,
    to_json_dict,
)
from supervisor_core.lifecycle import Cause, ProcessState
from supervisor_core.testing import FakeClock

pytestmark = pytest.mark.integration


def serials(path: Path) -> list[int]:
    with open_journal(str(path)) as reader:
        return [r.serial for r in reader.events()]


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def exited(name: str, returncode: int) -> ProcessStateExited:
    return ProcessStateExited(
        processname=name,
        groupname=name,
        from_state=ProcessState.RUNNING,
        cause=Cause.EXIT,
        pid=99,
        expected=False,
        returncode=returncode,
        run_duration=0.5,
    )


async def test_many_events_are_all_committed_in_order(tmp_path: Path) -> None:
    """Every one of 20,000 published events is journaled once, gap-free, in serial order."""
    journal = Journal.open(str(tmp_path / "j.db"), batch_size=500)
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus)
    for i in range(20_000):
        bus.publish(Tick5(when=i))
        if i % 1000 == 0:
            await asyncio.sleep(0)  # let the loop breathe, as a real daemon does
    await journal.aclose()
    assert serials(tmp_path / "j.db") == list(range(20_001))
    stats = journal.snapshot()
    assert (stats.written, stats.lost, stats.committed_serial) == (20_001, 0, 20_000)
    assert stats.batches < 20_001  # batched, not one commit per event


async def test_exit_events_keep_the_stderr_tail_the_core_put_on_them(tmp_path: Path) -> None:
    """Every exit event's row holds the event's own tail, as is; read back it is the event."""
    journal = Journal.open(str(tmp_path / "j.db"))
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus, announce=False)
    running = bus.publish(
        ProcessStateRunning(
            processname="web",
            groupname="web",
            from_state=ProcessState.STARTING,
            cause=Cause.STARTSECS,
        )
    )
    tail = (*(f"line {i}" for i in range(30)), "Traceback", "ValueError: x")
    crash = bus.publish(replace(exited("web", 1), stderr_tail=tail))
    clean = bus.publish(replace(exited("web", 0), expected=True, stderr_tail=("bye",)))
    quiet = bus.publish(replace(exited("web", 0), expected=True, stderr_tail=()))
    await journal.aclose()
    with open_journal(str(tmp_path / "j.db")) as reader:
        records = {r.serial: r for r in reader.events(process=["web"])}
    assert records[crash.serial].stderr_tail == tail  # not cut: the core bounds it
    assert records[crash.serial].exit_status == 1
    assert "stderr_tail" not in records[crash.serial].payload
    assert records[clean.serial].stderr_tail == ("bye",)
    assert records[quiet.serial].stderr_tail == ()
    assert records[running.serial].stderr_tail is None
    for event in (running, crash, clean, quiet):
        assert records[event.serial].to_json_dict() == to_json_dict(event)


V1_SCHEMA = """
CREATE TABLE events (
    serial INTEGER PRIMARY KEY, wall_time REAL NOT NULL, monotonic_time REAL NOT NULL,
    type TEXT NOT NULL, groupname TEXT, processname TEXT, from_state TEXT, to_state TEXT,
    pid INTEGER, exit_status INTEGER, signal INTEGER, expected INTEGER, run_duration REAL,
    stderr_tail TEXT, payload TEXT NOT NULL
);
CREATE INDEX events_wall_time ON events (wall_time);
CREATE INDEX events_process ON events (processname, groupname, serial);
CREATE INDEX events_type ON events (type, serial);
PRAGMA user_version=1;
"""


def write_v1_journal(path: Path) -> None:
    """A version-1 journal (as superd wrote it before causes had columns): a start from a
    superd that recorded no cause, one that did (in the payload only), and a tick."""
    rows = [
        (0, "PROCESS_STATE_STARTING", "web", "EXITED", "STARTING", {"tries": 0}),
        (
            1,
            "PROCESS_STATE_STARTING",
            "web",
            "EXITED",
            "STARTING",
            {"cause": "autorestart", "run": 4, "episode": 2},
        ),
        (2, "TICK_5", None, None, None, {"when": 5}),
    ]
    now = time.time()  # recent: the retention of a real daemon keeps them
    connection = sqlite3.connect(path)
    connection.executescript(V1_SCHEMA)
    for serial, type_, name, from_state, to_state, extra in rows:
        payload = {"serial": serial, "type": type_, "groupname": name, "processname": name}
        connection.execute(
            "INSERT INTO events (serial, wall_time, monotonic_time, type, groupname,"
            " processname, from_state, to_state, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                serial,
                now + serial,
                1.0,
                type_,
                name,
                name,
                from_state,
                to_state,
                json.dumps({**payload, **extra}),
            ),
        )
    connection.commit()
    connection.close()


async def test_a_version_1_journal_is_read_as_is_and_upgraded_when_opened(
    tmp_path: Path,
) -> None:
    """A reader takes a version-1 file's cause from the payload; opening it for writing
    adds the cause, run and episode columns, backfilled from the payload (NULL where the
    event had none), and the daemon continues after its last serial."""
    path = tmp_path / "j.db"
    write_v1_journal(path)
    before = path.read_bytes()
    with open_journal(str(path)) as reader:
        old = list(reader.events())
        assert reader.version == 1
        assert [r.serial for r in reader.events(causes=["autorestart"])] == [1]
        assert reader.restart_counts() == {"web:web": 1}
    assert path.read_bytes() == before  # reading never writes
    assert [(r.cause, r.run, r.episode) for r in old] == [
        (None, None, None),
        ("autorestart", 4, 2),
        (None, None, None),
    ]
    journal = Journal.open(str(path))
    assert journal.reset is None
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus, announce=False)
    bus.publish(
        ProcessStateStarting(
            processname="web",
            groupname="web",
            from_state=ProcessState.EXITED,
            cause=Cause.DAMPED,
            run=5,
            episode=2,
        )
    )
    await journal.aclose()
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        columns = connection.execute(
            "SELECT serial, cause, run, episode FROM events ORDER BY serial"
        ).fetchall()
        indexes = {row[1] for row in connection.execute("PRAGMA index_list(events)")}
    finally:
        connection.close()
    assert columns == [
        (0, None, None, None),
        (1, "autorestart", 4, 2),
        (2, None, None, None),
        (3, "damped", 5, 2),
    ]
    assert "events_cause" in indexes
    with open_journal(str(path)) as reader:
        assert reader.version == 2
        assert [r.cause for r in reader.events()] == [None, "autorestart", None, "damped"]
        assert reader.restart_counts() == {"web:web": 2}
        assert reader.restart_counts(since=2) == {"web:web": 1}


async def test_restart_counts_follow_the_cause_rule(tmp_path: Path) -> None:
    """Only STARTING events caused by autorestart, damped or retry count as restarts."""
    journal = Journal.open(str(tmp_path / "j.db"))
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus, announce=False)
    for cause in Cause:
        bus.publish(
            ProcessStateStarting(
                processname="web", groupname="site", from_state=ProcessState.EXITED, cause=cause
            )
        )
    bus.publish(replace(exited("web", 1), cause=Cause.AUTORESTART))  # not a STARTING
    await journal.aclose()
    with open_journal(str(tmp_path / "j.db")) as reader:
        assert reader.restart_counts() == {"site:web": 3}
        assert reader.last_serial_of_type("PROCESS_STATE_EXITED") == len(Cause)
        assert reader.last_serial_of_type("PROCESS_STATE_EXITED", until=len(Cause)) is None


async def test_restart_continues_the_serial_and_announces_itself(tmp_path: Path) -> None:
    """A second daemon starts its bus after the journal's last serial and says so."""
    path = str(tmp_path / "j.db")
    for _ in range(2):
        journal = Journal.open(path)
        bus = EventBus(SystemClock(), first_serial=journal.next_serial())
        start = journal.attach(bus)
        for i in range(10):
            bus.publish(Tick5(when=i))
        await journal.aclose()
    assert start is not None
    assert start.serial == 11
    assert start.data.previous_serial == 10  # type: ignore[attr-defined]
    assert serials(tmp_path / "j.db") == list(range(22))
    with open_journal(path) as reader:
        starts = list(reader.events(types=["SUPERVISOR_DAEMON_START"]))
    assert [r.serial for r in starts] == [0, 11]
    assert starts[1].payload["previous_wall_time"] is not None


async def test_a_bus_that_would_reuse_serials_is_refused(tmp_path: Path) -> None:
    """Attaching to a bus numbered below the journal's end raises instead of overwriting."""
    path = str(tmp_path / "j.db")
    journal = Journal.open(path)
    journal.attach(EventBus(SystemClock()))
    await journal.aclose()
    journal = Journal.open(path)
    with pytest.raises(JournalError, match=r"first_serial=journal\.next_serial"):
        journal.attach(EventBus(SystemClock(), first_serial=0))
    journal.close()


async def test_backpressure_overflows_without_losing_anything(tmp_path: Path) -> None:
    """A writer that lags keeps every event beyond max_pending, counting the overflow."""
    journal = Journal.open(
        str(tmp_path / "j.db"),
        batch_size=10_000,
        flush_interval=3600.0,  # the writer waits for a full batch: it lags on purpose
        max_pending=10,
        max_block=0.0,
    )
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus, announce=False)
    for i in range(100):
        bus.publish(Tick5(when=i))
    stats = journal.snapshot()
    assert stats.backpressure_waits == 1
    assert stats.overflowed == 90
    await journal.flush()
    await journal.aclose()
    assert serials(tmp_path / "j.db") == list(range(100))


async def test_retention_by_age_keeps_recent_events_and_the_newest(tmp_path: Path) -> None:
    """Events older than max_age go; the newest row survives even when it is old too."""
    clock = FakeClock(wall=1_000_000.0)
    path = str(tmp_path / "j.db")
    journal = Journal.open(path, retention=RetentionPolicy(max_age=3600.0), clock=clock)
    bus = EventBus(clock, first_serial=journal.next_serial())
    journal.attach(bus, announce=False)
    for age in (7200, 5000, 100, 10):
        bus.publish(Tick5(when=0), at=Instant(0.0, clock.wall() - age))
    await journal.flush()
    assert await journal.enforce_retention() == 2
    assert serials(tmp_path / "j.db") == [2, 3]
    clock.advance(1_000_000)
    assert await journal.enforce_retention() == 1
    assert serials(tmp_path / "j.db") == [3]
    await journal.aclose()
    assert Journal.open(path).next_serial() == 4


async def test_retention_by_size_trims_the_oldest(tmp_path: Path) -> None:
    """A journal over max_bytes loses its oldest events until it is back under the limit."""
    path = str(tmp_path / "j.db")
    limit = 256 * 1024
    journal = Journal.open(path, retention=RetentionPolicy(max_bytes=limit), batch_size=1000)
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus, announce=False)
    for i in range(5000):
        bus.publish(ProcessLogStderr(processname="p", groupname="p", pid=1, data=b"x" * 200))
        if i % 500 == 0:
            await asyncio.sleep(0)
    await journal.flush()
    deleted = await journal.enforce_retention()
    await journal.aclose()
    assert deleted > 0
    kept = serials(tmp_path / "j.db")
    assert kept[-1] == 4999
    assert kept == list(range(kept[0], 5000))
    connection = sqlite3.connect(path)
    pages, free, size = (
        connection.execute(f"PRAGMA {p}").fetchone()[0]
        for p in ("page_count", "freelist_count", "page_size")
    )
    connection.close()
    assert (pages - free) * size <= limit


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"this is not sqlite at all, just some bytes" * 100, "corrupt"),
        (None, "newer superd"),
    ],
)
async def test_an_unusable_journal_is_moved_aside(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    """A corrupt or newer-schema file is moved aside, kept, and named in DAEMON_START."""
    path = tmp_path / "j.db"
    if content is None:
        connection = sqlite3.connect(path)
        connection.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
        connection.execute("CREATE TABLE future (x)")
        connection.commit()
        connection.close()
    else:
        path.write_bytes(content)
    original = path.read_bytes()
    journal = Journal.open(str(path))
    assert journal.reset is not None
    assert reason in journal.reset.reason
    assert read_bytes(journal.reset.moved_to) == original
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    start = journal.attach(bus)
    await journal.aclose()
    assert start is not None
    assert start.data.journal_reset == journal.reset.moved_to  # type: ignore[attr-defined]
    with open_journal(str(path)) as reader:
        (record,) = reader.events()
    assert record.payload["journal_reset"] == journal.reset.moved_to
    assert reason in str(record.payload["journal_reset_reason"])


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from exporters.journal import Journal
    from supervisor_core.bus import EventBus
    from supervisor_core.clock import SystemClock
    from supervisor_core.events import Tick5

    async def main():
        journal = Journal.open(sys.argv[1], batch_size=50, flush_interval=0.005)
        bus = EventBus(SystemClock(), first_serial=journal.next_serial())
        journal.attach(bus)
        i = 0
        while True:
            bus.publish(Tick5(when=i))
            i += 1
            if i % 100 == 0:
                await journal.flush()
                print(journal.committed_serial(), flush=True)
            await asyncio.sleep(0)

    asyncio.run(main())
    """
)


def kill_writer_midstream(path: Path, reports: int) -> int:
    """Run a writer process, SIGKILL it after ``reports`` commits; the last serial reported."""
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    committed = -1
    try:
        for _ in range(reports):
            line = process.stdout.readline()
            assert line, "the writer died before reporting"
            committed = int(line)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    return committed


@pytest.mark.timeout(120)
async def test_kill_9_of_the_writer_loses_no_committed_event(tmp_path: Path) -> None:
    """After SIGKILL mid-stream every committed event is there, and numbering resumes after
    the last one without a duplicate, twice in a row."""
    path = tmp_path / "j.db"
    first = kill_writer_midstream(path, reports=20)
    kept = serials(path)
    assert kept[-1] >= first
    assert kept == list(range(kept[-1] + 1))
    second = kill_writer_midstream(path, reports=20)
    after = serials(path)
    assert after[-1] >= second
    assert after == list(range(after[-1] + 1))  # gap-free: no duplicate, no hole
    with open_journal(str(path)) as reader:
        starts = list(reader.events(types=["SUPERVISOR_DAEMON_START"]))
    assert [s.serial for s in starts] == [0, kept[-1] + 1]
    assert starts[1].payload["previous_serial"] == kept[-1]


async def test_lag_is_the_age_of_the_oldest_uncommitted_event_and_zero_when_caught_up(
    tmp_path: Path,
) -> None:
    """While events wait for the writer the lag is the age of the oldest one and pending
    counts them; once committed both read 0."""
    clock = FakeClock()
    journal = Journal.open(
        str(tmp_path / "j.db"),
        batch_size=10_000,
        flush_interval=3600.0,  # the writer waits for a full batch: events stay pending
        clock=clock,
    )
    bus = EventBus(clock, first_serial=journal.next_serial())
    journal.attach(bus, announce=False)
    assert (journal.snapshot().lag_seconds, journal.snapshot().uncommitted) == (0.0, 0)
    bus.publish(Tick5(when=1))
    clock.advance(3.0)
    bus.publish(Tick5(when=2))
    clock.advance(4.0)
    stats = journal.snapshot()
    assert (stats.lag_seconds, stats.uncommitted) == (7.0, 2)
    await journal.flush()
    stats = journal.snapshot()
    assert (stats.lag_seconds, stats.uncommitted, stats.committed_serial) == (0.0, 0, 1)
    await journal.aclose()
