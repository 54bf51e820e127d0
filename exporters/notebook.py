"""Post-mortems of restart storms: a journal (and optionally Prometheus) -> pandas, plots, prose.

"Why did this program restart 40 times last night, and who noticed?" The journal
(``exporters.journal``) has every state change with exit status, signal, run time
and stderr tail; this module turns it into DataFrames, finds the storms with the
same detector superd runs (``exporters.storms``), plots them and writes the story.
``notebooks/restart-storm-postmortem.ipynb`` is a thin shell around it; see
docs/postmortem.md.

Rules of this file:
- Builders are pure functions of journal records (``JournalRecord``), so unit tests
  feed them records written by the real ``Journal``; only ``read_records`` and
  ``prometheus_alerts`` do I/O.
- Times are tz-aware UTC ``pandas.Timestamp`` s built from the events' wall time;
  durations are seconds (floats), as the journal stores them.
- Every count comes from the events' ``cause`` and nothing else. A *restart* is a
  ``PROCESS_STATE_STARTING`` whose cause is automatic (``autorestart``, ``damped``,
  ``retry``: ``lifecycle.AUTOMATIC_RESTART_CAUSES``): what
  ``supervisor_process_restarts_total`` counts, so the notebook and the metric agree.
  Starts somebody asked for (operator, listener, autostart, update, reload) are
  starts, not restarts; requested changes are *actions*, and their ``origin`` says
  who asked, from where.
- Plots draw on a ``matplotlib.figure.Figure`` they create (or an ``Axes`` passed
  in), never on pyplot's global state.

Example::

    from exporters.notebook import load, summarize
    report = load("/var/log/supervisor/superd-journal.sqlite3")
    print("\\n\\n".join(summarize(report)))
"""

from __future__ import annotations

import json
import signal
import statistics
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from matplotlib import dates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from exporters.journal import JournalRecord, open_journal
from exporters.storms import Storm, StormSettings, detect_storms, observation_from_record
from supervisor_core.lifecycle import Cause

__all__ = [
    "OUTCOME_COLOURS",
    "PostMortem",
    "events_frame",
    "load",
    "notices_frame",
    "plot_restarts_per_minute",
    "plot_run_durations",
    "plot_timeline",
    "prometheus_alerts",
    "read_records",
    "restarts_frame",
    "restarts_per_minute",
    "runs_frame",
    "storms_frame",
    "summarize",
]

# How a run ended, and its colour in the timeline.
OUTCOME_COLOURS: dict[str, str] = {
    "crash": "tab:red",
    "failed start": "tab:orange",
    "exit": "tab:olive",
    "stopped": "tab:gray",
    "running": "tab:green",
}
# Requested changes that are somebody's action in a post-mortem's "who acted" (an
# autostart at daemon start-up is routine, and shows as the run's cause instead).
_ACTION_CAUSES = frozenset(
    cause.value for cause in Cause if cause.is_requested and cause is not Cause.AUTOSTART
)
_ACTION_VERBS = {"STARTING": "started", "STOPPING": "stopped", "STOPPED": "stopped"}
_STORM_TYPES = ("PROCESS_STORM_BEGIN", "GROUP_STORM_BEGIN", "HOST_STORM_BEGIN")
_RUN_COLUMNS = [
    "process",
    "group",
    "name",
    "pid",
    "start",
    "end",
    "duration",
    "outcome",
    "exit_status",
    "signal",
    "exit",
    "expected",
    "end_state",
    "stderr_tail",
    "serial",
    "run",
    "episode",
    "cause",
    "origin",
    "end_cause",
    "end_origin",
]
_EVENT_COLUMNS = [
    "serial",
    "time",
    "type",
    "process",
    "from_state",
    "to_state",
    "cause",
    "origin",
    "run",
    "episode",
    "pid",
    "exit_status",
    "expected",
    "run_duration",
]


def _time(wall: float) -> pd.Timestamp:
    return pd.Timestamp(wall, unit="s", tz="UTC")


def _process(record: JournalRecord) -> str:
    return f"{record.groupname}:{record.processname}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def _exit_text(exit_status: int | None) -> str:
    """``code 4``, ``SIGKILL`` or ``spawn error`` (no status)."""
    if exit_status is None:
        return "spawn error"
    if exit_status < 0:
        return _signal_name(-exit_status)
    return f"code {exit_status}"


