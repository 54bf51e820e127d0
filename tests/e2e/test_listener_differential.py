"""A recording listener sees the same events under the real supervisord and under superd.

One scenario, run against each daemon: a program that crashes twice and then stays up,
one that can never start (BACKOFF -> FATAL), one that prints with
``stdout_events_enabled``, an XML-RPC stop, ``sendRemoteCommEvent`` with non-ASCII
data, a group added by reread + ``addProcessGroup`` and removed by
``removeProcessGroup``, and TICK_5. ``recorder.py`` writes every header and payload it
gets. Pids, serials and ``when:`` are normalised; the global interleaving of
independent processes depends on timing, so the comparison is per process (and per
group / remote / tick stream), each of which must match exactly.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.listeners.harness import HERE, PYTHON, Daemon, header, read_records, wait_for
from tests.peers import require_command

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVENTS = "PROCESS_STATE,PROCESS_LOG,REMOTE_COMMUNICATION,PROCESS_GROUP,TICK_5"

# Crashes (exit 2) on its first two runs after 1.2 s, then stays up.
CRASHER = (
    "n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}; "
    "sleep 1.2; [ $n -ge 2 ] && exec sleep 1000; exit 2"
)


def scenario_config(tmp: Path, *, with_extra: bool) -> str:
    crasher = CRASHER.format(count=tmp / "count")
    text = header(tmp) + (
        f"[eventlistener:rec]\ncommand = {PYTHON} {HERE / 'recorder.py'} {tmp / 'rec.jsonl'}\n"
        f"events = {EVENTS}\nbuffer_size = 100\n\n"
        f"[program:crasher]\ncommand = /bin/sh -c '{crasher}'\nstartsecs = 1\n"
        "autorestart = unexpected\nexitcodes = 0\n\n"
        "[program:hopeless]\ncommand = /bin/sh -c 'exit 7'\nstartsecs = 1\nstartretries = 1\n\n"
        f"[program:talker]\ncommand = {PYTHON} -u -c \"print('hello'); import time; "
        'time.sleep(1000)"\nstartsecs = 1\nstdout_events_enabled = true\n\n'
    )
    if with_extra:
        text += "[program:extra]\ncommand = /bin/sleep 1000\nstartsecs = 0\n\n"
    return text


def names(records: list[dict[str, Any]]) -> list[str]:
    return [r["headers"]["eventname"] for r in records]


def has(records: list[dict[str, Any]], eventname: str, fragment: str = "") -> bool:
    return any(r["headers"]["eventname"] == eventname and fragment in r["payload"] for r in records)


def run_scenario(command: str, tmp: Path) -> list[dict[str, Any]]:
    """Drive one daemon through the scenario; the recorder's records."""
    record = tmp / "rec.jsonl"
    daemon = Daemon(command, tmp, scenario_config(tmp, with_extra=False))
    try:

        def seen(eventname: str, fragment: str = "") -> bool:
            return has(read_records(record), eventname, fragment)

        wait_for(lambda: seen("PROCESS_STATE_FATAL", "processname:hopeless"), "hopeless FATAL")
        wait_for(lambda: seen("PROCESS_LOG_STDOUT", "hello"), "talker's PROCESS_LOG")
        wait_for(lambda: daemon.state("talker") == "RUNNING", "talker RUNNING")
        daemon.call("stopProcess", "talker")
        wait_for(lambda: seen("PROCESS_STATE_STOPPED", "processname:talker"), "talker STOPPED")
        daemon.call("sendRemoteCommEvent", "greeting", "grüße\nzweite Zeile")
        wait_for(lambda: seen("REMOTE_COMMUNICATION"), "REMOTE_COMMUNICATION")
        # reread + add: a new group appears; then stop and remove it.
        daemon.config.write_text(scenario_config(tmp, with_extra=True))
        assert daemon.call("reloadConfig") == [[["extra"], [], []]]
        daemon.call("addProcessGroup", "extra")
        wait_for(lambda: seen("PROCESS_STATE_RUNNING", "processname:extra"), "extra RUNNING")
        daemon.call("stopProcess", "extra")
        daemon.call("removeProcessGroup", "extra")
        wait_for(lambda: seen("PROCESS_GROUP_REMOVED", "groupname:extra"), "extra removed")
        # crasher: two crashes, then RUNNING for good (its 3rd RUNNING).
        wait_for(
            lambda: (
                names(
                    [r for r in read_records(record) if "processname:crasher" in r["payload"]]
                ).count("PROCESS_STATE_RUNNING")
                == 3
            ),
            "crasher up after two crashes",
        )
        # One bounded wait for a 5 s boundary.
        wait_for(lambda: seen("TICK_5"), "TICK_5", deadline=7.0)
        return read_records(record)
    finally:
        daemon.close()


