"""Every query of the three shipped dashboards returns data from a real superd.

One real superd runs programs that exercise every panel: ``flaky`` runs two seconds
and exits 3 (restarts, a restart storm, exit codes, run durations, CPU, memory, file
descriptors, log bytes), ``doomed`` never stays up and goes FATAL (the FATAL counts,
and the notifier's webhook delivery of it), ``steady`` just runs; an XML-RPC client
polls ``supervisor.getAllProcessInfo`` (RPC latency) and the journal records every
event (journal lag). A real Prometheus
(Debian's) scrapes it every second. Each dashboard's targets, annotations and
variable queries are read from the checked-in JSON, Grafana's variables substituted
with the real job, instance, group and name, its macros with durations; each must
return at least one series (a failure names the dashboard, panel and expression).
The drill-down's link to ``/events`` is followed on the real superd.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import time
import xmlrpc.client
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exporters.alerts.dashboards import DAEMON, DASHBOARDS, FLEET, PROCESS, DashboardFile
from tests.e2e.prometheus_server import free_port, prometheus
from tests.integration.notify_peers import WebhookReceiver
from tests.integration.superd_harness import Superd, base_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 150.0  # for every query to return data: superd and Prometheus on 2 shared cores
SUBJECT = "flaky"  # the drill-down's process
# Grafana's interval macros, as Grafana would expand them for a short time range at a
# 1 s scrape interval ($__rate_interval is at least four scrape intervals).
MACROS = (("$__rate_interval", "15s"), ("${__range}", "2m"), ("$__range", "2m"))
ANNOTATION_RANGE = 300.0  # an annotation is a range query over the dashboard's range
POLLED_METHOD = "supervisor.getAllProcessInfo"  # what the RPC latency panel must show
POLL_INTERVAL = 0.5  # like a status page refreshing


@dataclass(frozen=True, slots=True, kw_only=True)
class Daemon:
    """The running superd: its metrics port, control-plane URL and the webhook it notifies."""

    metrics_port: int
    control_url: str
    webhook: WebhookReceiver


@dataclass(frozen=True, slots=True, kw_only=True)
class Query:
    """One PromQL expression of a dashboard, where it is, and how Grafana runs it."""

    dashboard: str
    where: str
    expr: str
    over: float = 0.0  # > 0: a range query over that many seconds (an annotation)


def superd_config(tmp: Path, metrics_port: int, control_port: int, webhook: str) -> str:
    """A superd whose programs exercise every panel of the three dashboards."""
    return (
        base_config(tmp)
        + f"[inet_http_server]\nport = 127.0.0.1:{control_port}\n\n"
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{metrics_port}\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 120s\n\n"
        + f"[exporter:notify]\nwebhook_url = {webhook}\nnotify_on = fatal\nhost = e2e\n"
        + "retry_initial = 200ms\nretry_max = 1s\n\n"
        + f"[program:{SUBJECT}]\n"
        + "command = /bin/sh -c 'echo serving; echo database unreachable >&2; sleep 2; exit 3'\n"
        + "startsecs = 1\nautorestart = true\nstartretries = 100\n\n"
        + "[program:doomed]\ncommand = /bin/sh -c 'exit 2'\n"
        + "startsecs = 1\nstartretries = 1\nautorestart = true\n\n"
        + "[program:steady]\ncommand = /bin/sh -c 'exec sleep 3600'\nstartsecs = 0\n"
    )


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One running superd with the exercising programs, and its webhook receiver."""
    tmp = tmp_path_factory.mktemp("dashboards")
    metrics_port, control_port = free_port(), free_port()
    with WebhookReceiver() as receiver:
        superd = Superd(tmp, superd_config(tmp, metrics_port, control_port, receiver.url()), "-n")
        try:
            superd.wait_running()
            yield Daemon(
                metrics_port=metrics_port,
                control_url=f"http://127.0.0.1:{control_port}",
                webhook=receiver,
            )
        finally:
            if superd.process.poll() is None:
                superd.send(signal.SIGTERM)
                superd.wait_exit()
            superd.close()