def read_records(
    path: str,
    *,
    since: float | None = None,
    until: float | None = None,
    process: Iterable[str] = (),
) -> list[JournalRecord]:
    """The journal's records, oldest first, with ``since <= wall_time < until``.

    ``process`` takes superctl's names (``web``, ``grp:web``, ``grp:*``); empty means
    every process (and the daemon's own events).

    Raises:
        sqlite3.OperationalError: ``path`` is not a readable journal.
    """
    with open_journal(path) as journal:
        records = list(journal.events(process=list(process)))
    return [
        r
        for r in records
        if (since is None or r.wall_time >= since) and (until is None or r.wall_time < until)
    ]


def events_frame(records: Sequence[JournalRecord]) -> pd.DataFrame:
    """One row per process state change: serial, time, type, process, states, why, exit.

    ``cause`` is why it happened (``autorestart``, ``operator``, ``exit``, ...),
    ``origin`` who asked (requested changes only), ``run`` the start number it belongs
    to and ``episode`` the run that opened its restart episode.
    """
    rows = [
        {
            "serial": r.serial,
            "time": _time(r.wall_time),
            "type": r.type,
            "process": _process(r),
            "from_state": r.from_state,
            "to_state": r.to_state,
            "cause": r.cause,
            "origin": r.origin,
            "run": r.run,
            "episode": r.episode,
            "pid": r.pid,
            "exit_status": r.exit_status,
            "expected": r.expected,
            "run_duration": r.run_duration,
        }
        for r in records
        if r.type.startswith("PROCESS_STATE_") and r.processname is not None
    ]
    return pd.DataFrame(rows, columns=_EVENT_COLUMNS)


def _outcome(record: JournalRecord) -> str:
    if record.to_state == "BACKOFF":
        return "failed start"
    if record.to_state == "STOPPED":
        return "stopped"
    if record.expected:
        return "exit"
    return "crash"


@dataclass(slots=True)
class _Start:
    """A run begun and not yet ended, while ``runs_frame`` walks the records."""

    wall: float
    pid: int
    serial: int
    run: int | None
    episode: int | None
    cause: str | None
    origin: str | None


def _start(record: JournalRecord) -> _Start:
    return _Start(
        wall=record.wall_time,
        pid=record.pid or 0,
        serial=record.serial,
        run=record.run,
        episode=record.episode,
        cause=record.cause,
        origin=record.origin,
    )


def runs_frame(records: Sequence[JournalRecord]) -> pd.DataFrame:
    """One row per run of a process (spawn to exit), in the order they ended.

    Columns: ``process`` (``group:name``), ``group``, ``name``, ``pid``, ``start``,
    ``end`` (NaT while running), ``duration`` (s), ``outcome`` (``crash``,
    ``failed start``, ``exit``, ``stopped``, ``running``), ``exit_status`` (Popen:
    ``-N`` = signal N), ``signal``, ``exit`` (``code 4``, ``SIGKILL``), ``expected``,
    ``end_state``, ``stderr_tail`` (a list of lines, possibly empty), ``serial`` (of the
    event that ended the run), ``run`` (the process' start number) and ``episode``
    (the run that opened its restart episode), ``cause``/``origin`` (why the run was
    started and who asked: ``autorestart``/None, ``operator``/``"xmlrpc, ..."``) and
    ``end_cause``/``end_origin`` (why it ended: ``exit``, or the stop's requester).
    """
    started: dict[str, _Start] = {}
    rows: list[dict[str, object]] = []
    for record in records:
        if not record.type.startswith("PROCESS_STATE_") or record.processname is None:
            continue
        key = _process(record)
        if record.to_state == "STARTING":
            started[key] = _start(record)
            continue
        if record.run_duration is None:
            if key in started and record.pid:
                started[key].pid = record.pid
            continue
        end = record.wall_time
        begun = started.pop(key, None)
        if begun is None:  # the start is before the range read
            begun = _Start(
                wall=end - record.run_duration,
                pid=0,
                serial=0,
                run=record.run,
                episode=record.episode,
                cause=None,
                origin=None,
            )
        rows.append(
            {
                "process": key,
                "group": record.groupname,
                "name": record.processname,
                "pid": record.pid or begun.pid or None,
                "start": _time(begun.wall),
                "end": _time(end),
                "duration": record.run_duration,
                "outcome": _outcome(record),
                "exit_status": record.exit_status,
                "signal": record.signal,
                "exit": _exit_text(record.exit_status),
                "expected": record.expected,
                "end_state": record.to_state,
                "stderr_tail": list(record.stderr_tail or ()),
                "serial": record.serial,
                "run": begun.run,
                "episode": begun.episode,
                "cause": begun.cause,
                "origin": begun.origin,
                "end_cause": record.cause,
                "end_origin": record.origin,
            }
        )
    for key, begun in started.items():
        group, _, name = key.partition(":")
        rows.append(
            {
                "process": key,
                "group": group,
                "name": name,
                "pid": begun.pid or None,
                "start": _time(begun.wall),
                "end": pd.NaT,
                "duration": None,
                "outcome": "running",
                "exit_status": None,
                "signal": None,
                "exit": "",
                "expected": None,
                "end_state": None,
                "stderr_tail": [],
                "serial": begun.serial,
                "run": begun.run,
                "episode": begun.episode,
                "cause": begun.cause,
                "origin": begun.origin,
                "end_cause": None,
                "end_origin": None,
            }
        )
    return pd.DataFrame(rows, columns=_RUN_COLUMNS)


