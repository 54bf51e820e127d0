"""superd runs the storm extension: /storms, the storm gauge, STORM events, superctl storms."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.superd_harness import Superd, base_config, wait_for
from tests.integration.test_superd_extensions import events, free_port, get, sample

pytestmark = pytest.mark.integration


@pytest.fixture
def cleanup() -> Iterator[list[Superd]]:
    started: list[Superd] = []
    yield started
    for daemon in started:
        daemon.close()


def storms(port: int) -> dict[str, list[dict[str, object]]]:
    answer: dict[str, list[dict[str, object]]] = json.loads(get(f"http://127.0.0.1:{port}/storms"))
    return answer


def test_a_crash_loop_is_a_storm_everywhere_until_stopped(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """A crashing program: /storms, the gauge, the events and superctl agree; stop ends it."""
    port = free_port()
    text = (
        base_config(tmp_path)
        + f"[inet_http_server]\nport = 127.0.0.1:{port}\n\n"
        + "[program:crashy]\ncommand = /bin/sh -c 'echo dying >&2; exit 4'\n"
        + "startsecs = 0\nautorestart = true\nbackoff_initial = 0.05\nbackoff_max = 0.2\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 30s\n"
    )
    superd = Superd(tmp_path, text, "-n")
    cleanup.append(superd)
    superd.wait_running()
    current = wait_for(lambda: storms(port)["current"], "a storm under way")
    assert [(s["scope"], s["name"]) for s in current] == [("process", "crashy")]
    assert current[0]["exit_codes"] == [4]
    gauge = 'supervisor_process_restart_storm{group="crashy",name="crashy"}'
    assert sample(get(f"http://127.0.0.1:{port}/metrics"), gauge) == 1.0
    listing = subprocess.run(
        [str(Path(sys.executable).parent / "superctl"), "-c", str(superd.config), "storms"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert "crashy" in listing.stdout
    assert "under way" in listing.stdout
    exited = next(e for e in events(port) if e["type"] == "PROCESS_STATE_EXITED")
    assert exited["stderr_tail"] == ["dying"]
    assert exited["oom_killed"] is False
    superd.call("stopProcess", "crashy")
    ended = wait_for(lambda: storms(port)["ended"], "the storm ended")
    assert ended[0]["reason"] == "stopped"
    assert storms(port)["current"] == []
    assert sample(get(f"http://127.0.0.1:{port}/metrics"), gauge) == 0.0
    history = events(port)
    types = [e["type"] for e in history]
    assert types.count("PROCESS_STORM_BEGIN") == 1
    assert types.count("PROCESS_STORM_END") == 1
    # The storm counts what the events say are restarts, and nothing else.
    causes = [e["cause"] for e in history if e["type"] == "PROCESS_STATE_STARTING"]
    assert causes[0] == "autostart"
    assert set(causes[1:]) == {"damped"}
    assert ended[0]["restarts"] == len(causes) - 1
    superd.send(signal.SIGTERM)
    assert superd.wait_exit() == 0


def test_a_program_an_operator_restarts_after_each_crash_is_no_storm(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """Operator starts over XML-RPC never feed a storm, however fast the program crashes."""
    port = free_port()
    text = (
        base_config(tmp_path)
        + f"[inet_http_server]\nport = 127.0.0.1:{port}\n\n"
        + "[program:crashy]\ncommand = /bin/sh -c 'exit 4'\n"
        + "startsecs = 0\nautostart = false\nautorestart = false\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 30s\n"
    )
    superd = Superd(tmp_path, text, "-n")
    cleanup.append(superd)
    superd.wait_running()
    for crashes in range(1, 6):
        superd.call("startProcess", "crashy")
        wait_for(
            lambda n=crashes: [e["type"] for e in events(port)].count("PROCESS_STATE_EXITED") == n,
            f"crash {crashes}",
        )
    history = events(port)
    causes = [e["cause"] for e in history if e["type"] == "PROCESS_STATE_STARTING"]
    assert causes == ["operator"] * 5
    answer = storms(port)
    assert (answer["current"], answer["ended"]) == ([], [])
    assert not [e for e in history if e["type"].endswith("STORM_BEGIN")]
    superd.send(signal.SIGTERM)
    assert superd.wait_exit() == 0
