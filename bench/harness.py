"""Run scenarios against every daemon under test, alternating, and collect the reports.

Repetition r runs the daemons in the given order when r is even and reversed when r
is odd, so slow drift of a shared machine does not favour one daemon. A daemon that is
not available (or fails) in a scenario is recorded with the reason and skipped for
that scenario's remaining repetitions; the run itself always goes on.
"""

from __future__ import annotations

import http.client
import sys
import time
import xmlrpc.client
from collections.abc import Sequence

import psutil

from bench.daemons import DaemonSpec, DaemonUnavailable, ScenarioFailed
from bench.scenarios import Samples, Scenario
from bench.stats import Outcome, ScenarioReport, Summary, format_summary

#: Failures of a run that mean "this daemon failed this scenario", not "the harness is broken".
RUN_ERRORS: tuple[type[BaseException], ...] = (
    ScenarioFailed,
    psutil.Error,
    OSError,
    xmlrpc.client.Error,
    http.client.HTTPException,
)


def log(message: str) -> None:
    """Progress goes to stderr so stdout stays the markdown report."""
    print(message, file=sys.stderr, flush=True)


def _merge(into: dict[str, list[float]], samples: Samples) -> None:
    for key, values in samples.items():
        into.setdefault(key, []).extend(values)


def _summaries(pooled: dict[str, list[float]]) -> dict[str, Summary]:
    return {key: Summary.of(values) for key, values in pooled.items() if values}


def _brief(scenario: Scenario, samples: Samples) -> str:
    parts = []
    for metric in scenario.metrics:
        values = samples.get(metric.key)
        if values:
            parts.append(f"{metric.key}={format_summary(Summary.of(values), metric.unit)}")
    return ", ".join(parts)


def run_scenario(scenario: Scenario, daemons: Sequence[DaemonSpec], reps: int) -> ScenarioReport:
    """Run ``scenario`` ``reps`` times for each daemon, alternating their order."""
    pooled: dict[str, dict[str, list[float]]] = {d.name: {} for d in daemons}
    problems: dict[str, tuple[str, bool]] = {}
    runs = dict.fromkeys(pooled, 0)
    baseline: dict[str, list[float]] = {}
    for rep in range(reps):
        order = list(daemons) if rep % 2 == 0 else list(reversed(daemons))
        for daemon in order:
            if daemon.name in problems:
                continue
            prefix = f"[{scenario.name}] rep {rep + 1}/{reps} {daemon.name}"
            started = time.perf_counter()
            try:
                samples = scenario.run_once(daemon)
            except DaemonUnavailable as error:
                problems[daemon.name] = (str(error), False)
                log(f"{prefix}: not available: {error}")
            except RUN_ERRORS as error:
                problems[daemon.name] = (f"{type(error).__name__}: {error}", True)
                log(f"{prefix}: failed: {type(error).__name__}: {error}")
            else:
                _merge(pooled[daemon.name], samples)
                runs[daemon.name] += 1
                elapsed = time.perf_counter() - started
                log(f"{prefix}: {_brief(scenario, samples)} [{elapsed:.1f} s]")
        try:
            reference = scenario.baseline_once()
        except RUN_ERRORS as error:
            log(f"[{scenario.name}] rep {rep + 1}/{reps} baseline failed: {error}")
        else:
            if reference is not None:
                _merge(baseline, reference)
                brief = _brief(scenario, reference)
                log(f"[{scenario.name}] rep {rep + 1}/{reps} baseline: {brief}")
    outcomes = {
        d.name: Outcome(
            daemon=d.name,
            summaries=_summaries(pooled[d.name]),
            unavailable=problems[d.name][0] if d.name in problems else None,
            failed=problems[d.name][1] if d.name in problems else False,
            runs=runs[d.name],
        )
        for d in daemons
    }
    return ScenarioReport(
        name=scenario.name,
        title=scenario.title,
        params=dict(scenario.params()),
        metrics=scenario.metrics,
        outcomes=outcomes,
        baseline=_summaries(baseline),
        baseline_label=scenario.baseline_label,
    )


def run_all(
    scenarios: Sequence[Scenario], daemons: Sequence[DaemonSpec], reps: int
) -> list[ScenarioReport]:
    """Every scenario in turn; see ``run_scenario``."""
    reports = []
    for scenario in scenarios:
        started = time.perf_counter()
        log(f"== {scenario.name}: {dict(scenario.params())}")
        reports.append(run_scenario(scenario, daemons, reps))
        log(f"== {scenario.name} done in {time.perf_counter() - started:.1f} s")
    return reports
