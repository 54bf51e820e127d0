"""``superctl top``'s model: events, /metrics readings and getAllProcessInfo in, rows out."""

from __future__ import annotations

import pytest

from supervisor_core.ctl.top import render
from supervisor_core.ctl.topmodel import Sample, TopModel, parse_metrics
from supervisor_core.lifecycle import Cause

METRICS = """\
# HELP supervisor_process_cpu_seconds_total CPU time
# TYPE supervisor_process_cpu_seconds_total counter
supervisor_process_cpu_seconds_total{group="web",mode="user",name="web"} 1.5
supervisor_process_cpu_seconds_total{group="web",mode="system",name="web"} 0.5
supervisor_process_resident_memory_bytes{group="web",name="web"} 1.048576e+07
supervisor_process_open_fds{group="web",name="web"} 7.0
supervisor_process_restarts_total{group="web",name="web"} 4.0
supervisor_process_restart_storm{group="web",name="web"} 1.0
supervisor_process_last_exit_code{group="web",name="web"} -9.0
supervisor_process_up{group="web",name="web"} 1.0
supervisor_events_total{type="TICK_5"} 3.0
supervisor_process_open_fds{group="o\\"dd",name="x"} 2.0
"""


def infos() -> list[dict[str, object]]:
    return [
        {"group": "web", "name": "web", "statename": "RUNNING", "pid": 42, "start": 100,
         "stop": 0, "exitstatus": 0},
        {"group": "g", "name": "a", "statename": "EXITED", "pid": 0, "start": 50,
         "stop": 60, "exitstatus": 3},
    ]  # fmt: skip


def state(kind: str, cause: Cause, *, name: str = "web", **extra: object) -> dict[str, object]:
    return {
        "type": f"PROCESS_STATE_{kind}",
        "groupname": name,
        "processname": name,
        "wall_time": 200.0,
        "cause": str(cause),
        **extra,
    }


def test_parse_metrics_reads_the_per_process_figures() -> None:
    """The figures top shows are read by (group, name); CPU modes are summed."""
    sample = parse_metrics(METRICS)
    key = ("web", "web")
    assert sample.cpu_seconds[key] == 2.0
    assert sample.rss[key] == 10_485_760
    assert (sample.fds[key], sample.restarts[key], sample.storm[key]) == (7, 4, 1)
    assert sample.last_exit_code[key] == -9
    assert sample.fds[('o"dd', "x")] == 2


def test_rows_start_from_process_info() -> None:
    """States, pids, start times and a stopped process's exit status come from the RPC."""
    model = TopModel()
    model.load_infos(infos())
    web, a = model.rows[("web", "web")], model.rows[("g", "a")]
    assert (web.state, web.pid, web.start, web.last_exit) == ("RUNNING", 42, 100.0, None)
    assert (a.namespec, a.state, a.last_exit, a.uptime(500)) == ("g:a", "EXITED", "exit 3", None)
    assert web.uptime(160.0) == 60.0


@pytest.mark.parametrize(
    ("cause", "counted"),
    [
        (Cause.AUTORESTART, True),
        (Cause.DAMPED, True),
        (Cause.RETRY, True),
        (Cause.OPERATOR, False),
        (Cause.AUTOSTART, False),
        (Cause.LISTENER, False),
        (Cause.RELOAD, False),
    ],
)
def test_a_restart_is_a_starting_with_an_automatic_cause(cause: Cause, counted: bool) -> None:
    """Only automatic causes count as restarts, as supervisor_process_restarts_total does."""
    model = TopModel()
    model.load_infos(infos())
    assert model.apply_event(state("STARTING", cause, pid=None))
    row = model.rows[("web", "web")]
    assert row.restarts == (1 if counted else 0)
    assert (row.state, row.start) == ("STARTING", 200.0)


def test_exits_storms_and_new_and_removed_groups() -> None:
    """Exits set the last exit, storm events set the marker, groups come and go."""
    model = TopModel()
    model.load_infos(infos())
    model.apply_event(state("EXITED", Cause.EXIT, pid=42, returncode=1, expected=False))
    assert model.rows[("web", "web")].last_exit == "exit 1"
    assert model.rows[("web", "web")].pid == 0
    model.apply_event(state("BACKOFF", Cause.EXIT, signal_name="SIGKILL"))
    assert model.rows[("web", "web")].last_exit == "SIGKILL"
    storm = {"type": "PROCESS_STORM_BEGIN", "groupname": "web", "processname": "web"}
    assert model.apply_event(storm)
    assert model.rows[("web", "web")].storm
    model.apply_event({**storm, "type": "PROCESS_STORM_END"})
    assert not model.rows[("web", "web")].storm
    model.apply_event(state("STARTING", Cause.UPDATE, name="new"))
    assert model.rows[("new", "new")].state == "STARTING"
    assert model.apply_event({"type": "PROCESS_GROUP_REMOVED", "groupname": "g"})
    assert ("g", "a") not in model.rows
    assert not model.apply_event({"type": "TICK_5", "when": 1})


def test_metrics_readings_give_cpu_percent_and_reanchor_counts() -> None:
    """CPU % is the CPU seconds used between two readings; restarts/storm follow /metrics."""
    model = TopModel()
    model.load_infos(infos())
    model.apply_event(state("STARTING", Cause.AUTORESTART))
    model.apply_sample(parse_metrics(METRICS), now=10.0)
    row = model.rows[("web", "web")]
    assert (row.cpu_percent, row.rss, row.fds, row.restarts, row.storm) == (
        None, 10_485_760, 7, 4, True,
    )  # fmt: skip
    later = Sample(cpu_seconds={("web", "web"): 3.0}, restarts={("web", "web"): 5})
    model.apply_sample(later, now=12.0)
    row = model.rows[("web", "web")]
    assert row.cpu_percent == pytest.approx(50.0)
    assert (row.restarts, row.rss) == (5, None)


def test_render_marks_storms_and_shows_every_column() -> None:
    """A frame names every column and marks a process in a storm."""
    from rich.console import Console

    model = TopModel()
    model.load_infos(infos())
    model.apply_sample(parse_metrics(METRICS), now=1.0)
    console = Console(width=120, record=True, color_system=None)
    console.print(render(model.ordered(), selected=0, now=160.0, title="t", message="hello"))
    text = console.export_text()
    for heading in ("NAME", "STATE", "PID", "UPTIME", "RESTARTS", "STORM", "CPU", "MEM", "FDS"):
        assert heading in text
    web = next(line for line in text.splitlines() if line.startswith("web"))
    assert "STORM" in web
    assert "10.0MiB" in web
    assert "1m00s" in web
    assert "1 in a storm" in text
    assert "hello" in text
