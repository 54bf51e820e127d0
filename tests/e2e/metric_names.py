"""The metric names the docs, dashboards, rule files and catalogue use, found by parsing.

Rules of this file:
- Every PromQL expression goes through a real PromQL parser (``promql-parser``); a
  name is a vector selector's name, or its ``__name__="..."`` matcher. Nothing is
  listed by hand: a file that starts naming a new metric shows up here.
- An expression that must be PromQL (a dashboard target, a rule's ``expr``, a
  ```` ```promql ```` block) and does not parse is an error naming its place, never
  skipped. Inline code in the docs' prose is PromQL only when it parses; of its
  names, those in superd's namespaces count (``supervisor_``, and client_python's
  ``process_``/``python_`` for superd's own process), so label names, states and
  options in backticks are not taken for metrics.
- A name with a colon is a recorded series (Prometheus' naming rule for recording
  rules): it must be the ``record:`` of a rule, not a scraped name.
- What "served" means (:class:`Served`): a sample name of a real scrape, a histogram
  named by its family (its ``_bucket``/``_sum``/``_count`` samples are served), or a
  series the scraping Prometheus makes itself (``up``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import promql_parser
import yaml

from exporters.prometheus.catalogue import CATALOGUE

# superd's own prefix (DESIGN.md, observability contract) and client_python's for the
# daemon's process (process_cpu_seconds_total, python_info, ...).
EXPORTED_NAMESPACES = ("supervisor_", "process_", "python_")

# Grafana's interval macros ($__rate_interval, ${__range}, ...) stand where PromQL has a
# duration; any duration parses the same way.
_GRAFANA_MACRO = re.compile(r"\$\{?__[a-z_]+\}?")
_FENCE = re.compile(r"^```(\w*)\s*$")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_HEADING = re.compile(r"^###\s+`([^`]+)`\s+\((\w+)\)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.+),)?\s*(?P<label>\w+)\s*\)\s*$")
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.+)\)\s*$", re.DOTALL)


@dataclass(frozen=True, slots=True, order=True)
class Named:
    """One use of a metric name, and where it is (``file:line`` or ``file: panel``)."""

    name: str
    where: str


def promql_names(expr: str, where: str) -> set[str]:
    """The metric names the PromQL ``expr`` selects.

    Raises:
        ValueError: ``expr`` is not PromQL (the message names ``where``).
    """
    try:
        tree = promql_parser.parse(expr)
    except ValueError as error:
        raise ValueError(f"{where}: not PromQL ({error}): {expr!r}") from error
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(
                m.value
                for m in node.matchers.matchers
                if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal
            )

    promql_parser.walk(tree, visit)
    return names


def _exported(name: str) -> bool:
    return name.startswith(EXPORTED_NAMESPACES)


def _named(names: Iterable[str], where: str) -> list[Named]:
    return [Named(name, where) for name in sorted(names)]


# --------------------------------------------------------------------------- docs


def docs_names(path: Path, root: Path) -> list[Named]:
    """Metric names in a Markdown doc: its ```` ```promql ```` blocks and inline code."""
    found: list[Named] = []
    relative = path.relative_to(root)
    fence: str | None = None
    block: list[tuple[int, str]] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence, block = opened.group(1), []
            continue
        if fence is not None:
            if line.strip() == "```":
                if fence == "promql":
                    found.extend(_promql_block(block, relative))
                fence = None
            else:
                block.append((number, line))
            continue
        for span in _INLINE_CODE.findall(line):
            try:
                names = promql_names(span, f"{relative}:{number}")
            except ValueError:
                continue  # prose: a path, an option, a command; not PromQL
            # A recorded series names its metric between colons (level:metric:ops).
            kept = (n for n in names if any(_exported(part) for part in n.split(":")))
            found.extend(_named(kept, f"{relative}:{number}"))
    return found


def _promql_block(block: list[tuple[int, str]], relative: Path) -> list[Named]:
    """One fenced block: a single expression, or one expression per line."""
    if not block:
        return []
    first = block[0][0]
    try:
        return _named(promql_names("\n".join(t for _, t in block), ""), f"{relative}:{first}")
    except ValueError:
        pass  # several expressions, one per line
    found: list[Named] = []
    for number, text in block:
        if text.strip():
            found.extend(_named(promql_names(text, f"{relative}:{number}"), f"{relative}:{number}"))
    return found


def docs_types(path: Path) -> dict[str, str]:
    """``### `name` (type)`` headings: the documented type of each metric."""
    return {
        match.group(1): match.group(2)
        for line in path.read_text().splitlines()
        if (match := _HEADING.match(line))
    }


# --------------------------------------------------------------------------- dashboards


def grafana_promql(expr: str) -> str:
    """A Grafana query as plain PromQL: interval macros become a duration."""
    return _GRAFANA_MACRO.sub("5m", expr)


