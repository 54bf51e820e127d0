"""One truth per transition: a real superd's /metrics and its journal count the same starts.

Scripted histories run through one real ``superd``: a plain crash loop, a damped crash
loop, a start limit reaching FATAL, operator stop/start/restart with the real
supervisorctl, an ``update`` that changes a program, and superlance's memmon restarting
a program over XML-RPC. Once every history has come to rest, the counts per process
and cause must agree exactly between ``supervisor_process_starts_total{cause}`` /
``supervisor_process_restarts_total`` (a real scrape of ``/metrics``) and the
``PROCESS_STATE_STARTING`` events of the journal (``/events``), and each history must
show the cause it was built to produce.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from supervisor_core.lifecycle import AUTOMATIC_RESTART_CAUSES, Cause
from tests.e2e.prometheus_server import free_port
from tests.integration.superd_harness import Superd, base_config, wait_for
from tests.peers import require_command

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOG = "import time\nchunks = []\nwhile True:\n    chunks.append(bytearray(4_000_000))\n    time.sleep(0.05)\n"  # noqa: E501
SLEEPER = (
    "import signal, time\nsignal.signal(signal.SIGTERM, lambda *_: exit(0))\ntime.sleep(3600)\n"
)


def config_text(tmp: Path, port: int, memmon: str, *, steady_args: str) -> str:
    """The whole configuration; ``steady_args`` changes for the ``update`` history."""
    quick_crash = "/bin/sh -c 'sleep 0.3; exit 1'"
    return base_config(tmp) + (
        f"[inet_http_server]\nport = 127.0.0.1:{port}\n\n"
        f"[exporter:journal]\npath = {tmp / 'journal.sqlite3'}\n\n"
        f"[program:crashloop]\ncommand = {quick_crash}\nstartsecs = 0\nautorestart = true\n\n"
        f"[program:damped]\ncommand = {quick_crash}\nstartsecs = 0\nautorestart = true\n"
        "backoff_initial = 0.3\nbackoff_factor = 1\nbackoff_max = 0.3\n\n"
        "[program:limited]\ncommand = /bin/sh -c 'exit 2'\nstartsecs = 0\nautorestart = true\n"
        "startlimit_burst = 3\nstartlimit_interval = 60\n\n"
        f"[program:steady]\ncommand = {sys.executable} {tmp / 'sleeper.py'}\nstartsecs = 0\n\n"
        f"[program:changing]\ncommand = {sys.executable} {tmp / 'sleeper.py'} {steady_args}\n"
        "startsecs = 0\n\n"
        f"[program:hog]\ncommand = {sys.executable} {tmp / 'hog.py'}\nstartsecs = 0\n\n"
        f"[eventlistener:memmon]\ncommand = {memmon} -p hog=40MB\nevents = TICK_5\n\n"
    )


class Daemon:
    """The superd under test, its supervisorctl and its HTTP endpoints."""

    def __init__(self, tmp: Path, port: int, memmon: str) -> None:
        self.tmp = tmp
        self.port = port
        self.memmon = memmon
        (tmp / "hog.py").write_text(HOG)
        (tmp / "sleeper.py").write_text(SLEEPER)
        self.superd = Superd(tmp, config_text(tmp, port, memmon, steady_args="a"))
        self.supervisorctl = require_command("supervisorctl")

    def ctl(self, *args: str) -> str:
        """Run the real supervisorctl; returns its output."""
        done = subprocess.run(
            [self.supervisorctl, "-c", str(self.superd.config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout + done.stderr

    def get(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    def starts_in_journal(self) -> Counter[tuple[str, str]]:
        """(name, cause) -> PROCESS_STATE_STARTING events in /events.

        Counted from the last PROCESS_GROUP_ADDED of the process' group on: a group
        that ``update`` removed and added again starts its counters afresh in
        /metrics (docs/metrics.md), while the journal keeps the whole history.
        """
        query = "/events?types=PROCESS_STATE_STARTING,PROCESS_GROUP_ADDED&limit=100000"
        counts: Counter[tuple[str, str]] = Counter()
        for line in self.get(query).splitlines():
            event = json.loads(line)
            if event["type"] == "PROCESS_GROUP_ADDED":
                for key in [k for k in counts if k[0] == event["groupname"]]:
                    del counts[key]
            else:
                counts[(event["processname"], event["cause"])] += 1
        return counts

    def scrape(self) -> tuple[Counter[tuple[str, str]], Counter[str]]:
        """((name, cause) -> starts_total, name -> restarts_total) from /metrics."""
        starts: Counter[tuple[str, str]] = Counter()
        restarts: Counter[str] = Counter()
        for family in text_string_to_metric_families(self.get("/metrics")):
            for sample in family.samples:
                if sample.name == "supervisor_process_starts_total" and sample.value:
                    starts[(sample.labels["name"], sample.labels["cause"])] += int(sample.value)
                elif sample.name == "supervisor_process_restarts_total" and sample.value:
                    restarts[sample.labels["name"]] += int(sample.value)
        return starts, restarts

    def state(self, name: str) -> str:
        return str(self.superd.call("getProcessInfo", name)["statename"])

    def starts_of(self, name: str, cause: Cause) -> int:
        return self.starts_in_journal()[(name, cause.value)]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    memmon = require_command("memmon")
    d = Daemon(tmp_path, free_port(), memmon)
    try:
        d.superd.wait_running()
        yield d
    finally:
        d.superd.close()


def test_metrics_and_journal_count_every_start_by_the_same_cause(daemon: Daemon) -> None:
    """Per process and cause, /metrics and the journal agree exactly after every history."""
    d = daemon
    # Crash loops: let each restart a few times, then stop them (an operator stop).
    wait_for(lambda: d.starts_of("crashloop", Cause.AUTORESTART) >= 3, "crashloop restarts")
    wait_for(lambda: d.starts_of("damped", Cause.DAMPED) >= 3, "damped restarts", deadline=30)
    assert "stopped" in d.ctl("stop", "crashloop", "damped")
    # The start limit sends 'limited' to FATAL by itself.
    wait_for(lambda: d.state("limited") == "FATAL", "limited FATAL")
    # Operator stop, start and restart of 'steady' through the real supervisorctl.
    assert "stopped" in d.ctl("stop", "steady")
    assert "started" in d.ctl("start", "steady")
    assert "started" in d.ctl("restart", "steady")
    # An update that changes a program: it is stopped (operator) and started (update).
    d.superd.config.write_text(config_text(d.tmp, d.port, d.memmon, steady_args="b"))
    assert "changing" in d.ctl("update")
    wait_for(lambda: d.state("changing") == "RUNNING", "changing running again")
    # memmon restarts the growing hog over XML-RPC (TICK_5: within seconds).
    wait_for(lambda: d.starts_of("hog", Cause.LISTENER) >= 1, "memmon's restart", deadline=60)
    assert "stopped" in d.ctl("stop", "hog")

    journal = d.starts_in_journal()
    starts, restarts = d.scrape()
    assert starts == journal
    for name in ("crashloop", "damped", "limited", "steady", "changing", "hog", "memmon"):
        automatic = sum(journal[(name, cause.value)] for cause in AUTOMATIC_RESTART_CAUSES)
        assert restarts[name] == automatic, name

    # Each history shows the cause it was built for, and nothing it was not.
    assert journal[("crashloop", "autorestart")] >= 3
    assert journal[("damped", "damped")] >= 3
    assert journal[("damped", "autorestart")] == 0
    assert journal[("limited", "autorestart")] == 2  # burst 3: autostart + 2 restarts
    assert journal[("steady", "operator")] == 2  # start, then restart's start
    assert journal[("changing", "update")] == 1
    assert journal[("changing", "autostart")] == 0  # the run before the update is forgotten
    assert journal[("hog", "listener")] >= 1
    assert journal[("hog", "operator")] == 0
    fatal = [
        json.loads(line)
        for line in d.get("/events?types=PROCESS_STATE_FATAL").splitlines()
        if json.loads(line)["processname"] == "limited"
    ]
    assert [event["cause"] for event in fatal] == ["startlimit"]
    stops = [
        json.loads(line)
        for line in d.get("/events?types=PROCESS_STATE_STOPPING").splitlines()
        if json.loads(line)["processname"] == "hog"
    ]
    assert stops[0]["cause"] == "listener"
    assert stops[0]["origin"].startswith("listener memmon")
    assert stops[-1]["cause"] == "operator"
    assert "unix socket" in stops[-1]["origin"]
