"""What a running superd looks like now, and one storm, as tables in Jupyter (``_repr_html_``).

Rules of this file:
- ``snapshot`` reads the daemon the way its clients do: states, pids and start times
  from XML-RPC ``supervisor.getAllProcessInfo`` (what ``superctl status`` shows),
  restarts and storms from ``GET /events`` through ``load_events`` and the same
  ``restarts``/``storms`` a post-mortem uses, so the table, the metric and the
  notebook count alike.
- The objects are frozen snapshots: they never call the daemon again; HTML is built
  from their frames, every text escaped (names and origins come from config files
  and peers).
"""

from __future__ import annotations

import html
import time
import urllib.parse
import xmlrpc.client
from dataclasses import dataclass
from typing import Any

import pandas as pd

from exporters.notebook._common import _records, _time
from exporters.notebook.analysis import _value, restarts, runs, storms
from exporters.notebook.sources import TimeLike, load_events
from exporters.storms import StormSettings
from supervisor_core.names import make_namespec

__all__ = ["DaemonSnapshot", "StormView", "snapshot", "storm_view", "storms_under_way"]

PROCESS_COLUMNS = ("process", "state", "pid", "uptime", "restarts", "storm", "description")
STORM_MARK = "\u26a1 storm"  # the marker in the ``storm`` column of a process in a storm


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonSnapshot:
    """A running superd's processes at ``taken`` (see ``snapshot``).

    ``processes`` has one row per process, in ``getAllProcessInfo`` order, with the
    columns ``PROCESS_COLUMNS``: ``state`` (supervisord's name), ``pid`` (NA when not
    running), ``uptime`` (seconds while RUNNING, else NaN), ``restarts`` (automatic
    restarts in the events read, by their cause), ``storm`` (``STORM_MARK`` while superd
    reports a storm of the process under way: ``storms_under_way``, else ""),
    ``description`` (supervisorctl's text). ``storms`` are the storms ``storms`` finds
    in those events with the ``settings`` given.
    """

    url: str
    identification: str
    taken: pd.Timestamp
    processes: pd.DataFrame
    storms: pd.DataFrame
    events: pd.DataFrame

    def _repr_html_(self) -> str:
        table = _html_table(
            self.processes,
            row_class=lambda row: "storm" if row["storm"] else "",
            format_cell={
                "pid": _integer,
                "uptime": _duration,
                "restarts": _integer,
            },
        )
        title = (
            f"<strong>{html.escape(self.identification)}</strong> at "
            f"{html.escape(self.url)}, {self.taken.strftime('%Y-%m-%d %H:%M:%S UTC')}"
        )
        return f"<div class='superd-snapshot'><p>{title}</p>{table}</div>"


def snapshot(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    since: TimeLike | None = None,
    settings: StormSettings | None = None,
    timeout: float = 30.0,
) -> DaemonSnapshot:
    """The processes of the superd at ``url`` now, with their restarts and storms.

    Args:
        url: superd's HTTP base URL (``http://127.0.0.1:9001``, credentials as
            ``username``/``password`` or in the URL).
        since: where the events counted start (default: all the journal holds).
        settings: the storm detector's thresholds (the host's ``[exporter:storms]``).

    Raises:
        OSError: superd cannot be reached; xmlrpc.client.Fault: it refused the call.

    Example (the last expression of a cell shows as a table)::

        snapshot("http://127.0.0.1:9001", username="admin", password="secret")
    """
    rpc_url = _with_credentials(url.rstrip("/") + "/RPC2", username, password)
    with xmlrpc.client.ServerProxy(rpc_url) as proxy:
        identification = str(proxy.supervisor.getIdentification())
        infos: list[dict[str, Any]] = proxy.supervisor.getAllProcessInfo()  # type: ignore[assignment]
    taken = time.time()
    events = load_events(url, since=since, username=username, password=password, timeout=timeout)
    counted = restarts(events)["process"].value_counts()
    found = storms(events, settings, until=taken)
    under_way = storms_under_way(events)
    rows = []
    for info in infos:
        process = make_namespec(str(info["group"]), str(info["name"]))
        running = info["statename"] == "RUNNING"
        rows.append(
            {
                "process": process,
                "state": str(info["statename"]),
                "pid": int(info["pid"]) or None,
                "uptime": float(info["now"]) - float(info["start"]) if running else None,
                "restarts": int(counted.get(process, 0)),
                "storm": STORM_MARK if process in under_way else "",
                "description": str(info["description"]),
            }
        )
    frame = pd.DataFrame(rows, columns=list(PROCESS_COLUMNS))
    frame["pid"] = frame["pid"].astype("Int64")
    frame["uptime"] = frame["uptime"].astype("float64")
    frame["restarts"] = frame["restarts"].astype("int64")
    return DaemonSnapshot(
        url=url,
        identification=identification,
        taken=_time(taken),
        processes=frame,
        storms=found,
        events=events,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class StormView:
    """One storm (a row of ``storms``) and the runs that ended inside it.

    ``storm`` holds the row's fields (``process``, ``start``, ``end`` (NaT while under
    way), ``restarts``, ``exit_codes``, ``signals``, ``median_run_duration``,
    ``reason`` ...); ``runs`` the process' runs that ended between its start and end.
    """

    storm: dict[str, Any]
    runs: pd.DataFrame

    def _repr_html_(self) -> str:
        storm = self.storm
        end = storm["end"]
        ended = "under way" if pd.isna(end) else f"to {_clock(end)}"
        codes = ", ".join(str(c) for c in storm["exit_codes"]) or "none"
        signals = ", ".join(str(s) for s in storm["signals"]) or "none"
        facts = [
            ("process", storm["process"]),
            ("from", f"{_clock(storm['start'])} {ended}"),
            ("restarts", str(storm["restarts"])),
            ("exit codes", codes),
            ("signals", signals),
            ("median run", _duration(storm["median_run_duration"])),
            ("reason", storm["reason"]),
        ]
        head = "".join(
            f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(value))}</td></tr>"
            for key, value in facts
        )
        columns = ["pid", "start", "end", "duration", "outcome", "exit", "cause"]
        table = _html_table(
            self.runs[columns],
            row_class=lambda _row: "",
            format_cell={"pid": _integer, "start": _clock, "end": _clock, "duration": _duration},
        )
        return (
            f"<div class='superd-storm'><table class='storm-facts'>{head}</table>"
            f"<p>{len(self.runs)} runs ended in it:</p>{table}</div>"
        )


