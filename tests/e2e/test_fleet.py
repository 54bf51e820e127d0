"""A fleet of three superds: per-host alerts and per-host dashboard queries.

Three real superd processes on one machine (each its own loopback metrics port) run a
crash loop under the SAME program name, ``crashy``, next to a steady program. One real
Prometheus (the shipped prometheus.yml with the three targets and 1 s intervals)
scrapes all three and evaluates the generated rules; one real Alertmanager (the
shipped alertmanager.yml, addresses and group_wait changed) routes the alerts. The
storm is three alerts, one per host, and three notifications; every query of the
shipped dashboard, run against that Prometheus, returns the program once per host.

The per-process series count docs/fleet.md builds its fleet arithmetic on is measured
here from a real scrape, and the doc's figures are checked against it.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporters.alerts import AlertConfig, Thresholds, rules_text
from exporters.alerts.dashboards import FLEET
from tests.e2e.alertmanager_server import alertmanager
from tests.e2e.prometheus_server import free_port, prometheus
from tests.integration.notify_peers import SmtpSink, WebhookReceiver
from tests.integration.superd_harness import Superd, base_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(400)]

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_YML = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
FLEET_MD = ROOT / "docs" / "fleet.md"
HOSTS = 3
DEADLINE = 120.0  # for any one condition: three superds and two peers on 2 shared cores
PROGRAM = "crashy"

FAST = AlertConfig(
    thresholds=Thresholds(
        storm_for=1, flapping_restarts=10, flapping_window=60, flapping_for=1, down_for=600
    )
)
# Grafana's macros, as Grafana would expand them for a short time range.
MACROS = (("$__rate_interval", "30s"), ("${__range}", "5m"), ("$__range", "5m"))
# Process labels beside the identity (a panel may split a process by these).
IDENTITY = frozenset({"job", "instance", "group", "name"})
ANNOTATION = "annotation: "


def host_config(tmp: Path, port: int) -> str:
    """One host: the crash loop ``crashy`` (started by the test), a steady program, an idle one."""
    return (
        base_config(tmp)
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{port}\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 120s\n\n"
        + f"[program:{PROGRAM}]\n"
        + "command = /bin/sh -c 'echo database unreachable >&2; sleep 0.2; exit 4'\n"
        + "startsecs = 0\nautorestart = true\nautostart = false\n\n"
        + "[program:steady]\ncommand = /bin/sh -c 'exec sleep 3600'\nstartsecs = 0\n\n"
        + "[program:idle]\ncommand = /bin/sh -c 'exec sleep 3600'\nautostart = false\n"
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Host]]:
    """Three running superds; yields them with their metrics ports."""
    hosts: list[Host] = []
    with ExitStack() as stack:
        for index in range(HOSTS):
            tmp = tmp_path_factory.mktemp(f"host{index}")
            port = free_port()
            superd = Superd(tmp, host_config(tmp, port), "-n")
            stack.callback(stop, superd)
            superd.wait_running()
            hosts.append(Host(port, superd))
        yield hosts


@dataclass(frozen=True, slots=True)
class Host:
    """One superd of the fleet."""

    port: int
    superd: Superd


def stop(superd: Superd) -> None:
    if superd.process.poll() is None:
        superd.send(signal.SIGTERM)
        superd.wait_exit()
    superd.close()


def prometheus_config(ports: list[int], alertmanager_url: str) -> str:
    """The shipped prometheus.yml with the three hosts as targets and 1 s intervals."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
        alertmanager_url.removeprefix("http://")
    ]
    (job,) = config["scrape_configs"]
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{port}" for port in ports]
    return yaml.safe_dump(config)


def alertmanager_config(webhook_url: str, smtp_port: int) -> str:
    """The shipped alertmanager.yml with the test's receivers and a short group_wait."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_YML.read_text())
    config["global"]["smtp_smarthost"] = f"127.0.0.1:{smtp_port}"
    config["route"]["group_wait"] = "2s"
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
    return yaml.safe_dump(config)


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel or annotation title, PromQL) for every target and annotation of the shipped
    fleet dashboard, with Grafana's variables at "All" (``.*``) and its macros expanded."""
    board = json.loads((ROOT / FLEET.path).read_text())
    queries: list[tuple[str, str]] = []
    panels: list[dict[str, Any]] = board["panels"]  # type: ignore[assignment]
    annotations: dict[str, Any] = board["annotations"]  # type: ignore[assignment]
    found = [
        (str(panel["title"]), str(target["expr"]))
        for panel in panels
        for target in panel.get("targets", [])
    ] + [(f"{ANNOTATION}{a['name']}", str(a["expr"])) for a in annotations["list"]]
    for title, expr in found:
        for macro, value in MACROS:
            expr = expr.replace(macro, value)
        queries.append((title, re.sub(r"\$(job|instance|group|name)\b", ".*", expr)))
    return queries


