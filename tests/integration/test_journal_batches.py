"""The journal's batched inserts, read back through the real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from exporters.journal import Journal, open_journal
from exporters.journal import store as journal_store
from exporters.journal.rows import insert_rows_sql
from exporters.journal.store import _connect
from supervisor_core.bus import EventBus
from supervisor_core.clock import SystemClock
from supervisor_core.events import (
    Event,
    EventData,
    ProcessLogStderr,
    ProcessStateExited,
    ProcessStateRunning,
    ProcessStateStarting,
    RemoteCommunication,
    Tick5,
    to_json_dict,
)
from supervisor_core.lifecycle import Cause, ProcessState

pytestmark = pytest.mark.integration

DEADLINE = 30.0


def _data(index: int) -> EventData:
    name = f"p{index % 7}é"
    kinds: list[EventData] = [
        ProcessStateStarting(
            processname=name,
            groupname="g",
            from_state=ProcessState.EXITED,
            cause=Cause.AUTORESTART,
            run=index,
            episode=1,
        ),
        ProcessStateRunning(
            processname=name,
            groupname="g",
            from_state=ProcessState.STARTING,
            cause=Cause.STARTSECS,
            pid=index,
        ),
        ProcessStateExited(
            processname=name,
            groupname="g",
            from_state=ProcessState.RUNNING,
            cause=Cause.EXIT,
            pid=index,
            expected=False,
            returncode=-11 if index % 2 else 2,
            run_duration=index / 7,
            stderr_tail=(f'line "{index}"\n', "\u2603") if index % 3 else None,
        ),
        Tick5(when=index),
        ProcessLogStderr(processname=name, groupname="g", pid=index, data=b"\xff\x00x"),
        RemoteCommunication(type="t", data=f"{index}"),
    ]
    return kinds[index % len(kinds)]


@pytest.mark.parametrize(("count", "variable_limit"), [(2_500, None), (700, 999), (1, None)])
async def test_a_batch_of_n_events_is_n_rows_that_read_back_as_the_events(
    tmp_path: Path, count: int, variable_limit: int | None
) -> None:
    """N events published in one go (several chunks, halves for the rest, a library
    with few parameters per statement) are N rows that read back as the events."""
    path = str(tmp_path / "j.db")
    connection = _connect(path)
    if variable_limit is not None:
        connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, variable_limit)
    journal = Journal(connection, path=path, batch_size=512)
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus, announce=False)
    published: list[Event] = [bus.publish(_data(index)) for index in range(count)]
    await journal.flush(timeout=DEADLINE)
    await journal.aclose()
    stats = journal.snapshot()
    assert (stats.written, stats.lost, stats.errors) == (count, 0, 0)
    with open_journal(path) as reader:
        records = list(reader.events())
    assert [record.to_json_dict() for record in records] == [to_json_dict(e) for e in published]
    for record, event in zip(records, published, strict=True):
        data = event.data
        if isinstance(data, ProcessStateExited):
            assert (record.cause, record.pid, record.exit_status) == (
                "exit",
                data.pid,
                data.returncode,
            )
            assert record.stderr_tail == data.stderr_tail
            assert record.signal == (11 if data.returncode == -11 else None)


async def test_a_duplicate_serial_in_a_chunk_keeps_the_first_record(tmp_path: Path) -> None:
    """A serial already journaled (a bug elsewhere) keeps its first row; the rest commit."""
    journal = Journal.open(str(tmp_path / "j.db"))
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus, announce=False)
    first = bus.publish(Tick5(when=1))
    await journal.flush(timeout=DEADLINE)
    # Replay the same event inside a later batch, between two new ones.
    journal._on_event(replace(first, data=Tick5(when=99)))
    later = bus.publish(Tick5(when=2))
    await journal.flush(timeout=DEADLINE)
    await journal.aclose()
    with open_journal(str(tmp_path / "j.db")) as reader:
        kept = [(r.serial, r.payload["when"]) for r in reader.events()]
    assert kept == [(first.serial, 1), (later.serial, 2)]


async def test_batches_encoded_ahead_of_a_blocked_writer_count_as_uncommitted(
    tmp_path: Path,
) -> None:
    """While another connection holds the write lock, events taken by the encoder still
    count as uncommitted (and in the lag) until their commit; then all are rows."""
    path = str(tmp_path / "j.db")
    journal = Journal.open(path, batch_size=10, flush_interval=0.001)
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus, announce=False)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        for index in range(100):
            bus.publish(Tick5(when=index))
        deadline = asyncio.get_running_loop().time() + DEADLINE
        # The encoder takes batches (up to 8 x batch_size) and hands them on.
        while journal.snapshot().pending > 100 - 80:
            assert asyncio.get_running_loop().time() < deadline, journal.snapshot()
            await asyncio.sleep(0.005)
        stats = journal.snapshot()
        assert stats.uncommitted == 100
        assert stats.committed_serial is None
        assert stats.lag_seconds > 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await journal.flush(timeout=DEADLINE)
    assert journal.snapshot().uncommitted == 0
    await journal.aclose()
    with open_journal(path) as reader:
        assert [r.payload["when"] for r in reader.events()] == list(range(100))


async def test_batches_of_any_size_use_a_dozen_insert_shapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of every size from 1 to 300 are inserted with power-of-two statements
    only, so sqlite3's statement cache holds a dozen INSERTs, not one per batch size
    (each a prepared statement of up to 1,820 rows: tens of MiB at a big launch)."""
    shapes: set[tuple[int, bool]] = set()

    def recording_sql(count: int, *, or_ignore: bool = False) -> str:
        shapes.add((count, or_ignore))
        return insert_rows_sql(count, or_ignore=or_ignore)

    monkeypatch.setattr(journal_store, "insert_rows_sql", recording_sql)
    path = str(tmp_path / "j.db")
    journal = Journal(_connect(path), path=path, batch_size=512)
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus, announce=False)
    total = 0
    for size in range(1, 301):
        for index in range(size):
            bus.publish(_data(index))
        total += size
        await journal.flush(timeout=DEADLINE)
    await journal.aclose()
    assert journal.snapshot().written == total
    with open_journal(path) as reader:
        assert sum(1 for _ in reader.events()) == total
    rows_per_statement = {rows for rows, _or_ignore in shapes}
    assert rows_per_statement, "no INSERT was built"
    assert all(rows & (rows - 1) == 0 for rows in rows_per_statement), sorted(shapes)
    assert len(shapes) <= 10, sorted(shapes)