def restarts_frame(records: Sequence[JournalRecord]) -> pd.DataFrame:
    """One row per automatic restart: a STARTING whose cause is ``autorestart``,
    ``damped`` or ``retry`` (the rule of ``supervisor_process_restarts_total``).

    Columns: ``time``, ``process``, ``serial``, ``cause``, ``run`` (the run it
    starts), ``episode``. Starts somebody asked for are not restarts, whatever state
    they left.
    """
    rows = [
        {
            "time": _time(r.wall_time),
            "process": _process(r),
            "serial": r.serial,
            "cause": r.cause,
            "run": r.run,
            "episode": r.episode,
        }
        for r in records
        if r.is_restart
    ]
    return pd.DataFrame(rows, columns=["time", "process", "serial", "cause", "run", "episode"])


def _storm_rows(storms: Iterable[Storm]) -> list[dict[str, object]]:
    return [
        {
            "scope": storm.scope.value,
            "process": f"{storm.group}:{storm.name}" if storm.name else storm.group,
            "start": _time(storm.start),
            "end": _time(storm.end) if storm.end is not None else pd.NaT,
            "duration": storm.duration,
            "restarts": storm.restarts,
            "exit_codes": list(storm.exit_codes),
            "signals": list(storm.signals),
            "median_run_duration": storm.median_run_duration,
            "members": list(storm.members),
            "reason": storm.reason or "under way",
        }
        for storm in storms
    ]


def storms_frame(
    records: Sequence[JournalRecord],
    settings: StormSettings | None = None,
    *,
    until: float | None = None,
) -> pd.DataFrame:
    """The storms of the history, found by superd's own detector (``exporters.storms``).

    ``settings`` are the detector's thresholds (pass the host's ``[exporter:storms]``
    values to see what superd saw; default: its defaults). ``until`` (wall time) lets
    storms of processes that recovered by then end.
    """
    observations = [o for r in records if (o := observation_from_record(r)) is not None]
    rows = _storm_rows(detect_storms(observations, settings, until=until))
    columns = [
        "scope",
        "process",
        "start",
        "end",
        "duration",
        "restarts",
        "exit_codes",
        "signals",
        "median_run_duration",
        "members",
        "reason",
    ]
    return pd.DataFrame(rows, columns=columns)


