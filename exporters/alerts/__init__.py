"""Alert rules, recording rules and Grafana dashboards/provisioning, generated from one place.

- ``rules``: selectors, ``Thresholds``, ``AlertConfig``, the alerts (``alert_specs``)
  and recording rules (``recording_specs``); the Prometheus rule file's content.
- ``dashboards``: the Grafana dashboards (fleet overview, process drill-down, superd),
  built with grafana-foundation-sdk (a development dependency).
- ``grafana``: Grafana provisioning (datasource, dashboard provider, alert rules).
- ``rule_tests``: promtool unit tests of the rule file.
- ``render``: every artefact as text, writing and drift checking; ``yamlfile`` writes
  the YAML files (PyYAML).

Regenerate the checked-in files with ``python -m exporters.alerts render``; render a
rule file with other thresholds (tests do) with::

    from exporters.alerts import AlertConfig, Thresholds, rules_text
    text = rules_text(AlertConfig(thresholds=Thresholds(storm_for=1, flapping_for=1)))

See docs/metrics.md ("Alerts and dashboards").
"""

from exporters.alerts.dashboards import DASHBOARD_UID, DASHBOARDS, build_dashboards
from exporters.alerts.grafana import (
    alerting_provisioning,
    dashboard_provisioning,
    datasource_provisioning,
)
from exporters.alerts.render import (
    RULES_PATH,
    RULES_TEST_PATH,
    artefacts,
    drifted,
    rules_text,
    write,
)
from exporters.alerts.rule_tests import rule_tests
from exporters.alerts.rules import (
    AlertConfig,
    AlertSpec,
    Comparison,
    RecordingSpec,
    Severity,
    Thresholds,
    alert_specs,
    duration,
    prometheus_rule_groups,
    recording_specs,
    selector,
)

__all__ = [
    "DASHBOARDS",
    "DASHBOARD_UID",
    "RULES_PATH",
    "RULES_TEST_PATH",
    "AlertConfig",
    "AlertSpec",
    "Comparison",
    "RecordingSpec",
    "Severity",
    "Thresholds",
    "alert_specs",
    "alerting_provisioning",
    "artefacts",
    "build_dashboards",
    "dashboard_provisioning",
    "datasource_provisioning",
    "drifted",
    "duration",
    "prometheus_rule_groups",
    "recording_specs",
    "rule_tests",
    "rules_text",
    "selector",
    "write",
]
