"""The journal under a crash storm: one count of events everywhere, and SIGKILL loses nothing.

A real ``superd`` runs programs that exit 50 ms after they start (autorestart, so they
restart forever) and a recording listener (superlance's protocol, ``events=PROCESS_STATE``).
The journal (``/events``), the listener and ``supervisor_events_total`` must count the
same PROCESS_STATE events; then superd is SIGKILLed in the middle of the storm and
started again: every event committed before the kill is still there and the serial
continues without a gap or a duplicate.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from exporters.journal import JournalRecord, open_journal
from tests.integration.superd_harness import Superd, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RECORDER = Path(__file__).parent / "listeners" / "recorder.py"
STORM_PROGRAMS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def config(tmp: Path, port: int) -> str:
    crash = f"{sys.executable} -c 'import time; time.sleep(0.05)'"
    return (
        f"[unix_http_server]\nfile = {tmp / 'sock'}\n\n"
        f"[inet_http_server]\nport = 127.0.0.1:{port}\n\n"
        f"[supervisord]\nlogfile = {tmp / 'main.log'}\npidfile = {tmp / 'superd.pid'}\n"
        f"childlogdir = {tmp}\nidentifier = storm\n\n"
        f"[eventlistener:recorder]\ncommand = {sys.executable} {RECORDER} {tmp / 'record'}\n"
        "events = PROCESS_STATE\nbuffer_size = 100000\n\n"
        f"[program:crash]\ncommand = {crash}\nprocess_name = crash_%(process_num)d\n"
        f"numprocs = {STORM_PROGRAMS}\nstartsecs = 0\nautorestart = true\n"
        "stdout_logfile = NONE\nstderr_logfile = NONE\n"
    )


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body.decode()


def journal_state_events(port: int) -> list[dict[str, object]]:
    text = get(f"http://127.0.0.1:{port}/events?types=PROCESS_STATE")
    return [json.loads(line) for line in text.splitlines() if line]


def metrics_state_events(port: int) -> int:
    total = 0.0
    for line in get(f"http://127.0.0.1:{port}/metrics").splitlines():
        if line.startswith('supervisor_events_total{type="PROCESS_STATE_'):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def recorded(tmp: Path) -> int:
    path = tmp / "record"
    return len(path.read_text().splitlines()) if path.exists() else 0


def kill_tree_orphans(pids: list[int]) -> None:
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            continue


def test_journal_listener_and_metrics_count_alike(tmp_path: Path) -> None:
    """After a storm stops, journal, listener and metrics hold the same PROCESS_STATE count."""
    port = free_port()
    superd = Superd(tmp_path, config(tmp_path, port), "-n")
    try:
        superd.wait_running()
        wait_for(lambda: recorded(tmp_path) > 200, "a storm of recorded transitions")
        superd.call("stopProcessGroup", "crash", True)
        # The storm is over: once the listener has drained its buffer, all agree.
        journaled = wait_for(
            lambda: (n := len(journal_state_events(port))) == recorded(tmp_path) and n,
            "the listener to catch up with the journal",
        )
        assert metrics_state_events(port) == journaled
        events = journal_state_events(port)
        serials = [e["serial"] for e in events]
        assert serials == sorted(set(serials))  # no duplicate, in order
        superd.send(signal.SIGTERM)
        assert superd.wait_exit() == 0
    finally:
        superd.close()


def test_sigkill_mid_storm_loses_no_committed_event(tmp_path: Path) -> None:
    """SIGKILL of superd mid-storm: committed events survive; the serial goes on, no duplicate."""
    port = free_port()
    text = config(tmp_path, port)
    first = Superd(tmp_path, text, "-n")
    try:
        first.wait_running()
        wait_for(lambda: recorded(tmp_path) > 100, "the storm under way")
        children = [p.pid for p in psutil.Process(first.process.pid).children(recursive=True)]
        first.process.send_signal(signal.SIGKILL)
        first.wait_exit()
        kill_tree_orphans(children)
    finally:
        first.close()
    journal_path = tmp_path / "superd-journal.sqlite3"
    with open_journal(str(journal_path)) as journal:
        before = [record.serial for record in journal.events()]
    assert before == list(range(len(before)))  # committed: gap-free from 0
    (tmp_path / "sock").unlink(missing_ok=True)

    second = Superd(tmp_path, text, "-n")
    try:
        second.wait_running()
        second.call("stopProcessGroup", "crash", True)

        def committed() -> list[JournalRecord] | None:
            with open_journal(str(journal_path)) as journal:
                records = list(journal.events())
            return records if len(records) > len(before) else None

        # The writer commits in batches (50 ms): await the new run's first commit.
        after: list[JournalRecord] = wait_for(committed, "the new run's events committed")
        serials = [record.serial for record in after]
        assert serials[: len(before)] == before  # nothing committed was lost
        assert serials == list(range(len(serials)))  # continues with no gap or duplicate
        restart = after[len(before)]
        assert restart.type == "SUPERVISOR_DAEMON_START"
        second.send(signal.SIGTERM)
        assert second.wait_exit() == 0
    finally:
        second.close()
