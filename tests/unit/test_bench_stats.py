"""Pure helpers of the benchmark suite: statistics, formatting, report rendering, config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.config import ConfigLayout, ProgramSpec, fd_budget, render_config
from bench.daemons import CpuReading, DaemonSpec, cpu_between
from bench.scenarios import QUICK
from bench.stats import (
    MetricSpec,
    Outcome,
    ScenarioReport,
    Summary,
    format_ratio,
    format_summary,
    format_value,
    median,
    percentile,
    ratio,
    render_markdown,
    report_to_json,
)

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@pytest.mark.parametrize(
    ("samples", "q", "expected"),
    [
        ([5.0], 50, 5.0),
        ([1.0, 2.0, 3.0], 50, 2.0),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 100, 5.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 25, 2.0),
        ([10.0, 20.0], 99, 19.9),
        (list(map(float, range(1, 101))), 99, 99.01),
    ],
)
def test_percentile_interpolates_linearly_like_numpy(
    samples: list[float], q: float, expected: float
) -> None:
    """percentile() matches numpy's default linear interpolation between order statistics."""
    assert percentile(samples, q) == pytest.approx(expected)


def test_percentile_rejects_empty_and_out_of_range() -> None:
    """No samples, or q outside 0..100, is a ValueError rather than a made-up figure."""
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)
    with pytest.raises(ValueError, match="no samples"):
        median([])


@given(st.lists(finite, min_size=1, max_size=50), st.floats(min_value=0, max_value=100))
def test_percentile_lies_between_min_and_max(samples: list[float], q: float) -> None:
    """Any percentile of any samples lies within their min and max."""
    assert min(samples) <= percentile(samples, q) <= max(samples)


def test_summary_of_pools_order_statistics() -> None:
    """Summary.of reports count, median, p99, min and max of the samples."""
    summary = Summary.of([3.0, 1.0, 2.0])
    assert summary == Summary(n=3, median=2.0, p99=pytest.approx(2.98), min=1.0, max=3.0)
    assert summary.as_dict()["n"] == 3


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1.0149, "s", "1.01 s"),
        (0.04789, "s", "0.0479 s"),
        (47.93, "ms", "47.9 ms"),
        (1016.4, "MiB/s", "1016 MiB/s"),
        (0.0, "% core", "0 % core"),
        (2.5, "", "2.50"),
    ],
)
def test_format_value_keeps_about_three_significant_figures(
    value: float, unit: str, expected: str
) -> None:
    """Values render with ~3 significant figures and their unit."""
    assert format_value(value, unit) == expected


def test_format_summary_shows_range_only_for_several_samples() -> None:
    """One sample renders as its value; several as 'median (min–max)'."""
    assert format_summary(Summary.of([1.0]), "s") == "1.00 s"
    assert format_summary(Summary.of([1.0, 2.0, 4.0]), "s") == "2.00 s (1.00–4.00)"


def test_ratio_and_its_formatting() -> None:
    """The ratio is candidate/reference, 'n/a' when the reference is zero."""
    assert ratio(0.5, 2.0) == 0.25
    assert ratio(1.0, 0.0) is None
    assert format_ratio(0.25) == "0.25×"
    assert format_ratio(None) == "n/a"
    assert format_ratio(float("inf")) == "n/a"


RESTART = MetricSpec(key="restart_s", label="SIGKILL → new child", unit="s")
RATE = MetricSpec(key="rate", label="throughput", unit="MiB/s", lower_is_better=False)


def _report(superd: Outcome) -> ScenarioReport:
    return ScenarioReport(
        name="restart",
        title="restart latency",
        params={"kills": 3},
        metrics=(RESTART, RATE),
        outcomes={
            "supervisord": Outcome(
                daemon="supervisord",
                summaries={
                    "restart_s": Summary.of([1.0, 1.0, 2.0]),
                    "rate": Summary.of([100.0]),
                },
                runs=2,
            ),
            "superd": superd,
        },
        baseline={"rate": Summary.of([400.0])},
        baseline_label="writer | cat",
    )


def test_markdown_table_has_cells_ratio_and_escaped_baseline() -> None:
    """A full report renders one row per metric with both daemons, the ratio and the baseline."""
    superd = Outcome(
        daemon="superd",
        summaries={"restart_s": Summary.of([0.01, 0.02]), "rate": Summary.of([200.0])},
        runs=2,
    )
    text = render_markdown([_report(superd)])
    lines = text.splitlines()
    assert lines[0] == (
        "| Scenario | Metric | Better | supervisord | superd | superd/supervisord | Baseline |"
    )
    assert lines[1] == "|---|---|---|---|---|---|---|"
    assert lines[2] == (
        "| restart latency | SIGKILL → new child | lower | 1.00 s (1.00–2.00) "
        "| 0.015 s (0.01–0.02) | 0.015× | — |"
    )
    assert lines[3] == (
        "| restart latency | throughput | higher | 100 MiB/s | 200 MiB/s | 2.00× "
        "| 400 MiB/s (writer \\| cat) |"
    )
    assert len(lines) == 4


