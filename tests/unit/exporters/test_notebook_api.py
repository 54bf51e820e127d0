"""exporters.notebook's public API on journals the real Journal wrote from scripted storms."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from exporters.journal import open_journal
from exporters.notebook import (
    EVENT_COLUMNS,
    common_cause,
    events_frame,
    exit_summary,
    load_events,
    plot_replay,
    read_records,
    replay_policy,
    restarts,
    restarts_frame,
    runs,
    runs_frame,
    storms,
)
from exporters.storms import StormSettings
from supervisor_core.damping import (
    BackoffPolicy,
    StartLimit,
    replay_delays,
    start_limit_reached,
)
from supervisor_core.lifecycle import Cause
from tests.unit.exporters import test_notebook as scripted
from tests.unit.exporters.test_notebook import CRASHES, OPERATOR, WALL, Script

# The scripted history of test_notebook (a crash loop with a storm and an operator's
# stop, a failed start, a program an operator starts again), shared by name.
journal_path = scripted.journal_path

BURST = StormSettings(burst=3, window=60)


def test_load_events_reads_every_event_with_typed_columns(journal_path: Path) -> None:
    """One row per journaled event (ticks aside), integers Int64, times UTC, states categorical."""
    events = load_events(journal_path)
    assert list(events.columns) == list(EVENT_COLUMNS)
    with open_journal(str(journal_path)) as journal:
        assert len(events) == journal.count()
    assert events["serial"].is_monotonic_increasing
    assert {str(events[c].dtype) for c in ("serial", "pid", "exit_status", "run")} == {"Int64"}
    assert str(events["time"].dt.tz) == "UTC"
    assert (events["time"].dt.nanosecond == 0).all()
    assert str(events["to_state"].dtype) == "category"
    assert str(events["expected"].dtype) == "boolean"
    stop = events[(events["process"] == "api") & (events["to_state"] == "STOPPING")].iloc[0]
    assert (stop["cause"], stop["origin"], stop["pid"]) == ("operator", OPERATOR, 101)
    tails = events["stderr_tail"].dropna()
    assert tails.iloc[0] == (
        "Traceback (most recent call last):",
        "ConnectionRefusedError: db:5432",
    )
    state_changes = events[events["type"].str.startswith("PROCESS_STATE_")]
    legacy = events_frame(read_records(str(journal_path)))
    assert state_changes["serial"].tolist() == legacy["serial"].tolist()


def test_load_events_filters_by_time_and_process(journal_path: Path) -> None:
    """since/until bound the time (numbers, Timestamps or ISO text); processes take names."""
    everything = load_events(journal_path)
    middle = everything["time"].iloc[len(everything) // 2]
    later = load_events(journal_path, since=middle)
    earlier = load_events(journal_path, until=middle.isoformat())
    assert len(later) + len(earlier) == len(everything)
    assert (later["time"] >= middle).all()
    assert (earlier["time"] < middle).all()
    worker = load_events(journal_path, processes=["worker"])
    assert set(worker["process"]) == {"worker"}
    assert load_events(journal_path, since=WALL + 10_000).empty
    with pytest.raises(ValueError, match="bad process name"):
        load_events(journal_path, processes=["web:"])


def test_a_missing_journal_is_an_error_not_an_empty_frame(tmp_path: Path) -> None:
    """A path that is not a journal raises."""
    import sqlite3

    with pytest.raises(sqlite3.OperationalError):
        load_events(tmp_path / "nope.sqlite3")


def test_runs_restarts_and_storms_agree_with_the_builders(journal_path: Path) -> None:
    """runs/restarts/storms of the frame are what the post-mortem's builders give."""
    events = load_events(journal_path)
    records = read_records(str(journal_path))
    pd.testing.assert_frame_equal(runs(events), runs_frame(records))
    pd.testing.assert_frame_equal(restarts(events), restarts_frame(records))
    found = storms(events, BURST)
    assert list(found[found["scope"] == "process"]["process"]) == ["api"]
    begun = events[events["type"] == "PROCESS_STORM_BEGIN"]["wall_time"].iloc[0]
    cut = begun + 0.2
    under_way = storms(load_events(journal_path, until=cut), BURST, until=cut)
    assert under_way["end"].isna().all()
    assert set(under_way["reason"]) == {"under way"}


def test_restarts_count_what_the_metric_counts(journal_path: Path) -> None:
    """restarts() per process equals the journal's count by the metric's rule."""
    counted = restarts(load_events(journal_path))["process"].value_counts().to_dict()
    with open_journal(str(journal_path)) as journal:
        by_metric = journal.restart_counts()
    assert counted == {"api": CRASHES, "worker": 1}
    assert {k.split(":")[1]: v for k, v in by_metric.items()} == counted


