"""``snapshot(url)`` and ``storm_view``: a real superd's state as the HTML table Jupyter shows.

superd (a subprocess, HTTP behind basic auth, journal on) runs three programs: one
that gives up (FATAL after its start retries), one in a damped crash loop (a storm
under way for as long as the test runs) and a steady one. The HTML of the snapshot,
parsed back into cells, must say what XML-RPC and ``GET /events`` say.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
import xmlrpc.client
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from exporters.notebook import snapshot, storm_view
from exporters.notebook.snapshot import STORM_MARK
from exporters.storms import StormSettings
from tests.e2e.prometheus_server import free_port
from tests.e2e.test_postmortem_notebook import metric
from tests.integration.superd_harness import Superd, base_config, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

USER, PASSWORD = "ops", "s3cret pass"
RETRIES = 3
AUTOMATIC = {"autorestart", "damped", "retry"}
SETTINGS = StormSettings(burst=3, window=120.0)  # the host's [exporter:storms]


class _Tables(HTMLParser):
    """Every ``<table>`` of a page as rows of cell texts (header row included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> list[list[list[str]]]:
    """The tables of ``html`` as lists of rows of cell texts."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def seconds(text: str) -> float:
    """``12.5 s``, ``4 min 05 s`` or ``2 h 03 min`` back to seconds."""
    units = {"s": 1, "min": 60, "h": 3600}
    parts = text.split()
    return sum(float(n) * units[u] for n, u in zip(parts[::2], parts[1::2], strict=True))


def raw_events(url: str) -> list[dict[str, object]]:
    """Every event superd's ``GET /events`` returns (JSON lines), read without load_events."""
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        f"{url}/events?limit=10000", headers={"Authorization": f"Basic {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


@pytest.fixture
def superd(tmp_path: Path) -> Iterator[tuple[Superd, str, int]]:
    """superd with ``gives-up``, ``looping`` (a storm under way) and ``steady``."""
    http, metrics = free_port(), free_port()
    text = (
        base_config(tmp_path)
        + f"[inet_http_server]\nport = 127.0.0.1:{http}\n"
        + f"username = {USER}\npassword = {PASSWORD}\n\n"
        + f"[exporter:prometheus]\nlisten = 127.0.0.1:{metrics}\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 120s\n\n"
        + "[program:gives-up]\ncommand = /bin/sh -c 'sleep 0.1; exit 4'\n"
        + f"startsecs = 1\nstartretries = {RETRIES}\n\n"
        + "[program:looping]\ncommand = /bin/sh -c 'sleep 0.1; exit 5'\nstartsecs = 0\n"
        + "autorestart = true\nbackoff_initial = 1.5\nbackoff_factor = 1\n\n"
        + "[program:steady]\ncommand = /bin/sh -c 'exec sleep 3600'\nstartsecs = 0\n"
    )
    daemon = Superd(tmp_path, text, "-n")
    try:
        daemon.wait_running()
        yield daemon, f"http://127.0.0.1:{http}", metrics
    finally:
        daemon.close()


def test_the_snapshot_table_says_what_xmlrpc_and_events_say(
    superd: tuple[Superd, str, int],
) -> None:
    """Each row of the snapshot's HTML has the process' state and pid from XML-RPC, its
    uptime, its automatic restarts as /events' causes count them, and the storm marker
    exactly where superd's storm gauge is 1."""
    daemon, url, metrics = superd
    storm = 'supervisor_process_restart_storm{group="looping",name="looping"}'
    wait_for(lambda: daemon.states()["gives-up"] == "FATAL", "gives-up FATAL")
    wait_for(lambda: metric(metrics, storm) == 1.0, "a storm of looping")
    taken = snapshot(url, username=USER, password=PASSWORD)
    assert metric(metrics, storm) == 1.0  # still under way after the snapshot
    with xmlrpc.client.ServerProxy(f"http://{USER}:s3cret%20pass@{url[7:]}/RPC2") as proxy:
        infos = {i["name"]: i for i in proxy.supervisor.getAllProcessInfo()}  # type: ignore[union-attr]
    (table,) = tables(taken._repr_html_())
    header, *rows = table
    assert header == [
        "process",
        "state",
        "pid",
        "uptime",
        "restarts",
        "storm",
        "description",
    ]
    cells = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(cells) == {"gives-up", "looping", "steady"}
    # Restarts as superd's own JSON counts them, up to the last event the snapshot read.
    last = int(taken.events["serial"].max())
    counted: dict[str, int] = {}
    for event in raw_events(url):
        if (
            int(event["serial"]) <= last  # type: ignore[call-overload]
            and event.get("to_state") == "STARTING"
            and event.get("cause") in AUTOMATIC
        ):
            name = str(event["processname"])
            counted[name] = counted.get(name, 0) + 1
    steady = cells["steady"]
    assert steady["state"] == "RUNNING"
    assert steady["pid"] == str(infos["steady"]["pid"])
    uptime = seconds(steady["uptime"])
    assert 0 <= uptime <= time.time() - infos["steady"]["start"] + 1
    assert steady["restarts"] == "0"
    assert steady["storm"] == ""
    gives_up = cells["gives-up"]
    assert gives_up["state"] == "FATAL" == infos["gives-up"]["statename"]
    assert gives_up["pid"] == ""
    assert gives_up["uptime"] == ""
    assert gives_up["restarts"] == str(RETRIES) == str(counted["gives-up"])
    assert gives_up["storm"] == ""  # its storm ended when it went FATAL
    looping = cells["looping"]
    assert looping["storm"] == STORM_MARK
    assert int(looping["restarts"]) == counted["looping"] >= 3
    assert looping["description"]


def test_a_storm_shows_as_its_facts_and_runs(superd: tuple[Superd, str, int]) -> None:
    """storm_view's HTML names the storm's process, restart count and exit code, and lists
    the runs that ended in it with the pids and exit codes /events recorded."""
    daemon, url, _metrics = superd
    wait_for(lambda: daemon.states()["gives-up"] == "FATAL", "gives-up FATAL")
    taken = snapshot(url, username=USER, password=PASSWORD, settings=SETTINGS)
    process_storms = taken.storms[taken.storms["scope"] == "process"].reset_index(drop=True)
    (which,) = process_storms.index[process_storms["process"] == "gives-up"]
    view = storm_view(taken.events, int(which), settings=SETTINGS, until=taken.taken)
    facts, runs = tables(view._repr_html_())
    fact = {row[0]: row[1] for row in facts}
    assert fact["process"] == "gives-up"
    assert fact["restarts"] == str(int(process_storms.loc[which, "restarts"])) == str(RETRIES)
    assert fact["exit codes"] == "4"
    assert fact["reason"] == "fatal"
    header, *rows = runs
    assert header[:1] == ["pid"]
    exits = {
        int(e["pid"]): int(e["returncode"])  # type: ignore[call-overload]
        for e in raw_events(url)
        if e.get("processname") == "gives-up" and e.get("to_state") == "BACKOFF"
    }
    assert rows
    for row in rows:
        cell = dict(zip(header, row, strict=True))
        assert exits[int(cell["pid"])] == 4
        assert cell["exit"] == "code 4"
        assert cell["outcome"] == "failed start"
