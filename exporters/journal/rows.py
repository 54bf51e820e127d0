"""The journal's table and the pure mapping between events and its rows.

Rules of this file:
- ``SCHEMA_VERSION`` is stored as ``PRAGMA user_version``. A file with a higher
  version was written by a newer superd: we never write into it (see ``store``).
- One row per event. The columns a post-mortem filters or plots on are typed
  columns (serial, times, type, group, process, states, cause, run, episode, pid,
  exit status, signal, run duration); ``payload`` is the full JSON object of
  ``to_json_dict`` so nothing the event carried is lost, including fields of event
  types added later. The stderr tail is stored as the event carries it (the core
  bounds it), in its own column rather than twice.
- ``event_row`` and ``record_from_row`` are pure and pinned by golden tests: reading
  a row back gives exactly ``to_json_dict`` of the event, so ``/events`` serves the
  same object from the journal and live from the bus.
- Older files are upgraded in place (``upgrade``), one version at a time, each step
  in one transaction: a crash mid-way leaves the file at the version it had.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from supervisor_core.events import (
    Event,
    JsonScalar,
    ProcessStateEvent,
    json_value,
    to_json_dict,
    to_json_text,
)
from supervisor_core.events import encode_json as _encode_json
from supervisor_core.lifecycle import AUTOMATIC_RESTART_CAUSES, ProcessState

SCHEMA_VERSION = 2
RESTART_CAUSES: frozenset[str] = frozenset(cause.value for cause in AUTOMATIC_RESTART_CAUSES)
"""The ``cause`` values of a *restart* (a ``PROCESS_STATE_STARTING`` with one of them)."""

# auto_vacuum must be chosen before the first table exists; INCREMENTAL lets
# retention give freed pages back to the file system without a full VACUUM.
SCHEMA_SQL = """
CREATE TABLE events (
    serial INTEGER PRIMARY KEY,
    wall_time REAL NOT NULL,
    monotonic_time REAL NOT NULL,
    type TEXT NOT NULL,
    groupname TEXT,
    processname TEXT,
    from_state TEXT,
    to_state TEXT,
    cause TEXT,
    run INTEGER,
    episode INTEGER,
    pid INTEGER,
    exit_status INTEGER,
    signal INTEGER,
    expected INTEGER,
    run_duration REAL,
    stderr_tail TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX events_wall_time ON events (wall_time);
CREATE INDEX events_process ON events (processname, groupname, serial);
CREATE INDEX events_type ON events (type, serial);
-- Partial: only state changes have a cause, log chunks and ticks cost nothing here.
CREATE INDEX events_cause ON events (cause, serial) WHERE cause IS NOT NULL;
"""

# Version 1 -> 2: the cause of a transition, its run and episode as typed columns,
# taken from the payload where the event carried them (NULL otherwise: events of a
# superd that did not record causes).
_UPGRADE_1_TO_2 = """
ALTER TABLE events ADD COLUMN cause TEXT;
ALTER TABLE events ADD COLUMN run INTEGER;
ALTER TABLE events ADD COLUMN episode INTEGER;
UPDATE events SET
    cause = json_extract(payload, '$.cause'),
    run = json_extract(payload, '$.run'),
    episode = json_extract(payload, '$.episode')
WHERE type LIKE 'PROCESS\\_STATE\\_%' ESCAPE '\\' AND json_valid(payload);
CREATE INDEX events_cause ON events (cause, serial) WHERE cause IS NOT NULL;
"""
UPGRADES: Mapping[int, str] = MappingProxyType({1: _UPGRADE_1_TO_2})
"""SQL that takes a file from version N (the key) to N + 1."""

COLUMNS: tuple[str, ...] = (
    "serial",
    "wall_time",
    "monotonic_time",
    "type",
    "groupname",
    "processname",
    "from_state",
    "to_state",
    "cause",
    "run",
    "episode",
    "pid",
    "exit_status",
    "signal",
    "expected",
    "run_duration",
    "stderr_tail",
    "payload",
)

INSERT_SQL = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_ROW_PLACEHOLDERS = f"({', '.join('?' * len(COLUMNS))})"


def insert_rows_sql(count: int, *, or_ignore: bool = False) -> str:
    """One ``INSERT`` of ``count`` rows (``count * len(COLUMNS)`` parameters).

    The writer inserts a batch in a few such statements instead of ``executemany``:
    sqlite3 releases the GIL around every ``sqlite3_step``, so one step per row hands
    the GIL to the event loop at every row and waits up to the switch interval (5 ms)
    to get it back; one step per chunk of rows waits once per chunk.
    """
    if count < 1:
        raise ValueError(f"insert_rows_sql: count must be >= 1, not {count}")
    verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
    return f"{verb} INTO events ({', '.join(COLUMNS)}) VALUES " + ", ".join(
        [_ROW_PLACEHOLDERS] * count
    )


SELECT_COLUMNS = ", ".join(COLUMNS)
# What a version-1 file (not upgraded yet: its superd still runs) gives for the
# columns it lacks; a read-only reader cannot add them.
_V1_EXPRESSIONS: Mapping[str, str] = MappingProxyType(
    {
        name: f"CASE WHEN json_valid(payload) THEN json_extract(payload, '$.{name}') END"
        for name in ("cause", "run", "episode")
    }
)

SqlValue: TypeAlias = int | float | str | None
Row: TypeAlias = tuple[SqlValue, ...]


def select_columns(version: int) -> str:
    """The ``SELECT`` list that reads ``COLUMNS`` from a file of schema ``version``."""
    if version >= 2:
        return SELECT_COLUMNS
    return ", ".join(_V1_EXPRESSIONS.get(name, name) for name in COLUMNS)


def column_expression(name: str, version: int) -> str:
    """How a ``WHERE`` clause reads column ``name`` in a file of schema ``version``."""
    return name if version >= 2 else _V1_EXPRESSIONS.get(name, name)


def decode_stderr_tail(text: str) -> tuple[str, ...]:
    """The lines of a ``stderr_tail`` column (``{"lines": [...]}``, as ``event_row`` writes it)."""
    return tuple(str(line) for line in json.loads(text)["lines"])


def upgrade(connection: sqlite3.Connection) -> int:
    """Bring a writable journal of an older schema up to ``SCHEMA_VERSION``.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction together with the new
    ``user_version``. Returns the version the file had (0: a fresh file, left alone).

    Raises:
        sqlite3.Error: a step failed; the file keeps the version it had before it.
    """
    start = version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    while 0 < version < SCHEMA_VERSION:
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in UPGRADES[version].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version={version + 1}")
        except sqlite3.Error:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        version += 1
    return start


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def encode_json(payload: Mapping[str, object]) -> str:
    """Compact JSON, as stored in ``payload`` and sent on ``/events``."""
    return _encode_json(payload)


def event_json(event: Event) -> dict[str, object]:
    """The JSON object of an event as ``/events`` sends it: ``to_json_dict``, unchanged.

    The journal gives the same object back for the stored row
    (``JournalRecord.to_json_dict``), so history and live stream agree.
    """
    return dict(to_json_dict(event))


_STATE_NAMES: Mapping[ProcessState, str] = MappingProxyType({s: s.name for s in ProcessState})


def _column_text(value: object) -> str | None:
    # ``_text`` of what ``to_json_dict`` puts in the payload for ``value``.
    return value if type(value) is str else _text(json_value(value))


def _column_int(value: object) -> int | None:
    # ``_int`` of what ``to_json_dict`` puts in the payload for ``value``.
    return value if type(value) is int else _int(json_value(value))


def event_row(event: Event) -> Row:
    """The row (in ``COLUMNS`` order) that records ``event``.

    ``payload`` is ``to_json_text`` without the stderr tail (``encode_json`` of
    ``to_json_dict`` less that key); the typed columns are read from the event's data
    as the payload shows them.
    """
    data = event.data
    from_state = to_state = cause = None
    run = episode = exit_status = signal = expected = None
    run_duration: float | None = None
    stderr_tail: str | None = None
    if isinstance(data, ProcessStateEvent):
        state = data.from_state
        from_state = _STATE_NAMES[state] if type(state) is ProcessState else state.name
        to_state = _STATE_NAMES[data.to_state]
        cause = data.cause.value
        run, episode = data.run, data.episode
        exit_status = data.returncode
        signal = data.signal
        expected = None if data.expected is None else int(data.expected)
        run_duration = data.run_duration
        if data.stderr_tail is not None:
            stderr_tail = encode_json({"lines": list(data.stderr_tail)})
    return (
        event.serial,
        event.wall_time,
        event.monotonic_time,
        event.name,
        _column_text(getattr(data, "groupname", None)),
        _column_text(getattr(data, "processname", None)),
        from_state,
        to_state,
        cause,
        run,
        episode,
        _column_int(getattr(data, "pid", None)),
        exit_status,
        signal,
        expected,
        run_duration,
        stderr_tail,
        to_json_text(event, stderr_tail=False),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalRecord:
    """One journaled event, as read back (what notebooks and ``/events`` see).

    ``cause`` is why a process state changed (``lifecycle.Cause``'s value, e.g.
    ``"autorestart"``; None for other events and for events of a superd that did not
    record causes), ``run`` the process' start number the transition belongs to and
    ``episode`` the run that opened its restart episode. ``exit_status`` is Popen's
    return code (``-N``: killed by signal N, also in ``signal``); ``stderr_tail`` is
    the run's last stderr lines on events an exit caused, as the core bounded them;
    ``payload`` is the event's full JSON object (without the tail).
    """

    serial: int
    wall_time: float
    monotonic_time: float
    type: str
    groupname: str | None
    processname: str | None
    from_state: str | None
    to_state: str | None
    cause: str | None
    run: int | None
    episode: int | None
    pid: int | None
    exit_status: int | None
    signal: int | None
    expected: bool | None
    run_duration: float | None
    stderr_tail: tuple[str, ...] | None
    payload: Mapping[str, JsonScalar]

    @property
    def origin(self) -> str | None:
        """Who asked for the transition (``"xmlrpc, unix socket pid 42 uid 0, ..."``)."""
        return _text(self.payload.get("origin"))

    @property
    def is_restart(self) -> bool:
        """Whether this is a *restart*: a start whose cause is an automatic one."""
        return self.type == "PROCESS_STATE_STARTING" and self.cause in RESTART_CAUSES

    def to_json_dict(self) -> dict[str, object]:
        """The same JSON object ``event_json`` gives for the live event."""
        result: dict[str, object] = dict(self.payload)
        if result.get("type") != self.type:
            # Written before to_json_dict kept a data field named ``type`` apart
            # (REMOTE_COMMUNICATION's): that value moves aside, the column is the type.
            result[f"{self.type.lower()}_type"] = result.get("type")
            result["type"] = self.type
        if self.stderr_tail is not None:
            result["stderr_tail"] = list(self.stderr_tail)
        return result


def record_from_row(row: Sequence[SqlValue]) -> JournalRecord:
    """Read back a row selected as ``select_columns(version)``."""
    (
        serial,
        wall_time,
        monotonic_time,
        type_,
        groupname,
        processname,
        from_state,
        to_state,
        cause,
        run,
        episode,
        pid,
        exit_status,
        signal,
        expected,
        run_duration,
        stderr_tail,
        payload,
    ) = row
    tail: tuple[str, ...] | None = None
    if isinstance(stderr_tail, str):
        tail = tuple(str(line) for line in json.loads(stderr_tail)["lines"])
    return JournalRecord(
        serial=int(serial or 0),
        wall_time=float(wall_time or 0.0),
        monotonic_time=float(monotonic_time or 0.0),
        type=str(type_),
        groupname=_text(groupname),
        processname=_text(processname),
        from_state=_text(from_state),
        to_state=_text(to_state),
        cause=_text(cause),
        run=_int(run),
        episode=_int(episode),
        pid=_int(pid),
        exit_status=_int(exit_status),
        signal=_int(signal),
        expected=None if expected is None else bool(expected),
        run_duration=None if run_duration is None else float(run_duration),
        stderr_tail=tail,
        payload=MappingProxyType(json.loads(str(payload))),
    )
