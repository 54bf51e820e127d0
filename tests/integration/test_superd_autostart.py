"""The autostart pass of a real superd with hundreds of programs: it keeps serving.

superd spawns its autostart programs in slices and lets the event loop run between
them (as supervisord starts processes from its select loop), so XML-RPC is answered
and signals are acted on while the programs are still being launched.
"""

from __future__ import annotations

import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.integration.superd_harness import DEADLINE, Superd, base_config, wait_for

pytestmark = pytest.mark.integration

# Enough programs that the pass lasts far longer than the harness needs to notice it
# started (each spawn is a fork/exec; 500 take about a second here).
PROGRAMS = 500
SLEEP = shutil.which("sleep") or "/bin/sleep"


@pytest.fixture
def cleanup() -> Iterator[list[Superd]]:
    started: list[Superd] = []
    yield started
    for daemon in started:
        daemon.close()


def sleepers(tmp: Path, count: int) -> str:
    """``count`` one-process programs, written in reverse of their priority order."""
    sections = [
        f"[program:p{i:04d}]\ncommand = {SLEEP} 1000\npriority = {1000 + i}\n"
        f"startsecs = 0\nstopwaitsecs = 5\nautorestart = false\n\n"
        for i in reversed(range(count))
    ]
    return base_config(tmp) + "".join(sections)


def spawned(log: str) -> list[str]:
    return re.findall(r"spawned: '(\w+)'", log)


def test_rpc_is_answered_while_the_autostart_pass_runs(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """getAllProcessInfo answers before the last autostart program is spawned, order kept."""
    superd = Superd(tmp_path, sleepers(tmp_path, PROGRAMS), "-n")
    cleanup.append(superd)
    # The socket is bound before the pass begins: the first answer that arrives is
    # the evidence. Before the pass yielded, no request was read until every program
    # had been spawned, so no answer could show a program that never started.
    first = wait_for(lambda: superd.call("getAllProcessInfo"), "a first getAllProcessInfo")
    never_started = [info["name"] for info in first if info["start"] == 0]
    assert never_started, "the answer came only after every program had been spawned"
    assert all(info["statename"] == "STOPPED" for info in first if info["start"] == 0)

    names = [f"p{i:04d}" for i in range(PROGRAMS)]
    superd.wait_states(dict.fromkeys(names, "RUNNING"))
    # Priority order across groups, each spawned once, no matter how often it yielded.
    assert spawned(superd.main_log()) == names


def test_sigterm_during_the_autostart_pass_stops_the_started_and_starts_no_more(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """A SIGTERM mid-pass ends it: the rest never spawns, the spawned ones are stopped."""
    superd = Superd(tmp_path, sleepers(tmp_path, PROGRAMS), "-n")
    cleanup.append(superd)
    wait_for(lambda: spawned(superd.main_log()), "the first spawn")
    superd.send(signal.SIGTERM)
    assert superd.wait_exit(timeout=DEADLINE * 2) == 0

    log = superd.main_log()
    started = spawned(log)
    assert 0 < len(started) < PROGRAMS, f"{len(started)} of {PROGRAMS} spawned"
    assert started == [f"p{i:04d}" for i in range(len(started))]  # a prefix, in order
    assert "received SIGTERM indicating exit request" in log
    stopped = set(re.findall(r"stopped: (\w+) \(terminated by SIGTERM\)", log))
    assert stopped == set(started)
    pids = [int(pid) for pid in re.findall(r"spawned: '\w+' with pid (\d+)", log)]
    assert not [pid for pid in pids if psutil.pid_exists(pid)]
