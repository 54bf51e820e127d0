"""``load_events``: a journal file or a running superd's ``/events`` -> one typed DataFrame.

Rules of this file:
- One frame shape whatever the source (``EVENT_COLUMNS``): the journal's typed
  columns plus ``time`` (tz-aware UTC, to the microsecond), ``process`` (the name
  supervisorctl prints) and ``origin``; integers are nullable ``Int64``, states and
  types categorical, ``expected`` a nullable boolean.
- A journal is read with one SQL query over its typed columns (no per-row JSON but
  the origin, extracted by SQLite, and the rare stderr tails), so a million events
  load in seconds (bench/notebook_load.py).
- Ticks are left out: they are the clock, not the history.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from exporters.journal.filters import EventFilter, ProcessSpec
from exporters.journal.rows import column_expression
from supervisor_core.lifecycle import Cause

EVENT_COLUMNS = (
    "serial",
    "time",
    "wall_time",
    "type",
    "group",
    "name",
    "process",
    "from_state",
    "to_state",
    "cause",
    "origin",
    "run",
    "episode",
    "pid",
    "exit_status",
    "signal",
    "expected",
    "run_duration",
    "stderr_tail",
)

# The columns read, in this order, from the journal and from /events' JSON objects.
_READ = (
    "serial",
    "wall_time",
    "type",
    "groupname",
    "processname",
    "from_state",
    "to_state",
    "cause",
    "origin",
    "run",
    "episode",
    "pid",
    "exit_status",
    "signal",
    "expected",
    "run_duration",
    "stderr_tail",
)

_SLACK = 1e-6  # seconds: what rounding to microseconds can move a time by
_PAGE = 10_000  # /events' default and largest useful page

TimeLike = float | int | datetime | pd.Timestamp | str


def _wall(value: TimeLike | None) -> float | None:
    """Unix seconds from a number, a datetime, a Timestamp or an ISO string (UTC if naive)."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return float(stamp.timestamp())


def load_events(
    source: str | Path,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    processes: Iterable[str] | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 30.0,
) -> pd.DataFrame:
    """Every event of a journal or a running superd with ``since <= time < until``.

    Args:
        source: a journal file (``superd-journal.sqlite3``), or a superd's HTTP base URL
            (``http://127.0.0.1:9001``; credentials as ``username``/``password`` or in
            the URL, ``http://user:pass@host:9001``), read through ``GET /events``.
        since, until: unix seconds, datetimes or ISO strings (naive ones are UTC).
        processes: superctl's names (``web``, ``grp:web``, ``grp:*``); None: all.

    Returns:
        One row per event, oldest first, with the columns ``EVENT_COLUMNS``.

    Raises:
        sqlite3.OperationalError: the path is not a readable journal.
        ValueError: a bad process name, or superd answered with an error (its text).
        OSError: superd cannot be reached.

    Example::

        events = load_events("superd-journal.sqlite3", since="2024-05-02 03:00")
        runs(events)
    """
    names = tuple(processes or ())
    specs = tuple(ProcessSpec.parse(name) for name in names)
    low, high = _wall(since), _wall(until)
    text = str(source)
    if text.startswith(("http://", "https://")):
        rows = list(_http_rows(text, low, high, names, username, password, timeout))
    else:
        rows = _journal_rows(text, low, high, specs)
    frame = _frame(rows)
    # The bounds apply to ``time`` as shown (microseconds); the sources were asked
    # with a microsecond of slack, as a float of seconds may round either way.
    keep = pd.Series(True, index=frame.index)
    if low is not None:
        keep &= frame["time"] >= _microseconds(low)
    if high is not None:
        keep &= frame["time"] < _microseconds(high)
    return frame if bool(keep.all()) else frame[keep].reset_index(drop=True)


def _microseconds(wall: float) -> pd.Timestamp:
    return pd.Timestamp(round(wall * 1_000_000), unit="us", tz="UTC")


def _journal_rows(
    path: str, low: float | None, high: float | None, specs: Sequence[ProcessSpec]
) -> list[tuple[object, ...]]:
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True)
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        where, params = EventFilter(processes=tuple(specs)).sql()
        clauses: list[str] = [where, "type NOT LIKE 'TICK%'"]
        values: list[object] = [*params]
        if low is not None:
            clauses.append("wall_time >= ?")
            values.append(low - _SLACK)
        if high is not None:
            clauses.append("wall_time < ?")
            values.append(high + _SLACK)
        # Only a requested change has an origin (lifecycle.Requester): parsing the
        # payload of every other row would be most of the query's time.
        cause = column_expression("cause", version)
        requested = ", ".join(f"'{c.value}'" for c in Cause if c.is_requested)
        origin = (
            f"CASE WHEN {cause} IN ({requested}) AND json_valid(payload)"
            " THEN json_extract(payload, '$.origin') END"
        )
        columns = [
            origin if name == "origin" else column_expression(name, version) for name in _READ
        ]
        sql = (
            f"SELECT {', '.join(columns)} FROM events WHERE {' AND '.join(clauses)} ORDER BY serial"
        )
        rows: list[tuple[object, ...]] = connection.execute(sql, values).fetchall()
    finally:
        connection.close()
    return rows


