"""Bad input from listeners leaves superd and the other pools working; no event vanishes.

Each misbehaving listener (``misbehaving.py``: garbage instead of READY, a RESULT with a
wrong length, closing stdout, never answering) shares a pool with a healthy recorder,
which must end up with every event (the bad one's event is re-buffered), and one pool
has only a silent listener and a small buffer, whose overflow must be logged and
counted. A separate healthy pool receives everything throughout.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.listeners.harness import HERE, PYTHON, Daemon, header, read_records, wait_for
from tests.peers import require_command

pytestmark = [pytest.mark.integration]

MODES = ("garbage", "wronglen", "closer", "silent")
EVENTS = 5


def config(tmp: Path) -> str:
    text = header(tmp)
    for mode in MODES:
        # process 0 misbehaves, process 1 records (same priority: process 0 is asked first).
        text += (
            f"[eventlistener:{mode}]\nnumprocs = 2\n"
            "process_name = %(program_name)s_%(process_num)d\n"
            f"command = {PYTHON} {HERE / 'misbehaving.py'} {mode} {tmp}/{mode}.jsonl "
            "%(process_num)d\nevents = REMOTE_COMMUNICATION\nstartsecs = 1\n\n"
        )
    text += (
        f"[eventlistener:stuck]\ncommand = {PYTHON} {HERE / 'misbehaving.py'} silent\n"
        "events = REMOTE_COMMUNICATION\nbuffer_size = 2\nstartsecs = 1\n\n"
        f"[eventlistener:healthy]\ncommand = {PYTHON} {HERE / 'recorder.py'} "
        f"{tmp / 'healthy.jsonl'}\nevents = REMOTE_COMMUNICATION\nstartsecs = 1\n\n"
    )
    return text


def test_misbehaving_listeners_do_not_lose_events_or_break_the_daemon(tmp_path: Path) -> None:
    """Each bad listener's event reaches its pool's recorder; overflow is logged and counted."""
    superd = require_command("superd")
    daemon = Daemon(superd, tmp_path, config(tmp_path))
    try:
        wait_for(
            lambda: all(
                info["statename"] == "RUNNING" for info in daemon.call("getAllProcessInfo")
            ),
            "every listener RUNNING",
        )
        log = tmp_path / "main.log"
        # Every listener has spoken (READY or garbage) before the events are sent.
        wait_for(lambda: log.read_text().count("-> READY") >= 8, "listeners READY")
        for index in range(EVENTS):
            daemon.call("sendRemoteCommEvent", "bad-input", f"event {index}")
        payloads = {f"type:bad-input\nevent {index}" for index in range(EVENTS)}
        wait_for(
            lambda: {r["payload"] for r in read_records(tmp_path / "healthy.jsonl")} == payloads,
            "the healthy pool got every event",
        )
        for mode in ("garbage", "wronglen", "closer"):
            wait_for(
                lambda mode=mode: (
                    {r["payload"] for r in read_records(tmp_path / f"{mode}.jsonl")} == payloads
                ),
                f"{mode}'s recorder got every event, the bad one's re-buffered",
            )
        # silent keeps the one event it was sent (BUSY): the recorder gets the others.
        silent = {r["payload"] for r in read_records(tmp_path / "silent.jsonl")}
        wait_for(
            lambda: (
                len({r["payload"] for r in read_records(tmp_path / "silent.jsonl")}) == EVENTS - 1
            ),
            "silent's recorder got all but the held event",
        )
        text = log.read_text()
        assert "garbage_0: has entered the UNKNOWN state" in text
        assert "wronglen_0: event was rejected" in text
        assert "wronglen_0: has entered the UNKNOWN state" in text
        assert re.search(
            r"rebuffering event \d+ for pool closer \(closer_0 closed its stdout", text
        )
        # stuck: 1 held by the silent listener, 2 buffered, 2 discarded (oldest first).
        discards = re.findall(r"pool stuck event buffer overflowed, discarding event (\d+)", text)
        assert len(discards) == 2
        assert silent <= payloads
        # The daemon still answers, and every listener is still running.
        assert daemon.call("getState")["statename"] == "RUNNING"
        assert {i["statename"] for i in daemon.call("getAllProcessInfo")} == {"RUNNING"}
    finally:
        daemon.close()