def normalise(record: dict[str, Any]) -> tuple[str, str, str]:
    """(stream, eventname, payload) with pids and times made comparable."""
    headers, payload = record["headers"], record["payload"]
    name = headers["eventname"]
    payload = re.sub(r"\bpid:\d+", "pid:N", payload)
    payload = re.sub(r"\bwhen:\d+", "when:T", payload)
    match = re.search(r"processname:(\S+)", payload)
    if match:
        stream = f"process:{match.group(1)}"
    elif name.startswith("PROCESS_GROUP"):
        stream = "groups"
    elif name.startswith("TICK"):
        stream = "ticks"
    else:
        stream = "other"
    return stream, name, payload


def streams(records: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for record in records:
        stream, name, payload = normalise(record)
        if stream == "ticks":
            continue  # how many ticks fit in the run is timing; checked separately
        entries = result[stream]
        if name.startswith("PROCESS_LOG_") and entries and entries[-1][0] == name:
            # One event per read, in both daemons: how output splits into reads
            # ("hello" then "\n", or "hello\n") is the kernel's timing, not a
            # difference. Consecutive chunks of one run and channel are joined.
            last_head, _, last_data = entries[-1][1].partition("\n")
            head, _, data = payload.partition("\n")
            if head == last_head:
                entries[-1] = (name, f"{head}\n{last_data}{data}")
                continue
        entries.append((name, payload))
    return dict(result)


def check_headers(records: list[dict[str, Any]]) -> None:
    """Header invariants both daemons must keep (the fields normalise() ignores)."""
    pool_serials = [int(r["headers"]["poolserial"]) for r in records]
    assert pool_serials == list(range(len(records)))  # one pool, nothing rejected
    serials = [int(r["headers"]["serial"]) for r in records]
    assert serials == sorted(set(serials))  # increasing
    for r in records:
        h = r["headers"]
        assert list(h) == ["ver", "server", "serial", "pool", "poolserial", "eventname", "len"]
        assert (h["ver"], h["server"], h["pool"]) == ("3.0", "cmp", "rec")
        assert int(h["len"]) == len(r["payload"])  # characters, as supervisord counts
        if h["eventname"] == "TICK_5":
            assert int(r["payload"].removeprefix("when:")) % 5 == 0


def test_recording_listener_sees_the_same_events_under_supervisord_and_superd(
    tmp_path: Path,
) -> None:
    """Per process, the same event names, header fields and payloads reach the listener."""
    supervisord = require_command("supervisord")
    superd = require_command("superd")
    (tmp_path / "theirs").mkdir()
    (tmp_path / "ours").mkdir()
    theirs = run_scenario(supervisord, tmp_path / "theirs")
    ours = run_scenario(superd, tmp_path / "ours")
    check_headers(theirs)
    check_headers(ours)
    assert streams(ours) == streams(theirs)
    # the stream that is not per process, whole: REMOTE_COMMUNICATION with its text.
    assert streams(ours)["other"] == [
        ("REMOTE_COMMUNICATION", "type:greeting\ngrüße\nzweite Zeile")
    ]
    assert "TICK_5" in names(ours)
    assert "TICK_5" in names(theirs)