def storm_view(
    events: pd.DataFrame,
    which: int = -1,
    *,
    settings: StormSettings | None = None,
    until: TimeLike | None = None,
) -> StormView:
    """The ``which``-th process storm of ``storms(events)`` (default: the latest).

    Raises:
        IndexError: there is no such storm.
    """
    found = storms(events, settings, until=until)
    found = found[found["scope"] == "process"].reset_index(drop=True)
    if found.empty:
        raise IndexError("storm_view: no process storm in these events")
    row = _records(found.iloc[[which]])[0]
    all_runs = runs(events)
    end = row["end"] if not pd.isna(row["end"]) else pd.Timestamp.max.tz_localize("UTC")
    inside = all_runs[
        (all_runs["process"] == row["process"])
        & (all_runs["end"] >= row["start"])
        & (all_runs["end"] <= end)
    ].reset_index(drop=True)
    return StormView(storm=row, runs=inside)


def storms_under_way(events: pd.DataFrame) -> set[str]:
    """The processes whose storm superd itself says is under way: the last
    ``PROCESS_STORM_BEGIN``/``_END`` it published since it last started is a BEGIN.

    The daemon's own events, not a re-detection: its ``[exporter:storms]`` thresholds
    decide, whatever ``settings`` the notebook passes.
    """
    types = events["type"].astype(str)
    starts = events.index[types == "SUPERVISOR_DAEMON_START"]
    recent = events.loc[starts[-1] :] if len(starts) else events
    marks = recent[recent["type"].astype(str).isin(("PROCESS_STORM_BEGIN", "PROCESS_STORM_END"))]
    last = marks.groupby(marks["process"].astype(str), sort=False)["type"].last()
    return {str(process) for process, type_ in last.items() if type_ == "PROCESS_STORM_BEGIN"}


def _with_credentials(url: str, username: str | None, password: str | None) -> str:
    if username is None:
        return url
    parts = urllib.parse.urlsplit(url)
    user = urllib.parse.quote(username, safe="")
    secret = urllib.parse.quote(password or "", safe="")
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{secret}@{parts.netloc}"))


def _integer(value: object) -> str:
    value = _value(value)
    return "" if value is None else str(int(str(value)))


def _duration(value: object) -> str:
    """``3.2 s``, ``4 min 05 s``, ``2 h 03 min``; "" for none."""
    value = _value(value)
    if value is None:
        return ""
    seconds = float(str(value))
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _clock(value: object) -> str:
    if isinstance(value, pd.Timestamp) and not pd.isna(value):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return ""


def _html_table(
    frame: pd.DataFrame,
    *,
    row_class: Any,
    format_cell: dict[str, Any],
) -> str:
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
    body = []
    for row in _records(frame):
        cells = "".join(
            f"<td>{html.escape(format_cell.get(column, _text)(row[column]))}</td>"
            for column in frame.columns
        )
        css = row_class(row)
        attribute = f" class='{css}'" if css else ""
        body.append(f"<tr{attribute}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _text(value: object) -> str:
    value = _value(value)
    return "" if value is None else str(value)
