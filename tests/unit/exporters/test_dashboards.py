"""The three generated Grafana dashboards: drift, the SDK's types, queries, layout, links.

The drift and type tests need grafana-foundation-sdk (the ``dev`` dependency group):
they skip without it locally and fail under ``CI=true``. The others read the
checked-in JSON, which the drift test proves is what the builders make.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from exporters.alerts import AlertConfig, alerting_provisioning
from exporters.alerts.dashboards import (
    DAEMON,
    DASHBOARD_UID,
    DASHBOARDS,
    FLEET,
    PROCESS,
    SDK_MISSING,
    DashboardFile,
)
from exporters.prometheus.catalogue import CATALOGUE, MetricType
from supervisor_core.lifecycle import ProcessState
from tests.peers import require_module

ROOT = Path(__file__).resolve().parents[3]
IDS = [board.uid for board in DASHBOARDS]

HOST = frozenset({"job", "instance"})
# Every series a dashboard may query, with its labels: the catalogue, and what the
# scraping Prometheus and client_python add for superd's own process.
KNOWN: dict[str, frozenset[str]] = dict.fromkeys(
    (
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ),
    HOST,
)
for _spec in CATALOGUE:
    _labels = HOST | set(_spec.all_labels)
    KNOWN[_spec.name] = _labels
    if _spec.type is MetricType.HISTOGRAM:
        KNOWN[f"{_spec.name}_bucket"] = _labels | {"le"}
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
# A recorded series' name (level:metric:operations): dashboards work without our rules.
RECORDED = re.compile(r"\b[a-zA-Z_]+:[a-zA-Z_:]+\b")
LABEL_NAME = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"')


def load(board: DashboardFile) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / board.path).read_text())
    return data


def targets(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every target."""
    return [(p["title"], t["expr"]) for p in data["panels"] for t in p.get("targets", [])]


@pytest.mark.parametrize("board", DASHBOARDS, ids=IDS)
def test_each_checked_in_dashboard_is_what_the_builders_make(board: DashboardFile) -> None:
    """Regenerating a dashboard with the SDK gives the checked-in JSON byte for byte."""
    require_module("grafana_foundation_sdk")  # fails, not skips, under CI=true
    from exporters.alerts.render import artefacts

    assert artefacts(AlertConfig())[board.path] == (ROOT / board.path).read_text(), (
        "run: python -m exporters.alerts render"
    )


@pytest.mark.parametrize("board", DASHBOARDS, ids=IDS)
def test_each_dashboard_reads_back_through_the_sdk_types_unchanged(board: DashboardFile) -> None:
    """The checked-in JSON, parsed into the SDK's Dashboard model and written back, is
    unchanged: it holds no key Grafana's schema (as the SDK types it) does not know."""
    require_module("grafana_foundation_sdk")
    from exporters.alerts.dashboards import parse_dashboard

    data = load(board)
    assert parse_dashboard(data) == data
    broken = {**data, "panels": [{**data["panels"][1], "notAGrafanaKey": 1}]}
    assert parse_dashboard(broken) != broken  # an unknown key is dropped: the check bites


