"""Journal records -> the post-mortem's DataFrames (pure builders, plus ``load``).

Every count comes from the events' ``cause`` and nothing else: a restart is a
STARTING whose cause is automatic (``JournalRecord.is_restart``); a requested change
is an *action*, and its ``origin`` says who asked.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from exporters.journal import JournalRecord, open_journal
from exporters.notebook._common import _clock, _process, _records, _time, typed
from exporters.notebook.prometheus import prometheus_alerts
from exporters.storms import Storm, StormSettings, detect_storms, observation_from_record
from supervisor_core.lifecycle import Cause
from supervisor_core.names import make_namespec

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
    return typed(
        pd.DataFrame(rows, columns=_EVENT_COLUMNS), categories=("type", "from_state", "to_state")
    )


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
    group: str
    name: str
    pid: int
    serial: int
    run: int | None
    episode: int | None
    cause: str | None
    origin: str | None


def _start(record: JournalRecord) -> _Start:
    return _Start(
        wall=record.wall_time,
        group=record.groupname or "",
        name=record.processname or "",
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
                group=record.groupname or "",
                name=record.processname or "",
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
        rows.append(
            {
                "process": key,
                "group": begun.group,
                "name": begun.name,
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
    return typed(pd.DataFrame(rows, columns=_RUN_COLUMNS))


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
    columns = ["time", "process", "serial", "cause", "run", "episode"]
    return typed(pd.DataFrame(rows, columns=columns))


def _storm_rows(storms: Iterable[Storm]) -> list[dict[str, object]]:
    return [
        {
            "scope": storm.scope.value,
            "process": make_namespec(storm.group, storm.name) if storm.name else storm.group,
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
                "what": f"alert {alert['alertname']} {_firing(alert)}",
                "process": alert["process"],
                "kind": "noticed",
            }
            for alert in _records(alerts)
        )
    frame = pd.DataFrame(rows, columns=["time", "who", "what", "process", "kind"])
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def _firing(alert: dict[str, object]) -> str:
    """``firing until T``, or ``still firing at T`` when it fired to the end of the range."""
    if alert.get("still_firing"):
        return f"still firing at {_clock(alert['last_firing'])} (the end of the range read)"
    return f"firing until {_clock(alert['last_firing'])}"


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


# Below this many seconds of a minute, a rate says more about chance than the loop.
_SHORTEST_PARTIAL_MINUTE = 15.0


def restarts_per_minute(restarts: pd.DataFrame, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Restarts per minute (rows: the minute's start) and process (columns), zero-filled.

    Every full minute holds its count. When ``end`` (the end of the history read)
    falls inside the last minute, that minute is a rate: its count scaled to a whole
    minute from the part of it the history covers (at least 15 s), so a loop that
    runs on does not seem to slow down at the end of the range.
    """
    if restarts.empty:
        return pd.DataFrame()
    counts = restarts.assign(minute=restarts["time"].dt.floor("min")).pivot_table(
        index="minute", columns="process", values="serial", aggfunc="count", fill_value=0
    )
    full = pd.date_range(counts.index.min(), counts.index.max(), freq="min")
    rates = counts.reindex(full, fill_value=0).astype(float)
    if end is not None and not pd.isna(end):
        covered = (end - rates.index[-1]).total_seconds()
        if covered < 60:
            rates.iloc[-1] *= 60 / max(covered, _SHORTEST_PARTIAL_MINUTE)
    return rates


@dataclass(frozen=True, slots=True, kw_only=True)
class PostMortem:
    """Everything a post-mortem looks at, as DataFrames (see each builder)."""

    events: pd.DataFrame
    runs: pd.DataFrame
    restarts: pd.DataFrame
    storms: pd.DataFrame
    notices: pd.DataFrame
    end: pd.Timestamp | None = None
    """Where the history read ends: ``until`` when given, else its last event."""


def history_end(report: PostMortem) -> pd.Timestamp | None:
    """Where the report's history ends (``report.end``, else its last state change;
    None for none): where runs still going and storms still under way are drawn to."""
    if report.end is not None:
        return report.end
    times = [report.events["time"].max(), report.runs["start"].max(), report.runs["end"].max()]
    known = [t for t in times if isinstance(t, pd.Timestamp) and not pd.isna(t)]
    return max(known) if known else None


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
        end=_time(until)
        if until is not None
        else (_time(records[-1].wall_time) if records else None),
    )