async def query(
    session: aiohttp.ClientSession, base: str, expr: str, *, over: float = 0
) -> list[dict[str, Any]]:
    """An instant query's result ([] while Prometheus is not ready); with ``over``, a range
    query over the last ``over`` seconds (how Grafana runs an annotation)."""
    params = {"query": expr}
    path = "query"
    if over:
        now = time.time()
        params |= {"start": str(now - over), "end": str(now), "step": "1"}
        path = "query_range"
    try:
        async with session.get(f"{base}/api/v1/{path}", params=params) as response:
            body = await response.json()
    except aiohttp.ClientConnectionError:
        return []
    assert body["status"] == "success", f"{expr}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def per_host_problem(title: str, result: list[dict[str, Any]], instances: set[str]) -> str:
    """Why ``result`` is not one series per host and program ('' when it is)."""
    if not result:
        return "no series"
    labels = [r["metric"] for r in result]
    if not any("instance" in m or "name" in m for m in labels):
        return ""  # a total over the whole selection (a stat, the heatmap)
    if any("name" in m and not {"job", "instance"} <= set(m) for m in labels):
        return f"a per-process series without job/instance: {labels}"
    subject = PROGRAM
    if any("name" in m for m in labels):
        mine = [m for m in labels if m.get("name") == subject]
        splits = {frozenset((k, v) for k, v in m.items() if k not in IDENTITY) for m in mine}
        if {m["instance"] for m in mine} != instances:
            return f"{subject} not on every host: {sorted({m['instance'] for m in mine})}"
        if len(mine) != len(instances) * len(splits):
            return f"{subject}: not one series per host and split: {mine}"
        return ""
    if {m["instance"] for m in labels} != instances:
        return f"not one series per host: {labels}"
    return ""


async def wait_dashboard(
    session: aiohttp.ClientSession, base: str, instances: set[str]
) -> dict[str, int]:
    """Every dashboard query, once it returns one series per host and program (bounded)."""
    pending = dict.fromkeys(dashboard_queries(), "not run")
    counts: dict[str, int] = {}
    try:
        async with asyncio.timeout(DEADLINE):
            while pending:
                for (title, expr), _ in list(pending.items()):
                    # An annotation marks the storm's start: look at the whole range.
                    over = 300.0 if title.startswith(ANNOTATION) else 0.0
                    result = await query(session, base, expr, over=over)
                    problem = per_host_problem(title, result, instances)
                    if problem:
                        pending[(title, expr)] = problem
                    else:
                        del pending[(title, expr)]
                        counts[title] = len(result)
                if pending:
                    # Prometheus is an external peer: its HTTP API is all there is to await.
                    await asyncio.sleep(1)
    except TimeoutError:
        pytest.fail(
            "dashboard queries never per host:\n"
            + "\n".join(f"  {title}: {why}\n    {expr}" for (title, expr), why in pending.items())
        )
    return counts


async def am_alerts(session: aiohttp.ClientSession, base: str) -> list[dict[str, Any]]:
    try:
        async with session.get(f"{base}/api/v2/alerts") as response:
            if response.status != 200:
                return []
            alerts: list[dict[str, Any]] = await response.json()
            return alerts
    except aiohttp.ClientConnectionError:
        return []


async def wait_storm_alerts(
    session: aiohttp.ClientSession, base: str, instances: set[str]
) -> list[dict[str, Any]]:
    """ProcessRestartStorm for ``crashy`` in Alertmanager, once per host (bounded)."""
    storms: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while {a["labels"]["instance"] for a in storms} != instances:
                storms = [
                    a
                    for a in await am_alerts(session, base)
                    if a["labels"]["alertname"] == "ProcessRestartStorm"
                    and a["labels"]["name"] == PROGRAM
                ]
                await asyncio.sleep(0.5)  # Alertmanager's HTTP API is all there is
    except TimeoutError:
        pytest.fail(f"storm alerts never on every host: {storms}")
    return storms


async def wait_scraped(session: aiohttp.ClientSession, base: str, instances: set[str]) -> None:
    """Prometheus has scraped every host (bounded)."""
    try:
        async with asyncio.timeout(DEADLINE):
            while True:
                up = await query(session, base, "up == 1")
                if {r["metric"]["instance"] for r in up} == instances:
                    return
                await asyncio.sleep(0.5)  # Prometheus' HTTP API is all there is
    except TimeoutError:
        pytest.fail("Prometheus never scraped every host")


