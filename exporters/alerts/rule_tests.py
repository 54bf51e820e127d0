"""promtool unit tests of the rule file, rendered next to it (``promtool test rules``).

Each scenario is a history of input series written in terms of the thresholds (a
restart a minute until one more than ``flapping_restarts``, a storm gauge that goes
to 1 at minute 2 ...) with the alerts expected at chosen times: one evaluation just
before the alert may fire (nothing), one when it must (firing, with its labels and
annotations). The expected values are computed here by plain arithmetic, never by
evaluating PromQL, so a wrong expression, threshold or ``for:`` fails promtool.

Rules of this file:
- Series are sampled every minute; thresholds must be whole minutes (the shipped
  ones are), otherwise ``rule_tests`` raises ValueError.
- Expected annotations are the alert's templates with ``{{ $labels.x }}`` and
  ``{{ $value | humanize }}`` expanded; values are small integers, which
  ``humanize`` prints as themselves.
"""

from __future__ import annotations

import re

from exporters.alerts.rules import AlertConfig, AlertSpec, alert_specs, duration
from exporters.prometheus import catalogue

__all__ = ["RULES_FILE_NAME", "rule_tests"]

RULES_FILE_NAME = "supervisor-rules.yml"
_LABELS = {"job": "superd", "instance": "host-a:9001", "group": "web", "name": "web"}
_TEMPLATE = re.compile(r"\{\{ \$labels\.([a-z_]+) \}\}|\{\{ \$value \| humanize \}\}")


