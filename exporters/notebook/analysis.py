"""What a ``load_events`` frame says: runs, storms, restarts, exits, shared causes.

Each function is a thin view over the pure builders of ``frames`` (the same code
the post-mortem notebook runs), fed the frame's rows as journal records, so the
public API and the notebook cannot tell different stories.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pandas as pd

from exporters.journal import JournalRecord
from exporters.notebook._common import _records
from exporters.notebook.frames import restarts_frame, runs_frame, storms_frame
from exporters.notebook.sources import TimeLike, _wall
from exporters.storms import StormSettings

_EMPTY: MappingProxyType[str, str] = MappingProxyType({})
# The end of a storm still under way, when overlaps are found.
_FOREVER = pd.Timestamp.max.tz_localize("UTC")


def _value(value: object) -> object:
    """None for pandas' missing markers (NA, NaT, NaN), the value otherwise."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def to_records(events: pd.DataFrame) -> list[JournalRecord]:
    """The rows of a ``load_events`` frame as journal records (for the builders)."""
    records: list[JournalRecord] = []
    for row in _records(events):
        cause, origin = _value(row["cause"]), _value(row["origin"])
        payload = {
            key: str(value)
            for key, value in (("cause", cause), ("origin", origin))
            if value is not None
        }
        tail = row["stderr_tail"]
        records.append(
            JournalRecord(
                serial=_int(row["serial"]) or 0,  # NA from Prometheus' counters
                wall_time=float(row["wall_time"]),
                monotonic_time=0.0,
                type=str(row["type"]),
                groupname=_text(row["group"]),
                processname=_text(row["name"]),
                from_state=_text(row["from_state"]),
                to_state=_text(row["to_state"]),
                cause=_text(cause),
                run=_int(row["run"]),
                episode=_int(row["episode"]),
                pid=_int(row["pid"]),
                exit_status=_int(row["exit_status"]),
                signal=_int(row["signal"]),
                expected=None if _value(row["expected"]) is None else bool(row["expected"]),
                run_duration=_float(row["run_duration"]),
                stderr_tail=tuple(tail) if isinstance(tail, list | tuple) else None,
                payload=MappingProxyType(payload) if payload else _EMPTY,
            )
        )
    return records


def _text(value: object) -> str | None:
    value = _value(value)
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    value = _value(value)
    return None if value is None else int(str(value))


def _float(value: object) -> float | None:
    value = _value(value)
    return None if value is None else float(str(value))


