"""``alerts_fired`` agrees with Prometheus' own rule engine (``promtool test rules``).

A history of runs on whole minutes (a crash loop that goes FATAL) is evaluated by
``alerts_fired``; the same history, as the series superd would have exported (the
restart counter, the storm gauge of its detector, the FATAL state), is given to
promtool with the rule file rendered from the same ``AlertConfig``. promtool must see
each alert fire exactly at the minute ``alerts_fired`` says, and not a minute before,
and the alerts ``alerts_fired`` says stay silent must stay silent.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from exporters.alerts import rules_text
from exporters.alerts.rule_tests import _expect
from exporters.alerts.rules import AlertConfig, Thresholds, alert_specs
from exporters.notebook.replay_alerts import History, alerts_fired
from exporters.storms import StormSettings
from exporters.storms.detector import ChangeKind, Observation, ObservationKind, StormDetector
from supervisor_core.lifecycle import Cause
from tests.peers import require_command

pytestmark = pytest.mark.e2e

CONFIG = AlertConfig(
    thresholds=Thresholds(
        storm_for=60, flapping_restarts=5, flapping_window=600, flapping_for=120, down_for=300
    )
)
SETTINGS = StormSettings(burst=3, window=180.0)
LABELS = {"job": "superd", "instance": "host-a:9001", "group": "api", "name": "api"}
MINUTES = 14  # the series' length
# Runs start on whole minutes and last 30 s; the start limit gives up at minute 10.
HISTORY = History(
    group="api",
    name="api",
    runs=[(60.0 * k, 60.0 * k + 30) for k in range(10)],
    fatal_at=600.0,
    end=600.0,
)


def series(metric: str, labels: dict[str, str], values: list[int]) -> dict[str, str]:
    """promtool's input series: one value a minute."""
    matchers = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{metric}{{{matchers}}}", "values": " ".join(str(v) for v in values)}


def exported_series() -> list[dict[str, str]]:
    """What superd's /metrics would have said of HISTORY, sampled each minute."""
    minutes = [60.0 * m for m in range(MINUTES + 1)]
    restarts = [sum(1 for t in HISTORY.restarts if t <= at) for at in minutes]
    observations = []
    for index, (start, end) in enumerate(HISTORY.runs):
        cause = Cause.AUTOSTART if index == 0 else Cause.AUTORESTART
        observations += [
            Observation(at=start, group="api", name="api", kind=ObservationKind.START, cause=cause),
            Observation(
                at=end,
                group="api",
                name="api",
                kind=ObservationKind.EXIT,
                expected=False,
                run_duration=end - start,
            ),
        ]
    assert HISTORY.fatal_at is not None
    observations.append(
        Observation(at=HISTORY.fatal_at, group="api", name="api", kind=ObservationKind.FATAL)
    )
    # The gauge as superd's exporter sets it: 1 from the detector's BEGIN to its END.
    detector = StormDetector(SETTINGS)
    changes = [(c.at, c.kind) for o in observations for c in detector.feed(o)]
    storm = [
        int(sum(1 if kind is ChangeKind.BEGIN else -1 for t, kind in changes if t <= at) > 0)
        for at in minutes
    ]
    fatal = [int(at >= HISTORY.fatal_at) for at in minutes]
    return [
        series("supervisor_process_restarts_total", LABELS, restarts),
        series("supervisor_process_restart_storm", LABELS, storm),
        series("supervisor_process_state", {**LABELS, "state": "FATAL"}, fatal),
        series("supervisor_process_state", {**LABELS, "state": "RUNNING"}, [1 - f for f in fatal]),
    ]


def test_promtool_fires_what_alerts_fired_predicts(tmp_path: Path) -> None:
    """Each alert alerts_fired says fires does so in promtool at that minute and not the one
    before; ProcessDown, which it says stays silent, stays silent to the end."""
    predicted = alerts_fired(HISTORY, CONFIG, SETTINGS)
    fires = {
        str(row.alertname): row.first_firing for row in predicted[predicted["applies"]].itertuples()
    }
    origin = pd.Timestamp(0, unit="s", tz="UTC")
    minute = {
        name: int((when - origin).total_seconds() // 60)
        for name, when in fires.items()
        if not pd.isna(when)
    }
    assert minute == {"ProcessRestartStorm": 4, "ProcessFlapping": 8, "ProcessFatal": 10}
    assert all(
        (when - origin).total_seconds() % 60 == 0 for when in fires.values() if not pd.isna(when)
    )
    specs = {spec.name: spec for spec in alert_specs(CONFIG)}
    # $value at the firing minute: the gauge, increase() of whole restarts, the state.
    values = {"ProcessRestartStorm": 1, "ProcessFlapping": 8, "ProcessFatal": 1}
    labels = {
        "ProcessRestartStorm": LABELS,
        "ProcessFlapping": LABELS,
        "ProcessFatal": {**LABELS, "state": "FATAL"},
    }
    checks: list[object] = []
    for name, at in minute.items():
        checks += _expect(specs[name], labels[name], values[name], at, CONFIG)
    checks.append({"eval_time": f"{MINUTES}m", "alertname": "ProcessDown", "exp_alerts": []})
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": exported_series(), "alert_rule_test": checks}],
    }
    (tmp_path / "rules.yml").write_text(rules_text(CONFIG))
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(
        [require_command("promtool"), "test", "rules", "tests.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
