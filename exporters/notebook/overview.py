"""The fleet overview: top restarting programs per host, restart rate, shared storms.

``notebooks/fleet-overview.ipynb`` is a thin shell around these functions of a fleet
frame (``load_events("prometheus+<url>")``, one ``host`` per scraped superd).

Rules of this file:
- Every count is ``restarts`` of the frame (the events' cause, what
  ``supervisor_process_restarts_total`` counts), every shared storm is
  ``common_cause`` of it (each host's own storm detector): no second way to count.
- Buckets are aligned on the clock (``1h`` buckets start on the hour); the last one
  is usually cut short by the end of the range, and says so (``partial``) instead of
  drawing a drop that did not happen.
"""

from __future__ import annotations

import time
from collections import Counter

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from exporters.notebook._common import _records, _time
from exporters.notebook.analysis import common_cause, restarts
from exporters.notebook.sources import TimeLike, _wall

__all__ = [
    "fleet_summary",
    "plot_restart_rate",
    "restart_rate",
    "time_range",
    "top_restarting",
]


def time_range(period: float, until: TimeLike | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` of the ``period`` seconds that end at ``until`` (None: now);
    ``until`` as ``load_events`` takes it (unix seconds, datetime, ISO text: naive is UTC)."""
    wall = _wall(until)
    end = _time(time.time() if wall is None else wall)
    return _time(end.timestamp() - period), end


def top_restarting(events: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The ``top`` programs with the most automatic restarts on each host.

    Columns ``host``, ``process``, ``restarts``; hosts in name order, most restarts
    first within a host (ties by name). Programs that never restarted are left out.
    """
    counted = restarts(events)
    columns = ["host", "process", "restarts"]
    if counted.empty:
        return pd.DataFrame(columns=columns)
    if "host" not in counted.columns:
        counted.insert(0, "host", "")
    table = (
        counted.groupby(["host", "process"], observed=True)
        .size()
        .rename("restarts")
        .reset_index()
        .sort_values(["host", "restarts", "process"], ascending=[True, False, True])
    )
    return table.groupby("host", sort=False).head(top).reset_index(drop=True)[columns]


def restart_rate(
    events: pd.DataFrame, *, start: pd.Timestamp, end: pd.Timestamp, bucket: str = "1h"
) -> pd.DataFrame:
    """Automatic restarts per ``bucket`` and host between ``start`` and ``end``.

    One row per bucket (the index: its start, tz-aware UTC), one column per host
    (every host of the frame, even one that never restarted: 0s), plus ``partial``
    (True for a bucket cut by ``start`` or ``end``); ``attrs["bucket"]`` is the width.
    """
    counted = restarts(events)
    hosts = (
        sorted(str(h) for h in events["host"].astype(str).unique())
        if "host" in events.columns
        else [""]
    )
    if "host" not in counted.columns:
        counted.insert(0, "host", "")
    size = pd.Timedelta(bucket)
    first, last = start.floor(size), end.floor(size)
    index = pd.date_range(first, last, freq=size, name="bucket")
    table = pd.DataFrame(0, index=index, columns=hosts, dtype="int64")
    if not counted.empty:
        inside = counted[(counted["time"] >= start) & (counted["time"] <= end)]
        floors = inside["time"].dt.floor(size)
        tally = Counter(zip(floors, inside["host"].astype(str), strict=True))
        for (when, host), count in tally.items():
            table.loc[when, host] = count
    table["partial"] = [(when < start) or (when + size > end) for when in table.index]
    table.attrs["bucket"] = size  # the plot's bucket width, even with a single row
    return table


def plot_restart_rate(rate: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """One line of restarts per bucket for each host; partial buckets hatched."""
    if ax is None:
        figure = Figure(figsize=(12, 4), layout="constrained")
        ax = figure.add_subplot()
    else:
        parent = ax.get_figure()
        assert isinstance(parent, Figure)
        figure = parent
    hosts = [column for column in rate.columns if column != "partial"]
    size = pd.Timedelta(rate.attrs.get("bucket", pd.Timedelta("1h")))
    centres = [(when + size / 2).to_pydatetime() for when in rate.index]
    for host in hosts:
        # Markers: a range of one bucket is one point, which a bare line never shows.
        ax.plot(centres, rate[host].to_numpy(), marker="o", markersize=3, label=host or "this host")
    for when, partial in zip(rate.index, rate["partial"], strict=True):
        if partial:
            ax.axvspan(
                when.to_pydatetime(),
                (when + size).to_pydatetime(),
                facecolor="none",
                edgecolor="0.7",
                hatch="//",
                linewidth=0,
            )
    ax.set_ylabel(f"automatic restarts per {_bucket_text(size)}")
    ax.set_ylim(bottom=0)
    ax.yaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    ax.set_title("Restart rate by host (hatched: a bucket cut short by the range)")
    if hosts:
        ax.legend(loc="upper left")
    return figure


def _bucket_text(size: pd.Timedelta) -> str:
    seconds = size.total_seconds()
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % length == 0:
            count = int(seconds // length)
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds:g} s"


def fleet_summary(
    events: pd.DataFrame, *, start: pd.Timestamp, end: pd.Timestamp, top: int = 5
) -> dict[str, object]:
    """The overview as plain data (JSON-ready): what the notebook prints last.

    ``hosts``; ``top`` (host -> [[process, restarts], ...]); ``restarts`` (host -> the
    total); ``shared_storms`` (``common_cause`` rows: processes, hosts, start, end
    (None while under way), restarts); ``start``/``end`` of the range (ISO 8601).
    """
    hosts = (
        sorted(str(h) for h in events["host"].astype(str).unique())
        if "host" in events.columns
        else [""]
    )
    table = top_restarting(events, top)
    counted = restarts(events)
    if "host" not in counted.columns:
        counted.insert(0, "host", "")
    shared = common_cause(events)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "hosts": hosts,
        "restarts": {host: int((counted["host"] == host).sum()) for host in hosts},
        "top": {
            host: [
                [str(row["process"]), int(row["restarts"])]
                for row in _records(table[table["host"] == host])
            ]
            for host in hosts
        },
        "shared_storms": [
            {
                "processes": [str(p) for p in row["processes"]],
                "hosts": [str(h) for h in row["hosts"]],
                "start": row["start"].isoformat(),
                "end": None if pd.isna(row["end"]) else row["end"].isoformat(),
                "restarts": int(row["restarts"]),
            }
            for row in _records(shared)
        ],
    }
