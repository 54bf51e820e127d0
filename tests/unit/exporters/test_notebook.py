"""exporters.notebook: DataFrames, storms, prose and plots from a journal the real writer wrote."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
from matplotlib.figure import Figure

from exporters.journal import Journal
from exporters.notebook import (
    PostMortem,
    events_frame,
    load,
    notices_frame,
    plot_restarts_per_minute,
    plot_run_durations,
    plot_timeline,
    prometheus_alerts,
    read_records,
    restarts_frame,
    restarts_per_minute,
    runs_frame,
    storms_frame,
    summarize,
)
from exporters.storms import ProcessStormBegin, StormSettings, register_storm_types
from supervisor_core.bus import EventBus
from supervisor_core.events import (
    ProcessStateBackoff,
    ProcessStateEvent,
    ProcessStateExited,
    ProcessStateFatal,
    ProcessStateRunning,
    ProcessStateStarting,
    ProcessStateStopped,
    ProcessStateStopping,
)
from supervisor_core.lifecycle import Cause
from supervisor_core.lifecycle import ProcessState as S
from supervisor_core.testing import FakeClock

WALL = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
CRASHES = 7
TAIL = ("Traceback (most recent call last):", "ConnectionRefusedError: db:5432")
OPERATOR = "xmlrpc, unix socket pid 42 uid 0, superctl/0.1"
WEB_PAGE = "web page, 127.0.0.1"


class Script:
    """Publishes a scripted history on a bus that the real Journal records."""

    def __init__(self, path: Path) -> None:
        self.clock = FakeClock(wall=WALL)
        self.bus = EventBus(self.clock)
        register_storm_types(self.bus.registry)
        self.journal = Journal.open(str(path))
        self.journal.attach(self.bus, announce=False)

    def state(
        self,
        cls: type[ProcessStateEvent],
        name: str,
        from_state: S,
        cause: Cause,
        **fields: object,
    ) -> None:
        self.bus.publish(
            cls(processname=name, groupname=name, from_state=from_state, cause=cause, **fields)  # type: ignore[arg-type]
        )

    def run(
        self, name: str, seconds: float, *, start: Cause, run: int, **exit_fields: object
    ) -> None:
        """STARTING (for ``start``), RUNNING, then an exit ``seconds`` later."""
        from_state = S.STOPPED if start is Cause.AUTOSTART else S.EXITED
        ids = {"run": run, "episode": 1}
        self.state(ProcessStateStarting, name, from_state, start, **ids)
        self.state(ProcessStateRunning, name, S.STARTING, Cause.STARTSECS, pid=100, **ids)
        self.clock.advance(seconds)
        self.state(
            ProcessStateExited,
            name,
            S.RUNNING,
            Cause.EXIT,
            pid=100,
            run_duration=seconds,
            **ids,
            **exit_fields,
        )

    def close(self) -> None:
        self.journal.close()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    """A crash loop of 'api' with a storm event and an operator's stop, a failed start of
    'worker' retried once, a 'web' that exits and an operator starts again (no restart)."""
    path = tmp_path / "journal.sqlite3"
    script = Script(path)
    script.run("web", 5.0, start=Cause.AUTOSTART, run=1, expected=True, returncode=0)
    for index in range(CRASHES):
        script.run(
            "api",
            0.5,
            start=Cause.AUTOSTART if index == 0 else Cause.AUTORESTART,
            run=index + 1,
            expected=False,
            returncode=1 if index < CRASHES - 1 else -9,
            stderr_tail=TAIL,
        )
        if index == 3:
            script.bus.publish(
                ProcessStormBegin(
                    processname="api", groupname="api", scope="process", start=WALL, restarts=4
                )
            )
        script.clock.advance(0.1)
    # After the SIGKILL, restart damping starts api once more a second later; an
    # operator stops it.
    script.clock.advance(1.0)
    last = {"run": CRASHES + 1, "episode": 1}
    script.state(ProcessStateStarting, "api", S.EXITED, Cause.DAMPED, **last)
    script.state(ProcessStateRunning, "api", S.STARTING, Cause.STARTSECS, pid=101, **last)
    script.clock.advance(2.0)
    stop = {"origin": OPERATOR, **last}
    script.state(ProcessStateStopping, "api", S.RUNNING, Cause.OPERATOR, pid=101, **stop)
    script.state(
        ProcessStateStopped,
        "api",
        S.STOPPING,
        Cause.OPERATOR,
        pid=101,
        returncode=-15,
        run_duration=2.0,
        expected=False,
        stderr_tail=(),
        **stop,
    )
    # worker: an operator's start fails, one retry out of BACKOFF, FATAL.
    first = {"run": 1, "episode": 1, "origin": OPERATOR}
    script.state(ProcessStateStarting, "worker", S.STOPPED, Cause.OPERATOR, **first)
    script.clock.advance(0.2)
    failed = {"returncode": 2, "run_duration": 0.2, "expected": False}
    script.state(ProcessStateBackoff, "worker", S.STARTING, Cause.EXIT, run=1, **failed)
    script.state(ProcessStateStarting, "worker", S.BACKOFF, Cause.RETRY, run=2, episode=1)
    script.clock.advance(0.2)
    script.state(ProcessStateBackoff, "worker", S.STARTING, Cause.EXIT, run=2, **failed)
    script.state(ProcessStateFatal, "worker", S.BACKOFF, Cause.STARTRETRIES, run=2)
    # web exited cleanly long ago; an operator starts it from the web page (EXITED ->
    # STARTING, not a restart), and it is still running at the end of the journal.
    again = {"run": 2, "episode": 2, "origin": WEB_PAGE}
    script.state(ProcessStateStarting, "web", S.EXITED, Cause.OPERATOR, **again)
    script.state(ProcessStateRunning, "web", S.STARTING, Cause.STARTSECS, pid=300, run=2)
    script.close()
    return path


def test_runs_frame_has_one_row_per_run_with_exit_and_duration(journal_path: Path) -> None:
    """Every spawn-to-exit is one run with its outcome, exit text, duration and stderr tail."""
    runs = runs_frame(read_records(str(journal_path)))
    api = runs[runs["process"] == "api"]
    assert list(api["outcome"]) == ["crash"] * CRASHES + ["stopped"]
    assert list(api["exit"]) == ["code 1"] * (CRASHES - 1) + ["SIGKILL", "SIGTERM"]
    assert list(api["duration"]) == [0.5] * CRASHES + [2.0]
    assert (api["end"] - api["start"]).dt.total_seconds().round(6).tolist() == [0.5] * CRASHES + [
        2.0
    ]
    assert api["stderr_tail"].iloc[0] == list(TAIL)
    assert api["stderr_tail"].iloc[-1] == []  # the stopped run wrote nothing
    assert list(api["run"]) == list(range(1, CRASHES + 2))
    assert list(api["cause"]) == ["autostart"] + ["autorestart"] * (CRASHES - 1) + ["damped"]
    assert list(api["end_cause"]) == ["exit"] * CRASHES + ["operator"]
    assert api["end_origin"].iloc[-1] == OPERATOR
    assert set(api["pid"][:CRASHES]) == {100}
    worker = runs[runs["process"] == "worker"]
    assert list(worker["outcome"]) == ["failed start", "failed start"]
    assert list(worker["pid"].isna()) == [True, True]
    web = runs[runs["process"] == "web"]
    assert list(web["outcome"]) == ["exit", "running"]
    assert list(web["cause"]) == ["autostart", "operator"]
    assert web["origin"].iloc[-1] == WEB_PAGE
    assert pd.isna(web["end"].iloc[-1])
    assert web["start"].iloc[0] == pd.Timestamp(WALL, unit="s", tz="UTC")


def test_restarts_are_starts_with_an_automatic_cause(journal_path: Path) -> None:
    """A restart is a STARTING caused by autorestart, damped or retry; web's operator start
    from EXITED is not one."""
    records = read_records(str(journal_path))
    restarts = restarts_frame(records)
    assert restarts["process"].value_counts().to_dict() == {"api": CRASHES, "worker": 1}
    api = restarts[restarts["process"] == "api"]
    assert api["cause"].value_counts().to_dict() == {"autorestart": CRASHES - 1, "damped": 1}
    assert list(api["run"]) == list(range(2, CRASHES + 2))
    assert list(restarts[restarts["process"] == "worker"]["cause"]) == ["retry"]
    per_minute = restarts_per_minute(restarts)
    assert int(per_minute.to_numpy().sum()) == CRASHES + 1
    assert restarts_per_minute(restarts.iloc[0:0]).empty


def test_storms_frame_replays_the_detector_and_notices_show_the_storm_event(
    journal_path: Path,
) -> None:
    """The detector finds api's storm; the journaled STORM event says superd noticed it."""
    records = read_records(str(journal_path))
    storms = storms_frame(records, StormSettings(burst=3, window=60))
    process_storms = storms[storms["scope"] == "process"]
    assert list(process_storms["process"]) == ["api"]
    storm = process_storms.iloc[0]
    assert storm["restarts"] == CRASHES
    assert storm["exit_codes"] == [1]
    assert storm["signals"] == ["SIGKILL"]
    assert storm["reason"] == "stopped"
    notices = notices_frame(records)
    noticed = notices[notices["kind"] == "noticed"]
    assert list(noticed["who"]) == ["superd storm detector"]
    assert list(noticed["process"]) == ["api"]
    assert "PROCESS_STORM_BEGIN" in noticed["what"].iloc[0]