@pytest.mark.parametrize(("failed", "cell"), [(False, "not available"), (True, "failed")])
def test_markdown_marks_an_unavailable_or_failed_daemon_and_gives_the_reason(
    failed: bool, cell: str
) -> None:
    """A daemon that could not run shows 'not available' (or 'failed'), n/a ratio, and a note."""
    superd = Outcome(daemon="superd", unavailable="exited with status 2 | usage", failed=failed)
    text = render_markdown([_report(superd)])
    row = text.splitlines()[2]
    assert f"| {cell} | n/a |" in row
    assert f"- restart latency, superd: {cell}: exited with status 2 \\| usage" in text


def test_markdown_says_not_run_for_a_daemon_left_out() -> None:
    """A daemon that was not selected for the run is 'not run', not 'not available'."""
    report = _report(Outcome(daemon="superd"))
    outcomes = {"supervisord": report.outcomes["supervisord"]}
    only_reference = ScenarioReport(
        name=report.name,
        title=report.title,
        params=report.params,
        metrics=report.metrics,
        outcomes=outcomes,
    )
    assert "| not run | n/a | — |" in render_markdown([only_reference]).splitlines()[2]


def test_json_report_round_trips_and_carries_ratios() -> None:
    """The JSON report is serializable and holds summaries, ratios and reasons."""
    superd = Outcome(daemon="superd", summaries={"restart_s": Summary.of([0.5])}, runs=1)
    data = json.loads(json.dumps(report_to_json([_report(superd)])))
    (scenario,) = data
    assert scenario["scenario"] == "restart"
    assert scenario["ratio_candidate_over_reference"] == {"restart_s": 0.5, "rate": None}
    assert scenario["daemons"]["supervisord"]["summaries"]["restart_s"]["max"] == 2.0
    assert scenario["daemons"]["superd"]["unavailable"] is None
    assert scenario["baseline"]["summaries"]["rate"]["median"] == 400.0


def test_cpu_between_prefers_schedstat_when_threads_are_stable() -> None:
    """With the same threads in both readings the nanosecond counters give the CPU time."""
    before = CpuReading(ticks_seconds=1.00, thread_ns={10: 1_000_000_000, 11: 5_000_000})
    after = CpuReading(ticks_seconds=1.00, thread_ns={10: 1_003_000_000, 11: 6_000_000})
    assert cpu_between(before, after) == pytest.approx(0.004)


def test_cpu_between_falls_back_to_ticks_when_a_thread_exited() -> None:
    """When a thread came or went, the tick counter (which keeps exited threads) is used."""
    before = CpuReading(ticks_seconds=1.00, thread_ns={10: 1_000_000_000, 11: 500_000_000})
    after = CpuReading(ticks_seconds=1.02, thread_ns={10: 1_001_000_000})
    assert cpu_between(before, after) == pytest.approx(0.02)
    assert cpu_between(CpuReading(ticks_seconds=0.0, thread_ns={}), after) == 1.02


def test_daemon_spec_appends_foreground_flags() -> None:
    """A daemon under test runs as its command prefix plus '-n -c FILE'."""
    spec = DaemonSpec.parse("superd", "/venv/bin/python -m supervisor_core.cli.superd")
    assert spec.command(Path("/tmp/x.conf")) == [
        "/venv/bin/python",
        "-m",
        "supervisor_core.cli.superd",
        "-n",
        "-c",
        "/tmp/x.conf",
    ]
    relative = DaemonSpec.parse("superd", "bin/superd --flag")
    assert relative.argv == (str(Path("bin/superd").resolve()), "--flag")
    with pytest.raises(ValueError, match="empty command"):
        DaemonSpec.parse("superd", "  ")


def test_generated_config_serves_rpc_on_loopback_and_sizes_limits() -> None:
    """The config has the socket, loopback inet server, rpcinterface, limits and programs."""
    layout = ConfigLayout(workdir=Path("/tmp/b"), port=9123, minfds=4256, minprocs=600)
    text = render_config(
        layout,
        [
            ProgramSpec(name="w", command="/bin/sleep 5", autostart=False, stdout_logfile="/l"),
        ],
    )
    assert "[unix_http_server]\nfile=/tmp/b/supervisor.sock\n" in text
    assert "[inet_http_server]\nport=127.0.0.1:9123\n" in text
    assert (
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface" in text
    )
    assert "minfds=4256\nminprocs=600\n" in text
    assert "[program:w]\ncommand=/bin/sleep 5\nautostart=false\n" in text
    assert "stdout_logfile=/l\n" in text
    assert "redirect_stderr" not in text
    assert layout.rpc_url == "http://127.0.0.1:9123/RPC2"
    assert fd_budget(500) == 4256
    assert fd_budget(1) == 1024


def test_generated_config_refuses_percent_signs() -> None:
    """A '%' would be expanded by supervisord, so rendering refuses it, naming the key."""
    layout = ConfigLayout(workdir=Path("/tmp/b"), port=1, minfds=1024, minprocs=200)
    with pytest.raises(ValueError, match=r"\[program:p\] command"):
        render_config(layout, [ProgramSpec(name="p", command="printf 100%")])


def test_profile_overrides_ignore_none() -> None:
    """Command-line overrides replace only the sizes that were given."""
    profile = QUICK.with_overrides(reps=5, programs=None)
    assert profile.reps == 5
    assert profile.programs == QUICK.programs
