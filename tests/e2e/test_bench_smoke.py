"""Smoke tests of the benchmark harness with tiny sizes: real supervisord, fake daemons."""

from __future__ import annotations

import sys

import pytest

from bench.daemons import DaemonSpec
from bench.harness import run_scenario
from bench.scenarios import QUICK
from bench.scenarios.launch import Launch
from bench.scenarios.restart import RestartLatency
from bench.stats import render_markdown
from tests.peers import require_command

TINY = QUICK.with_overrides(reps=1, programs=3, restart_kills=1)


@pytest.mark.e2e
@pytest.mark.slow
def test_launch_scenario_measures_the_real_supervisord() -> None:
    """Against supervisord, the launch scenario yields readiness before all-RUNNING figures."""
    supervisord = DaemonSpec(name="supervisord", argv=(require_command("supervisord"),))
    report = run_scenario(Launch(TINY), [supervisord], reps=1)
    outcome = report.outcomes["supervisord"]
    assert outcome.unavailable is None
    assert outcome.runs == 1
    ready = outcome.summaries["ready_s"].median
    all_running = outcome.summaries["all_running_s"].median
    # startsecs=1: RUNNING cannot be reported before a second has passed.
    assert 0 < ready < all_running
    assert all_running >= 1.0


@pytest.mark.integration
def test_a_daemon_that_exits_early_is_not_available_and_the_run_goes_on() -> None:
    """A daemon exiting at once is reported 'not available' with its status, and not retried."""
    quitter = DaemonSpec(
        name="superd", argv=(sys.executable, "-c", "import sys; sys.exit('no -n yet')")
    )
    report = run_scenario(RestartLatency(TINY), [quitter], reps=2)
    outcome = report.outcomes["superd"]
    assert outcome.runs == 0
    assert outcome.unavailable is not None
    assert "exited with status 1" in outcome.unavailable
    assert "no -n yet" in outcome.unavailable
    assert "| not available |" in render_markdown([report])


@pytest.mark.integration
def test_a_daemon_that_never_answers_is_not_available_within_its_timeout() -> None:
    """A daemon that runs but never serves getState is 'not available' after the bound."""
    silent = DaemonSpec(
        name="superd",
        argv=(sys.executable, "-c", "import time; time.sleep(60)"),
        ready_timeout=0.5,
    )
    report = run_scenario(Launch(TINY), [silent], reps=1)
    outcome = report.outcomes["superd"]
    assert outcome.unavailable is not None
    assert "never answered getState" in outcome.unavailable


@pytest.mark.integration
def test_a_daemon_that_cannot_be_executed_is_not_available() -> None:
    """A command that does not exist is 'not available', naming the command."""
    missing = DaemonSpec(name="superd", argv=("/nonexistent/superd",))
    report = run_scenario(Launch(TINY), [missing], reps=1)
    outcome = report.outcomes["superd"]
    assert outcome.unavailable is not None
    assert outcome.unavailable.startswith("cannot start /nonexistent/superd")
    assert not outcome.failed


@pytest.mark.integration
def test_the_notebook_load_benchmark_writes_a_journal_and_loads_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """bench/notebook_load.py writes the requested number of events and load_events reads
    every one back (a small size: the figure itself is the benchmark's)."""
    from bench import notebook_load

    assert notebook_load.main(["--events", "3000", "--reps", "1", "--limit", "120"]) == 0
    out = capsys.readouterr().out
    assert "wrote 3,000 events" in out
    assert "load_events: 3,000 rows" in out


@pytest.mark.e2e
@pytest.mark.slow
def test_crash_storm_separates_the_daemons_cost_from_the_polling() -> None:
    """The crash storm reports CPU per restart with and without the harness' polling."""
    from bench.scenarios.crash_storm import CrashStorm

    superd = DaemonSpec(name="superd", argv=(sys.executable, "-m", "supervisor_core.cli.superd"))
    samples = CrashStorm(TINY.with_overrides(crash_programs=4, crash_window=2.0)).run_once(superd)
    polled = samples["cpu_ms_per_restart"][0]
    unpolled = samples["cpu_ms_per_restart_unpolled"][0]
    assert polled > 0
    assert unpolled > 0
    assert samples["polling_share"] == [pytest.approx(1 - unpolled / polled)]
    assert samples["journal_share"] == [1.0]