def test_notices_list_who_acted_from_the_events_origin(journal_path: Path) -> None:
    """Every requested start and stop is an 'acted' notice naming its origin, once per request."""
    notices = notices_frame(read_records(str(journal_path)))
    acted = notices[notices["kind"] == "acted"]
    assert list(zip(acted["process"], acted["who"], strict=True)) == [
        ("api", OPERATOR),
        ("worker", OPERATOR),
        ("web", WEB_PAGE),
    ]
    assert acted["what"].iloc[0].startswith("stopped it (RUNNING -> STOPPING, cause operator")
    assert acted["what"].iloc[2].startswith("started it (EXITED -> STARTING, cause operator")


def test_frames_carry_cause_origin_run_and_episode(journal_path: Path) -> None:
    """events_frame has the cause, origin, run and episode of every state change."""
    events = events_frame(read_records(str(journal_path)))
    stop = events[(events["process"] == "api") & (events["to_state"] == "STOPPING")].iloc[0]
    assert (stop["cause"], stop["origin"], stop["run"], stop["episode"]) == (
        "operator",
        OPERATOR,
        CRASHES + 1,
        1,
    )
    assert events["cause"].notna().all()
    running = events[events["to_state"] == "RUNNING"]
    assert set(running["cause"]) == {"startsecs"}
    assert running["origin"].isna().all()


