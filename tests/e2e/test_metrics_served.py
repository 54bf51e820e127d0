"""Every metric the docs, dashboards, rule files and catalogue name is served by a real superd.

One ``superd`` subprocess runs programs that exercise every metric (output on both
streams, a crash loop that becomes a restart storm, a program never started); its
``/metrics`` is scraped over HTTP, and a real Prometheus (the Debian package) scrapes
it too, so the series Prometheus makes itself (``up``) count as known. The names come
from parsing the files (``tests.e2e.metric_names``), so a doc or dashboard that starts
naming a new metric fails here until superd serves it.
"""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.metric_names import (
    Named,
    Served,
    catalogue_names,
    dashboard_names,
    docs_names,
    docs_types,
    exposition_name,
    rule_file_names,
    unserved,
)
from tests.e2e.prometheus_server import free_port, prometheus
from tests.integration.superd_harness import Superd, base_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "metrics.md"
DEADLINE = 60.0  # seconds for any one condition on a loaded 2-core machine

# Names a file may already use although superd cannot serve them yet. Each entry is
# temporary and must go once the metric is served (the test fails if it is served).
NOT_YET_SERVED: dict[str, str] = {}

# What the chatty program writes, byte for byte, on each stream.
CHATTY_STDOUT = "hello on stdout\n"
CHATTY_STDERR = "and on stderr\n"


@dataclass(frozen=True, slots=True)
class Scrape:
    """One scrape of superd's ``/metrics``: the parsed families and what they serve."""

    families: list[Metric]

    @property
    def served(self) -> Served:
        """The sample names and family types of this scrape."""
        return Served(
            samples=frozenset(s.name for f in self.families for s in f.samples),
            families={f.name: f.type for f in self.families if f.samples},
        )

    def value(self, metric: str, /, **labels: str) -> float | None:
        """The value of the one sample ``metric{labels}``, or None when absent."""
        for family in self.families:
            for sample in family.samples:
                if sample.name == metric and sample.labels == labels:
                    return float(sample.value)
        return None


