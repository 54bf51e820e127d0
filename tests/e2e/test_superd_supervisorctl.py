"""The real supervisorctl (PyPI supervisor 4.x) driving the real superd over its unix socket."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.superd_harness import Superd, base_config, program_section
from tests.peers import require_command

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def ctl(supervisorctl: str, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [supervisorctl, "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_supervisorctl_status_start_stop_restart(tmp_path: Path) -> None:
    """supervisorctl status/stop/start/restart against superd give supervisord's answers."""
    supervisorctl = require_command("supervisorctl")
    text = (
        base_config(tmp_path)
        + program_section("a", tmp_path, priority=1)
        + program_section("b", tmp_path, priority=2, extra="autostart = false")
    )
    superd = Superd(tmp_path, text, "-n")
    try:
        superd.wait_states({"a": "RUNNING", "b": "STOPPED"})
        status = ctl(supervisorctl, superd.config, "status")
        assert status.returncode == 3  # supervisorctl: some process not running
        assert status.stdout.splitlines()[0].split()[:2] == ["a", "RUNNING"]
        assert status.stdout.splitlines()[1].split()[:2] == ["b", "STOPPED"]

        started = ctl(supervisorctl, superd.config, "start", "b")
        assert started.stdout.strip() == "b: started"
        old_pid = superd.call("getProcessInfo", "a")["pid"]
        restarted = ctl(supervisorctl, superd.config, "restart", "a")
        assert restarted.stdout.splitlines() == ["a: stopped", "a: started"]
        assert superd.call("getProcessInfo", "a")["pid"] != old_pid
        stopped = ctl(supervisorctl, superd.config, "stop", "all")
        assert sorted(stopped.stdout.splitlines()) == ["a: stopped", "b: stopped"]
        missing = ctl(supervisorctl, superd.config, "start", "nosuch")
        assert "ERROR (no such process)" in missing.stdout
        assert ctl(supervisorctl, superd.config, "status").returncode == 3

        superd.send(signal.SIGTERM)
        assert superd.wait_exit() == 0
    finally:
        superd.close()


def test_supervisorctl_reread_update_and_shutdown(tmp_path: Path) -> None:
    """reread/update apply an added and a removed program; shutdown ends superd with 0."""
    supervisorctl = require_command("supervisorctl")
    text = base_config(tmp_path) + program_section("a", tmp_path, priority=1)
    superd = Superd(tmp_path, text, "-n")
    try:
        superd.wait_states({"a": "RUNNING"})
        superd.config.write_text(base_config(tmp_path) + program_section("n", tmp_path, priority=1))
        reread = ctl(supervisorctl, superd.config, "reread")
        assert sorted(reread.stdout.splitlines()) == ["a: disappeared", "n: available"]
        update = ctl(supervisorctl, superd.config, "update")
        assert "n: added process group" in update.stdout
        assert "a: removed process group" in update.stdout
        superd.wait_states({"n": "RUNNING"})
        shutdown = ctl(supervisorctl, superd.config, "shutdown")
        assert "Shut down" in shutdown.stdout
        assert superd.wait_exit() == 0
    finally:
        superd.close()
