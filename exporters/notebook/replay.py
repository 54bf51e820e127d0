"""``replay_policy``: what another damping/start-limit policy would have done to a storm.

Rules of this file:
- Every decision is ``supervisor_core.damping``'s (``streak_after``,
  ``backoff_delay``, ``jitter_rng``, ``start_limit_reached``, ``recent_starts``), called
  the way the state machine calls it, so a replay cannot drift from the daemon.
- The program is assumed to behave as recorded: its k-th replayed run lasts as long as
  its k-th recorded run, whenever it starts. Every run is replayed as an exit from
  RUNNING (superd's damping; supervisord's 1 s, 2 s ... between failed starts is not
  the question a replay asks).
- The replay covers the recorded window (the first run's start to the last recorded
  run's end), so "restarts" and "downtime" compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from exporters.alerts.rules import AlertConfig
from exporters.notebook._common import _time
from exporters.notebook.analysis import restarts, runs
from exporters.notebook.replay_alerts import History, alerts_fired
from exporters.storms import StormSettings
from supervisor_core.damping import (
    BackoffPolicy,
    StartLimit,
    backoff_delay,
    jitter_rng,
    recent_starts,
    start_limit_reached,
    streak_after,
)

# The runs a replay re-lives: those that ended by themselves (a stop is somebody's
# decision, not the program's behaviour).
_OWN_ENDS = ("crash", "failed start", "exit")


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay:
    """One policy replayed over one process' recorded runs.

    ``runs`` has one row per replayed run (``start``, ``end``, ``duration``, ``delay``:
    the wait the policy chose after it); ``delays`` are those waits in order, and
    ``exit_wall_times`` the replayed exits (unix seconds, unrounded: the jitter's seed);
    ``fatal_at`` is when the start limit would have put it in FATAL (None: never, in
    the window). ``downtime`` is the seconds of the window the program was not
    running; ``recorded_*`` are the same figures for what happened. ``alerts`` says
    which shipped alerts (``exporters.alerts.rules``) the replay would have fired and
    when (``replay_alerts.alerts_fired``); ``recorded_alerts`` the same for the
    recorded runs.
    """

    process: str
    policy: BackoffPolicy
    limit: StartLimit
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    runs: pd.DataFrame
    delays: tuple[float, ...]
    exit_wall_times: tuple[float, ...]
    restarts: int
    downtime: float
    fatal_at: pd.Timestamp | None
    recorded_runs: pd.DataFrame
    recorded_restarts: int
    recorded_downtime: float
    alerts: pd.DataFrame
    recorded_alerts: pd.DataFrame

    @property
    def alerts_firing(self) -> tuple[str, ...]:
        """The names of the shipped alerts this policy would have fired."""
        return tuple(str(name) for name in self.alerts[self.alerts["fires"]]["alertname"])

    @property
    def recorded_alerts_firing(self) -> tuple[str, ...]:
        """The names of the shipped alerts the recorded history fires (same evaluation)."""
        fired = self.recorded_alerts[self.recorded_alerts["fires"]]
        return tuple(str(name) for name in fired["alertname"])

    def summary(self) -> dict[str, object]:
        """One row for a table comparing policies."""
        return {
            "process": self.process,
            "backoff_initial": self.policy.initial,
            "backoff_factor": self.policy.factor,
            "backoff_max": self.policy.maximum,
            "startlimit_burst": self.limit.burst,
            "startlimit_interval": self.limit.interval,
            "restarts": self.restarts,
            "downtime": round(self.downtime, 3) + 0.0,  # no "-0.0"
            "fatal_at": self.fatal_at,
            "alerts": ", ".join(self.alerts_firing) or "none",
            "recorded_restarts": self.recorded_restarts,
            "recorded_downtime": round(self.recorded_downtime, 3) + 0.0,
            "recorded_alerts": ", ".join(self.recorded_alerts_firing) or "none",
        }

    def _repr_html_(self) -> str:
        return str(pd.DataFrame([self.summary()]).to_html(index=False))


def replay_policy(
    events: pd.DataFrame,
    process: str | None = None,
    *,
    backoff_initial: float = 0.0,
    backoff_factor: float = 2.0,
    backoff_max: float = 300.0,
    backoff_jitter: float = 0.0,
    backoff_reset: float = 60.0,
    startlimit_burst: int = 0,
    startlimit_interval: float = 10.0,
    alert_config: AlertConfig | None = None,
    storm_settings: StormSettings | None = None,
) -> Replay:
    """Replay ``process``' recorded runs under another ``backoff_*``/``startlimit_*`` policy.

    Args:
        events: a ``load_events`` frame.
        process: its name as supervisorctl prints it; default: the process with the
            most automatic restarts.
        backoff_*, startlimit_*: the ``[program:x]`` options of the candidate policy
            (docs/storms.md); the defaults are supervisord's behaviour (no damping).
        alert_config: the alert thresholds the ``alerts`` are evaluated with
            (default: the shipped rule files'); storm_settings: the host's
            ``[exporter:storms]`` (for ``ProcessRestartStorm``).

    Raises:
        ValueError: no process restarted, or ``process`` has no run that ended by itself.

    Example::

        replay = replay_policy(events, backoff_initial=1, backoff_max=30)
        replay.restarts, replay.downtime, replay.fatal_at
    """
    policy = BackoffPolicy(
        initial=backoff_initial,
        factor=backoff_factor,
        maximum=backoff_max,
        jitter=backoff_jitter,
        reset=backoff_reset,
    )
    limit = StartLimit(burst=startlimit_burst, interval=startlimit_interval)
    restarted = restarts(events)
    if process is None:
        if restarted.empty:
            raise ValueError("replay_policy: no process restarted in these events")
        process = str(restarted["process"].value_counts().index[0])
    all_runs = runs(events)
    recorded = all_runs[
        (all_runs["process"] == process) & all_runs["outcome"].isin(_OWN_ENDS)
    ].reset_index(drop=True)
    if recorded.empty:
        raise ValueError(f"replay_policy: process {process!r} has no run that ended by itself")
    name = str(recorded["name"].iloc[0])
    durations = [float(d) for d in recorded["duration"]]
    first = float(recorded["start"].iloc[0].timestamp())
    last = float(recorded["end"].iloc[-1].timestamp())
    rows, delays, fatal = _simulate(
        policy, limit, name=name, durations=durations, first=first, last=last
    )
    uptime = sum(min(row["end"], last) - row["start"] for row in rows)
    mine = restarted[restarted["process"] == process]
    in_window = mine[(mine["time"] > _time(first)) & (mine["time"] <= _time(last))]
    group = str(recorded["group"].iloc[0])
    replayed = History(
        group=group,
        name=name,
        runs=[(row["start"], row["end"]) for row in rows],
        fatal_at=fatal,
        end=last,
    )
    history = History(
        group=group,
        name=name,
        runs=[
            (start.timestamp(), end.timestamp())
            for start, end in zip(recorded["start"], recorded["end"], strict=True)
        ],
        fatal_at=_recorded_fatal(events, process, first, last),
        end=last,
    )
    return Replay(
        process=process,
        policy=policy,
        limit=limit,
        window_start=_time(first),
        window_end=_time(last),
        runs=pd.DataFrame(
            [
                {
                    "start": _time(row["start"]),
                    "end": _time(row["end"]),
                    "duration": row["duration"],
                    "delay": row["delay"],
                }
                for row in rows
            ],
            columns=["start", "end", "duration", "delay"],
        ),
        delays=tuple(delays),
        exit_wall_times=tuple(row["end"] for row in rows),
        restarts=len(rows) - 1,
        downtime=(last - first) - uptime,
        fatal_at=None if fatal is None else _time(fatal),
        recorded_runs=recorded,
        recorded_restarts=len(in_window),
        recorded_downtime=(last - first) - sum(durations),
        alerts=alerts_fired(replayed, alert_config, storm_settings),
        recorded_alerts=alerts_fired(history, alert_config, storm_settings),
    )


def _recorded_fatal(events: pd.DataFrame, process: str, first: float, last: float) -> float | None:
    """When ``process`` went FATAL in the recorded window (None: it did not)."""
    fatal = events[
        (events["process"] == process)
        & (events["to_state"] == "FATAL")
        & (events["wall_time"] >= first)
        & (events["wall_time"] <= last + 1e-6)
    ]
    return None if fatal.empty else float(fatal["wall_time"].iloc[0])


def _simulate(
    policy: BackoffPolicy,
    limit: StartLimit,
    *,
    name: str,
    durations: list[float],
    first: float,
    last: float,
) -> tuple[list[dict[str, float]], list[float], float | None]:
    """The runs, delays and FATAL time of one replay (wall seconds throughout)."""
    rows: list[dict[str, float]] = []
    delays: list[float] = []
    streak = 0
    start = first
    start_times = recent_starts(limit, (), start)
    for duration in durations:
        end = start + duration
        streak = streak_after(policy, streak, duration)
        # The daemon seeds the jitter with the process name, its streak and the wall
        # time of the exit (damping.jitter_rng): the same history, the same delay.
        delay = backoff_delay(policy, streak, jitter_rng(name, streak, end))
        delays.append(delay)
        rows.append({"start": start, "end": end, "duration": duration, "delay": delay})
        following = end + delay
        if following >= last:
            return rows, delays, None
        if start_limit_reached(limit, start_times, following):
            return rows, delays, following
        start_times = recent_starts(limit, start_times, following)
        start = following
    return rows, delays, None


def plot_replay(replays: list[Replay], ax: Axes | None = None) -> Figure:
    """The recorded runs and each replay's runs on one timeline, FATAL marked."""
    if ax is None:
        figure = Figure(figsize=(12, 1 + 0.6 * (len(replays) + 1)), layout="constrained")
        ax = figure.add_subplot()
    else:
        parent = ax.get_figure()
        assert isinstance(parent, Figure)
        figure = parent
    if not replays:
        return figure
    origin = replays[0].window_start
    lines = [("recorded", replays[0].recorded_runs)] + [
        (_label(replay), replay.runs) for replay in replays
    ]
    for row, (_label_text, frame) in enumerate(lines):
        starts = [(t - origin).total_seconds() for t in frame["start"]]
        widths = [float(d) for d in frame["duration"]]
        ax.barh(
            [row] * len(starts),
            widths,
            left=starts,
            height=0.6,
            color="tab:red",
            edgecolor="white",
            linewidth=0.5,
        )
    for row, replay in enumerate(replays, start=1):
        if replay.fatal_at is not None:
            ax.plot(
                [(replay.fatal_at - origin).total_seconds()],
                [row],
                marker="X",
                color="black",
                markersize=10,
            )
    ax.set_yticks(range(len(lines)), [label for label, _ in lines])
    ax.set_xlabel(f"seconds since {origin.strftime('%Y-%m-%d %H:%M:%S UTC')}")
    ax.set_title(f"{replays[0].process}: recorded runs and replayed policies (X: FATAL)")
    return figure


def _label(replay: Replay) -> str:
    policy, limit = replay.policy, replay.limit
    parts = []
    if policy.enabled:
        parts.append(f"backoff {policy.initial:g}s x{policy.factor:g} max {policy.maximum:g}s")
    if limit.enabled:
        parts.append(f"limit {limit.burst}/{limit.interval:g}s")
    return ", ".join(parts) or "no damping"
