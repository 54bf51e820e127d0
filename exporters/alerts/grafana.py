"""Grafana provisioning: the datasource, the dashboard provider and the alert rules.

Grafana reads these from its ``provisioning/`` directory (``datasources/``,
``dashboards/``, ``alerting/``); docs/metrics.md says where each file goes. The alert
rules are the same ``AlertSpec`` s as the Prometheus rule file: query A is the alert's
value, expression B compares it with the threshold, so Grafana alerts on the same
series for the same reason (labels, ``for:``, annotations).
"""

from __future__ import annotations

from exporters.alerts.dashboards import DASHBOARD_UID
from exporters.alerts.rules import AlertConfig, AlertSpec, alert_specs, duration

__all__ = [
    "CONTACT_POINT",
    "DASHBOARDS_PATH",
    "FOLDER",
    "alerting_provisioning",
    "contact_points_provisioning",
    "dashboard_provisioning",
    "datasource_provisioning",
    "notification_policy_provisioning",
]

FOLDER = "Supervisor"
# Where the provider expects the dashboards directory of this repository to be copied.
DASHBOARDS_PATH = "/var/lib/grafana/dashboards/supervisor"


def datasource_provisioning(config: AlertConfig) -> dict[str, object]:
    """A Prometheus datasource with the fixed uid the alert rules query.

    The URL comes from Grafana's environment: ``PROMETHEUS_URL`` must be set
    (``PROMETHEUS_URL=http://prometheus:9090``). Grafana expands ``$VAR`` and ``${VAR}``
    in provisioning files and knows no shell-style ``${VAR:-default}``: such a value
    expands to nothing, so there is no fallback here to pretend otherwise.
    """
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus (superd)",
                "type": "prometheus",
                "uid": config.datasource_uid,
                "access": "proxy",
                "url": "${PROMETHEUS_URL}",
                "isDefault": False,
                "editable": True,
                "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
            }
        ],
    }


def dashboard_provisioning() -> dict[str, object]:
    """A file provider that loads ``grafana/dashboards/*.json`` into the Supervisor folder."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "supervisor",
                "orgId": 1,
                "folder": FOLDER,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": False},
            }
        ],
    }


CONTACT_POINT = "superd-ops"


def contact_points_provisioning() -> dict[str, object]:
    """One contact point, ``superd-ops``: mail and a webhook, both from the environment.

    ``SUPERD_ALERT_EMAIL`` (comma-separated addresses) and ``SUPERD_ALERT_WEBHOOK_URL``
    must be set in Grafana's environment (mail also needs Grafana's ``[smtp]``).
    """
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [
                    {
                        "uid": "superd-ops-email",
                        "type": "email",
                        "settings": {
                            "addresses": "${SUPERD_ALERT_EMAIL}",
                            "singleEmail": True,
                        },
                        "disableResolveMessage": False,
                    },
                    {
                        "uid": "superd-ops-webhook",
                        "type": "webhook",
                        "settings": {"url": "${SUPERD_ALERT_WEBHOOK_URL}", "httpMethod": "POST"},
                        "disableResolveMessage": False,
                    },
                ],
            }
        ],
    }


def notification_policy_provisioning() -> dict[str, object]:
    """The org's policy tree: everything to ``superd-ops``, grouped per process.

    Grouping by ``instance, group, name`` sends one notification per process and host
    (a storm, its flapping and its down alerts together), never merging hosts. A
    provisioned policy tree replaces the org's whole tree.
    """
    return {
        "apiVersion": 1,
        "policies": [
            {
                "orgId": 1,
                "receiver": CONTACT_POINT,
                "group_by": ["alertname", "instance", "group", "name"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
                "routes": [
                    {
                        "receiver": CONTACT_POINT,
                        "object_matchers": [["alertname", "=~", _PROCESS_ALERTS]],
                        "group_by": ["instance", "group", "name"],
                    }
                ],
            }
        ],
    }


_PROCESS_ALERTS = "ProcessRestartStorm|ProcessFlapping|ProcessFatal|ProcessDown"


def _grafana_value(template: str) -> str:
    # Grafana names query results by refId; A is the alert's value.
    return template.replace("{{ $value }}", "{{ humanize $values.A.Value }}")


def _rule(spec: AlertSpec, config: AlertConfig) -> dict[str, object]:
    return {
        "uid": "supervisor-"
        + "".join(
            f"-{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(spec.name)
        ),
        "title": spec.name,
        "condition": "B",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": int(spec.lookback_seconds), "to": 0},
                "datasourceUid": config.datasource_uid,
                "model": {
                    "refId": "A",
                    "expr": spec.value,
                    "instant": True,
                    "range": False,
                    "intervalMs": 1000,
                    "maxDataPoints": 43200,
                },
            },
            {
                "refId": "B",
                "relativeTimeRange": {"from": 0, "to": 0},
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "B",
                    "type": "threshold",
                    "expression": "A",
                    "conditions": [
                        {
                            "evaluator": {
                                "type": spec.comparison.grafana,
                                "params": [spec.threshold],
                            }
                        }
                    ],
                },
            },
        ],
        # No series means nothing to alert on (a process that does not exist).
        "noDataState": "OK",
        "execErrState": "Error",
        "for": duration(spec.for_seconds),
        "isPaused": False,
        "labels": {"severity": spec.severity.value},
        "annotations": {
            "summary": _grafana_value(spec.summary),
            "description": _grafana_value(spec.description),
            "runbook": _grafana_value(spec.runbook),
            "runbook_url": spec.runbook_url(config),
            "__dashboardUid__": DASHBOARD_UID,
        },
    }


def alerting_provisioning(config: AlertConfig) -> dict[str, object]:
    """One Grafana alert rule group holding every alert of ``alert_specs``."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": config.rule_group,
                "folder": FOLDER,
                "interval": duration(config.thresholds.evaluation_interval),
                "rules": [_rule(spec, config) for spec in alert_specs(config)],
            }
        ],
    }
