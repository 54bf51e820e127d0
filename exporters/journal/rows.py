"""The journal's table and the pure mapping between events and its rows.

Rules of this file:
- ``SCHEMA_VERSION`` is stored as ``PRAGMA user_version``. A file with a higher
  version was written by a newer superd: we never write into it (see ``store``).
- One row per event. The columns a post-mortem filters or plots on are typed
  columns (serial, times, type, group, process, states, pid, exit status, signal,
  run duration); ``payload`` is the full JSON object of ``to_json_dict`` so nothing
  the event carried is lost, including fields of event types added later.
- ``event_row`` and ``record_from_row`` are pure and pinned by golden tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from supervisor_core.events import Event, JsonScalar, ProcessStateEvent, to_json_dict

SCHEMA_VERSION = 1

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
"""

COLUMNS: tuple[str, ...] = (
    "serial",
    "wall_time",
    "monotonic_time",
    "type",
    "groupname",
    "processname",
    "from_state",
    "to_state",
    "pid",
    "exit_status",
    "signal",
    "expected",
    "run_duration",
    "stderr_tail",
    "payload",
)

INSERT_SQL = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
SELECT_COLUMNS = ", ".join(COLUMNS)

SqlValue: TypeAlias = int | float | str | None
Row: TypeAlias = tuple[SqlValue, ...]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def encode_json(payload: Mapping[str, object]) -> str:
    """Compact JSON, as stored in ``payload`` and sent on ``/events``."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def event_json(event: Event, stderr_tail: Sequence[str] | None = None) -> dict[str, object]:
    """The JSON object of an event as the journal and ``/events`` show it.

    ``to_json_dict`` plus ``stderr_tail`` (a list of lines) when one was recorded;
    the event's own ``stderr_tail`` is replaced by what the journal recorded.
    """
    result: dict[str, object] = dict(to_json_dict(event))
    result.pop("stderr_tail", None)
    if stderr_tail is not None:
        result["stderr_tail"] = list(stderr_tail)
    return result


def event_row(event: Event, stderr_tail: Sequence[str] | None = None) -> Row:
    """The row (in ``COLUMNS`` order) that records ``event``."""
    payload = to_json_dict(event)
    # The tail lives in its own column (as recorded), not twice in the payload.
    payload.pop("stderr_tail", None)
    data = event.data
    from_state = to_state = None
    exit_status = signal = expected = None
    run_duration: float | None = None
    if isinstance(data, ProcessStateEvent):
        from_state = data.from_state.name
        to_state = data.to_state.name
        exit_status = data.returncode
        signal = data.signal
        expected = None if data.expected is None else int(data.expected)
        run_duration = data.run_duration
    return (
        event.serial,
        event.wall_time,
        event.monotonic_time,
        event.name,
        _text(payload.get("groupname")),
        _text(payload.get("processname")),
        from_state,
        to_state,
        _int(payload.get("pid")),
        exit_status,
        signal,
        expected,
        run_duration,
        None if stderr_tail is None else encode_json({"lines": list(stderr_tail)}),
        encode_json(payload),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalRecord:
    """One journaled event, as read back (what notebooks and ``/events`` see).

    ``exit_status`` is Popen's return code (``-N``: killed by signal N, also in
    ``signal``); ``stderr_tail`` is set on unexpected exits when stderr was seen;
    ``payload`` is the event's full JSON object.
    """

    serial: int
    wall_time: float
    monotonic_time: float
    type: str
    groupname: str | None
    processname: str | None
    from_state: str | None
    to_state: str | None
    pid: int | None
    exit_status: int | None
    signal: int | None
    expected: bool | None
    run_duration: float | None
    stderr_tail: tuple[str, ...] | None
    payload: Mapping[str, JsonScalar]

    def to_json_dict(self) -> dict[str, object]:
        """The same JSON object ``event_json`` gives for the live event."""
        result: dict[str, object] = dict(self.payload)
        if self.stderr_tail is not None:
            result["stderr_tail"] = list(self.stderr_tail)
        return result


def record_from_row(row: Sequence[SqlValue]) -> JournalRecord:
    """Read back a row selected as ``SELECT_COLUMNS``."""
    (
        serial,
        wall_time,
        monotonic_time,
        type_,
        groupname,
        processname,
        from_state,
        to_state,
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
        pid=_int(pid),
        exit_status=_int(exit_status),
        signal=_int(signal),
        expected=None if expected is None else bool(expected),
        run_duration=None if run_duration is None else float(run_duration),
        stderr_tail=tail,
        payload=MappingProxyType(json.loads(str(payload))),
    )
