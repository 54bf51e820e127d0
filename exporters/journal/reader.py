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
from exporters.journal.rows import (
    RESTART_CAUSES,
    JournalRecord,
    column_expression,
    record_from_row,
    select_columns,
)
from supervisor_core.events import EventTypeRegistry
from supervisor_core.extensions import installed_event_types

_PAGE = 500


class JournalReader:
    """A read-only view of a journal file (never writes, never creates it).

    ``registry`` resolves the type names and families of ``events(types=...)``; by
    default it is the one a superd with the installed extensions would build
    (``installed_event_types``), made on first use.
    """

    def __init__(self, path: str, *, registry: EventTypeRegistry | None = None) -> None:
        """Open ``path`` read-only; raises ``sqlite3.OperationalError`` if missing."""
        self.path = path
        self._registry = registry
        uri = Path(path).absolute().as_uri() + "?mode=ro"
        self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        # A version-1 file whose (older) superd still runs is read as it is: its
        # missing columns come from the payload (read-only: no upgrade here).
        self.version = int(self._connection.execute("PRAGMA user_version").fetchone()[0])
        self._select_columns = select_columns(self.version)

    @property
    def registry(self) -> EventTypeRegistry:
        """The event types this reader resolves ``types`` against."""
        if self._registry is None:
            self._registry = installed_event_types()
        return self._registry

    def events(
        self,
        *,
        since: int = 0,
        until: int | None = None,
        process: Iterable[str] = (),
        types: Iterable[str] = (),
        causes: Iterable[str] = (),
        limit: int | None = None,
    ) -> Iterator[JournalRecord]:
        """Journaled events with ``since <= serial < until``, oldest first.

        ``process`` holds names (``web``, ``grp:web``, ``grp:*``); ``types`` holds
        event type names or families (``PROCESS_STATE``); ``causes`` holds cause
        values (``autorestart``). Empty means all. Rows are read in pages, so a long
        journal streams without loading it whole.
        """
        filter_ = EventFilter.build(
            registry=self.registry, types=types, processes=process, causes=causes
        )
        return self._select(filter_, since, until, limit)

    def select(
        self, filter_: EventFilter, *, since: int = 0, until: int | None = None, limit: int | None
    ) -> Iterator[JournalRecord]:
        """:meth:`events` with a prebuilt filter."""
        return self._select(filter_, since, until, limit)

    def _select(
        self, filter_: EventFilter, since: int, until: int | None, limit: int | None
    ) -> Iterator[JournalRecord]:
        where, params = filter_.sql(cause_column=column_expression("cause", self.version))
        remaining = limit
        cursor_serial = since
        while remaining is None or remaining > 0:
            page = _PAGE if remaining is None else min(_PAGE, remaining)
            bounds: list[object] = [cursor_serial]
            sql = f"SELECT {self._select_columns} FROM events WHERE serial >= ?"
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

    def restart_counts(self, *, since: int = 0, until: int | None = None) -> dict[str, int]:
        """Automatic restarts per process (``group:name``) with ``since <= serial < until``.

        A restart is a ``PROCESS_STATE_STARTING`` whose cause is ``autorestart``,
        ``damped`` or ``retry`` (``lifecycle.AUTOMATIC_RESTART_CAUSES``): the rule of
        ``supervisor_process_restarts_total``. Processes without one are left out.
        """
        filter_ = EventFilter.build(
            registry=self.registry, types=["PROCESS_STATE_STARTING"], causes=sorted(RESTART_CAUSES)
        )
        where, params = filter_.sql(cause_column=column_expression("cause", self.version))
        bounds: list[object] = [since]
        sql = "SELECT groupname, processname, COUNT(*) FROM events WHERE serial >= ?"
        if until is not None:
            sql += " AND serial < ?"
            bounds.append(until)
        sql += f" AND {where} GROUP BY groupname, processname"
        return {
            f"{group}:{name}": int(count)
            for group, name, count in self._connection.execute(sql, [*bounds, *params])
        }

    def last_serial_of_type(self, type_: str, *, until: int | None = None) -> int | None:
        """The newest serial of an event of type ``type_`` (below ``until``), or None."""
        sql = "SELECT MAX(serial) FROM events WHERE type = ?"
        params: list[object] = [type_]
        if until is not None:
            sql += " AND serial < ?"
            params.append(until)
        value = self._connection.execute(sql, params).fetchone()[0]
        return None if value is None else int(value)

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


def open_journal(path: str, *, registry: EventTypeRegistry | None = None) -> JournalReader:
    """Open the journal at ``path`` read-only (``.events(since=, process=, types=)``)."""
    return JournalReader(path, registry=registry)
