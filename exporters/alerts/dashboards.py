"""The Grafana overview dashboard, built from the metric catalogue.

Rules of this file:
- Every query goes through ``rules.selector`` with the dashboard's template
  variables (``$job``, ``$instance``, ``$group``, ``$name``), so a panel can only
  name catalogue metrics and filters like every other panel.
- Every panel queries the datasource variable ``${datasource}``; panel ids are
  assigned in order, so they are unique and stable across renders.
- The layout is data (rows of panel specs); grid positions are computed.
- A fleet never merges hosts: an aggregation that keeps a process label (``group``,
  ``name``) keeps ``job`` and ``instance`` too (``PROCESS_KEY``), and per-host
  series keep ``job, instance``; only a total over the whole selection (a stat, the
  run-duration heatmap) drops them all. tests/unit/exporters/test_fleet_queries.py
  checks every generated expression.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from exporters.alerts.rules import PROCESS_KEY, AlertConfig, selector, state_code_expression
from exporters.prometheus import catalogue
from supervisor_core.lifecycle import ProcessState

__all__ = ["DASHBOARD_UID", "DATASOURCE_VARIABLE", "overview_dashboard"]

DASHBOARD_UID = "supervisor-overview"
DATASOURCE_VARIABLE = "${datasource}"
_DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_VARIABLE}
_GRID_WIDTH = 24

# Colours of the state timeline and table, by supervisord state.
_STATE_COLOURS = {
    ProcessState.STOPPED: "text",
    ProcessState.STARTING: "blue",
    ProcessState.RUNNING: "green",
    ProcessState.BACKOFF: "orange",
    ProcessState.STOPPING: "purple",
    ProcessState.EXITED: "yellow",
    ProcessState.FATAL: "red",
    ProcessState.UNKNOWN: "dark-red",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Query:
    """One target of a panel."""

    expr: str
    legend: str = ""
    instant: bool = False
    format: str = "time_series"


@dataclass(frozen=True, slots=True, kw_only=True)
class Panel:
    """One panel: its type, size and queries; ``options``/``field_config`` as Grafana's."""

    title: str
    type: str
    queries: tuple[Query, ...]
    width: int = 8
    height: int = 8
    description: str = ""
    unit: str = "short"
    options: dict[str, object] = field(default_factory=dict)
    field_config: dict[str, object] = field(default_factory=dict)
    transformations: tuple[dict[str, object], ...] = ()


def _scope(config: AlertConfig) -> AlertConfig:
    """The config whose selector is the dashboard's job/instance variables."""
    variables = 'job=~"$job", instance=~"$instance"'
    own = config.selector
    return dataclasses.replace(config, selector=f"{own}, {variables}" if own else variables)


_PROCESS_MATCHERS = ('group=~"$group"', 'name=~"$name"')
_LEGEND = "{{instance}} {{group}}:{{name}}"


def _state_mappings() -> list[dict[str, object]]:
    return [
        {
            "type": "value",
            "options": {
                str(int(state)): {
                    "text": state.name,
                    "color": _STATE_COLOURS[state],
                    "index": index,
                }
                for index, state in enumerate(ProcessState)
            },
        }
    ]