def test_exit_summary_counts_runs_by_how_they_ended(journal_path: Path) -> None:
    """One row per process, outcome and exit, most frequent first."""
    summary = exit_summary(load_events(journal_path))
    first = summary.iloc[0]
    assert (first["process"], first["outcome"], first["exit"], first["runs"]) == (
        "api",
        "crash",
        "code 1",
        CRASHES - 1,
    )
    assert first["median_duration"] == 0.5
    rows = {(r.process, r.outcome, r.exit): r.runs for r in summary.itertuples()}
    assert rows[("worker", "failed start", "code 2")] == 2
    assert rows[("api", "stopped", "SIGTERM")] == 1
    assert ("web", "running", "") not in rows


@pytest.fixture
def two_storms(tmp_path: Path) -> Path:
    """'db' and 'api' crash-loop together (a shared cause); 'cron' storms an hour later."""
    path = tmp_path / "two.sqlite3"
    script = Script(path)
    for index in range(6):
        for name in ("db", "api"):
            cause = Cause.AUTOSTART if index == 0 else Cause.AUTORESTART
            script.run(name, 0.5, start=cause, run=index + 1, expected=False, returncode=1)
    for name in ("db", "api"):  # both recover: RUNNING longer than the storm window
        script.run(name, 120.0, start=Cause.AUTORESTART, run=7, expected=True, returncode=0)
    script.clock.advance(3600)
    for index in range(6):
        cause = Cause.AUTOSTART if index == 0 else Cause.AUTORESTART
        script.run("cron", 0.5, start=cause, run=index + 1, expected=False, returncode=3)
    script.close()
    return path


def test_common_cause_groups_storms_that_overlap(two_storms: Path) -> None:
    """db's and api's storms overlap and form one row; cron's, alone, forms none."""
    shared = common_cause(load_events(two_storms), BURST, until=WALL + 7200)
    assert len(shared) == 1
    row = shared.iloc[0]
    assert sorted(row["processes"]) == ["api", "db"]
    assert row["overlap"] > 0
    assert row["restarts"] == 12
    assert row["start"] < row["end"]


def crash_loop(path: Path, durations: list[float], gap: float = 0.0) -> Path:
    """A journal of one program 'svc' whose runs last ``durations``, restarted ``gap`` later."""
    script = Script(path)
    for index, seconds in enumerate(durations):
        cause = Cause.AUTOSTART if index == 0 else Cause.AUTORESTART
        script.run("svc", seconds, start=cause, run=index + 1, expected=False, returncode=4)
        script.clock.advance(gap)
    script.close()
    return path


DURATIONS = [0.5, 0.2, 0.3, 0.1, 90.0, 0.4, 0.2, 0.1, 0.3, 0.2, 0.6, 0.1] * 3


@pytest.mark.parametrize(
    ("initial", "factor", "maximum", "jitter", "burst", "interval"),
    [
        (0.0, 2.0, 300.0, 0.0, 0, 10.0),  # supervisord's: no damping
        (1.0, 2.0, 30.0, 0.0, 0, 10.0),
        (0.5, 3.0, 20.0, 0.2, 0, 10.0),  # jitter drawn as the daemon draws it
        (0.0, 2.0, 300.0, 0.0, 5, 10.0),  # start limit only
        (1.0, 2.0, 8.0, 0.0, 4, 30.0),
    ],
)
def test_replay_policy_equals_a_direct_damping_computation(
    tmp_path: Path,
    initial: float,
    factor: float,
    maximum: float,
    jitter: float,
    burst: int,
    interval: float,
) -> None:
    """The replay's delays are damping.replay_delays of the recorded runs, its starts follow
    them, and it goes FATAL where damping.start_limit_reached first says so."""
    events = load_events(crash_loop(tmp_path / "j.sqlite3", DURATIONS, gap=0.05))
    replay = replay_policy(
        events,
        backoff_initial=initial,
        backoff_factor=factor,
        backoff_max=maximum,
        backoff_jitter=jitter,
        startlimit_burst=burst,
        startlimit_interval=interval,
    )
    policy = BackoffPolicy(initial=initial, factor=factor, maximum=maximum, jitter=jitter)
    replayed = replay.runs
    count = len(replayed)
    ends = list(replay.exit_wall_times)
    assert [t.timestamp() for t in replayed["end"]] == pytest.approx(ends, abs=1e-6)
    assert replay.delays == replay_delays(
        policy, DURATIONS[:count], name="svc", exit_wall_times=ends
    )
    assert replayed["duration"].tolist() == DURATIONS[:count]
    starts = [replay.window_start.timestamp()]
    starts += [ends[i] + replay.delays[i] for i in range(count - 1)]
    assert [t.timestamp() for t in replayed["start"]] == pytest.approx(starts, abs=1e-6)
    # FATAL: the first start the limit forbids, counted directly.
    limit = StartLimit(burst=burst, interval=interval)
    window_end = replay.window_end.timestamp()
    expected_fatal = None
    for index in range(count):
        following = ends[index] + replay.delays[index]
        if following >= window_end:
            break
        if start_limit_reached(limit, starts[: index + 1], following):
            expected_fatal = following
            break
    fatal = None if replay.fatal_at is None else replay.fatal_at.timestamp()
    assert fatal == (pytest.approx(expected_fatal, abs=1e-6) if expected_fatal else None)
    assert replay.restarts == count - 1
    window = window_end - replay.window_start.timestamp()
    uptime = sum(min(e, window_end) - s for s, e in zip(starts, ends, strict=True))
    assert replay.downtime == pytest.approx(window - uptime)
    assert replay.recorded_restarts == len(DURATIONS) - 1
    assert replay.recorded_downtime == pytest.approx(window - sum(DURATIONS), abs=1e-3)