def test_summary_tells_who_restarted_how_often_why_and_who_noticed(journal_path: Path) -> None:
    """The narrative names the count, the window, the exits, the stderr tail and the notice."""
    report = load(str(journal_path), storm_settings=StormSettings(burst=3, window=60))
    stories = summarize(report)
    assert stories[0].startswith(
        f"api restarted {CRASHES} times (autorestart \u00d7{CRASHES - 1}, damped \u00d71)"
        " between 2023-11-14 22:13:"
    )
    api = stories[0]
    assert f"Exits: code 1 \u00d7{CRASHES - 1}, SIGKILL \u00d71." in api
    assert "    | ConnectionRefusedError: db:5432" in api
    assert "Restart storm from 2023-11-14 22:13:" in api
    assert f"{CRASHES} restarts (code 1, SIGKILL), ended: stopped." in api
    assert "Noticed by superd storm detector at 2023-11-14 22:13:" in api
    assert f"Acted: {OPERATOR} at 2023-11-14 22:13:" in api
    assert f"It was stopped at 2023-11-14 22:13:32 UTC by {OPERATOR} (operator)." in api
    worker = next(s for s in stories if s.startswith("worker"))
    assert "restarted 1 time (retry \u00d71) between" in worker
    assert "Exits: code 2 \u00d72." in worker
    assert "Nobody noticed" in worker
    assert f"Acted: {OPERATOR} at" in worker
    assert not any(s.startswith("web") for s in stories)  # never restarted


