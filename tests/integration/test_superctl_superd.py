"""superctl's own commands against a real superd: --json, events, top --once, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.superd_harness import Superd, base_config, wait_for
from tests.peers import require_module

pytestmark = pytest.mark.integration

SUPERCTL = str(Path(sys.executable).parent / "superctl")


@pytest.fixture
def superd(tmp_path: Path) -> Iterator[Superd]:
    """A superd with a steady program and one that crashes in a loop (a storm)."""
    text = (
        base_config(tmp_path)
        + "[program:steady]\ncommand = /bin/sleep 1000\nstartsecs = 0\n\n"
        + "[program:crashy]\ncommand = /bin/sh -c 'sleep 0.2; exit 4'\n"
        + "startsecs = 0\nautorestart = true\nbackoff_initial = 0.05\nbackoff_max = 0.2\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 30s\n"
    )
    daemon = Superd(tmp_path, text, "-n")
    try:
        daemon.wait_running()
        yield daemon
    finally:
        daemon.close()


def superctl(daemon: Superd, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run(
        [SUPERCTL, "-c", str(daemon.config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stdout + done.stderr


def test_status_json_matches_the_text_status(superd: Superd) -> None:
    """``status --json`` lists what ``status`` lists, with the same exit status."""
    wait_for(lambda: superd.states().get("steady") == "RUNNING", "steady RUNNING")
    status, out = superctl(superd, "status", "--json", "steady")
    assert status == 0
    [info] = json.loads(out)
    assert (info["namespec"], info["statename"]) == ("steady", "RUNNING")
    assert info["pid"] == superd.call("getProcessInfo", "steady")["pid"]


def test_events_errors_and_last_lines(superd: Superd) -> None:
    """Unknown names and bad types are clean errors; -n gives that many lines, no ticks."""
    wait_for(lambda: superd.call("getProcessInfo", "crashy")["state"] in (10, 20, 100), "crashy")
    assert superctl(superd, "events", "nosuch") == (1, "nosuch: ERROR (no such process)\n")
    status, out = superctl(superd, "events", "--types", "BOGUS")
    assert (status, out) == (2, "Error: --types: unknown event type 'BOGUS'\n")
    wait_for(lambda: len(superctl(superd, "events", "crashy")[1].splitlines()) >= 6, "six events")
    status, out = superctl(superd, "events", "-n", "3", "crashy")
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == 3
    assert all("crashy" in line and "TICK" not in line for line in lines)


def test_top_once_shows_restarts_storm_and_resources(superd: Superd) -> None:
    """``top --once`` prints every program with its restarts (from the cause), the storm
    marker, memory and open files from /metrics, and the last exit."""

    def frame() -> str | None:
        status, out = superctl(superd, "top", "--once", env={"COLUMNS": "160"})
        assert status == 0, out
        crashy = next(line for line in out.splitlines() if line.startswith("crashy"))
        return out if "STORM" in crashy and "exit 4" in crashy else None

    out = wait_for(frame, "crashy in a storm in top")
    crashy = next(line for line in out.splitlines() if line.startswith("crashy"))
    steady = next(line for line in out.splitlines() if line.startswith("steady"))
    restarts = int(crashy.split()[crashy.split().index("STORM") - 1])
    assert restarts >= 1  # a storm is made of automatic restarts
    assert "RUNNING" in steady
    assert "iB" in steady  # RSS from the daemon's psutil sampler
    assert "\x1b[" not in out  # not a terminal: no colour


def test_no_color_on_a_terminal(superd: Superd) -> None:
    """Under a pseudo-terminal events are coloured, and NO_COLOR turns colour off."""
    pexpect = require_module("pexpect")
    wait_for(lambda: superd.states().get("steady") == "RUNNING", "steady RUNNING")
    outputs = {}
    for no_color in ("", "1"):
        child = pexpect.spawn(
            SUPERCTL,
            ["-c", str(superd.config), "events", "-n", "2", "steady"],
            env={**os.environ, "NO_COLOR": no_color},
            encoding="utf-8",
            timeout=30,
        )
        outputs[no_color] = child.read()
        child.close()
    assert "\x1b[" in outputs[""]
    assert "\x1b[" not in outputs["1"]
    assert "PROCESS_STATE_RUNNING" in outputs["1"]


@pytest.mark.parametrize("command", ["events", "storms", "top"])
def test_no_daemon_exits_like_status(tmp_path: Path, command: str) -> None:
    """With no daemon behind the socket, superd's commands print and exit as ``status``."""

    def run(action: str) -> tuple[int, str]:
        done = subprocess.run(
            [SUPERCTL, "-s", f"unix://{tmp_path}/absent.sock", action],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr

    assert run(command) == run("status") == (4, f"unix://{tmp_path}/absent.sock no such file\n")
