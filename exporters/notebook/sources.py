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
from typing import Any

import numpy as np
import pandas as pd

from exporters.journal.filters import EventFilter, ProcessSpec
from exporters.journal.rows import COLUMNS, column_expression, decode_stderr_tail
from exporters.notebook.fleet import PREFIX, prometheus_rows
from supervisor_core.lifecycle import Cause
from supervisor_core.names import make_namespec

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

# The columns read, in this order, from the journal and from /events' JSON objects:
# the journal's typed columns, and of its payload only the origin.
_READ = (*(name for name in COLUMNS if name not in {"monotonic_time", "payload"}), "origin")
# /events' names of the columns it spells differently (the event's own field names).
_JSON_NAMES = {"exit_status": "returncode"}

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
            the URL, ``http://user:pass@host:9001``), read through ``GET /events``; or
            ``prometheus+`` and a Prometheus base URL: the starts and exits of every
            host it scrapes, from the counters (``exporters.notebook.fleet``; the
            frame has a ``host`` column, and ``since`` defaults to a day ago).
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
    if text.startswith(PREFIX):
        rows, hosts = prometheus_rows(text.removeprefix(PREFIX), low, high, specs, timeout)
        frame = _frame(rows)
        frame["host"] = pd.Categorical(hosts)
    elif text.startswith(("http://", "https://")):
        frame = _frame(list(_http_rows(text, low, high, names, username, password, timeout)))
    else:
        frame = _journal_frame(text, low, high, specs)
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


def _journal_query(
    path: str, low: float | None, high: float | None, specs: Sequence[ProcessSpec]
) -> tuple[str, str, list[object]]:
    """The file's read-only URI, the SELECT of ``_READ`` and its parameters."""
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True)
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    finally:
        connection.close()
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
        f"{origin if name == 'origin' else column_expression(name, version)} AS {name}"
        for name in _READ
    ]
    sql = f"SELECT {', '.join(columns)} FROM events WHERE {' AND '.join(clauses)} ORDER BY serial"
    return uri, sql, values


def _journal_frame(
    path: str, low: float | None, high: float | None, specs: Sequence[ProcessSpec]
) -> pd.DataFrame:
    """The journal's rows as a frame: through Arrow (ADBC) when installed, else sqlite3."""
    uri, sql, values = _journal_query(path, low, high, specs)
    try:
        from adbc_driver_sqlite import dbapi
    except ImportError:
        return _frame(_sqlite_rows(uri, sql, values))
    return _arrow_frame(_arrow_table(dbapi, uri, sql, values))


def _sqlite_rows(uri: str, sql: str, values: list[object]) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(uri, uri=True)
    try:
        rows: list[tuple[object, ...]] = connection.execute(sql, values).fetchall()
    finally:
        connection.close()
    return rows


def _arrow_table(dbapi: Any, uri: str, sql: str, values: list[object]) -> Any:
    """The query's result as one Arrow table (columns built in C: a Python object per
    cell is what makes sqlite3 slow on a million rows)."""
    with dbapi.connect(uri) as connection, connection.cursor() as cursor:
        # One batch for the whole result: the driver infers a column's type from its
        # first batch, and a column NULL for its first rows (origin, signal) would
        # then be refused its first value.
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(2**30)})
        cursor.execute(sql, values)
        return cursor.fetch_arrow_table()


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
    # Credentials in the URL are percent-encoded (a space is %20).
    if username is None and parts.username is not None:
        username = urllib.parse.unquote(parts.username)
    if password is None and parts.password is not None:
        password = urllib.parse.unquote(parts.password)
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
    return tuple(
        (list(tail) if isinstance(tail, list) else None)
        if name == "stderr_tail"
        else event.get(_JSON_NAMES.get(name, name))
        for name in _READ
    )


def _tail(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list | tuple):
        return tuple(str(line) for line in value)
    if isinstance(value, str):  # the journal's column
        return decode_stderr_tail(value)
    return None


def _decode_tails(values: Sequence[object]) -> list[tuple[str, ...] | None]:
    """The tails as tuples of lines. A crash loop repeats its last lines: each distinct
    journal text is decoded once, and its rows share the (immutable) tuple."""
    decoded: dict[str, tuple[str, ...] | None] = {}
    result: list[tuple[str, ...] | None] = []
    for value in values:
        if isinstance(value, str):
            if value not in decoded:
                decoded[value] = _tail(value)
            result.append(decoded[value])
        else:
            result.append(_tail(value))
    return result


def _namespecs(groups: Sequence[object], names: Sequence[object]) -> list[object]:
    """supervisorctl's name of each row's process (the group alone for group events)."""
    known: dict[tuple[object, object], object] = {}
    result: list[object] = []
    for pair in zip(groups, names, strict=True):
        if pair not in known:
            group, name = pair
            if group is None or name is None:
                known[pair] = group
            else:
                known[pair] = make_namespec(str(group), str(name))
        result.append(known[pair])
    return result