def test_time_and_process_filters_select_records(journal_path: Path) -> None:
    """since/until bound wall time; process takes superctl names."""
    records = read_records(str(journal_path), process=["worker"])
    assert {r.processname for r in records} == {"worker"}
    everything = read_records(str(journal_path))
    middle = everything[len(everything) // 2].wall_time
    later = read_records(str(journal_path), since=middle)
    assert later
    assert all(r.wall_time >= middle for r in later)
    assert all(r.wall_time < middle for r in read_records(str(journal_path), until=middle))
    assert len(events_frame(everything)) == sum(
        1 for r in everything if r.type.startswith("PROCESS_STATE_")
    )


def test_an_empty_range_gives_empty_frames_and_says_so(journal_path: Path) -> None:
    """A range with no events yields empty frames, a plain sentence and plots that still draw."""
    report = load(str(journal_path), since=WALL + 10_000)
    assert report.runs.empty
    assert report.storms.empty
    assert summarize(report) == ["No process restarted in this journal range."]
    for plot in (plot_timeline, plot_restarts_per_minute, plot_run_durations):
        assert isinstance(plot(report), Figure)


def test_plots_draw_runs_restarts_and_durations(journal_path: Path) -> None:
    """Each plot draws one bar per run, a line per restarting process, a histogram per process."""
    report = load(str(journal_path), storm_settings=StormSettings(burst=3, window=60))
    timeline = plot_timeline(report)
    (axes,) = timeline.axes
    assert len(axes.patches) == len(report.runs)  # one bar per run
    assert [t.get_text() for t in axes.get_yticklabels()] == ["api", "web", "worker"]
    assert len(axes.collections) == 1  # api's storm shading
    (restarts,) = plot_restarts_per_minute(report).axes
    assert len(restarts.lines) == 2  # api and worker: web never restarted
    (durations,) = plot_run_durations(report).axes
    assert durations.get_xscale() == "log"
    assert durations.patches


def test_a_missing_journal_is_an_error(tmp_path: Path) -> None:
    """A path that is not a journal raises instead of producing an empty report."""
    import sqlite3

    with pytest.raises(sqlite3.OperationalError):
        load(str(tmp_path / "nope.sqlite3"))


class _FakePrometheus(BaseHTTPRequestHandler):
    """Answers /api/v1/query_range with two samples of one firing ALERTS series."""

    answer: ClassVar[dict[str, object]] = {}
    queries: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).queries.append(self.path)
        body = json.dumps(type(self).answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_prometheus() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_prometheus_alerts_become_notices(journal_path: Path, fake_prometheus: str) -> None:
    """ALERTS series from query_range become first/last firing rows and 'Prometheus' notices."""
    _FakePrometheus.answer = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {
                        "__name__": "ALERTS",
                        "alertname": "ProcessRestartStorm",
                        "alertstate": "firing",
                        "group": "api",
                        "name": "api",
                        "instance": "h:1",
                        "severity": "critical",
                    },
                    "values": [[WALL + 2, "1"], [WALL + 3, "1"]],
                }
            ],
        },
    }
    alerts = prometheus_alerts(fake_prometheus, start=WALL, end=WALL + 60, step=1)
    assert "ALERTS%7Balertstate%3D%22firing%22%7D" in _FakePrometheus.queries[-1]
    assert alerts.to_dict("records") == [
        {
            "alertname": "ProcessRestartStorm",
            "process": "api",
            "instance": "h:1",
            "severity": "critical",
            "first_firing": pd.Timestamp(WALL + 2, unit="s", tz="UTC"),
            "last_firing": pd.Timestamp(WALL + 3, unit="s", tz="UTC"),
            "still_firing": False,
        }
    ]
    report = load(str(journal_path), prometheus_url=fake_prometheus)
    assert "Prometheus" in set(report.notices["who"])
    story = next(s for s in summarize(report) if s.startswith("api"))
    assert "Noticed by Prometheus at 2023-11-14 22:13:22 UTC: alert ProcessRestartStorm" in story
    _FakePrometheus.answer = {"status": "error", "error": "bad query"}
    with pytest.raises(ValueError, match="bad query"):
        prometheus_alerts(fake_prometheus, start=WALL, end=WALL + 1)


def test_postmortem_is_a_frozen_bundle_of_frames(journal_path: Path) -> None:
    """load() returns every frame at once; the bundle cannot be rebound."""
    report = load(str(journal_path))
    assert isinstance(report, PostMortem)
    with pytest.raises(AttributeError):
        report.runs = pd.DataFrame()  # type: ignore[misc]


def test_an_alert_firing_at_the_end_of_the_range_is_still_firing(
    journal_path: Path, fake_prometheus: str
) -> None:
    """An alert whose last sample is the range's last step is 'still firing', not 'until'."""
    _FakePrometheus.answer = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"alertname": "ProcessRestartStorm", "group": "api", "name": "api"},
                    "values": [[WALL + 2, "1"], [WALL + 60, "1"]],
                }
            ],
        },
    }
    alerts = prometheus_alerts(fake_prometheus, start=WALL, end=WALL + 60, step=1)
    assert list(alerts["still_firing"]) == [True]
    notices = notices_frame(read_records(str(journal_path)), alerts)
    (what,) = notices[notices["who"] == "Prometheus"]["what"]
    assert what == (
        "alert ProcessRestartStorm still firing at 2023-11-14 22:14:20 UTC"
        " (the end of the range read)"
    )