def variables(daemon: Daemon) -> dict[str, str]:
    """Each template variable's real value on this superd (as Prometheus labels it)."""
    return {
        "job": "superd",  # tests/e2e/prometheus_server.py's job name
        "instance": f"127.0.0.1:{daemon.metrics_port}",
        "group": SUBJECT,
        "name": SUBJECT,
        "superd_url": daemon.control_url,
    }


def substitute(text: str, values: dict[str, str]) -> str:
    """``text`` with Grafana's macros and ``$var`` / ``${var}`` variables expanded."""
    for macro, value in MACROS:
        text = text.replace(macro, value)
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)\b",
        lambda m: values.get(m.group(1) or m.group(2), m.group(0)),
        text,
    )


def load(board: DashboardFile) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / board.path).read_text())
    return data


def dashboard_queries(board: DashboardFile, values: dict[str, str]) -> list[Query]:
    """Every target and annotation of ``board``, variables and macros substituted."""
    data = load(board)
    found = [
        Query(
            dashboard=board.uid,
            where=f"panel {panel['title']!r} {target['refId']}",
            expr=substitute(target["expr"], values),
        )
        for panel in data["panels"]
        for target in panel.get("targets", [])
    ]
    found += [
        Query(
            dashboard=board.uid,
            where=f"annotation {annotation['name']!r}",
            expr=substitute(annotation["expr"], values),
            over=ANNOTATION_RANGE,
        )
        for annotation in data["annotations"].get("list", [])
        if annotation.get("expr")
    ]
    assert found, f"{board.uid}: no query found"
    return found


async def run(session: aiohttp.ClientSession, base: str, query: Query) -> list[dict[str, Any]]:
    """The query's result, as Grafana would get it ([] while Prometheus is not ready)."""
    params = {"query": query.expr}
    path = "query"
    if query.over:
        now = time.time()
        params |= {"start": str(now - query.over), "end": str(now), "step": "1"}
        path = "query_range"
    try:
        async with session.get(f"{base}/api/v1/{path}", params=params) as response:
            body = await response.json()
    except aiohttp.ClientConnectionError:
        return []
    assert body["status"] == "success", f"{query.dashboard} {query.where}: {query.expr}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def poll_rpc(control_url: str) -> None:
    """Call ``POLLED_METHOD`` on superd's /RPC2 every ``POLL_INTERVAL`` (bounded in count)."""
    body = xmlrpc.client.dumps((), POLLED_METHOD).encode()
    async with aiohttp.ClientSession() as session:
        for _ in range(int(2 * DEADLINE / POLL_INTERVAL)):
            async with session.post(f"{control_url}/RPC2", data=body) as response:
                assert response.status == 200, await response.text()
                xmlrpc.client.loads(await response.read())  # a fault would raise here
            await asyncio.sleep(POLL_INTERVAL)  # the client's pace, not a wait for a condition


@pytest.fixture
async def prometheus_url(daemon: Daemon, tmp_path: Path) -> AsyncIterator[str]:
    """A real Prometheus scraping the superd every second, while a client polls /RPC2."""
    poller = asyncio.create_task(poll_rpc(daemon.control_url))
    try:
        async with prometheus(tmp_path, ("127.0.0.1", daemon.metrics_port)) as base:
            yield base
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller


async def wait_all_answer(
    session: aiohttp.ClientSession, base: str, queries: list[Query]
) -> dict[Query, list[dict[str, Any]]]:
    """Each query's first non-empty result, once every query has one (bounded)."""
    pending = list(queries)
    answers: dict[Query, list[dict[str, Any]]] = {}
    try:
        async with asyncio.timeout(DEADLINE):
            while pending:
                for query in list(pending):
                    result = await run(session, base, query)
                    if result:
                        answers[query] = result
                        pending.remove(query)
                if pending:
                    # Prometheus is an external peer: its HTTP API is all there is to await.
                    await asyncio.sleep(0.5)
    except TimeoutError:
        pytest.fail(
            f"{len(pending)} of {len(queries)} dashboard queries returned no series:\n"
            + "\n".join(f"  {q.dashboard}: {q.where}\n    {q.expr}" for q in pending)
        )
    return answers


