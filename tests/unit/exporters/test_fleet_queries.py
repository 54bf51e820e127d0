"""No generated query or documented example merges same-named programs of different hosts.

Every PromQL expression of the generated artefacts (dashboard targets, annotations,
recording rules, alert rules, Grafana alert rules) and of docs/metrics.md is parsed
with a real PromQL parser; each aggregation's kept labels are checked: one that keeps
a process label (``group``, ``name``) must keep ``job`` and ``instance`` too, and one
that keeps ``instance`` must keep ``job``. A total over the whole selection (no
process label, no host label: a stat, the run-duration heatmap) is allowed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import promql_parser
import pytest
import yaml

from exporters.alerts.dashboards import DASHBOARDS
from tests.e2e.metric_names import grafana_promql

ROOT = Path(__file__).resolve().parents[3]
PROCESS_LABELS = frozenset({"group", "name"})
HOST_LABELS = frozenset({"job", "instance"})
# Aggregations that select series and keep their labels whole.
SELECTING = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})


def merges_hosts(expr: str) -> list[str]:
    """The aggregations of ``expr`` that merge hosts while keeping per-program labels."""
    found: list[str] = []

    def visit(node: promql_parser.Expr) -> None:
        if not isinstance(node, promql_parser.AggregateExpr):
            return
        op = str(node.op).lower()
        if any(op.endswith(name) for name in SELECTING) or node.modifier is None:
            return  # keeps every label, or keeps none (a total)
        labels = set(node.modifier.labels)
        if "without" in str(node.modifier.type).lower():
            if labels & HOST_LABELS and not labels >= PROCESS_LABELS:
                found.append(f"{op} without ({', '.join(sorted(labels))})")
            return
        keeps_host = bool(labels & HOST_LABELS)
        if (labels & PROCESS_LABELS and not labels >= HOST_LABELS) or (
            keeps_host and not labels >= HOST_LABELS
        ):
            found.append(f"{op} by ({', '.join(sorted(labels))})")

    promql_parser.walk(promql_parser.parse(grafana_promql(expr)), visit)
    return found


def _exprs(node: object, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        where = str(node.get("title") or node.get("alert") or node.get("record") or where)
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield where, value
            else:
                yield from _exprs(value, where)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item, where)


def generated_queries() -> list[tuple[str, str]]:
    """(place, expr) for every query of every generated artefact (rule tests aside), as
    checked in (the drift test proves the checked-in files are what the module renders)."""
    queries: list[tuple[str, str]] = []
    generated = [
        *(ROOT / "grafana" / "dashboards").glob("*.json"),
        *(ROOT / "grafana" / "provisioning").rglob("*.yml"),
        *(ROOT / "deploy" / "prometheus").glob("supervisor-rules*.yml"),
    ]
    for file in sorted(generated):
        path, text = str(file.relative_to(ROOT)), file.read_text()
        if path.endswith(".json"):
            tree: object = json.loads(text)
        elif path.endswith(".yml") and not path.endswith(".test.yml"):
            tree = yaml.safe_load(text)
        else:
            continue
        queries.extend((f"{path}: {where}", expr) for where, expr in _exprs(tree, path))
    return queries


def docs_queries() -> list[tuple[str, str]]:
    """(file:line, expr) for every ```promql block line-group of docs/metrics.md."""
    queries: list[tuple[str, str]] = []
    block: list[str] | None = None
    start = 0
    for number, line in enumerate((ROOT / "docs" / "metrics.md").read_text().splitlines(), 1):
        if block is None and line.strip() == "```promql":
            block, start = [], number + 1
        elif block is not None and line.strip() == "```":
            try:
                promql_parser.parse("\n".join(block))
                queries.append((f"docs/metrics.md:{start}", "\n".join(block)))
            except ValueError:  # one expression per line
                queries.extend(
                    (f"docs/metrics.md:{start + i}", text)
                    for i, text in enumerate(block)
                    if text.strip()
                )
            block = None
        elif block is not None:
            block.append(line)
    return queries


def test_the_checker_finds_a_merge_of_hosts() -> None:
    """``sum by (group, name)`` and ``without (instance)`` are caught; host-keeping ones pass."""
    assert merges_hosts("sum by (group, name) (rate(x[5m]))") == ["sum by (group, name)"]
    assert merges_hosts("sum by (instance, group, name) (x)") == ["sum by (group, instance, name)"]
    assert merges_hosts("histogram_quantile(0.5, sum by (name, le) (rate(x[1h])))") != []
    assert merges_hosts("sum without (instance) (x)") == ["sum without (instance)"]
    assert merges_hosts("sum by (job, instance, group, name) (rate(x[$__rate_interval]))") == []
    assert merges_hosts("sum(x)") == []
    assert merges_hosts("topk(5, x)") == []


def test_every_generated_query_is_found() -> None:
    """The walk reaches dashboard targets, annotations, recording rules and Grafana rules."""
    places = {place.split(":")[0] for place, _ in generated_queries()}
    assert {
        *(board.path for board in DASHBOARDS),
        "deploy/prometheus/supervisor-rules.yml",
        "grafana/provisioning/alerting/supervisor-alerts.yml",
    } <= places
    assert len(docs_queries()) >= 8


@pytest.mark.parametrize("source", ["generated", "docs"])
def test_no_query_merges_same_named_programs_of_different_hosts(source: str) -> None:
    """Every aggregation keeping group/name keeps job and instance, in artefacts and docs."""
    queries = generated_queries() if source == "generated" else docs_queries()
    bad = {place: merges_hosts(expr) for place, expr in queries if merges_hosts(expr)}
    assert not bad, "\n".join(f"{place}: {', '.join(found)}" for place, found in bad.items())
