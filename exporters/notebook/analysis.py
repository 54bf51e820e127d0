"""What a ``load_events`` frame says: runs, storms, restarts, exits, shared causes.

Each function is a thin view over the pure builders of ``frames`` (the same code
the post-mortem notebook runs), fed the frame's rows as journal records, so the
public API and the notebook cannot tell different stories.
"""

from __future__ import annotations

import math
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


def runs(events: pd.DataFrame) -> pd.DataFrame:
    """One row per run (spawn to exit, or still going): see ``frames.runs_frame``."""
    return runs_frame(to_records(events))


def restarts(events: pd.DataFrame) -> pd.DataFrame:
    """One row per automatic restart, from the events' cause (``autorestart``, ``damped``,
    ``retry``): per process, as many as ``supervisor_process_restarts_total`` counts."""
    return restarts_frame(to_records(events))


def storms(
    events: pd.DataFrame,
    settings: StormSettings | None = None,
    *,
    until: TimeLike | None = None,
) -> pd.DataFrame:
    """The restart storms superd's own detector finds in the events (``frames.storms_frame``).

    ``end`` is NaT (and ``reason`` ``under way``) for a storm still going at ``until``.
    """
    return storms_frame(to_records(events), settings, until=_wall(until))


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

    One row per set of overlapping storms: ``processes`` (their names), ``start``
    (the earliest), ``end`` (the latest; NaT while one is under way), ``overlap``
    (seconds all of them were under way at once; NaN with one still under way),
    ``restarts`` (the sum).
    Sets of a single storm are left out.
    """
    found = storms(events, settings, until=until)
    found = found[found["scope"] == "process"].sort_values("start", kind="stable")
    columns = ["processes", "start", "end", "overlap", "restarts"]
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
                "start": min(starts),
                "end": pd.NaT if open_ended else max(ends),
                "overlap": float("nan")
                if open_ended
                else max((min(ends) - max(starts)).total_seconds(), 0.0),
                "restarts": sum(int(s["restarts"]) for s in cluster),
            }
        )
    return pd.DataFrame(rows, columns=columns)
