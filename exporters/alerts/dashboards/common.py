"""What the three dashboards share: datasource, selectors, variables, queries, panels.

Rules of this file:
- Every query goes through ``rules.selector`` with the dashboard's template variables
  (``$job``, ``$instance``, and on the drill-down ``$group``, ``$name``), so a panel
  can only name catalogue metrics and filters like every other panel.
- Every panel and target queries the datasource variable ``${datasource}``; panel ids
  are assigned in order after the build, so they are unique and stable across renders;
  each panel's targets are lettered A, B, ... in order.
- A fleet never merges hosts: an aggregation that keeps a process label (``group``,
  ``name``) keeps ``job`` and ``instance`` too (``PROCESS_KEY``), and per-host series
  keep ``job, instance``; only a total over the whole selection (a stat, the
  run-duration heatmap) drops them all. tests/unit/exporters/test_fleet_queries.py
  checks every generated expression.
- The layout is the SDK's: panels flow left to right in rows of 24 columns.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from exporters.alerts.dashboards import FLEET
from exporters.alerts.rules import AlertConfig, selector
from exporters.prometheus import catalogue
from supervisor_core.lifecycle import ProcessState

DATASOURCE_VARIABLE = "${datasource}"
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid=DATASOURCE_VARIABLE)
PROCESS_MATCHERS = ('group=~"$group"', 'name=~"$name"')
HOST_LEGEND = "{{instance}}"
PROCESS_LEGEND = "{{instance}} {{group}}:{{name}}"
HOST_KEY = "job, instance"
# Grafana's schema version of the generated JSON (what the SDK's types describe).
SCHEMA_VERSION = 39

# Colours of the state timeline, by supervisord state.
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


def scope(config: AlertConfig) -> AlertConfig:
    """The config whose selector adds the dashboard's ``$job``/``$instance`` variables."""
    variables = 'job=~"$job", instance=~"$instance"'
    own = config.selector
    return dataclasses.replace(config, selector=f"{own}, {variables}" if own else variables)


def daemon_metric(metric: str, config: AlertConfig, *matchers: str) -> str:
    """``metric`` of one superd (host labels only), within the dashboard's hosts."""
    return selector(metric, scope(config), *matchers)


def process_metric(metric: str, config: AlertConfig, *matchers: str) -> str:
    """``metric`` of the drill-down's processes (``$group``, ``$name``) on its hosts."""
    return selector(metric, scope(config), *PROCESS_MATCHERS, *matchers)


def sum_by(keep: str, function: str, series: str, window: str = "$__rate_interval") -> str:
    """``function`` (``rate``, ``increase``) of ``series`` over ``window``, summed by ``keep``."""
    return f"sum by ({keep}) ({function}({series}[{window}]))"


def quantile_queries(
    buckets: str, keep: str, legend: str, quantiles: dict[str, str], window: str
) -> list[prometheus.Dataquery]:
    """One target per quantile of the histogram ``buckets``, by ``keep``.

    ``quantiles`` maps each quantile (``"0.5"``) to its legend suffix (``"p50"``).
    """
    return [
        query(
            f"histogram_quantile({quantile}, {sum_by(f'{keep}, le', 'rate', buckets, window)})",
            f"{legend} {label}",
        )
        for quantile, label in quantiles.items()
    ]


def query(
    expr: str, legend: str = "", *, instant: bool = False, table_format: bool = False
) -> prometheus.Dataquery:
    """One Prometheus target (its refId is given when the panel is assembled)."""
    target = (
        prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").datasource(DATASOURCE)
    )
    if instant:
        target = target.instant()
    if table_format:
        target = target.format(pm.PromQueryFormat.TABLE)
    return target


def _lettered(
    targets: tuple[prometheus.Dataquery, ...],
) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    return [target.ref_id(chr(ord("A") + index)) for index, target in enumerate(targets)]


def red_above(value: float) -> db.ThresholdsConfig:
    """Green below ``value``, red from it on (a count that should stay 0)."""
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=None, color="green"), dm.Threshold(value=value, color="red")])
    )


