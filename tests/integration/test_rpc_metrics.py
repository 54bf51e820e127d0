"""A real superd counts its XML-RPC calls in a histogram and serves its journal's lag."""

from __future__ import annotations

import signal
import urllib.request
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.prometheus_server import free_port
from tests.integration.superd_harness import Superd, base_config, wait_for

pytestmark = pytest.mark.integration

DURATION = "supervisor_rpc_request_duration_seconds"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    """Every sample of superd's ``/metrics`` by (name, labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def superd(tmp_path: Path) -> Iterator[tuple[Superd, int]]:
    """A running superd with its journal (on by default) and /metrics on its own port."""
    port = free_port()
    text = (
        base_config(tmp_path)
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{port}\n\n"
        + "[program:steady]\ncommand = /bin/sh -c 'exec sleep 3600'\nstartsecs = 0\n"
    )
    daemon = Superd(tmp_path, text, "-n")
    try:
        daemon.wait_running()
        yield daemon, port
    finally:
        if daemon.process.poll() is None:
            daemon.send(signal.SIGTERM)
            daemon.wait_exit()
        daemon.close()


def test_each_xmlrpc_call_is_counted_under_its_method_and_outcome(
    superd: tuple[Superd, int],
) -> None:
    """A call shows up in the histogram at once, under its method and ok/fault; a method
    not in the table counts as ``unknown``; only called methods have series."""
    daemon, port = superd
    before = scrape(port)
    state_ok = {"method": "supervisor.getState", "outcome": "ok"}
    called = value(before, f"{DURATION}_count", **state_ok)
    assert called is not None
    assert called >= 1  # wait_running's calls
    daemon.call("getState")
    with pytest.raises(xmlrpc.client.Fault):
        daemon.call("getProcessInfo", "no-such-process")
    with pytest.raises(xmlrpc.client.Fault):
        daemon.call("noSuchMethod")
    after = scrape(port)
    assert value(after, f"{DURATION}_count", **state_ok) == called + 1
    assert value(after, f"{DURATION}_bucket", **state_ok, le="+Inf") == called + 1
    assert value(after, f"{DURATION}_sum", **state_ok) > 0
    fault = {"method": "supervisor.getProcessInfo", "outcome": "fault"}
    assert value(after, f"{DURATION}_count", **fault) == 1
    assert value(after, f"{DURATION}_count", method="unknown", outcome="fault") == 1
    methods = {dict(labels)["method"] for name, labels in after if name == f"{DURATION}_count"}
    assert methods == {"supervisor.getState", "supervisor.getProcessInfo", "unknown"}


def test_journal_lag_and_pending_events_are_served_and_reach_zero(
    superd: tuple[Superd, int],
) -> None:
    """The journal's lag and pending gauges are served, and read 0 once it has caught up."""
    _daemon, port = superd
    first = scrape(port)
    assert value(first, "supervisor_journal_lag_seconds") is not None
    assert value(first, "supervisor_journal_pending_events") is not None

    def caught_up() -> bool:
        now = scrape(port)
        return (
            value(now, "supervisor_journal_lag_seconds") == 0
            and value(now, "supervisor_journal_pending_events") == 0
        )

    wait_for(caught_up, "journal lag 0 and no pending events")


def test_rpc_counts_carry_on_across_a_restart(superd: tuple[Superd, int]) -> None:
    """A restart (a new daemon generation and control-plane app) keeps counting from
    where the histogram was: counts never go back."""
    daemon, port = superd
    state_ok = {"method": "supervisor.getState", "outcome": "ok"}
    for _ in range(20):  # more than the restarted daemon's own getState calls below
        daemon.call("getState")
    before = value(scrape(port), f"{DURATION}_count", **state_ok)
    assert before is not None
    assert before > 20
    assert daemon.call("restart") is True
    restart_ok = {"method": "supervisor.restart", "outcome": "ok"}
    daemon.wait_running()  # getState until the restarted daemon answers RUNNING
    after = scrape(port)
    assert value(after, f"{DURATION}_count", **restart_ok) == 1
    count = value(after, f"{DURATION}_count", **state_ok)
    assert count is not None
    assert count > before
