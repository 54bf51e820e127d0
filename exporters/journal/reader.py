"""Reading a journal: a read-only connection for notebooks, tests and ``/events``.

Example::

    from exporters.journal import open_journal

    with open_journal("/var/log/supervisor/superd-journal.sqlite3") as journal:
        for record in journal.events(process=["web"], types=["PROCESS_STATE_EXITED"]):
            print(record.serial, record.exit_status, record.stderr_tail)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from exporters.journal.filters import EventFilter
from exporters.journal.rows import SELECT_COLUMNS, JournalRecord, record_from_row

_PAGE = 500


class JournalReader:
    """A read-only view of a journal file (never writes, never creates it)."""

    def __init__(self, path: str) -> None:
        """Open ``path`` read-only; raises ``sqlite3.OperationalError`` if missing."""
        self.path = path
        uri = Path(path).absolute().as_uri() + "?mode=ro"
        self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def events(
        self,
        *,
        since: int = 0,
        until: int | None = None,
        process: Iterable[str] = (),
        types: Iterable[str] = (),
        limit: int | None = None,
    ) -> Iterator[JournalRecord]:
        """Journaled events with ``since <= serial < until``, oldest first.

        ``process`` holds names (``web``, ``grp:web``, ``grp:*``); ``types`` holds
        event type names or families (``PROCESS_STATE``). Empty means all. Rows
        are read in pages, so a long journal streams without loading it whole.
        """
        return self._select(EventFilter.build(types=types, processes=process), since, until, limit)

    def select(
        self, filter_: EventFilter, *, since: int = 0, until: int | None = None, limit: int | None
    ) -> Iterator[JournalRecord]:
        """:meth:`events` with a prebuilt filter."""
        return self._select(filter_, since, until, limit)

    def _select(
        self, filter_: EventFilter, since: int, until: int | None, limit: int | None
    ) -> Iterator[JournalRecord]:
        where, params = filter_.sql()
        remaining = limit
        cursor_serial = since
        while remaining is None or remaining > 0:
            page = _PAGE if remaining is None else min(_PAGE, remaining)
            bounds: list[object] = [cursor_serial]
            sql = f"SELECT {SELECT_COLUMNS} FROM events WHERE serial >= ?"
            if until is not None:
                sql += " AND serial < ?"
                bounds.append(until)
            sql += f" AND {where} ORDER BY serial LIMIT ?"
            rows = self._connection.execute(sql, [*bounds, *params, page]).fetchall()
            for row in rows:
                yield record_from_row(row)
            if len(rows) < page:
                return
            cursor_serial = int(rows[-1][0]) + 1
            if remaining is not None:
                remaining -= len(rows)

    def nth_newest_serial(self, filter_: EventFilter, n: int, *, until: int) -> int | None:
        """The serial of the ``n``-th newest selected event before ``until`` (n >= 1).

        None when fewer than ``n`` are selected: the caller then starts at its ``since``.
        """
        where, params = filter_.sql()
        row = self._connection.execute(
            f"SELECT serial FROM events WHERE serial < ? AND {where} "
            "ORDER BY serial DESC LIMIT 1 OFFSET ?",
            [until, *params, n - 1],
        ).fetchone()
        return None if row is None else int(row[0])

    def first_serial_at(self, wall_time: float) -> int | None:
        """The oldest serial journaled at or after ``wall_time`` (None: nothing as new)."""
        value = self._connection.execute(
            "SELECT MIN(serial) FROM events WHERE wall_time >= ?", (wall_time,)
        ).fetchone()[0]
        return None if value is None else int(value)

    def count(self) -> int:
        """How many events the journal holds."""
        return int(self._connection.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def last_serial(self) -> int | None:
        """The newest serial journaled (None when empty)."""
        value = self._connection.execute("SELECT MAX(serial) FROM events").fetchone()[0]
        return None if value is None else int(value)

    def first_serial(self) -> int | None:
        """The oldest serial still kept (retention removes older ones)."""
        value = self._connection.execute("SELECT MIN(serial) FROM events").fetchone()[0]
        return None if value is None else int(value)

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_journal(path: str) -> JournalReader:
    """Open the journal at ``path`` read-only (``.events(since=, process=, types=)``)."""
    return JournalReader(path)