def scrape(port: int) -> Scrape:
    """GET superd's ``/metrics`` (the classic text format) and parse it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return Scrape(list(text_string_to_metric_families(text)))


def wait_scrape(port: int, ready: Mapping[str, tuple[str, dict[str, str], float]]) -> Scrape:
    """Scrape until every ``ready`` series has at least its value (bounded); fail naming the rest.

    superd is an external process: its ``/metrics`` is all there is to poll.
    """
    end = time.monotonic() + DEADLINE
    while True:
        current = scrape(port)
        behind = {
            what: current.value(name, **labels)
            for what, (name, labels, least) in ready.items()
            if (current.value(name, **labels) or 0) < least
        }
        if not behind:
            return current
        if time.monotonic() > end:
            pytest.fail(f"superd never served: {behind}")
        time.sleep(0.1)


def process(name: str) -> dict[str, str]:
    return {"group": name, "name": name}


@pytest.fixture(scope="module")
def exercised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Scrape, Path]]:
    """superd with every metric exercised; yields its metrics port, a scrape, its directory."""
    tmp = tmp_path_factory.mktemp("served")
    port = free_port()
    text = (
        base_config(tmp)
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{port}\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 30s\n\n"
        # Both streams, stdout kept by no file; the shell waits on a child (a tree of 2).
        + "[program:chatty]\n"
        + f'command = /bin/sh -c \'printf "{CHATTY_STDOUT.strip()}\\n"; '
        + f'printf "{CHATTY_STDERR.strip()}\\n" >&2; sleep 3600\'\n'
        # stopasgroup: the shell's sleep must not outlive the test as an orphan.
        + "stdout_logfile = NONE\nstartsecs = 0\nstopasgroup = true\n\n"
        # The same output with stderr merged into stdout.
        + "[program:merged]\n"
        + f'command = /bin/sh -c \'printf "{CHATTY_STDOUT.strip()}\\n"; '
        + f'printf "{CHATTY_STDERR.strip()}\\n" >&2; exec sleep 3600\'\n'
        + "redirect_stderr = true\nstartsecs = 0\n\n"
        # A crash loop: restarts, exits, exit codes, run durations, a restart storm.
        + "[program:crashy]\n"
        + "command = /bin/sh -c 'echo database unreachable >&2; sleep 0.2; exit 4'\n"
        + "startsecs = 0\nautorestart = true\n\n"
        # Configured, never started: STOPPED, no resource series.
        + "[program:idle]\ncommand = /bin/sh -c 'exec sleep 3600'\nautostart = false\n"
    )
    superd = Superd(tmp, text, "-n")
    try:
        superd.wait_running()
        ready = {
            "crashy restarted": ("supervisor_process_restarts_total", process("crashy"), 3),
            "crashy in a storm": ("supervisor_process_restart_storm", process("crashy"), 1),
            "crashy exited 4": ("supervisor_process_last_exit_code", process("crashy"), 4),
            "chatty running": ("supervisor_process_up", process("chatty"), 1),
        }
        yield port, wait_scrape(port, ready), tmp
    finally:
        if superd.process.poll() is None:
            superd.send(signal.SIGTERM)
            superd.wait_exit()
        superd.close()


def named_everywhere() -> tuple[list[Named], set[str]]:
    """Every metric name the docs, dashboards, rule files and catalogue use; the records."""
    named = docs_names(DOCS, ROOT) + catalogue_names()
    for dashboard in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        named += dashboard_names(dashboard, ROOT)
    records: set[str] = set()
    rule_files = sorted((ROOT / "deploy" / "prometheus").glob("*.yml"))
    for rules in [
        *rule_files,
        *sorted((ROOT / "grafana" / "provisioning" / "alerting").glob("*.yml")),
    ]:
        found = rule_file_names(rules, ROOT)
        named += found.used
        records |= found.records
    return named, records


def test_every_source_names_metrics() -> None:
    """The parsers find names in each kind of file (an extractor that finds none fails)."""
    named, records = named_everywhere()
    places = {use.where.split(":")[0] for use in named}
    for expected in (
        "docs/metrics.md",
        "exporters/prometheus/catalogue.py",
        "grafana/dashboards/supervisor-overview.json",
        "deploy/prometheus/supervisor-rules.yml",
        "deploy/prometheus/supervisor-rules.test.yml",
        "grafana/provisioning/alerting/supervisor-alerts.yml",
    ):
        assert expected in places, f"no metric name found in {expected}"
    assert "instance_group_name:supervisor_process_restarts:rate5m" in records


def test_log_bytes_count_exactly_what_the_child_wrote(exercised: tuple[int, Scrape, Path]) -> None:
    """supervisor_process_log_bytes_total is each stream's byte count, also for a
    stream no log file keeps (stdout_logfile=NONE); redirect_stderr counts both
    under stdout; a process never started shows both streams at 0."""
    port, _, _ = exercised
    expected = {
        ("chatty", "stdout"): len(CHATTY_STDOUT),
        ("chatty", "stderr"): len(CHATTY_STDERR),
        ("merged", "stdout"): len(CHATTY_STDOUT) + len(CHATTY_STDERR),
        ("merged", "stderr"): 0,
        ("idle", "stdout"): 0,
        ("idle", "stderr"): 0,
    }
    ready = {
        f"{who} {stream}": (
            "supervisor_process_log_bytes_total",
            {**process(who), "stream": stream},
            count,
        )
        for (who, stream), count in expected.items()
    }
    current = wait_scrape(port, ready)
    served = {
        key: current.value("supervisor_process_log_bytes_total", **process(key[0]), stream=key[1])
        for key in expected
    }
    assert served == expected
    crashy_err = current.value(
        "supervisor_process_log_bytes_total", **process("crashy"), stream="stderr"
    )
    assert crashy_err is not None
    assert crashy_err >= 3 * len("database unreachable\n")  # every run's line, summed


async def test_every_named_metric_is_served_by_a_real_superd(
    exercised: tuple[int, Scrape, Path],
) -> None:
    """Each metric named in docs/metrics.md, the dashboards, the rule files and the
    catalogue has series in a real scrape of superd (or in the Prometheus scraping it)."""
    port, current, tmp = exercised
    served = current.served
    async with (
        prometheus(tmp, ("127.0.0.1", port)) as base,
        aiohttp.ClientSession() as session,
    ):
        stored = await wait_prometheus_names(session, base, served.samples)
    served = Served(
        samples=served.samples,
        families=served.families,
        scraper_made=frozenset(stored - served.samples),
    )
    assert "up" in served.scraper_made
    named, records = named_everywhere()
    missing = unserved(named, served, records)
    for name in NOT_YET_SERVED:
        missing.pop(name, None)
    assert not missing, "named but not served by superd:\n" + "\n".join(
        f"  {name}: {', '.join(sorted(set(places)))}" for name, places in sorted(missing.items())
    )
    stale = [name for name in NOT_YET_SERVED if served.serves(name)]
    assert not stale, f"served now: remove {stale} from NOT_YET_SERVED"


async def wait_prometheus_names(
    session: aiohttp.ClientSession, base: str, wanted: frozenset[str]
) -> frozenset[str]:
    """Metric names Prometheus stores, once they include ``wanted`` (bounded)."""
    stored: frozenset[str] = frozenset()
    try:
        async with asyncio.timeout(DEADLINE):
            while not wanted <= stored:
                try:
                    async with session.get(f"{base}/api/v1/label/__name__/values") as response:
                        if response.status == 200:
                            stored = frozenset((await response.json())["data"])
                except aiohttp.ClientConnectionError:
                    pass  # Prometheus still starting
                # Prometheus is an external peer: its HTTP API is all there is to await.
                await asyncio.sleep(0.25)
    except TimeoutError:
        pytest.fail(f"Prometheus never stored {sorted(wanted - stored)}")
    return stored


def test_every_served_family_is_documented_with_its_type(
    exercised: tuple[int, Scrape, Path],
) -> None:
    """docs/metrics.md names every family superd serves, and the heading of each of
    its sections gives the type and labels the scrape shows."""
    _, current, _ = exercised
    documented = {use.name for use in docs_names(DOCS, ROOT)}
    types = docs_types(DOCS)
    text = DOCS.read_text()
    undocumented = []
    for family in current.families:
        if not family.samples:
            continue
        name = exposition_name(family.name, family.type)
        if name not in documented:
            undocumented.append(name)
        elif name in types:
            assert types[name] == family.type, f"docs/metrics.md says {name} is a {types[name]}"
            labels = {label for sample in family.samples for label in sample.labels}
            absent = sorted(label for label in labels if f"`{label}`" not in text)
            assert not absent, f"{name}: labels {absent} not in docs/metrics.md"
    assert not undocumented, f"served but not in docs/metrics.md: {undocumented}"


@pytest.mark.parametrize("kind", ["docs", "dashboard", "rules"])
def test_a_newly_named_metric_fails_until_served(
    kind: str, tmp_path: Path, exercised: tuple[int, Scrape, Path]
) -> None:
    """A doc, dashboard or rule file naming a metric superd does not serve is reported,
    with its place."""
    _, current, _ = exercised
    new = "supervisor_process_not_served_yet_total"
    if kind == "docs":
        path = tmp_path / "metrics.md"
        path.write_text(f"# Metrics\n\n### `{new}` (counter)\nLabels: `group`.\n")
        named = docs_names(path, tmp_path)
    elif kind == "dashboard":
        path = tmp_path / "board.json"
        path.write_text(
            '{"title": "b", "panels": [{"title": "New", "targets": '
            f'[{{"expr": "sum(rate({new}{{job=~\\"$job\\"}}[$__rate_interval]))"}}]}}]}}'
        )
        named = dashboard_names(path, tmp_path)
    else:
        path = tmp_path / "rules.yml"
        path.write_text(f"groups:\n- name: g\n  rules:\n  - alert: New\n    expr: {new} > 0\n")
        named = rule_file_names(path, tmp_path).used
    missing = unserved(named, current.served, records=())
    assert list(missing) == [new]
    assert missing[new][0].startswith(path.name)