async def test_every_dashboard_query_returns_series_from_a_real_superd(
    daemon: Daemon, prometheus_url: str
) -> None:
    """Every panel target and annotation of the fleet, drill-down and superd dashboards,
    with the variables set to a real superd's job, instance and a real process, returns
    at least one series from Prometheus scraping that superd."""
    values = variables(daemon)
    queries = [q for board in DASHBOARDS for q in dashboard_queries(board, values)]
    assert {q.dashboard for q in queries} == {FLEET.uid, PROCESS.uid, DAEMON.uid}
    assert not [q for q in queries if "$" in q.expr], "a variable or macro left unexpanded"
    async with aiohttp.ClientSession() as session:
        answers = await wait_all_answer(session, prometheus_url, queries)
    # The fleet keeps hosts apart: its per-host series carry job and instance.
    for query, result in answers.items():
        if query.dashboard == FLEET.uid and "by (job, instance)" in query.expr:
            for series in result:
                assert series["metric"].get("instance") == values["instance"], query.where
    # "superd up" names each superd's version.
    for query, result in answers.items():
        if query.where.startswith("panel 'superd up'"):
            assert all(series["metric"].get("version") for series in result), query.where
    # The drill-down shows the chosen process only.
    for query, result in answers.items():
        if query.dashboard == PROCESS.uid:
            names = {series["metric"].get("name") for series in result} - {None}
            assert names <= {SUBJECT}, f"{query.where}: {names}"
    # RPC latency names the polled method; its quantiles are real durations.
    for query, result in answers.items():
        if query.where.startswith("panel 'RPC latency (p50/p99 by method)'"):
            assert POLLED_METHOD in {series["metric"].get("method") for series in result}


async def test_fatal_storm_notification_and_starts_by_cause_show_real_values(
    daemon: Daemon, prometheus_url: str
) -> None:
    """The panels count what happened: doomed is FATAL on the fleet, flaky in a storm and
    restarted by autorestart, the notifier sent the FATAL webhook."""
    values = variables(daemon)
    by_place = {
        (q.dashboard, q.where): q for board in DASHBOARDS for q in dashboard_queries(board, values)
    }
    fatal = by_place[(FLEET.uid, "panel 'FATAL' A")]
    storm = by_place[(FLEET.uid, "panel 'In a restart storm' A")]
    starts = by_place[(PROCESS.uid, "panel 'Starts by cause' A")]
    sent = by_place[(DAEMON.uid, "panel 'Notifications by outcome' A")]

    async def value_reached() -> bool:
        fatal_now = await run(session, prometheus_url, fatal)
        storm_now = await run(session, prometheus_url, storm)
        causes = {s["metric"]["cause"] for s in await run(session, prometheus_url, starts)}
        outcomes = {
            (s["metric"]["channel"], s["metric"]["outcome"])
            for s in await run(session, prometheus_url, sent)
        }
        return (
            bool(fatal_now)
            and float(fatal_now[0]["value"][1]) >= 1
            and bool(storm_now)
            and float(storm_now[0]["value"][1]) >= 1
            and "autorestart" in causes
            and ("webhook", "sent") in outcomes
        )

    async with aiohttp.ClientSession() as session:
        try:
            async with asyncio.timeout(DEADLINE):
                reached = False
                while not reached:
                    reached = await value_reached()
                    if not reached:
                        await asyncio.sleep(0.5)  # Prometheus' HTTP API is all there is
        except TimeoutError:
            pytest.fail("FATAL, storm, autorestart starts or the webhook never showed")
    assert any(r.json()["kind"] == "fatal" for r in daemon.webhook.items())


async def label_values(session: aiohttp.ClientSession, url: str, selector: str) -> list[str]:
    """A label's values among the series ``selector`` matches ([] while Prometheus starts)."""
    try:
        async with session.get(url, params={"match[]": selector}) as reply:
            values: list[str] = (await reply.json()).get("data") or []
    except aiohttp.ClientConnectionError:
        return []
    return values