async def check_inhibited_per_host(
    session: aiohttp.ClientSession, base: str, storms: list[dict[str, Any]]
) -> None:
    """ProcessFlapping of ``crashy`` fires on every host, each inhibited by its own host's
    storm alert only (bounded)."""
    storm_of = {a["labels"]["instance"]: a["fingerprint"] for a in storms}
    flapping: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while True:
                flapping = [
                    a
                    for a in await am_alerts(session, base)
                    if a["labels"]["alertname"] == "ProcessFlapping"
                    and a["labels"]["name"] == PROGRAM
                    and a["status"]["inhibitedBy"]
                ]
                if {a["labels"]["instance"] for a in flapping} == set(storm_of):
                    break
                await asyncio.sleep(0.5)  # Alertmanager's HTTP API is all there is
    except TimeoutError:
        pytest.fail(f"ProcessFlapping never inhibited on every host: {flapping}")
    for alert in flapping:
        assert alert["status"]["inhibitedBy"] == [storm_of[alert["labels"]["instance"]]]


def federation_match() -> str:
    """The ``match[]`` of docs/fleet.md's federation example."""
    for block in re.findall(r"```yaml\n(.*?)```", FLEET_MD.read_text(), re.DOTALL):
        config = yaml.safe_load(block)
        for job in config.get("scrape_configs", []):
            if job.get("metrics_path") == "/federate":
                (match,) = job["params"]["match[]"]
                return str(match)
    raise AssertionError("docs/fleet.md has no /federate scrape example")


async def wait_federated(
    session: aiohttp.ClientSession, base: str, instances: set[str]
) -> dict[str, int]:
    """Per host, how many per-process recorded series of ``crashy`` /federate serves with
    docs/fleet.md's matcher, once every host has the same non-zero count (bounded)."""
    counts: dict[str, int] = {}
    try:
        async with asyncio.timeout(DEADLINE):
            while True:
                async with session.get(
                    f"{base}/federate", params={"match[]": federation_match()}
                ) as response:
                    text = await response.text()
                counts = {}
                for family in text_string_to_metric_families(text):
                    for sample in family.samples:
                        labels = sample.labels
                        if labels.get("name") == PROGRAM and sample.name.startswith(
                            "instance_group_name:"
                        ):
                            counts[labels["instance"]] = counts.get(labels["instance"], 0) + 1
                if set(counts) == instances and len(set(counts.values())) == 1:
                    return counts
                await asyncio.sleep(1)  # the rules evaluate every second
    except TimeoutError:
        pytest.fail(f"/federate never served every host alike: {counts}")


async def test_three_hosts_alert_and_chart_per_host(tmp_path: Path, fleet: list[Host]) -> None:
    """The same program crash-looping on three hosts is three alerts, three notifications,
    and one series per host in every per-process dashboard query."""
    instances = {f"127.0.0.1:{host.port}" for host in fleet}
    ports = [host.port for host in fleet]
    (tmp_path / "supervisor-rules.yml").write_text(rules_text(FAST))
    with WebhookReceiver() as receiver, SmtpSink() as sink:
        async with (
            alertmanager(tmp_path, alertmanager_config(receiver.url("/alerts"), sink.port)) as am,
            prometheus(tmp_path, ("", 0), config_text=prometheus_config(ports, am)) as base,
            aiohttp.ClientSession() as session,
        ):
            # Start the crash loops once Prometheus watches, so it sees each storm begin.
            await wait_scraped(session, base, instances)
            for host in fleet:
                host.superd.call("startProcess", PROGRAM, False)
            storms = await wait_storm_alerts(session, am, instances)
            assert len(storms) == HOSTS
            await asyncio.to_thread(
                receiver.wait_for,
                lambda items: len({json.dumps(i.json()["groupLabels"]) for i in items}) >= HOSTS,
                "a notification per host",
                DEADLINE,
            )
            counts = await wait_dashboard(session, base, instances)
            # The recording rules keep the hosts apart too.
            recorded = await query(
                session,
                base,
                f'instance_group_name:supervisor_process_restarts:rate5m{{name="{PROGRAM}"}}',
            )
            assert {r["metric"]["instance"] for r in recorded} == instances
            assert len(recorded) == HOSTS
            await check_inhibited_per_host(session, am, storms)
            federated = await wait_federated(session, base, instances)
            scraped = await query(session, base, 'scrape_samples_scraped{job="superd"}')
            async with session.get(f"{base}/metrics") as response:
                own = await response.text()
    (head,) = (
        sample.value
        for family in text_string_to_metric_families(own)
        for sample in family.samples
        if sample.name == "prometheus_tsdb_head_series"
    )
    assert head >= sum(float(r["value"][1]) for r in scraped)
    assert {r["metric"]["instance"] for r in scraped} == instances
    # Three programs, one of them running steadily, and the daemon's own series.
    least = documented("series per running process") + documented(
        "series per superd besides its processes"
    )
    assert all(float(r["value"][1]) > least for r in scraped)
    per_process = documented("recorded series per process")
    assert federated == dict.fromkeys(instances, per_process)
    assert documented("recorded series for 1,000 x 100") == 1000 * 100 * per_process
    groups = [n.json()["groupLabels"] for n in receiver.items()]
    assert sorted(g["instance"] for g in groups) == sorted(instances)
    assert all(g["group"] == g["name"] == PROGRAM for g in groups)
    for notification in receiver.items():
        alerts = notification.json()["alerts"]
        assert [a["labels"]["alertname"] for a in alerts] == ["ProcessRestartStorm"]
    assert len(sink.items()) == HOSTS  # the critical route mails each host's storm once
    assert counts["Restarts per minute by host"] >= HOSTS


