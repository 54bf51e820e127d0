"""A real superd: every transition's cause in the journal, /events, /events/restarts and
``superctl events``, the event's own stderr tail, and a version-1 journal upgraded at start."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporters.journal import open_journal
from tests.integration.superd_harness import Superd, base_config, program_section, wait_for
from tests.integration.test_journal import write_v1_journal
from tests.integration.test_superd_extensions import events, free_port, get

pytestmark = pytest.mark.integration

# Exits 3 after 0.3 s, saying so on stderr; damping restarts it 0.3 s later.
DAMPED = (
    "[program:damped]\ncommand = /bin/sh -c 'echo bye >&2; sleep 0.3; exit 3'\n"
    "startsecs = 0\nautorestart = true\n"
    "backoff_initial = 0.3\nbackoff_factor = 1\nbackoff_max = 0.3\n\n"
)
OLD_JOURNAL_KEY = "[exporter:journal]\nstderr_lines = 5\n\n"


@pytest.fixture
def cleanup() -> Iterator[list[Superd]]:
    started: list[Superd] = []
    yield started
    for daemon in started:
        daemon.close()


def restarts(port: int) -> dict[str, int]:
    body = json.loads(get(f"http://127.0.0.1:{port}/events/restarts"))
    return {f"{r['groupname']}:{r['processname']}": r["restarts"] for r in body["restarts"]}


def superctl(superd: Superd, *args: str, status: int = 0) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "superctl"), "-c", str(superd.config), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == status, done.stdout + done.stderr
    return done.stdout


def test_causes_of_a_damped_crash_loop_and_an_operator(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """Damped restarts are counted from their cause (journal, /events, /events/restarts
    agree); an operator's stop and start are starts with an origin, not restarts."""
    port = free_port()
    text = (
        base_config(tmp_path)
        + f"[inet_http_server]\nport = 127.0.0.1:{port}\n\n"
        + DAMPED
        + program_section("steady", tmp_path, priority=1)
        + OLD_JOURNAL_KEY
    )
    superd = Superd(tmp_path, text, "-n")
    cleanup.append(superd)
    superd.wait_running()
    wait_for(lambda: restarts(port).get("damped:damped", 0) >= 3, "three damped restarts")
    superctl(superd, "stop", "steady")
    superctl(superd, "start", "steady")
    superctl(superd, "stop", "damped")
    counted = restarts(port)
    assert set(counted) == {"damped:damped"}  # the operator's start of steady is none
    state = [e for e in events(port) if str(e["type"]).startswith("PROCESS_STATE_")]
    damped = [e for e in state if e["processname"] == "damped"]
    starts = [e for e in damped if e["to_state"] == "STARTING"]
    assert [e["cause"] for e in starts] == ["autostart"] + ["damped"] * counted["damped:damped"]
    assert [e["run"] for e in starts] == list(range(1, len(starts) + 1))
    assert {e["episode"] for e in damped} == {1}  # one episode, opened by run 1
    selected = events_with(port, "cause=damped,autorestart,retry")
    assert [e["serial"] for e in selected] == [e["serial"] for e in starts[1:]]
    with pytest.raises(urllib.error.HTTPError) as refused:
        events_with(port, "cause=crash")
    assert refused.value.code == 400
    assert "cause: unknown cause 'crash' (known: autostart, " in refused.value.read().decode()
    # Every exit event carries the run's stderr tail, as the core bounded it.
    for exited in (e for e in damped if e["to_state"] == "EXITED"):
        assert exited["stderr_tail"] == ["bye"]
    stopped = next(e for e in state if e["processname"] == "steady" and e["to_state"] == "STOPPED")
    assert stopped["stderr_tail"] == []  # the run wrote nothing on stderr
    assert stopped["cause"] == "operator"
    assert str(stopped["origin"]).startswith("xmlrpc, unix socket pid ")
    assert str(stopped["origin"]).endswith(", superctl/0.1.0")
    # superctl events: the cause filter and the people format with the origin.
    out = superctl(superd, "events", "--cause", "operator", "steady")
    lines = out.splitlines()
    assert len(lines) == 3  # stop (STOPPING, STOPPED) and start
    assert "RUNNING -> STOPPING (operator), pid " in lines[0]
    assert "STOPPED -> STARTING (operator), by xmlrpc, unix socket pid " in lines[2]
    refused = superctl(superd, "events", "--cause", "crash", status=2)
    assert "--cause: unknown cause 'crash' (known: autostart, " in refused
    # The journal file holds the same causes in its typed column.
    superd.send(signal.SIGTERM)
    assert superd.wait_exit() == 0
    with open_journal(str(tmp_path / "superd-journal.sqlite3")) as reader:
        assert reader.version == 2
        journaled = list(reader.events(causes=["damped"]))
        assert reader.restart_counts() == counted
    assert [r.serial for r in journaled] == [e["serial"] for e in starts[1:]]
    # The old [exporter:journal] stderr_lines is accepted and said to be ignored.
    assert (
        "stderr_lines: ignored: the journal keeps the stderr tail exit events carry; "
        "its length is [supervisord] stderr_tail_lines" in superd.main_log()
    )


def events_with(port: int, query: str) -> list[dict[str, object]]:
    text = get(f"http://127.0.0.1:{port}/events?{query}")
    return [json.loads(line) for line in text.splitlines() if line]


def test_a_version_1_journal_is_upgraded_when_superd_starts(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """superd opens a version-1 journal, adds the cause columns (backfilled from the
    payload) and continues its numbering; /events serves old and new events alike."""
    journal = tmp_path / "superd-journal.sqlite3"
    write_v1_journal(journal)
    port = free_port()
    text = (
        base_config(tmp_path)
        + f"[inet_http_server]\nport = 127.0.0.1:{port}\n\n"
        + program_section("steady", tmp_path, priority=1)
    )
    superd = Superd(tmp_path, text, "-n")
    cleanup.append(superd)
    superd.wait_states({"steady": "RUNNING"})
    served = events(port)
    assert [e["serial"] for e in served[:4]] == [0, 1, 2, 3]
    assert served[3]["type"] == "SUPERVISOR_DAEMON_START"
    assert served[3]["previous_serial"] == 2
    assert served[1]["cause"] == "autorestart"  # the old payload, unchanged
    start = next(e for e in served if e.get("to_state") == "STARTING")
    assert start["cause"] == "autostart"
    assert restarts(port) == {}  # the old daemon's restart is not this daemon's
    connection = sqlite3.connect(journal)
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 2
        rows = connection.execute("SELECT serial, cause FROM events WHERE serial < 3").fetchall()
    finally:
        connection.close()
    assert rows == [(0, None), (1, "autorestart"), (2, None)]
    superd.send(signal.SIGTERM)
    assert superd.wait_exit() == 0