def _per_host(events: pd.DataFrame, build: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """``build(events)``; for a fleet frame (a ``host`` column), built host by host
    and given a ``host`` first column, as each host's superd would have seen it."""
    if "host" not in events.columns:
        return build(events)
    parts = []
    for host, part in events.groupby(events["host"].astype(str), sort=True):
        built = build(part.reset_index(drop=True))
        built.insert(0, "host", str(host))
        parts.append(built)
    # An empty part's columns are untyped (object): concatenated, they would make a
    # time column of the others object too.
    filled = [part for part in parts if not part.empty]
    if not filled:
        empty = build(events.iloc[0:0])
        empty.insert(0, "host", pd.Series(dtype=object))
        return empty
    return pd.concat(filled, ignore_index=True)


def runs(events: pd.DataFrame) -> pd.DataFrame:
    """One row per run (spawn to exit, or still going): see ``frames.runs_frame``.

    A fleet frame (``load_events("prometheus+...")``) gives a ``host`` column too.
    """
    return _per_host(events, lambda part: runs_frame(to_records(part)))


def restarts(events: pd.DataFrame) -> pd.DataFrame:
    """One row per automatic restart, from the events' cause (``autorestart``, ``damped``,
    ``retry``): per process, as many as ``supervisor_process_restarts_total`` counts.

    A fleet frame gives a ``host`` column too (per host and process, the counter's
    increase over the range).
    """
    return _per_host(events, lambda part: restarts_frame(to_records(part)))


def recorded_storms(events: pd.DataFrame) -> pd.DataFrame:
    """The process storms superd itself reported: its ``PROCESS_STORM_BEGIN``/``END``
    events (from a journal or ``/events``), or the rises and falls of its
    ``supervisor_process_restart_storm`` gauge (from Prometheus).

    One row per storm: ``host`` ("" for one host's frame), ``process``, ``start``,
    ``end`` (NaT while under way), ``restarts`` (the automatic restarts of the frame
    between them). Unlike ``storms`` nothing is re-detected: the thresholds were the
    host's own ``[exporter:storms]``.
    """
    columns = ["host", "process", "start", "end", "restarts"]
    types = events["type"].astype(str)
    marks = events[types.isin(("PROCESS_STORM_BEGIN", "PROCESS_STORM_END"))]
    counted = restarts(events)
    if "host" not in counted.columns:
        counted.insert(0, "host", "")
    rows: list[dict[str, object]] = []
    open_: dict[tuple[str, str], pd.Timestamp] = {}

    def close(key: tuple[str, str], start: pd.Timestamp, end: object) -> None:
        mine = counted[(counted["host"] == key[0]) & (counted["process"] == key[1])]
        inside = mine["time"] >= start
        if end is not pd.NaT:
            inside &= mine["time"] <= end
        rows.append(
            {
                "host": key[0],
                "process": key[1],
                "start": start,
                "end": end,
                "restarts": int(inside.sum()),
            }
        )

    for mark in _records(marks):
        key = (str(mark["host"]) if "host" in mark else "", str(mark["process"]))
        if mark["type"] == "PROCESS_STORM_BEGIN":
            open_.setdefault(key, mark["time"])
        elif key in open_:
            close(key, open_.pop(key), mark["time"])
    for key, start in open_.items():
        close(key, start, pd.NaT)
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("start", kind="stable").reset_index(drop=True)


def storms(
    events: pd.DataFrame,
    settings: StormSettings | None = None,
    *,
    until: TimeLike | None = None,
) -> pd.DataFrame:
    """The restart storms superd's own detector finds in the events (``frames.storms_frame``).

    ``end`` is NaT (and ``reason`` ``under way``) for a storm still going at ``until``.
    A fleet frame is detected host by host (and gets a ``host`` column).
    """
    wall = _wall(until)
    return _per_host(events, lambda part: storms_frame(to_records(part), settings, until=wall))


def exit_summary(events: pd.DataFrame) -> pd.DataFrame:
    """How runs ended, per process: one row per (process, outcome, exit).

    Columns: ``process``, ``outcome`` (``crash``, ``failed start``, ``exit``,
    ``stopped``), ``exit`` (``code 4``, ``SIGKILL``), ``runs``, ``median_duration`` and
    ``last`` (the latest such end); most frequent first.
    """
    ended = runs(events)
    ended = ended[ended["outcome"] != "running"]
    columns = ["process", "outcome", "exit", "runs", "median_duration", "last"]
    if ended.empty:
        return pd.DataFrame(columns=columns)
    summary = (
        ended.groupby(["process", "outcome", "exit"], observed=True)
        .agg(
            runs=("serial", "size"),
            median_duration=("duration", "median"),
            last=("end", "max"),
        )
        .reset_index()
        .sort_values(["runs", "process"], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )
    return summary[columns]


def common_cause(
    events: pd.DataFrame, settings: StormSettings | None = None, *, until: TimeLike | None = None
) -> pd.DataFrame:
    """Process storms that overlap in time: a shared cause is likelier than chance.

    One row per set of overlapping storms: ``processes`` (their names), ``hosts``
    (each one's host, in the same order; "" for one host's frame), ``start``
    (the earliest), ``end`` (the latest; NaT while one is under way), ``overlap``
    (seconds all of them were under way at once; NaN with one still under way),
    ``restarts`` (the sum).
    Sets of a single storm are left out.

    The storms are ``storms(events, settings, until=until)`` for one host's frame;
    for a fleet frame (``host`` column, from Prometheus) they are each host's own
    (``recorded_storms``: its detector's gauge), so the same program storming on two
    hosts at once is one row with both hosts.
    """
    if "host" in events.columns:
        found = recorded_storms(events)
    else:
        found = storms(events, settings, until=until)
        found = found[found["scope"] == "process"].copy()
        found.insert(0, "host", "")
    found = found.sort_values("start", kind="stable")
    columns = ["processes", "hosts", "start", "end", "overlap", "restarts"]
    clusters: list[list[dict[str, Any]]] = []
    reach = _FOREVER
    for storm in _records(found):
        end = _FOREVER if pd.isna(storm["end"]) else storm["end"]
        if clusters and storm["start"] <= reach:
            clusters[-1].append(storm)
            reach = max(reach, end)
        else:
            clusters.append([storm])
            reach = end
    rows: list[dict[str, object]] = []
    for cluster in clusters:
        if len(cluster) < 2:
            continue
        starts = [s["start"] for s in cluster]
        ends = [s["end"] for s in cluster]
        open_ended = any(pd.isna(e) for e in ends)
        rows.append(
            {
                "processes": [s["process"] for s in cluster],
                "hosts": [s["host"] for s in cluster],
                "start": min(starts),
                "end": pd.NaT if open_ended else max(ends),
                "overlap": float("nan")
                if open_ended
                else max((min(ends) - max(starts)).total_seconds(), 0.0),
                "restarts": sum(int(s["restarts"]) for s in cluster),
            }
        )
    return pd.DataFrame(rows, columns=columns)
