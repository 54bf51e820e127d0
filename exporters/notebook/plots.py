"""The post-mortem's plots, each on a ``Figure`` it creates (or an ``Axes`` passed in).

Never pyplot's global state: a notebook displays the returned figure.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from matplotlib import dates, ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from exporters.notebook._common import _records
from exporters.notebook.frames import PostMortem, history_end, restarts_per_minute

# How a run ended, and its colour in the timeline.
OUTCOME_COLOURS: dict[str, str] = {
    "crash": "tab:red",
    "failed start": "tab:orange",
    "exit": "tab:olive",
    "stopped": "tab:gray",
    "running": "tab:green",
}


def _datetime(value: object, default: datetime) -> datetime:
    """A Timestamp as a datetime (``default`` for NaT/None), for matplotlib."""
    # NaT first: pd.NaT is an instance of datetime, and as a bar's end it made the bar's
    # width NaN, so runs still going were never drawn.
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return default
    if isinstance(value, pd.Timestamp):
        # Microseconds are plenty for a plot (to_pydatetime warns about the nanoseconds).
        return datetime.fromtimestamp(value.timestamp(), tz=UTC)
    if isinstance(value, datetime):
        return value
    return default


def _day(value: object, default: datetime) -> float:
    """A Timestamp in matplotlib's date unit (days since its epoch)."""
    # matplotlib ships no annotation for date2num; it returns a float for one datetime.
    return float(dates.date2num(_datetime(value, default)))  # type: ignore[no-untyped-call]


def _utc_dates(ax: Axes) -> None:
    """Date ticks in UTC that read well at any span (``03:12:07.5``, not ``12:07.500000``)."""
    # matplotlib ships no annotations for its date locators and formatters.
    locator = dates.AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(
        dates.ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
    )


def _axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        figure = ax.get_figure()
        assert isinstance(figure, Figure)
        return figure, ax
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.add_subplot()


def plot_timeline(report: PostMortem, ax: Axes | None = None) -> Figure:
    """Every run as a bar on its process' line, coloured by how it ended; storms shaded.

    A run still going (``end`` NaT) and a storm still under way reach the end of the
    history read (``history_end``).
    """
    runs = report.runs
    processes = sorted(runs["process"].unique())
    figure, ax = _axes(ax, (12, 1 + 0.6 * max(len(processes), 1)))
    # Runs still going and storms still under way are drawn up to the end of the history.
    now = _datetime(history_end(report), datetime.now().astimezone())
    for run in _records(runs):
        start = _day(run["start"], now)
        ax.barh(
            processes.index(run["process"]),
            _day(run["end"], now) - start,
            left=start,
            height=0.6,
            color=OUTCOME_COLOURS.get(str(run["outcome"]), "black"),
            # Back-to-back runs of a crash loop stay distinguishable.
            edgecolor="white",
            linewidth=0.5,
        )
    for storm in _records(report.storms):
        if storm["scope"] == "process" and storm["process"] in processes:
            row = processes.index(storm["process"])
            ax.fill_betweenx(
                [row - 0.45, row + 0.45],
                _day(storm["start"], now),
                _day(storm["end"], now),
                color="tab:red",
                alpha=0.12,
            )
    _utc_dates(ax)
    ax.set_yticks(range(len(processes)), processes)
    ax.set_xlabel("time (UTC)")
    ax.set_title("Runs per process (shaded: restart storm)")
    handles = [Patch(color=colour, label=name) for name, colour in OUTCOME_COLOURS.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def plot_restarts_per_minute(report: PostMortem, ax: Axes | None = None) -> Figure:
    """Restarts per minute, one line per process (a partial last minute as a rate)."""
    figure, ax = _axes(ax, (12, 3.5))
    end = history_end(report)
    counts = restarts_per_minute(report.restarts, end)
    if len(counts):
        # Each value holds from its minute's start to the next; the last one to the
        # end of the history (or its minute's end), so it is drawn as a step too.
        last = counts.index[-1] + pd.Timedelta(minutes=1)
        if end is not None and not pd.isna(end) and end < last:
            last = end
        edges = [*counts.index, last]
        minutes = [_day(t, datetime.now().astimezone()) for t in edges]
    for process in counts.columns:
        values = list(counts[process])
        ax.step(minutes, [*values, values[-1]], where="post", label=str(process))
    _utc_dates(ax)
    ax.set_ylabel("restarts / minute")
    ax.set_xlabel("time (UTC)")
    ax.set_title("Restarts per minute")
    if len(counts.columns):
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def _plain(value: float, _position: object) -> str:
    return f"{value:g}"


def plot_run_durations(report: PostMortem, ax: Axes | None = None) -> Figure:
    """The distribution of run durations (log scale), one histogram per process."""
    figure, ax = _axes(ax, (8, 3.5))
    ended = report.runs.dropna(subset=["duration"])
    for process, group in ended.groupby("process"):
        durations = [max(float(d), 1e-3) for d in group["duration"]]
        ax.hist(durations, bins=30, alpha=0.6, label=str(process))
    ax.set_xscale("log")
    # Plain numbers (0.1, 0.2, 0.5, 1, 2, 5 ...) rather than 3x10^0 on minor ticks.
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(_plain))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("run duration (s, spawn to exit)")
    ax.set_ylabel("runs")
    ax.set_title("How long runs lived")
    if not ended.empty:
        ax.legend()
    return figure