def _minutes(seconds: float, what: str) -> int:
    if seconds % 60:
        raise ValueError(f"rule tests need whole minutes: {what} is {seconds}s")
    return int(seconds // 60)


def _series(metric: str, labels: dict[str, str], values: str) -> dict[str, str]:
    matchers = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{metric}{{{matchers}}}", "values": values}


def _expand(template: str, labels: dict[str, str], value: int) -> str:
    def substitute(match: re.Match[str]) -> str:
        label = match.group(1)
        return str(value) if label is None else labels.get(label, "")

    text = template.replace("{{ $value }}", "{{ $value | humanize }}")
    expanded = _TEMPLATE.sub(substitute, text)
    if "{{" in expanded:
        raise ValueError(f"unsupported template in {template!r}")
    return expanded


def _expect(
    spec: AlertSpec, labels: dict[str, str], value: int, at_minute: int, config: AlertConfig
) -> list[dict[str, object]]:
    """An evaluation one minute before firing (none yet) and one at firing."""
    full = {**labels, "severity": spec.severity.value}
    firing: dict[str, object] = {
        "eval_time": duration(at_minute * 60),
        "alertname": spec.name,
        "exp_alerts": [
            {
                "exp_labels": full,
                "exp_annotations": {
                    key: _expand(template, full, value)
                    for key, template in (
                        ("summary", spec.summary),
                        ("description", spec.description),
                        ("runbook", spec.runbook),
                    )
                }
                | {"runbook_url": spec.runbook_url(config)},
            }
        ],
    }
    before: dict[str, object] = {
        "eval_time": duration((at_minute - 1) * 60),
        "alertname": spec.name,
        "exp_alerts": [],
    }
    return [before, firing]


def rule_tests(config: AlertConfig) -> dict[str, object]:
    """The promtool test file for the rule file rendered from ``config``."""
    specs = {spec.name: spec for spec in alert_specs(config)}
    t = config.thresholds
    tests: list[dict[str, object]] = []

    # ProcessRestartStorm: the gauge goes to 1 at minute 2 and stays.
    storm_for = _minutes(t.storm_for, "storm_for")
    tests.append(
        {
            "name": "a restart storm that lasts storm_for fires ProcessRestartStorm",
            "interval": "1m",
            "input_series": [
                _series(catalogue.PROCESS_RESTART_STORM.name, _LABELS, f"0 0 1x{storm_for + 5}")
            ],
            "alert_rule_test": _expect(
                specs["ProcessRestartStorm"], _LABELS, 1, 2 + storm_for, config
            ),
        }
    )

    # ProcessFlapping: one restart a minute; the threshold is crossed at minute N+1
    # (increase() over a window that starts before the series is exact: no
    # extrapolation past a counter's zero).
    limit = t.flapping_restarts
    window = _minutes(t.flapping_window, "flapping_window")
    flapping_for = _minutes(t.flapping_for, "flapping_for")
    if limit + 1 > window:
        raise ValueError("rule tests need flapping_restarts < flapping_window in minutes")
    fires_at = limit + 1 + flapping_for
    tests.append(
        {
            "name": "more than flapping_restarts restarts in flapping_window fire ProcessFlapping",
            "interval": "1m",
            "input_series": [
                _series(catalogue.PROCESS_RESTARTS.name, _LABELS, f"0+1x{fires_at + 5}")
            ],
            "alert_rule_test": _expect(
                specs["ProcessFlapping"], _LABELS, min(fires_at, window), fires_at, config
            ),
        }
    )

    # ProcessFatal and ProcessDown: web goes RUNNING -> BACKOFF -> FATAL; idle stays
    # STOPPED and must never alert.
    fatal_for = _minutes(t.fatal_for, "fatal_for")
    down_for = _minutes(t.down_for, "down_for")
    state = catalogue.PROCESS_STATE.name
    idle = {**_LABELS, "group": "idle", "name": "idle"}
    backoff_minutes = down_for + 3
    fatal_from = 2 + backoff_minutes
    total = fatal_from + fatal_for + 5
    web_states = {
        "RUNNING": f"1 1 0x{total}",
        "BACKOFF": f"0 0 1x{backoff_minutes - 1} 0x{total - backoff_minutes}",
        # ``axN`` is N + 1 samples: FATAL is 1 from minute fatal_from on.
        "FATAL": f"0x{fatal_from - 1} 1x{total - fatal_from}",
    }
    series = [
        _series(state, {**_LABELS, "state": name}, web_states.get(name, f"0x{total}"))
        for name in ("STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL")
    ]
    series.append(_series(state, {**idle, "state": "STOPPED"}, f"1x{total}"))
    series.extend(
        _series(state, {**idle, "state": name}, f"0x{total}")
        for name in ("BACKOFF", "EXITED", "FATAL")
    )
    tests.append(
        {
            "name": "BACKOFF for down_for fires ProcessDown, then FATAL fires ProcessFatal",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                *_expect(specs["ProcessDown"], _LABELS, 1, 2 + down_for, config),
                *_expect(
                    specs["ProcessFatal"],
                    {**_LABELS, "state": "FATAL"},
                    1,
                    fatal_from + fatal_for,
                    config,
                ),
            ],
        }
    )

    # SupervisorDown: scrapes of a superd (it served supervisor_info) fail from minute
    # 2; a target of another kind, under any job name, fails too and must not alert.
    down = _minutes(t.supervisor_down_for, "supervisor_down_for")
    target = {"job": "anything", "instance": _LABELS["instance"]}
    other = {"job": "node", "instance": "host-a:9100"}
    tests.append(
        {
            "name": "failed scrapes of a superd for supervisor_down_for fire SupervisorDown",
            "interval": "1m",
            "input_series": [
                _series("up", target, f"1 1 0x{down + 5}"),
                _series(catalogue.INFO.name, {**target, "version": "1"}, f"1 1 _x{down + 5}"),
                _series("up", other, f"1 1 0x{down + 5}"),
            ],
            "alert_rule_test": _expect(specs["SupervisorDown"], target, 0, 2 + down, config),
        }
    )

    # EventsDropped: 3 events dropped at minute 3.
    dropped_for = _minutes(t.events_dropped_for, "events_dropped_for")
    subscriber = {"job": _LABELS["job"], "instance": _LABELS["instance"], "subscriber": "slow"}
    tests.append(
        {
            "name": "dropped events fire EventsDropped",
            "interval": "1m",
            "input_series": [
                _series(
                    catalogue.EVENTS_DROPPED.name,
                    subscriber,
                    f"0 0 0 3x{dropped_for + 5}",
                )
            ],
            "alert_rule_test": _expect(
                specs["EventsDropped"], subscriber, 3, 3 + dropped_for, config
            ),
        }
    )

    # A recording rule: the state code of the process at minute 3 is BACKOFF's (30).
    tests.append(
        {
            "name": "the state code recording rule maps the current state to its code",
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [
                {
                    "expr": "instance_group_name:supervisor_process_state:code",
                    "eval_time": "3m",
                    "exp_samples": [
                        {"labels": _recorded(idle), "value": 0},
                        {"labels": _recorded(_LABELS), "value": 30},
                    ],
                }
            ],
        }
    )
    return {"rule_files": [RULES_FILE_NAME], "evaluation_interval": "1m", "tests": tests}


def _recorded(labels: dict[str, str]) -> str:
    matchers = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return f"instance_group_name:supervisor_process_state:code{{{matchers}}}"