def _rows(config: AlertConfig) -> list[tuple[str, list[Panel]]]:
    scope = _scope(config)

    def process(metric: str, *matchers: str) -> str:
        return selector(metric, scope, *_PROCESS_MATCHERS, *matchers)

    def daemon(metric: str) -> str:
        return selector(metric, scope)

    buckets = process(f"{catalogue.PROCESS_RUN_DURATION.name}_bucket")
    fatal = 'state="FATAL"'
    return [
        (
            "Overview",
            [
                Panel(
                    title="Processes RUNNING",
                    type="stat",
                    width=4,
                    height=4,
                    queries=(Query(expr=f"sum({process(catalogue.PROCESS_UP.name)})"),),
                ),
                Panel(
                    title="Not running (not STOPPED)",
                    type="stat",
                    width=4,
                    height=4,
                    description="Processes in STARTING, BACKOFF, STOPPING, EXITED, FATAL, UNKNOWN.",
                    queries=(
                        Query(
                            expr=(
                                "sum("
                                + process(catalogue.PROCESS_STATE.name, 'state!~"RUNNING|STOPPED"')
                                + ")"
                            )
                        ),
                    ),
                    field_config=_thresholds_red_above(1),
                ),
                Panel(
                    title="FATAL",
                    type="stat",
                    width=4,
                    height=4,
                    queries=(Query(expr=f"sum({process(catalogue.PROCESS_STATE.name, fatal)})"),),
                    field_config=_thresholds_red_above(1),
                ),
                Panel(
                    title="In a restart storm",
                    type="stat",
                    width=4,
                    height=4,
                    queries=(Query(expr=f"sum({process(catalogue.PROCESS_RESTART_STORM.name)})"),),
                    field_config=_thresholds_red_above(1),
                ),
                Panel(
                    title="Restarts in range",
                    type="stat",
                    width=4,
                    height=4,
                    queries=(
                        Query(
                            expr=(
                                "sum(increase("
                                f"{process(catalogue.PROCESS_RESTARTS.name)}[$__range]))"
                            ),
                            instant=True,
                        ),
                    ),
                ),
                Panel(
                    title="superd",
                    type="stat",
                    width=4,
                    height=4,
                    description="Scrape health and version of each superd.",
                    queries=(
                        Query(
                            expr=(
                                f"{daemon('up')} * on (job, instance) "
                                f"group_left (version) {daemon(catalogue.INFO.name)}"
                            ),
                            legend="{{instance}} {{version}}",
                        ),
                    ),
                    options={"textMode": "name", "colorMode": "background"},
                    field_config={
                        "defaults": {
                            "mappings": [
                                {
                                    "type": "value",
                                    "options": {
                                        "0": {"text": "down", "color": "red"},
                                        "1": {"text": "up", "color": "green"},
                                    },
                                }
                            ]
                        }
                    },
                ),
            ],
        ),
        (
            "States",
            [
                Panel(
                    title="State timeline",
                    type="state-timeline",
                    width=16,
                    height=10,
                    description=(
                        "Each process' state over time (supervisord's state codes, "
                        "mapped back to names)."
                    ),
                    queries=(
                        Query(
                            expr=state_code_expression(scope, *_PROCESS_MATCHERS),
                            legend=_LEGEND,
                        ),
                    ),
                    options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8},
                    field_config={
                        "defaults": {"mappings": _state_mappings(), "color": {"mode": "fixed"}}
                    },
                ),
                Panel(
                    title="Current states",
                    type="table",
                    width=8,
                    height=10,
                    queries=(
                        Query(
                            expr=f"{process(catalogue.PROCESS_STATE.name)} == 1",
                            instant=True,
                            format="table",
                        ),
                    ),
                    transformations=(
                        {
                            "id": "organize",
                            "options": {
                                "excludeByName": {"Time": True, "Value": True, "__name__": True},
                                "indexByName": {"instance": 0, "group": 1, "name": 2, "state": 3},
                            },
                        },
                    ),
                ),
            ],
        ),
        (
            "Restarts and exits",
            [
                Panel(
                    title="Restarts per minute",
                    type="timeseries",
                    queries=(
                        Query(
                            expr=(
                                f"sum by ({PROCESS_KEY}) (rate("
                                f"{process(catalogue.PROCESS_RESTARTS.name)}"
                                "[$__rate_interval])) * 60"
                            ),
                            legend=_LEGEND,
                        ),
                    ),
                ),
                Panel(
                    title="Exits by expected",
                    type="timeseries",
                    description="expected=false: the exit code was not in exitcodes, or a signal.",
                    queries=(
                        Query(
                            expr=(
                                f"sum by ({PROCESS_KEY}, expected) (increase("
                                f"{process(catalogue.PROCESS_EXITS.name)}[$__rate_interval]))"
                            ),
                            legend=_LEGEND + " expected={{expected}}",
                        ),
                    ),
                    options={"legend": {"displayMode": "table", "placement": "bottom"}},
                    field_config={
                        "defaults": {
                            "custom": {"drawStyle": "bars", "stacking": {"mode": "normal"}}
                        }
                    },
                ),
                Panel(
                    title="Last exit codes",
                    type="table",
                    description="Negative: killed by signal N (-9: SIGKILL).",
                    queries=(
                        Query(
                            expr=process(catalogue.PROCESS_LAST_EXIT_CODE.name),
                            instant=True,
                            format="table",
                        ),
                    ),
                    transformations=(
                        {
                            "id": "organize",
                            "options": {
                                "excludeByName": {"Time": True, "__name__": True},
                                "renameByName": {"Value": "last exit code"},
                            },
                        },
                    ),
                ),
                Panel(
                    title="Restart storms",
                    type="state-timeline",
                    width=24,
                    height=6,
                    description="1 while superd's storm detector sees a restart storm.",
                    queries=(
                        Query(
                            expr=process(catalogue.PROCESS_RESTART_STORM.name),
                            legend=_LEGEND,
                        ),
                    ),
                    field_config={
                        "defaults": {
                            "mappings": [
                                {
                                    "type": "value",
                                    "options": {
                                        "0": {"text": "calm", "color": "green"},
                                        "1": {"text": "STORM", "color": "red"},
                                    },
                                }
                            ]
                        }
                    },
                ),
            ],
        ),
        (
            "Run durations",
            [
                Panel(
                    title="Run durations (heatmap)",
                    type="heatmap",
                    width=12,
                    description="How long runs lived (spawn to exit); crash loops sit low.",
                    queries=(
                        Query(
                            expr=f"sum by (le) (increase({buckets}[$__rate_interval]))",
                            legend="{{le}}",
                            format="heatmap",
                        ),
                    ),
                    options={
                        "calculate": False,
                        "yAxis": {"unit": "s"},
                        "cellGap": 1,
                    },
                ),
                Panel(
                    title="Run duration quantiles (1h)",
                    type="timeseries",
                    width=12,
                    unit="s",
                    queries=tuple(
                        Query(
                            expr=(
                                f"histogram_quantile({q}, sum by ({PROCESS_KEY}, le) "
                                f"(rate({buckets}[1h])))"
                            ),
                            legend=f"{_LEGEND} p{round(q * 100)}",
                        )
                        for q in (0.5, 0.9)
                    ),
                ),
            ],
        ),
        (
            "Resources (process trees)",
            [
                Panel(
                    title="CPU (cores)",
                    type="timeseries",
                    queries=(
                        Query(
                            expr=(
                                f"sum by ({PROCESS_KEY}) (rate("
                                f"{process(catalogue.PROCESS_CPU.name)}[$__rate_interval]))"
                            ),
                            legend=_LEGEND,
                        ),
                    ),
                ),
                Panel(
                    title="Resident memory",
                    type="timeseries",
                    unit="bytes",
                    queries=(Query(expr=process(catalogue.PROCESS_RSS.name), legend=_LEGEND),),
                ),
                Panel(
                    title="Open file descriptors",
                    type="timeseries",
                    queries=(Query(expr=process(catalogue.PROCESS_OPEN_FDS.name), legend=_LEGEND),),
                ),
            ],
        ),
        (
            "Events",
            [
                Panel(
                    title="Events per second by type",
                    type="timeseries",
                    queries=(
                        Query(
                            expr=(
                                "sum by (job, instance, type) ("
                                f"rate({daemon(catalogue.EVENTS.name)}[$__rate_interval])) > 0"
                            ),
                            legend="{{instance}} {{type}}",
                        ),
                    ),
                ),
                Panel(
                    title="Events dropped",
                    type="timeseries",
                    description="Dropped by bounded subscribers (/events streams, slow exporters).",
                    queries=(
                        Query(
                            expr=(
                                f"sum by (job, instance, subscriber) (increase("
                                f"{daemon(catalogue.EVENTS_DROPPED.name)}[$__rate_interval]))"
                            ),
                            legend="{{instance}} {{subscriber}}",
                        ),
                    ),
                    field_config=_thresholds_red_above(1),
                ),
                Panel(
                    title="Log bytes per second",
                    type="timeseries",
                    unit="Bps",
                    queries=(
                        Query(
                            expr=(
                                f"sum by ({PROCESS_KEY}, stream) (rate("
                                f"{process(catalogue.PROCESS_LOG_BYTES.name)}[$__rate_interval]))"
                            ),
                            legend=_LEGEND + " {{stream}}",
                        ),
                    ),
                ),
            ],
        ),
    ]