def test_a_run_still_going_and_a_storm_under_way_are_drawn(journal_path: Path) -> None:
    """Runs without an end and a storm without an end reach the end of the history."""
    records = read_records(str(journal_path))
    # Cut the history in api's crash loop: its storm is under way, its last run going.
    cut = next(r for r in records if r.type == "PROCESS_STORM_BEGIN").wall_time + 0.2
    report = load(str(journal_path), until=cut, storm_settings=StormSettings(burst=3, window=60))
    assert pd.isna(report.runs["end"]).any()
    assert pd.isna(report.storms["end"]).all()
    (axes,) = plot_timeline(report).axes
    widths = [patch.get_width() for patch in axes.patches]
    assert len(widths) == len(report.runs)
    assert all(width > 0 for width in widths)  # NaN before: never drawn
    (shade,) = axes.collections
    assert shade.get_paths()[0].get_extents().width > 0


def test_integers_are_integers_and_times_are_utc_to_the_microsecond(journal_path: Path) -> None:
    """PIDs, exit codes, serials and runs are nullable Int64; times are UTC without
    nanosecond noise; states are categorical."""
    records = read_records(str(journal_path))
    events = events_frame(records)
    runs = runs_frame(records)
    for frame in (events, runs):
        for column in ("serial", "pid", "exit_status", "run", "episode"):
            assert str(frame[column].dtype) == "Int64", column
        assert str(frame["signal" if frame is runs else "pid"].dtype) == "Int64"
    assert "346.0" not in events.assign(pid=346).to_string()
    assert str(events["to_state"].dtype) == "category"
    times = pd.concat([events["time"], runs["start"], runs["end"].dropna()])
    assert str(times.dt.tz) == "UTC"
    assert (times.dt.nanosecond == 0).all()
    assert str(runs["exit_status"].iloc[0]) == "0"


def test_restarts_per_minute_keeps_its_rate_in_a_partial_last_minute() -> None:
    """A loop restarting every 2 s reads 30 per minute in its last, half-covered minute too."""
    start = pd.Timestamp("2024-05-02 03:12:00", tz="UTC")
    times = [start + pd.Timedelta(seconds=2 * i) for i in range(45)]  # 90 s of restarts
    restarts = pd.DataFrame({"time": times, "process": "api", "serial": range(45)})
    end = start + pd.Timedelta(seconds=90)
    per_minute = restarts_per_minute(restarts, end)
    assert per_minute["api"].tolist() == [30.0, 30.0]
    assert restarts_per_minute(restarts)["api"].tolist() == [30.0, 15.0]  # counts without an end


def test_the_run_duration_axis_reads_plain_numbers(journal_path: Path) -> None:
    """The log axis labels read 0.2, 0.5, 1, 2: no 3x10^0."""
    report = load(str(journal_path))
    figure = plot_run_durations(report)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure).draw()
    (axes,) = figure.axes
    labels = [t.get_text() for t in axes.get_xticklabels() + axes.get_xticklabels(minor=True)]
    shown = [label for label in labels if label]
    assert shown
    assert all(label.replace(".", "").isdigit() for label in shown), shown
    assert "0.5" in shown


def test_the_notebook_extra_holds_what_running_a_notebook_needs() -> None:
    """`pip install .[notebook]` brings papermill and nbconvert, and both import."""
    import importlib
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    extra = " ".join(pyproject["project"]["optional-dependencies"]["notebook"])
    for package in ("papermill", "nbconvert", "nbclient", "ipykernel", "pandas", "matplotlib"):
        assert package in extra
        importlib.import_module(package)


def test_the_timeline_axis_reads_plain_times(journal_path: Path) -> None:
    """Over a few seconds, the timeline's time labels are short clock readings (``07.5``),
    not ``32:07.000000``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    first = read_records(str(journal_path))[0].wall_time
    figure = plot_timeline(load(str(journal_path), until=first + 3))
    FigureCanvasAgg(figure).draw()
    (axes,) = figure.axes
    labels = [t.get_text() for t in axes.get_xticklabels() if t.get_text()]
    assert labels
    assert not any(label.endswith("000") for label in labels), labels
