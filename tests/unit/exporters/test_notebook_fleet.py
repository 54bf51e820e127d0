"""Fleet frames (a ``host`` column): per-host counts, recorded storms, shared storms, rate.

Two hosts' journals are written by the real Journal from scripted histories (the same
program ``api`` storming on both at once, ``cron`` only on host B, an hour later) and
read with ``load_events``; the fleet frame is their concatenation with a ``host``
column, the shape ``load_events("prometheus+...")`` returns.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from exporters.notebook import (
    common_cause,
    fleet_summary,
    load_events,
    plot_restart_rate,
    recorded_storms,
    restart_rate,
    restarts,
    storms,
    time_range,
    top_restarting,
)
from exporters.notebook.fleet import _storm_changes
from exporters.storms import StormSettings
from exporters.storms.events import ProcessStormBegin, ProcessStormEnd
from supervisor_core.lifecycle import Cause
from tests.unit.exporters.test_notebook import WALL, Script

BURST = StormSettings(burst=3, window=60)


def write_host(path: Path, *, crashes: int, cron: bool) -> Path:
    """``api`` crash-loops ``crashes`` times with superd's STORM events around it; with
    ``cron``, cron crash-loops an hour later (no STORM events: its host did not report)."""
    script = Script(path)
    for index in range(crashes):
        cause = Cause.AUTOSTART if index == 0 else Cause.AUTORESTART
        script.run("api", 0.5, start=cause, run=index + 1, expected=False, returncode=1)
        if index == 2:
            script.bus.publish(
                ProcessStormBegin(
                    processname="api", groupname="api", scope="process", start=WALL, restarts=2
                )
            )
    script.bus.publish(
        ProcessStormEnd(processname="api", groupname="api", scope="process", start=WALL, restarts=2)
    )
    if cron:
        script.clock.advance(3600)
        for index in range(4):
            cause = Cause.AUTOSTART if index == 0 else Cause.AUTORESTART
            script.run("cron", 0.5, start=cause, run=index + 1, expected=False, returncode=3)
    script.close()
    return path


@pytest.fixture
def fleet(tmp_path: Path) -> pd.DataFrame:
    """Host A: api crashes 6 times; host B: api 8 times, then cron 4 times an hour later."""
    frames = []
    for host, crashes, cron in (("host-a:9001", 6, False), ("host-b:9001", 8, True)):
        path = write_host(tmp_path / f"{host}.sqlite3", crashes=crashes, cron=cron)
        frame = load_events(path)
        frame["host"] = host
        frames.append(frame)
    events = pd.concat(frames, ignore_index=True).sort_values("time", kind="stable")
    events["host"] = events["host"].astype("category")
    return events.reset_index(drop=True)


def test_restarts_of_a_fleet_frame_are_counted_per_host(fleet: pd.DataFrame) -> None:
    """Each host's restarts are its own: api 5 on A, api 7 and cron 3 on B, by cause."""
    counted = restarts(fleet)
    assert list(counted.columns[:2]) == ["host", "time"]
    by = counted.groupby(["host", "process"], observed=True).size().to_dict()
    assert by == {("host-a:9001", "api"): 5, ("host-b:9001", "api"): 7, ("host-b:9001", "cron"): 3}
    assert str(counted["time"].dtype) == "datetime64[us, UTC]"


def test_top_restarting_lists_each_hosts_worst_first(fleet: pd.DataFrame) -> None:
    """Per host, most restarts first, at most ``top`` rows each."""
    table = top_restarting(fleet, top=1)
    assert table.values.tolist() == [["host-a:9001", "api", 5], ["host-b:9001", "api", 7]]
    assert len(top_restarting(fleet)) == 3


def test_storms_are_detected_host_by_host(fleet: pd.DataFrame) -> None:
    """A fleet frame's storms are each host's: api storms on both, cron only on B."""
    found = storms(fleet, BURST)
    process = found[found["scope"] == "process"]
    assert sorted(zip(process["host"], process["process"], strict=True)) == [
        ("host-a:9001", "api"),
        ("host-b:9001", "api"),
        ("host-b:9001", "cron"),
    ]


def test_recorded_storms_are_superds_own_reports(fleet: pd.DataFrame) -> None:
    """Only the storms superd reported (api on both hosts; cron's was never reported),
    from its BEGIN to its END, with the restarts between them."""
    found = recorded_storms(fleet)
    assert sorted(zip(found["host"], found["process"], strict=True)) == [
        ("host-a:9001", "api"),
        ("host-b:9001", "api"),
    ]
    assert (found["end"] > found["start"]).all()
    a = found[found["host"] == "host-a:9001"].iloc[0]
    counted = restarts(fleet)
    inside = counted[
        (counted["host"] == "host-a:9001") & counted["time"].between(a["start"], a["end"])
    ]
    assert a["restarts"] == len(inside) > 0


def test_common_cause_of_a_fleet_names_the_hosts(fleet: pd.DataFrame) -> None:
    """api's storms on host A and host B overlap: one row with both hosts."""
    shared = common_cause(fleet)
    assert len(shared) == 1
    row = shared.iloc[0]
    assert sorted(zip(row["hosts"], row["processes"], strict=True)) == [
        ("host-a:9001", "api"),
        ("host-b:9001", "api"),
    ]
    assert row["overlap"] > 0


def test_restart_rate_buckets_per_host_and_marks_partial_ones(fleet: pd.DataFrame) -> None:
    """Hourly buckets hold every restart of each host once; the first and last buckets,
    cut by the range, are partial; the plot keeps the bucket width."""
    start = fleet["time"].min() - pd.Timedelta(minutes=5)
    end = fleet["time"].max() + pd.Timedelta(minutes=5)
    rate = restart_rate(fleet, start=start, end=end, bucket="1h")
    assert list(rate.columns) == ["host-a:9001", "host-b:9001", "partial"]
    assert rate["host-a:9001"].sum() == 5
    assert rate["host-b:9001"].sum() == 10
    assert bool(rate["partial"].iloc[0])
    assert bool(rate["partial"].iloc[-1])
    assert rate.attrs["bucket"] == pd.Timedelta("1h")
    (axes,) = plot_restart_rate(rate).axes
    assert "per hour" in axes.get_ylabel()
    assert len(axes.get_lines()) == 2


def test_fleet_summary_is_plain_json_data(fleet: pd.DataFrame) -> None:
    """The summary holds the hosts, per-host totals and top lists, and the shared storm."""
    import json

    start, end = time_range(86400.0, until=WALL + 7200)
    summary = fleet_summary(fleet, start=start, end=end)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["hosts"] == ["host-a:9001", "host-b:9001"]
    assert summary["restarts"] == {"host-a:9001": 5, "host-b:9001": 10}
    assert summary["top"] == {
        "host-a:9001": [["api", 5]],
        "host-b:9001": [["api", 7], ["cron", 3]],
    }
    (shared,) = summary["shared_storms"]  # type: ignore[misc]
    assert sorted(shared["hosts"]) == ["host-a:9001", "host-b:9001"]


def test_the_storm_gauge_becomes_begin_and_end_rows() -> None:
    """A rise of the gauge is a BEGIN, a fall an END, a storm at the first sample a BEGIN."""
    samples = [(1.0, 1.0), (2.0, 1.0), (3.0, 0.0), (4.0, 0.0), (5.0, 1.0)]
    assert _storm_changes(samples) == [
        (1.0, "PROCESS_STORM_BEGIN"),
        (3.0, "PROCESS_STORM_END"),
        (5.0, "PROCESS_STORM_BEGIN"),
    ]
    assert _storm_changes([(1.0, 0.0), (2.0, 0.0)]) == []