def _thresholds_red_above(value: float) -> dict[str, object]:
    return {
        "defaults": {
            "thresholds": {
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}, {"color": "red", "value": value}],
            }
        }
    }


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, object]:
    targets = []
    for index, query in enumerate(panel.queries):
        target: dict[str, object] = {
            "datasource": dict(_DATASOURCE),
            "refId": chr(ord("A") + index),
            "expr": query.expr,
            "legendFormat": query.legend or "__auto",
            "format": query.format,
        }
        if query.instant:
            target["instant"] = True
            target["range"] = False
        targets.append(target)
    field_config: dict[str, object] = {"defaults": {}, "overrides": []}
    defaults: dict[str, object] = {"unit": panel.unit}
    extra = panel.field_config.get("defaults", {})
    assert isinstance(extra, dict)
    defaults.update(extra)
    field_config["defaults"] = defaults
    result: dict[str, object] = {
        "id": panel_id,
        "type": panel.type,
        "title": panel.title,
        "datasource": dict(_DATASOURCE),
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "targets": targets,
        "fieldConfig": field_config,
        "options": dict(panel.options),
    }
    if panel.description:
        result["description"] = panel.description
    if panel.transformations:
        result["transformations"] = [dict(t) for t in panel.transformations]
    return result


def _variable(name: str, label: str, query: str, *, multi: bool = True) -> dict[str, object]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": dict(_DATASOURCE),
        "query": {"query": query, "refId": f"{name}-variable"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": multi,
        "sort": 1,
        "current": {},
        "options": [],
    }