def mappings(values: dict[str, tuple[str, str]]) -> list[dm.ValueMapping]:
    """Value mappings: raw value -> (text, colour), in the given order."""
    return [
        dm.ValueMap(
            options={
                raw: dm.ValueMappingResult(text=text, color=colour, index=index)
                for index, (raw, (text, colour)) in enumerate(values.items())
            }
        )
    ]


def state_mappings() -> list[dm.ValueMapping]:
    """supervisord's state codes mapped back to their names and colours."""
    return mappings({str(int(s)): (s.name, _STATE_COLOURS[s]) for s in ProcessState})


def up_mappings() -> list[dm.ValueMapping]:
    """Prometheus' ``up``: 0 down (red), 1 up (green)."""
    return mappings({"0": ("down", "red"), "1": ("up", "green")})


def storm_mappings() -> list[dm.ValueMapping]:
    """superd's restart-storm gauge: 0 calm (green), 1 STORM (red)."""
    return mappings({"0": ("calm", "green"), "1": ("STORM", "red")})


def _legend() -> common_builder.VizLegendOptions:
    return (
        common_builder.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.LIST)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def _tooltip() -> common_builder.VizTooltipOptions:
    return (
        common_builder.VizTooltipOptions()
        .mode(cm.TooltipDisplayMode.MULTI)
        .sort(cm.SortOrder.DESCENDING)
    )


class _PanelBuilder(Protocol):
    """What every panel builder of the SDK has (they share no base class)."""

    def title(self, title: str) -> Self: ...

    def description(self, description: str) -> Self: ...

    def datasource(self, datasource: dm.DataSourceRef) -> Self: ...

    def targets(self, targets: list[cogbuilder.Builder[cogvariants.Dataquery]]) -> Self: ...

    def span(self, w: int) -> Self: ...

    def height(self, h: int) -> Self: ...


_PanelT = TypeVar("_PanelT", bound=_PanelBuilder)


def panel(
    builder: _PanelT,
    title: str,
    *targets: prometheus.Dataquery,
    description: str,
    width: int,
    height: int,
) -> _PanelT:
    """``builder`` with what every panel sets: title, description, datasource, targets, size."""
    return (
        builder.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_lettered(targets))
        .span(width)
        .height(height)
    )


def timeseries_panel(
    title: str,
    *targets: prometheus.Dataquery,
    description: str,
    unit: str = "short",
    width: int = 8,
    height: int = 8,
    bars: bool = False,
) -> timeseries.Panel:
    """A time series panel (lines, or stacked bars for counts per interval)."""
    built = (
        panel(
            timeseries.Panel(), title, *targets, description=description, width=width, height=height
        )
        .unit(unit)
        .legend(_legend())
        .tooltip(_tooltip())
    )
    if bars:
        built = built.draw_style(cm.GraphDrawStyle.BARS).stacking(
            common_builder.StackingConfig().mode(cm.StackingMode.NORMAL)
        )
    return built


def errors_panel(title: str, target: prometheus.Dataquery, *, description: str) -> timeseries.Panel:
    """Bars of a count per interval that should stay 0: red from 1 on."""
    return timeseries_panel(title, target, description=description, bars=True).thresholds(
        red_above(1)
    )


def stat_panel(
    title: str,
    *targets: prometheus.Dataquery,
    description: str,
    unit: str = "short",
    width: int = 4,
    height: int = 4,
) -> stat.Panel:
    """A single-value panel showing each series' last value."""
    return (
        panel(stat.Panel(), title, *targets, description=description, width=width, height=height)
        .unit(unit)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.VALUE)
    )


def table_panel(
    title: str,
    *targets: prometheus.Dataquery,
    description: str,
    width: int = 12,
    height: int = 8,
) -> table.Panel:
    """A table of instant queries (``instant=True, table_format=True`` targets)."""
    return panel(
        table.Panel(), title, *targets, description=description, width=width, height=height
    ).show_header(True)


def state_timeline_panel(
    title: str,
    *targets: prometheus.Dataquery,
    description: str,
    value_mappings: list[dm.ValueMapping],
) -> statetimeline.Panel:
    """A full-width state timeline of ``targets``, coloured by ``value_mappings``."""
    return (
        panel(statetimeline.Panel(), title, *targets, description=description, width=24, height=6)
        .mappings(value_mappings)
        .show_value(cm.VisibilityMode.NEVER)
    )