async def test_variable_queries_offer_the_real_job_instance_group_and_name(
    daemon: Daemon, prometheus_url: str
) -> None:
    """Each query variable's label_values() lists the real value it is substituted with."""
    values = variables(daemon)
    pattern = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")
    checked: list[str] = []
    async with aiohttp.ClientSession() as session:
        for board in DASHBOARDS:
            for variable in load(board)["templating"]["list"]:
                if variable["type"] != "query":
                    continue
                match = pattern.match(variable["query"])
                assert match, f"{board.uid} ${variable['name']}: {variable['query']}"
                label, selector = match["label"], substitute(match["selector"], values)
                url = f"{prometheus_url}/api/v1/label/{label}/values"
                offered: list[str] = []
                try:
                    async with asyncio.timeout(DEADLINE):
                        while values[label] not in offered:
                            offered = await label_values(session, url, selector)
                            if values[label] not in offered:
                                await asyncio.sleep(0.5)  # Prometheus' HTTP API
                except TimeoutError:
                    pytest.fail(f"{board.uid} ${label}: {selector} never offered {values[label]}")
                checked.append(f"{board.uid}:{label}")
    assert len(checked) == 8  # job, instance on each; group, name on the drill-down


async def test_drill_down_events_link_opens_the_process_events_on_superd(
    daemon: Daemon,
) -> None:
    """The drill-down's events link, with superd_url, group and name filled in, answers
    the process' own events from the real superd's journal."""
    values = variables(daemon)
    (link,) = [
        substitute(link["url"], values)
        for link in load(PROCESS)["links"]
        if "/events" in link["url"]
    ]
    events: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        try:
            async with asyncio.timeout(DEADLINE):
                while not any(e.get("to_state") == "EXITED" for e in events):
                    async with session.get(link) as response:
                        assert response.status == 200, await response.text()
                        text = await response.text()
                    events = [json.loads(line) for line in text.splitlines() if line]
                    if not any(e.get("to_state") == "EXITED" for e in events):
                        await asyncio.sleep(0.5)  # superd's HTTP API is all there is
        except TimeoutError:
            pytest.fail(f"{link}: never an EXITED event of {SUBJECT}: {events}")
    assert {(e["groupname"], e["processname"]) for e in events} == {(SUBJECT, SUBJECT)}


async def test_rpc_latency_and_journal_lag_panels_show_real_values(
    daemon: Daemon, prometheus_url: str
) -> None:
    """The RPC latency panel gives a finite p50 and p99 for the polled XML-RPC method,
    under a minute, and the journal lag panel reads 0 once the journal has caught up."""
    values = variables(daemon)
    by_place = {
        (q.dashboard, q.where): q for board in DASHBOARDS for q in dashboard_queries(board, values)
    }
    p50 = by_place[(DAEMON.uid, "panel 'RPC latency (p50/p99 by method)' A")]
    p99 = by_place[(DAEMON.uid, "panel 'RPC latency (p50/p99 by method)' B")]
    lag = by_place[(DAEMON.uid, "panel 'Journal lag' A")]

    async def polled(query: Query) -> float | None:
        for series in await run(session, prometheus_url, query):
            if series["metric"].get("method") == POLLED_METHOD:
                return float(series["value"][1])
        return None

    async def reached() -> bool:
        quantiles = [await polled(p50), await polled(p99)]
        lags = [float(s["value"][1]) for s in await run(session, prometheus_url, lag)]
        return all(q is not None and 0 < q < 60 for q in quantiles) and bool(lags) and lags == [0.0]

    async with aiohttp.ClientSession() as session:
        try:
            async with asyncio.timeout(DEADLINE):
                done = False
                while not done:
                    done = await reached()
                    if not done:
                        await asyncio.sleep(0.5)  # Prometheus' HTTP API is all there is
        except TimeoutError:
            pytest.fail(
                f"RPC p50/p99 of {POLLED_METHOD}: {await run(session, prometheus_url, p50)} "
                f"{await run(session, prometheus_url, p99)}; journal lag: "
                f"{await run(session, prometheus_url, lag)}"
            )