def _variable_names(query: str, where: str) -> set[str]:
    """A Grafana Prometheus variable query: ``label_values(sel, label)``, ``query_result(e)``."""
    if match := _LABEL_VALUES.match(query):
        selector = match.group("selector")
        return promql_names(grafana_promql(selector), where) if selector else set()
    if match := _QUERY_RESULT.match(query):
        return promql_names(grafana_promql(match.group("expr")), where)
    raise ValueError(f"{where}: unknown Grafana variable query {query!r}")


def _exprs(node: object, title: str) -> Iterator[tuple[str, str]]:
    """(title of the nearest titled ancestor, expr) for every ``expr`` key in a JSON tree."""
    if isinstance(node, dict):
        title = str(node.get("title") or node.get("name") or title)
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield title, value
            else:
                yield from _exprs(value, title)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item, title)


def dashboard_names(path: Path, root: Path) -> list[Named]:
    """Metric names in a Grafana dashboard: every target, annotation and query variable."""
    relative = path.relative_to(root)
    dashboard = json.loads(path.read_text())
    found: list[Named] = []
    for title, expr in _exprs({**dashboard, "templating": None}, "dashboard"):
        where = f"{relative}: {title!r}"
        found.extend(_named(promql_names(grafana_promql(expr), where), where))
    for variable in (dashboard.get("templating") or {}).get("list", []):
        if variable.get("type") != "query":
            continue  # datasource, custom, interval, ...: no PromQL
        query = variable.get("definition") or variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        where = f"{relative}: variable ${variable.get('name')}"
        found.extend(_named(_variable_names(str(query), where), where))
    return found


# --------------------------------------------------------------------------- rule files


@dataclass(frozen=True, slots=True)
class RuleNames:
    """Names a rule file reads (``expr``, test ``series``) and the series it records."""

    used: list[Named] = field(default_factory=list)
    records: set[str] = field(default_factory=set)


def _rule_strings(node: object, where: str) -> Iterator[tuple[str, str, str]]:
    """(key, value, where) for every PromQL-bearing string of a rule or rule-test file."""
    if isinstance(node, dict):
        where = str(
            node.get("alert")
            or node.get("record")
            or node.get("title")
            or node.get("name")
            or where
        )
        for key, value in node.items():
            # expr: rules, Grafana rules and promtool tests; series: promtool input
            # series; labels (a string): promtool's expected samples; record: outputs.
            if key in {"expr", "series", "labels", "record"} and isinstance(value, str):
                yield key, value, where
            else:
                yield from _rule_strings(value, where)
    elif isinstance(node, list):
        for item in node:
            yield from _rule_strings(item, where)


def rule_file_names(path: Path, root: Path) -> RuleNames:
    """Names a Prometheus rule file, promtool test file or Grafana alert file uses."""
    relative = path.relative_to(root)
    result = RuleNames()
    for key, value, context in _rule_strings(yaml.safe_load(path.read_text()), "file"):
        if key == "record":
            result.records.add(value)
            continue
        where = f"{relative}: {context}"
        result.used.extend(_named(promql_names(value, where), where))
    return result


# --------------------------------------------------------------------------- catalogue


def catalogue_names() -> list[Named]:
    """Every name of ``exporters/prometheus/catalogue.py`` (what the collector renders)."""
    return [Named(spec.name, "exporters/prometheus/catalogue.py") for spec in CATALOGUE]


# --------------------------------------------------------------------------- served


@dataclass(frozen=True, slots=True, kw_only=True)
class Served:
    """What a real scrape of superd served, plus what the scraping Prometheus adds."""

    samples: frozenset[str]  # sample names (``x_total``, ``x_bucket``, ...)
    families: Mapping[str, str]  # family name (client_python's: no ``_total``) -> type
    scraper_made: frozenset[str] = frozenset()  # ``up``, ``scrape_*``

    def serves(self, name: str) -> bool:
        """Whether ``name`` has series: a sample name, or a histogram's family name."""
        if name in self.samples or name in self.scraper_made:
            return True
        return self.families.get(name) == "histogram" and f"{name}_bucket" in self.samples


def unserved(
    named: Iterable[Named], served: Served, records: Iterable[str]
) -> dict[str, list[str]]:
    """Name -> places, for every name that is neither served nor a recorded series."""
    recorded = set(records)
    missing: dict[str, list[str]] = {}
    for use in named:
        known = use.name in recorded if ":" in use.name else served.serves(use.name)
        if not known:
            missing.setdefault(use.name, []).append(use.where)
    return missing


def exposition_name(family: str, type_: str) -> str:
    """The name a doc uses for a served family (counters with their ``_total``)."""
    return f"{family}_total" if type_ == "counter" else family