def superd_up_panel(metric: Callable[[str], str]) -> stat.Panel:
    """Whether Prometheus reaches each superd, with its version (``metric`` scopes a name)."""
    return (
        stat_panel(
            "superd up",
            query(
                f"{metric('up')} * on ({HOST_KEY}) group_left (version) "
                f"{metric(catalogue.INFO.name)}",
                "{{instance}} {{version}}",
            ),
            description="Whether Prometheus reaches each superd, and its version.",
            width=8,
        )
        .text_mode(cm.BigValueTextMode.NAME)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .mappings(up_mappings())
    )


def organize(
    *,
    exclude: tuple[str, ...] = ("Time", "__name__"),
    order: tuple[str, ...] = (),
    rename: dict[str, str] | None = None,
) -> dm.DataTransformerConfig:
    """Grafana's ``organize`` transformation: hide, order and rename table columns."""
    return dm.DataTransformerConfig(
        id_val="organize",
        options={
            "excludeByName": dict.fromkeys(exclude, True),
            "indexByName": {name: index for index, name in enumerate(order)},
            "renameByName": dict(rename or {}),
        },
    )


def datasource_variable() -> db.DatasourceVariable:
    """``$datasource``: any Prometheus datasource."""
    return db.DatasourceVariable("datasource").label("Prometheus").type("prometheus")


def query_variable(name: str, query_text: str, *, multi: bool = True) -> db.QueryVariable:
    """A label's values from Prometheus; with ``multi``, several values or All (``.*``)."""
    variable = (
        db.QueryVariable(name)
        .label(name)
        .query(query_text)
        .datasource(DATASOURCE)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
    )
    return variable.all_value(".*") if multi else variable


def host_variables(*, multi: bool = True) -> list[db.QueryVariable]:
    """``$job`` and ``$instance``: which superds (from their ``supervisor_info``)."""
    info = catalogue.INFO.name
    return [
        query_variable("job", f"label_values({info}, job)", multi=multi),
        query_variable("instance", f'label_values({info}{{job=~"$job"}}, instance)', multi=multi),
    ]


def fleet_link(*, include_vars: bool) -> db.DashboardLink:
    """The link back to the fleet overview, keeping the time range (and the variables)."""
    link = db.DashboardLink("Fleet overview").type(dm.DashboardLinkType.LINK).url(f"/d/{FLEET.uid}")
    if include_vars:
        link = link.include_vars(True)
    return link.keep_time(True)


def base_dashboard(
    uid: str, title: str, description: str, variables: list[db.QueryVariable]
) -> db.Dashboard:
    """A dashboard with the settings all three share, ``$datasource`` and ``variables``."""
    board = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["supervisor", "superd"])
        .timezone("browser")
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .time("now-6h", "now")
        .version(1)
        .with_variable(datasource_variable())
        .link(
            db.DashboardLink("superd dashboards")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["superd"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    for variable in variables:
        board = board.with_variable(variable)
    return board


def finish(builder: db.Dashboard) -> dm.Dashboard:
    """Build ``builder``; number its panels 1, 2, ... in order; set the schema version."""
    board = builder.build()
    for index, panel in enumerate(board.panels or [], start=1):
        panel.id_val = index
    board.schema_version = SCHEMA_VERSION
    return board


def _encode(board: dm.Dashboard) -> dict[str, object]:
    data: dict[str, object] = json.loads(JSONEncoder().encode(board))
    return data


def to_json(board: dm.Dashboard) -> dict[str, object]:
    """``board`` as Grafana's JSON model (plain dicts and lists), in canonical form.

    The canonical form is the board read back through the SDK's model types once
    (``reparse``): that fills in each panel type's field-config defaults, so the
    checked-in file is a fixed point of ``reparse`` and the test can demand equality.
    """
    return reparse(_encode(board))


def reparse(data: dict[str, object]) -> dict[str, object]:
    """``data`` read into the SDK's model types and written back as JSON."""
    # The panel plugins' option and field-config types; without them options stay raw.
    plugins.register_default_plugins()
    return _encode(dm.Dashboard.from_json(data))