def _http_rows(  # noqa: PLR0917 - a private helper of load_events' arguments
    url: str,
    low: float | None,
    high: float | None,
    names: Sequence[str],
    username: str | None,
    password: str | None,
    timeout: float,
) -> Iterator[tuple[object, ...]]:
    parts = urllib.parse.urlsplit(url)
    username = username if username is not None else parts.username
    password = password if password is not None else parts.password
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    headers = {"Accept": "application/x-ndjson"}
    if username is not None:
        token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    since_serial = 0
    while True:
        params: list[tuple[str, str]] = [
            ("since", str(since_serial)),
            ("limit", str(_PAGE)),
            ("exclude", "TICK"),
        ]
        if low is not None:
            params.append(("since_time", repr(max(low - _SLACK, 0.0))))
        params.extend(("process", name) for name in names)
        request = urllib.request.Request(
            f"{base}/events?{urllib.parse.urlencode(params)}", headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                lines = response.read().decode().splitlines()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace").strip()
            raise ValueError(f"{base}/events: HTTP {error.code}: {detail}") from None
        for line in lines:
            if not line.strip():
                continue
            event = json.loads(line)
            if high is not None and float(event["wall_time"]) >= high + _SLACK:
                return
            yield _json_row(event)
            since_serial = int(event["serial"]) + 1
        if len(lines) < _PAGE:
            return


def _json_row(event: dict[str, object]) -> tuple[object, ...]:
    """A ``/events`` JSON object as a row in ``_READ`` order."""
    tail = event.get("stderr_tail")
    return (
        event.get("serial"),
        event.get("wall_time"),
        event.get("type"),
        event.get("groupname"),
        event.get("processname"),
        event.get("from_state"),
        event.get("to_state"),
        event.get("cause"),
        event.get("origin"),
        event.get("run"),
        event.get("episode"),
        event.get("pid"),
        event.get("returncode"),
        event.get("signal"),
        event.get("expected"),
        event.get("run_duration"),
        list(tail) if isinstance(tail, list) else None,
    )


def _tail(value: object) -> list[str] | None:
    if isinstance(value, list):
        return [str(line) for line in value]
    if isinstance(value, str):  # the journal's column: {"lines": [...]}
        return [str(line) for line in json.loads(value)["lines"]]
    return None


def _decode_tails(values: pd.Series) -> list[list[str] | None]:
    """The tails as lists of lines; a crash loop repeats its last lines, so each
    distinct journal text is decoded once."""
    decoded: dict[str, list[str] | None] = {}
    result: list[list[str] | None] = []
    for value in values:
        if isinstance(value, str):
            if value not in decoded:
                decoded[value] = _tail(value)
            lines = decoded[value]
            result.append(None if lines is None else list(lines))
        else:
            result.append(_tail(value))
    return result


def _frame(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    raw = pd.DataFrame.from_records(rows, columns=list(_READ))
    if raw.empty:
        frame = pd.DataFrame({column: pd.Series(dtype=object) for column in EVENT_COLUMNS})
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        return _types(frame)
    wall = raw["wall_time"].astype("float64")
    group = raw["groupname"]
    name = raw["processname"]
    same = (group == name).to_numpy()
    both = (group.notna() & name.notna()).to_numpy()
    process = np.where(
        both, np.where(same, name, group.astype(str) + ":" + name.astype(str)), group
    )
    tails = raw["stderr_tail"].astype(object)
    present = tails.notna()
    if present.any():
        tails[present] = _decode_tails(tails[present])
    frame = pd.DataFrame(
        {
            "serial": raw["serial"],
            # Microseconds: a float of seconds holds no more, the rest is binary noise.
            "time": pd.to_datetime((wall * 1_000_000).round().astype("int64"), unit="us", utc=True),
            "wall_time": wall,
            "type": raw["type"],
            "group": group,
            "name": name,
            "process": process,
            "from_state": raw["from_state"],
            "to_state": raw["to_state"],
            "cause": raw["cause"],
            "origin": raw["origin"],
            "run": raw["run"],
            "episode": raw["episode"],
            "pid": raw["pid"],
            "exit_status": raw["exit_status"],
            "signal": raw["signal"],
            "expected": raw["expected"],
            "run_duration": raw["run_duration"].astype("float64"),
            "stderr_tail": tails,
        }
    )
    return _types(frame)


def _types(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("serial", "run", "episode", "pid", "exit_status", "signal"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    frame["expected"] = frame["expected"].astype("boolean")
    frame["run_duration"] = frame["run_duration"].astype("float64")
    frame["wall_time"] = frame["wall_time"].astype("float64")
    for column in ("type", "from_state", "to_state"):
        frame[column] = frame[column].astype("category")
    return frame