def _templating() -> dict[str, object]:
    up = catalogue.PROCESS_UP.name
    return {
        "list": [
            {
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "options": [],
                "refresh": 1,
            },
            _variable("job", "job", f"label_values({catalogue.INFO.name}, job)"),
            _variable(
                "instance",
                "instance",
                f'label_values({catalogue.INFO.name}{{job=~"$job"}}, instance)',
            ),
            _variable(
                "group",
                "group",
                f'label_values({up}{{job=~"$job", instance=~"$instance"}}, group)',
            ),
            _variable(
                "name",
                "name",
                f'label_values({up}{{job=~"$job", instance=~"$instance", group=~"$group"}}, name)',
            ),
        ]
    }


def overview_dashboard(config: AlertConfig) -> dict[str, object]:
    """The ``supervisor-overview`` dashboard as Grafana's JSON model."""
    panels: list[dict[str, object]] = []
    y = 0
    panel_id = 1
    for title, row in _rows(config):
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": _GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        panel_id += 1
        y += 1
        x = 0
        line_height = 0
        for panel in row:
            if x + panel.width > _GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            panels.append(_panel_json(panel, panel_id, x, y))
            panel_id += 1
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    storm = selector(
        catalogue.PROCESS_RESTART_STORM.name,
        _scope(config),
        *_PROCESS_MATCHERS,
    )
    return {
        "uid": DASHBOARD_UID,
        "title": "Supervisor overview",
        "description": (
            "superd's processes: states, restarts, exits, run durations, storms, "
            "resources and events (generated by python -m exporters.alerts render)."
        ),
        "tags": ["supervisor", "superd"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {
            "list": [
                {
                    "name": "Restart storms",
                    "datasource": dict(_DATASOURCE),
                    "enable": True,
                    "iconColor": "red",
                    "expr": f"changes({storm}[1m]) > 0 and {storm} == 1",
                    "step": "60s",
                    "titleFormat": "restart storm",
                    "textFormat": _LEGEND,
                    "tagKeys": "instance,group,name",
                }
            ]
        },
        "templating": _templating(),
        "panels": panels,
        "links": [],
    }