RPC_DURATION = "supervisor_rpc_request_duration_seconds"


def series_counts(port: int) -> tuple[dict[str, int], int]:
    """One real scrape: series per process (by program name) and the daemon's own,
    without the XML-RPC histogram (its series depend on the calls made: ``rpc_series``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    per_process: dict[str, int] = {}
    daemon = 0
    for family in text_string_to_metric_families(text):
        if family.name == RPC_DURATION:
            continue
        for sample in family.samples:
            name = sample.labels.get("name")
            if name is None:
                daemon += 1
            else:
                per_process[name] = per_process.get(name, 0) + 1
    return per_process, daemon


def rpc_series(port: int) -> dict[tuple[str, str], int]:
    """One real scrape: the XML-RPC histogram's series per (method, outcome) called."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts: dict[tuple[str, str], int] = {}
    for family in text_string_to_metric_families(text):
        if family.name == RPC_DURATION:
            for sample in family.samples:
                pair = (sample.labels["method"], sample.labels["outcome"])
                counts[pair] = counts.get(pair, 0) + 1
    return counts


def family_counts(port: int) -> dict[str, dict[str, int]]:
    """One real scrape: per program, samples per family (``supervisor_process_`` dropped)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts: dict[str, dict[str, int]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (name := sample.labels.get("name")) is not None:
                short = family.name.removeprefix("supervisor_process_")
                mine = counts.setdefault(name, {})
                mine[short] = mine.get(short, 0) + 1
    return counts


def documented(label: str) -> int:
    """The integer docs/fleet.md gives on its ``<!-- measured: label -->`` line."""
    match = re.search(rf"(\d[\d,]*)\s*<!-- measured: {label} -->", FLEET_MD.read_text())
    assert match, f"docs/fleet.md has no figure marked 'measured: {label}'"
    return int(match.group(1).replace(",", ""))


def test_docs_fleet_figures_are_the_measured_ones(fleet: list[Host]) -> None:
    """docs/fleet.md's series per running process and per superd are those of a real scrape,
    and its 1,000 x 100 totals are computed from them."""
    per_process, daemon = series_counts(fleet[0].port)
    steady = per_process["steady"]
    # docs/fleet.md's breakdown of a running process' series, and what a stopped one lacks.
    families = family_counts(fleet[0].port)
    assert {
        f: families["steady"].get(f, 0)
        for f in ("state", "starts", "run_duration_seconds", "ready_seconds", "transitions")
    } == {
        "state": 8,
        "starts": 9,
        "run_duration_seconds": 15,
        "ready_seconds": 12,
        "transitions": 2,
    }
    resources = {"cpu_seconds", "resident_memory_bytes", "threads", "open_fds"}
    resources |= {"tree_processes", "start_time_seconds"}
    assert resources <= set(families["steady"])
    assert not resources & set(families["idle"])
    assert documented("series per running process") == steady
    assert documented("series per superd besides its processes") == daemon
    # Every XML-RPC (method, outcome) called so far (the harness' getState at least)
    # has the same number of histogram series.
    called = rpc_series(fleet[0].port)
    assert ("supervisor.getState", "ok") in called
    assert set(called.values()) == {documented("series per XML-RPC method and outcome called")}
    assert documented("series per host of 100 programs") == 100 * steady + daemon
    assert documented("series for 1,000 hosts") == 1000 * (100 * steady + daemon)
    interval = yaml.safe_load(PROMETHEUS_YML.read_text())["global"]["scrape_interval"]
    assert interval == "15s"
    assert documented("samples per second at 15s") == 1000 * (100 * steady + daemon) // 15


def doc_block(language: str, contains: str) -> str:
    """The first ```<language> block of docs/fleet.md containing ``contains``."""
    for block in re.findall(rf"```{language}\n(.*?)```", FLEET_MD.read_text(), re.DOTALL):
        if contains in block:
            return str(block)
    raise AssertionError(f"docs/fleet.md has no {language} block with {contains!r}")


def write_targets(directory: Path, ports: list[int]) -> None:
    """docs/fleet.md's targets file, with ``ports`` as targets, written atomically."""
    (entry,) = json.loads(doc_block("json", '"targets"'))
    entry["targets"] = [f"127.0.0.1:{port}" for port in ports]
    staging = directory / "targets.json.new"
    staging.write_text(json.dumps([entry]))
    staging.rename(directory / "targets.json")


def discovering_config(targets: Path, store: str) -> str:
    """docs/fleet.md's file_sd and remote_write examples, pointed at the test's files."""
    (job,) = yaml.safe_load(doc_block("yaml", "file_sd_configs"))["scrape_configs"]
    job["file_sd_configs"][0]["files"] = [str(targets / "*.json")]
    (remote,) = yaml.safe_load(doc_block("yaml", "remote_write"))["remote_write"]
    remote["url"] = f"{store}/api/v1/write"
    return yaml.safe_dump(
        {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["supervisor-rules.yml"],
            "scrape_configs": [job],
            "remote_write": [remote],
        }
    )


async def wait_query(
    session: aiohttp.ClientSession, base: str, expr: str, done: Any, what: str
) -> list[dict[str, Any]]:
    """Run ``expr`` until ``done(result)`` (bounded); Prometheus' HTTP API is all there is."""
    result: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while True:
                result = await query(session, base, expr)
                if done(result):
                    return result
                await asyncio.sleep(0.5)
    except TimeoutError:
        pytest.fail(f"never {what}: {expr} -> {result}")


def hosts_of(result: list[dict[str, Any]]) -> set[str]:
    return {r["metric"]["instance"] for r in result}


async def test_file_discovery_and_remote_write_keep_hosts_apart(
    tmp_path: Path, fleet: list[Host]
) -> None:
    """docs/fleet.md's file_sd example picks up a host added to the file without a restart,
    its labels land on every series, and its remote_write example sends the store the
    recorded series of every host and no raw ones."""
    for host in fleet:
        if host.superd.call("getProcessInfo", PROGRAM)["statename"] == "STOPPED":
            host.superd.call("startProcess", PROGRAM, False)  # the other test did not
    instances = {f"127.0.0.1:{host.port}" for host in fleet}
    targets = tmp_path / "targets"
    targets.mkdir()
    write_targets(targets, [host.port for host in fleet[:2]])
    fleet_dir, store_dir = tmp_path / "fleet", tmp_path / "store"
    fleet_dir.mkdir()
    store_dir.mkdir()
    (fleet_dir / "supervisor-rules.yml").write_text(rules_text(FAST))
    async with (
        prometheus(
            store_dir,
            ("", 0),
            config_text="global: {scrape_interval: 1s}\n",
            extra_args=("--web.enable-remote-write-receiver",),
        ) as store,
        aiohttp.ClientSession() as session,
        prometheus(fleet_dir, ("", 0), config_text=discovering_config(targets, store)) as base,
    ):
        two = await wait_query(
            session, base, 'up{job="fleet"} == 1', lambda r: len(r) == 2, "two hosts"
        )
        assert hosts_of(two) < instances
        write_targets(targets, [host.port for host in fleet])
        await wait_query(
            session,
            base,
            'up{job="fleet"} == 1',
            lambda r: hosts_of(r) == instances,
            "the third host from the rewritten file",
        )
        labelled = await wait_query(
            session,
            base,
            'supervisor_process_up{env="prod"}',
            lambda r: len(r) == HOSTS * 3,
            "every program of every host labelled",
        )
        assert hosts_of(labelled) == instances
        recorded = 'instance_group_name:supervisor_process_restarts:rate5m{job="fleet"}'
        await wait_query(
            session,
            store,
            f'{recorded[:-1]}, name="{PROGRAM}"}}',
            lambda r: hosts_of(r) == instances and len(r) == HOSTS,
            "the recorded series of every host in the store",
        )
        # Only what write_relabel_configs keeps reached the store.
        assert await query(session, store, '{__name__=~"supervisor_.+|up"}') == []