def notices_frame(
    records: Sequence[JournalRecord], alerts: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Who noticed what, and who acted, when.

    Noticed (``kind="noticed"``): superd's storm detector, overflowing listener pools,
    and (when ``alerts`` from ``prometheus_alerts`` is given) Prometheus' alerts.
    Acted (``kind="acted"``): every start and stop somebody asked for, from the
    events' cause and origin: an operator through XML-RPC, superctl or the web page
    (``who`` is the origin, e.g. ``"xmlrpc, unix socket pid 42 uid 0, superctl/0.1"``),
    an event listener (memmon, httpok), ``update``, a reload or the shutdown.

    Columns: ``time``, ``who``, ``what``, ``process`` (``group:name``, a group, or
    ``""``), ``kind``.
    """
    rows: list[dict[str, object]] = []
    for record in records:
        action = _action(record)
        if action is not None:
            rows.append(action)
        elif record.type in _STORM_TYPES:
            scope = record.type.split("_", 1)[0].lower()
            subject = _process(record) if record.processname else (record.groupname or "")
            rows.append(
                {
                    "time": _time(record.wall_time),
                    "who": "superd storm detector",
                    "what": f"{record.type} ({scope} storm, serial {record.serial})",
                    "process": subject,
                    "kind": "noticed",
                }
            )
        elif record.type == "EVENT_BUFFER_OVERFLOW":
            pool = record.payload.get("groupname", "")
            rows.append(
                {
                    "time": _time(record.wall_time),
                    "who": f"event listener pool {pool}",
                    "what": f"its buffer overflowed: it missed events (serial {record.serial})",
                    "process": "",
                    "kind": "noticed",
                }
            )
    if alerts is not None:
        rows.extend(
            {
                "time": alert["first_firing"],
                "who": "Prometheus",
                "what": f"alert {alert['alertname']} firing until {_clock(alert['last_firing'])}",
                "process": alert["process"],
                "kind": "noticed",
            }
            for alert in _records(alerts)
        )
    frame = pd.DataFrame(rows, columns=["time", "who", "what", "process", "kind"])
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def _action(record: JournalRecord) -> dict[str, object] | None:
    """The notice of a requested start or stop, or None for anything else.

    A request shows once, at the transition it caused first: STARTING for a start,
    STOPPING for a stop (STOPPED directly when the process had no child, e.g. in
    BACKOFF).
    """
    if record.cause not in _ACTION_CAUSES or record.processname is None:
        return None
    verb = _ACTION_VERBS.get(record.to_state or "")
    if verb is None or (record.to_state == "STOPPED" and record.from_state == "STOPPING"):
        return None
    who = record.origin or f"superd ({record.cause})"
    return {
        "time": _time(record.wall_time),
        "who": who,
        "what": (
            f"{verb} it ({record.from_state} -> {record.to_state}, cause {record.cause},"
            f" serial {record.serial})"
        ),
        "process": _process(record),
        "kind": "acted",
    }


def restarts_per_minute(restarts: pd.DataFrame) -> pd.DataFrame:
    """Restarts per minute (rows) and process (columns), zero-filled."""
    if restarts.empty:
        return pd.DataFrame()
    counts = restarts.assign(minute=restarts["time"].dt.floor("min")).pivot_table(
        index="minute", columns="process", values="serial", aggfunc="count", fill_value=0
    )
    full = pd.date_range(counts.index.min(), counts.index.max(), freq="min")
    return counts.reindex(full, fill_value=0)


def prometheus_alerts(
    url: str,
    *,
    start: float,
    end: float,
    step: float = 15.0,
    alertnames: Sequence[str] = (),
    timeout: float = 30.0,
) -> pd.DataFrame:
    """When Prometheus' alerts fired between ``start`` and ``end`` (wall times).

    Reads ``ALERTS{alertstate="firing"}`` with ``/api/v1/query_range`` at ``step``
    seconds. One row per alert series: ``alertname``, ``process`` (``group:name`` when
    the alert has them), ``instance``, ``severity``, ``first_firing``,
    ``last_firing``.

    Raises:
        OSError: Prometheus cannot be reached; ValueError: it answered with an error.
    """
    matchers = 'alertstate="firing"'
    if alertnames:
        matchers += ', alertname=~"' + "|".join(alertnames) + '"'
    query = urllib.parse.urlencode(
        {"query": f"ALERTS{{{matchers}}}", "start": start, "end": end, "step": step}
    )
    with urllib.request.urlopen(
        f"{url.rstrip('/')}/api/v1/query_range?{query}", timeout=timeout
    ) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise ValueError(f"Prometheus {url}: {body.get('error', body)}")
    rows: list[dict[str, object]] = []
    for series in body["data"]["result"]:
        labels: dict[str, str] = series["metric"]
        times = [float(t) for t, _ in series["values"]]
        process = (
            f"{labels['group']}:{labels['name']}" if "group" in labels and "name" in labels else ""
        )
        rows.append(
            {
                "alertname": labels.get("alertname", ""),
                "process": process,
                "instance": labels.get("instance", ""),
                "severity": labels.get("severity", ""),
                "first_firing": _time(min(times)),
                "last_firing": _time(max(times)),
            }
        )
    columns = ["alertname", "process", "instance", "severity", "first_firing", "last_firing"]
    return pd.DataFrame(rows, columns=columns).sort_values("first_firing", kind="stable")


@dataclass(frozen=True, slots=True, kw_only=True)
class PostMortem:
    """Everything a post-mortem looks at, as DataFrames (see each builder)."""

    events: pd.DataFrame
    runs: pd.DataFrame
    restarts: pd.DataFrame
    storms: pd.DataFrame
    notices: pd.DataFrame


def load(
    path: str,
    *,
    since: float | None = None,
    until: float | None = None,
    process: Iterable[str] = (),
    storm_settings: StormSettings | None = None,
    prometheus_url: str | None = None,
) -> PostMortem:
    """Read a journal (and Prometheus' alerts when ``prometheus_url`` is given).

    Raises:
        sqlite3.OperationalError: ``path`` is not a readable journal.
        OSError, ValueError: Prometheus was asked and could not answer.
    """
    records = read_records(path, since=since, until=until, process=process)
    alerts = None
    if prometheus_url and records:
        alerts = prometheus_alerts(
            prometheus_url,
            start=records[0].wall_time,
            end=max(records[-1].wall_time, records[0].wall_time + 1),
            step=1.0 if records[-1].wall_time - records[0].wall_time < 3600 else 15.0,
        )
    return PostMortem(
        events=events_frame(records),
        runs=runs_frame(records),
        restarts=restarts_frame(records),
        storms=storms_frame(records, storm_settings, until=until),
        notices=notices_frame(records, alerts),
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts (pandas' row tuples are untyped)."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _datetime(value: object, default: datetime) -> datetime:
    """A Timestamp as a datetime (``default`` for NaT/None), for matplotlib."""
    if isinstance(value, pd.Timestamp) and not pd.isna(value):
        # Microseconds are plenty for a plot (to_pydatetime warns about the nanoseconds).
        return datetime.fromtimestamp(value.timestamp(), tz=UTC)
    if isinstance(value, datetime):
        return value
    return default


def _day(value: object, default: datetime) -> float:
    """A Timestamp in matplotlib's date unit (days since its epoch)."""
    # matplotlib ships no annotation for date2num; it returns a float for one datetime.
    return float(dates.date2num(_datetime(value, default)))  # type: ignore[no-untyped-call]


def _clock(value: object) -> str:
    if isinstance(value, pd.Timestamp) and not pd.isna(value):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return "(still going)"


def _seconds(value: float) -> str:
    return f"{value:.3g} s" if value < 60 else f"{value / 60:.1f} min"


def _exits_text(runs: pd.DataFrame) -> str:
    exits = runs[runs["outcome"].isin(["crash", "failed start", "exit"])]
    counts = exits["exit"].value_counts()
    return ", ".join(f"{label} \u00d7{count}" for label, count in counts.items()) or "none"


def _process_story(report: PostMortem, process: str) -> str:
    restarts = report.restarts[report.restarts["process"] == process]
    runs = report.runs[report.runs["process"] == process]
    first, last = restarts["time"].min(), restarts["time"].max()
    times = "time" if len(restarts) == 1 else "times"
    causes = ", ".join(
        f"{cause} \u00d7{count}" for cause, count in restarts["cause"].value_counts().items()
    )
    lines = [
        f"{process} restarted {len(restarts)} {times} ({causes}) between {_clock(first)} and "
        f"{_clock(last)} ({_seconds((last - first).total_seconds())})."
    ]
    lines.append(f"Exits: {_exits_text(runs)}.")
    ended = runs["duration"].dropna()
    if not ended.empty:
        lines.append(
            f"Runs lasted {_seconds(float(statistics.median(ended)))} (median), "
            f"{_seconds(float(ended.max()))} at most."
        )
    tails = [tail for tail in runs["stderr_tail"] if tail]
    if tails:
        quoted = "\n".join(f"    | {line}" for line in tails[-1])
        lines.append(f"The last stderr lines were:\n{quoted}")
    storms = report.storms[report.storms["process"] == process]
    for storm in _records(storms):
        codes = ", ".join(
            [f"code {c}" for c in storm["exit_codes"]] + [str(s) for s in storm["signals"]]
        )
        lines.append(
            f"Restart storm from {_clock(storm['start'])} to {_clock(storm['end'])}: "
            f"{storm['restarts']} restarts ({codes}), ended: {storm['reason']}."
        )
    mine = report.notices[
        report.notices["process"].isin([process, process.split(":", maxsplit=1)[0]])
    ]
    noticed = mine[mine["kind"] == "noticed"]
    if noticed.empty:
        lines.append("Nobody noticed: no storm event, no alert.")
    lines.extend(
        f"Noticed by {notice['who']} at {_clock(notice['time'])}: {notice['what']}."
        for notice in _records(noticed)
    )
    lines.extend(
        f"Acted: {action['who']} at {_clock(action['time'])}: {action['what']}."
        for action in _records(mine[mine["kind"] == "acted"])
    )
    final = runs.iloc[-1] if not runs.empty else None
    if final is not None and final["outcome"] == "stopped":
        by = f" by {final['end_origin']}" if final["end_origin"] else ""
        why = f" ({final['end_cause']})" if final["end_cause"] else ""
        lines.append(f"It was stopped at {_clock(final['end'])}{by}{why}.")
    return "\n".join(lines)


def summarize(report: PostMortem) -> list[str]:
    """The story of every process that restarted, most restarts first (one string each).

    Example: ``web:web restarted 40 times (autorestart ×40) between ... Exits: code 1
    ×40. ... Noticed by superd storm detector at ... Acted: xmlrpc, unix socket pid 42
    uid 0, superctl/0.1 at ...: stopped it (RUNNING -> STOPPING, cause operator, ...).``
    """
    if report.restarts.empty:
        return ["No process restarted in this journal range."]
    order = report.restarts["process"].value_counts()
    return [_process_story(report, str(process)) for process in order.index]


# ---------------------------------------------------------------- plots


def _axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        figure = ax.get_figure()
        assert isinstance(figure, Figure)
        return figure, ax
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.add_subplot()


def plot_timeline(report: PostMortem, ax: Axes | None = None) -> Figure:
    """Every run as a bar on its process' line, coloured by how it ended; storms shaded."""
    runs = report.runs
    processes = sorted(runs["process"].unique())
    figure, ax = _axes(ax, (12, 1 + 0.6 * max(len(processes), 1)))
    latest = runs["end"].max() if not runs.empty else None
    now = _datetime(latest, datetime.now().astimezone())
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
    ax.xaxis_date()
    ax.set_yticks(range(len(processes)), processes)
    ax.set_xlabel("time (UTC)")
    ax.set_title("Runs per process (shaded: restart storm)")
    handles = [Patch(color=colour, label=name) for name, colour in OUTCOME_COLOURS.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def plot_restarts_per_minute(report: PostMortem, ax: Axes | None = None) -> Figure:
    """Restarts per minute, one line per process."""
    figure, ax = _axes(ax, (12, 3.5))
    counts = restarts_per_minute(report.restarts)
    for process in counts.columns:
        minutes = [_day(t, datetime.now().astimezone()) for t in counts.index]
        ax.step(minutes, list(counts[process]), where="post", label=str(process))
    ax.xaxis_date()
    ax.set_ylabel("restarts / minute")
    ax.set_xlabel("time (UTC)")
    ax.set_title("Restarts per minute")
    if len(counts.columns):
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def plot_run_durations(report: PostMortem, ax: Axes | None = None) -> Figure:
    """The distribution of run durations (log scale), one histogram per process."""
    figure, ax = _axes(ax, (8, 3.5))
    ended = report.runs.dropna(subset=["duration"])
    for process, group in ended.groupby("process"):
        durations = [max(float(d), 1e-3) for d in group["duration"]]
        ax.hist(durations, bins=30, alpha=0.6, label=str(process))
    ax.set_xscale("log")
    ax.set_xlabel("run duration (s, spawn to exit)")
    ax.set_ylabel("runs")
    ax.set_title("How long runs lived")
    if not ended.empty:
        ax.legend()
    return figure