def test_rendering_without_the_sdk_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without grafana-foundation-sdk, building the dashboards raises one clear error."""
    import sys

    from exporters.alerts.dashboards import build_dashboards

    monkeypatch.setitem(sys.modules, "grafana_foundation_sdk", None)  # import fails
    with pytest.raises(RuntimeError, match="grafana-foundation-sdk") as caught:
        build_dashboards(AlertConfig())
    assert str(caught.value) == SDK_MISSING
    from exporters.alerts.__main__ import main

    with pytest.raises(SystemExit) as stopped:
        main(["render", "--check"])
    assert stopped.value.code == 2  # argparse's usage error, with the message above


def test_three_dashboards_with_stable_uids_the_alerts_link_to_the_fleet() -> None:
    """Fleet (the first dashboard's uid), drill-down and superd; alert rules open the fleet."""
    assert [(b.uid, load(b)["uid"]) for b in DASHBOARDS] == [
        ("supervisor-overview", "supervisor-overview"),
        ("supervisor-process", "supervisor-process"),
        ("supervisor-superd", "supervisor-superd"),
    ]
    assert FLEET.uid == DASHBOARD_UID
    assert sorted(p.name for p in (ROOT / "grafana" / "dashboards").glob("*.json")) == sorted(
        Path(b.path).name for b in DASHBOARDS
    )
    (group,) = alerting_provisioning(AlertConfig())["groups"]  # type: ignore[misc]
    assert {r["annotations"]["__dashboardUid__"] for r in group["rules"]} == {FLEET.uid}
    for board in DASHBOARDS:
        data = load(board)
        assert "superd" in data["tags"]  # the dashboards menu finds them by the tag
        assert {
            "title": "superd dashboards",
            "type": "dashboards",
            "tags": ["superd"],
            "asDropdown": True,
            "includeVars": True,
            "keepTime": True,
        }.items() <= next(link for link in data["links"] if link["type"] == "dashboards").items()


@pytest.mark.parametrize("board", DASHBOARDS, ids=IDS)
def test_queries_name_served_metrics_with_their_labels_filtered_by_the_variables(
    board: DashboardFile,
) -> None:
    """Every target names known series with their own labels and filters by $job and
    $instance; the drill-down's process series also by $group and $name."""
    data = load(board)
    found = targets(data)
    assert len(found) >= 10
    for title, expr in found:
        selectors = SELECTOR.findall(expr)
        assert selectors, f"{title}: no selector in {expr!r}"
        for metric, matchers in selectors:
            assert metric in KNOWN, f"{title}: {metric} is not served"
            labels = frozenset(LABEL_NAME.findall(matchers))
            assert labels <= KNOWN[metric], f"{title}: {metric} has no {labels - KNOWN[metric]}"
            assert {'job=~"$job"', 'instance=~"$instance"'} <= {
                m.strip() for m in matchers.split(",")
            }, f"{title}: {metric} not filtered by the host variables"
            if board is PROCESS and metric.startswith("supervisor_process_"):
                assert 'group=~"$group"' in matchers, title
                assert 'name=~"$name"' in matchers, title
        assert not RECORDED.search(expr), f"{title}: needs our recording rules: {expr!r}"


@pytest.mark.parametrize("board", DASHBOARDS, ids=IDS)
def test_panels_have_unique_ids_the_datasource_variable_and_fit_the_grid(
    board: DashboardFile,
) -> None:
    """Panel ids are unique, every panel and target uses ${datasource}, no two overlap,
    every target has its own refId."""
    data = load(board)
    panels = data["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) == len(panels)
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    for name in ("job", "instance"):
        assert variables[name]["datasource"] == datasource
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"] == datasource, panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert refs == [chr(ord("A") + i) for i in range(len(refs))], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == datasource, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps at {(x, y)}"
                cells.add((x, y))


def titles(board: DashboardFile) -> set[str]:
    return {p["title"] for p in load(board)["panels"]}


def test_each_dashboard_has_the_panels_the_docs_describe() -> None:
    """The panels docs/metrics.md lists for each dashboard exist under those titles."""
    assert {
        "superd up",
        "Processes RUNNING",
        "FATAL",
        "In a restart storm",
        "Restarts in range",
        "Hosts",
        "Restarts per minute by host",
        "FATAL by host",
        "Not running by host",
        "Processes",
        "Top restarting processes",
        "Restart storms",
    } <= titles(FLEET)
    assert {
        "State",
        "Started",
        "Last exit code",
        "Restarts in range",
        "State timeline",
        "Starts by cause",
        "Exits by expected",
        "Exit code",
        "Run durations",
        "Run duration quantiles (1h)",
        "CPU (cores)",
        "Resident memory",
        "Open file descriptors",
        "Log bytes per second",
    } <= titles(PROCESS)
    assert {
        "superd up",
        "Scrape duration",
        "Samples per scrape",
        "Events per second by type",
        "Events dropped",
        "Subscriber errors",
        "Journal errors",
        "Log write errors",
        "Notifications by outcome",
        "superd CPU (cores)",
        "superd resident memory",
        "superd open file descriptors",
    } <= titles(DAEMON)


def test_the_fleet_hosts_table_has_one_query_per_column_each_by_host() -> None:
    """The Hosts table merges six instant table queries, each keeping job and instance."""
    (hosts,) = [p for p in load(FLEET)["panels"] if p["title"] == "Hosts" and "targets" in p]
    assert [t["refId"] for t in hosts["targets"]] == list("ABCDEF")
    assert all(t["instant"] and t["format"] == "table" for t in hosts["targets"])
    assert [t["id"] for t in hosts["transformations"]] == ["merge", "organize"]
    renamed = hosts["transformations"][1]["options"]["renameByName"]
    assert list(renamed) == [f"Value #{ref}" for ref in "ABCDEF"]
    for target in hosts["targets"][1:]:
        assert target["expr"].startswith(("count by (job, instance)", "sum by (job, instance)"))


def test_fleet_process_tables_link_to_the_drill_down_with_all_four_variables() -> None:
    """Both process tables' data links open the drill-down's uid with job, instance,
    group and name taken from the clicked row."""
    for title in ("Processes", "Top restarting processes"):
        (panel,) = [p for p in load(FLEET)["panels"] if p["title"] == title and "targets" in p]
        (link,) = panel["fieldConfig"]["defaults"]["links"]
        assert link["url"].startswith(f"/d/{PROCESS.uid}/")
        for name in ("job", "instance", "group", "name"):
            assert f"var-{name}=${{__data.fields.{name}}}" in link["url"]


def test_the_drill_down_links_to_the_process_events_on_its_superd() -> None:
    """The drill-down has one process per variable and a link to superd's /events of it."""
    data = load(PROCESS)
    variables = {v["name"]: v for v in data["templating"]["list"]}
    for name in ("job", "instance", "group", "name"):
        assert variables[name]["multi"] is False
        assert variables[name]["includeAll"] is False
    assert variables["superd_url"]["type"] == "textbox"
    urls = [link["url"] for link in data["links"]]
    assert "${superd_url}/events?process=${group}:${name}&last=200" in urls


def test_state_panels_map_every_state_code_back_to_its_name() -> None:
    """The drill-down's state timeline and stat map supervisord's eight state codes."""
    panels = {p["title"]: p for p in load(PROCESS)["panels"]}
    for title in ("State timeline", "State"):
        mapping = panels[title]["fieldConfig"]["defaults"]["mappings"][0]["options"]
        assert {k: v["text"] for k, v in mapping.items()} == {
            str(int(s)): s.name for s in ProcessState
        }
        for state in ProcessState:
            assert f'state="{state.name}"}} * {int(state)}' in panels[title]["targets"][0]["expr"]
