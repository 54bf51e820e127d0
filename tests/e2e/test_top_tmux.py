"""``superctl top`` in a real terminal: tmux runs it, capture-pane reads the screen.

The screen is saved next to the test's files (``top-*.txt``, with and without ANSI
colours) as the e2e artefact of what an operator saw.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.superd_harness import Superd, base_config, wait_for
from tests.peers import require_command

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SUPERCTL = str(Path(sys.executable).parent / "superctl")


class Tmux:
    """A private tmux server (its own socket) with one window of a fixed size."""

    def __init__(self, tmp: Path) -> None:
        self.binary = require_command("tmux")
        self.socket = str(tmp / "tmux.sock")

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [self.binary, "-S", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def start(self, command: list[str]) -> None:
        self.run("new-session", "-d", "-x", "150", "-y", "30", *command)

    def screen(self, *, colours: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if colours else []))

    def keys(self, *keys: str) -> None:
        self.run("send-keys", *keys)

    def wait_screen(self, what: str, check: Callable[[str], bool]) -> str:
        """Until the screen shows ``what`` (bounded); returns that screen."""
        last = [""]

        def shown() -> str | None:
            last[0] = self.screen()
            return last[0] if check(last[0]) else None

        try:
            return str(wait_for(shown, what))
        except AssertionError as error:
            raise AssertionError(f"{error}; the screen was:\n{last[0]}") from None

    def alive(self) -> bool:
        done = subprocess.run(
            [self.binary, "-S", self.socket, "has-session"], capture_output=True, check=False
        )
        return done.returncode == 0

    def close(self) -> None:
        if self.alive():
            self.run("kill-server")


@pytest.fixture
def superd(tmp_path: Path) -> Iterator[Superd]:
    """A superd with a steady program and one in a crash loop (a restart storm)."""
    text = (
        base_config(tmp_path)
        + "[program:steady]\ncommand = /bin/sleep 1000\nstartsecs = 0\n\n"
        + "[program:crashy]\ncommand = /bin/sh -c 'sleep 0.3; exit 4'\n"
        + "startsecs = 0\nautorestart = true\nbackoff_initial = 0.05\nbackoff_max = 0.3\n\n"
        + "[exporter:storms]\nburst = 3\nwindow = 30s\n"
    )
    daemon = Superd(tmp_path, text, "-n")
    try:
        daemon.wait_running()
        yield daemon
    finally:
        daemon.close()


def line_of(screen: str, name: str) -> str:
    return next((line for line in screen.splitlines() if line.startswith(name + " ")), "")


def restarts_of(screen: str, name: str) -> int | None:
    """The RESTARTS column of ``name``'s row; None while the row is not (fully) drawn.

    capture-pane can catch the terminal between two redraws: a missing or partial row
    is "not yet", never an error (an IndexError here used to fail the test at once).
    """
    fields = line_of(screen, name).split()
    if len(fields) <= 4 or not fields[4].isdigit():
        return None
    return int(fields[4])


def test_top_follows_events_and_its_keys_act(superd: Superd, tmp_path: Path) -> None:
    """top shows both programs with restarts, storm, memory and last exit, follows the
    crash loop live, stops the selected program with ``x``, starts it with ``s``,
    restarts it with ``r`` and quits with ``q``."""
    tmux = Tmux(tmp_path)
    try:
        tmux.start([SUPERCTL, "-c", str(superd.config), "top", "--interval", "0.5"])
        screen = tmux.wait_screen(
            "crashy in a storm with its last exit",
            lambda s: "STORM" in line_of(s, "crashy") and "exit 4" in line_of(s, "crashy"),
        )
        (tmp_path / "top-storm.txt").write_text(screen)
        (tmp_path / "top-storm.ansi").write_text(tmux.screen(colours=True))
        assert "RESTARTS" in screen
        assert "LAST EXIT" in screen
        first = restarts_of(screen, "crashy")
        assert first is not None, screen
        # Restart counts move with the events, without any key pressed.
        tmux.wait_screen("more restarts", lambda s: (restarts_of(s, "crashy") or 0) > first)
        tmux.wait_screen("steady's memory", lambda s: "iB" in line_of(s, "steady"))
        # Rows are sorted: crashy first, steady second.
        tmux.keys("Down")
        tmux.keys("x")
        screen = tmux.wait_screen("steady stopped", lambda s: "STOPPED" in line_of(s, "steady"))
        assert superd.states()["steady"] == "STOPPED"
        (tmp_path / "top-stopped.txt").write_text(screen)
        tmux.keys("s")
        tmux.wait_screen("steady running", lambda s: "RUNNING" in line_of(s, "steady"))
        assert superd.states()["steady"] == "RUNNING"
        pid = superd.call("getProcessInfo", "steady")["pid"]
        tmux.keys("r")
        wait_for(
            lambda: superd.call("getProcessInfo", "steady")["pid"] not in (0, pid),
            "steady restarted under a new pid",
        )
        new_pid = superd.call("getProcessInfo", "steady")["pid"]
        tmux.wait_screen("the new pid", lambda s: str(new_pid) in line_of(s, "steady"))
        tmux.keys("q")
        wait_for(lambda: not tmux.alive(), "top to exit")
    finally:
        tmux.close()