def test_damping_trades_restarts_for_downtime(tmp_path: Path) -> None:
    """Backoff restarts less and stays down longer than none; a start limit goes FATAL."""
    events = load_events(crash_loop(tmp_path / "j.sqlite3", DURATIONS, gap=0.05))
    plain = replay_policy(events, "svc")
    damped = replay_policy(events, "svc", backoff_initial=1.0, backoff_max=30.0)
    limited = replay_policy(events, "svc", startlimit_burst=5, startlimit_interval=10.0)
    assert plain.restarts == plain.recorded_restarts == len(DURATIONS) - 1
    assert plain.fatal_at is None
    assert damped.restarts < plain.restarts
    assert damped.downtime > plain.downtime
    assert limited.fatal_at is not None
    # Five starts (the fifth run lives 90 s), then five quick ones: the 11th start
    # would be the 6th within 10 s.
    assert limited.restarts == 9
    assert isinstance(plot_replay([plain, damped, limited]), Figure)
    assert "<table" in damped._repr_html_()
    assert damped.summary()["restarts"] == damped.restarts


def test_replay_policy_says_what_it_cannot_replay(journal_path: Path, tmp_path: Path) -> None:
    """A process without a run that ended by itself, or no restart at all, is a ValueError."""
    events = load_events(journal_path)
    with pytest.raises(ValueError, match="'nosuch' has no run that ended by itself"):
        replay_policy(events, "nosuch")
    quiet = load_events(crash_loop(tmp_path / "q.sqlite3", [5.0]))
    with pytest.raises(ValueError, match="no process restarted"):
        replay_policy(quiet)


@pytest.mark.parametrize("since", [None, WALL + 6.0, WALL + 10_000])
def test_the_arrow_and_sqlite3_readers_give_the_same_frame(
    journal_path: Path, since: float | None
) -> None:
    """load_events reads through Arrow (ADBC); the sqlite3 fallback gives the identical frame,
    origins, NULLs, stderr tails and empty ranges included."""
    from exporters.notebook.sources import _frame, _journal_query, _sqlite_rows

    through_arrow = load_events(journal_path, since=since)
    uri, sql, values = _journal_query(str(journal_path), since, None, ())
    through_sqlite3 = _frame(_sqlite_rows(uri, sql, values))
    pd.testing.assert_frame_equal(through_arrow, through_sqlite3)
    if since is None:
        assert through_arrow["origin"].notna().any()
        assert through_arrow["signal"].notna().any()


def test_ticks_are_left_out(tmp_path: Path) -> None:
    """TICK events the journal holds are the clock, not the history: load_events skips them."""
    from supervisor_core.events import Tick5

    script = Script(tmp_path / "ticks.sqlite3")
    script.bus.publish(Tick5(when=int(WALL)))
    script.run("web", 1.0, start=Cause.AUTOSTART, run=1, expected=True, returncode=0)
    script.bus.publish(Tick5(when=int(WALL) + 5))
    script.close()
    with open_journal(str(tmp_path / "ticks.sqlite3")) as journal:
        assert journal.count() == 5
    events = load_events(tmp_path / "ticks.sqlite3")
    assert list(events["type"]) == [
        "PROCESS_STATE_STARTING",
        "PROCESS_STATE_RUNNING",
        "PROCESS_STATE_EXITED",
    ]