def _arrow_frame(table: Any) -> pd.DataFrame:
    """``_frame`` of an Arrow table with the ``_READ`` columns (the same frame, faster)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def column(name: str) -> Any:
        return table.column(name).combine_chunks()

    def integers(name: str) -> Any:
        return pd.array(column(name).cast(pa.int64()).to_pandas(types_mapper=_int64), dtype="Int64")

    def categorical(values: Any) -> pd.Categorical:
        """As ``pd.Categorical`` of the values would make it: categories sorted."""
        encoded = values.cast(pa.string()).dictionary_encode()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        categories = encoded.dictionary.to_pylist()
        order = sorted(range(len(categories)), key=categories.__getitem__)
        rank = np.empty(len(categories) + 1, dtype=np.int64)
        rank[order] = np.arange(len(categories))
        rank[-1] = -1
        return pd.Categorical.from_codes(
            rank[codes], categories=pd.Index([categories[i] for i in order])
        )

    def decoded(name: str, decode: Any) -> Any:
        """Each distinct value decoded once, then spread over the rows (None for null)."""
        encoded = column(name).cast(pa.string()).dictionary_encode()
        lookup = np.empty(len(encoded.dictionary) + 1, dtype=object)
        lookup[:-1] = [decode(v) for v in encoded.dictionary.to_pylist()]
        lookup[-1] = None
        return lookup[encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)]

    wall = column("wall_time").cast(pa.float64()).to_numpy(zero_copy_only=False)
    groups, names = column("groupname").cast(pa.string()), column("processname").cast(pa.string())
    pairs = pc.binary_join_element_wise(
        pc.fill_null(groups, "\x00"), pc.fill_null(names, "\x00"), "\x01"
    )
    # supervisorctl's name, worked out once per distinct (group, name).
    encoded_pairs = pairs.dictionary_encode()
    spec = np.empty(len(encoded_pairs.dictionary), dtype=object)
    for index, pair in enumerate(encoded_pairs.dictionary.to_pylist()):
        group, name = (None if part == "\x00" else part for part in pair.split("\x01"))
        spec[index] = group if group is None or name is None else make_namespec(group, name)
    process = spec[encoded_pairs.indices.to_numpy(zero_copy_only=False)]
    data: dict[str, object] = {
        "serial": integers("serial"),
        "time": pd.to_datetime(np.round(wall * 1_000_000).astype("int64"), unit="us", utc=True),
        "wall_time": wall,
        "type": categorical(column("type")),
        "group": categorical(groups),
        "name": categorical(names),
        "process": pd.Categorical(process),
        "from_state": categorical(column("from_state")),
        "to_state": categorical(column("to_state")),
        "cause": categorical(column("cause")),
        "origin": pd.Series(column("origin").cast(pa.string()).to_pylist(), dtype=object),
        "expected": integers("expected").astype("boolean"),
        "run_duration": column("run_duration").cast(pa.float64()).to_numpy(zero_copy_only=False),
        "stderr_tail": pd.Series(decoded("stderr_tail", _tail), dtype=object),
    }
    for name in _INTEGERS:
        data[name] = integers(name)
    return pd.DataFrame(data)[list(EVENT_COLUMNS)]


def _int64(arrow_type: Any) -> Any:
    return pd.Int64Dtype()


# Columns with few distinct values: categoricals (a million rows of "RUNNING" cost one).
_CATEGORIES = ("type", "group", "name", "process", "from_state", "to_state", "cause")
_INTEGERS = ("run", "episode", "pid", "exit_status", "signal")


def _frame(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    """The typed frame of rows in ``_READ`` order, built column by column."""
    # Any: pandas' stubs type each constructor's input narrowly; these are sqlite3's cells.
    columns: dict[str, Any] = (
        dict(zip(_READ, zip(*rows, strict=True), strict=True)) if rows else dict.fromkeys(_READ, ())
    )
    wall = np.array(columns["wall_time"], dtype="float64")
    data: dict[str, object] = {
        "serial": pd.array(columns["serial"], dtype="Int64"),
        # Microseconds: a float of seconds holds no more, the rest is binary noise.
        "time": pd.to_datetime(np.round(wall * 1_000_000).astype("int64"), unit="us", utc=True),
        "wall_time": wall,
        "type": pd.Categorical(columns["type"]),
        "group": pd.Categorical(columns["groupname"]),
        "name": pd.Categorical(columns["processname"]),
        "process": pd.Categorical(_namespecs(columns["groupname"], columns["processname"])),
        "from_state": pd.Categorical(columns["from_state"]),
        "to_state": pd.Categorical(columns["to_state"]),
        "cause": pd.Categorical(columns["cause"]),
        "origin": pd.Series(columns["origin"], dtype=object),
        "expected": pd.array(
            [None if v is None else bool(v) for v in columns["expected"]], dtype="boolean"
        ),
        "run_duration": np.array(columns["run_duration"], dtype="float64"),
        "stderr_tail": pd.Series(_decode_tails(columns["stderr_tail"]), dtype=object),
    }
    for name in _INTEGERS:
        data[name] = pd.array(
            columns["exit_status" if name == "exit_status" else name], dtype="Int64"
        )
    frame = pd.DataFrame(data)
    return frame[list(EVENT_COLUMNS)]
