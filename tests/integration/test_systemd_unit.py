"""deploy/systemd/superd.service: systemd accepts it, and its commands run superd right."""

from __future__ import annotations

import configparser
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.superd_harness import Superd, base_config, program_section, wait_for
from tests.peers import require_command

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy/systemd/superd.service"
SUPERD = str(Path(sys.executable).parent / "superd")


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` accepts the unit once ExecStart points at a real superd."""
    analyze = require_command("systemd-analyze")
    unit = tmp_path / "superd.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/superd", SUPERD))
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_exec_start_reload_and_stop_do_what_the_unit_says(tmp_path: Path) -> None:
    """ExecStart runs superd in the foreground; SIGHUP (ExecReload) restarts the programs;
    SIGTERM (KillMode=mixed sends it to superd alone) stops them and exits 0."""
    argv = shlex.split(service()["ExecStart"])
    assert argv[0] == "/usr/local/bin/superd"
    assert "-n" in argv
    assert service()["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service()["KillMode"] == "mixed"
    flags = argv[1 : argv.index("-c")]  # the unit's flags, on our config
    text = base_config(tmp_path, nodaemon=False) + program_section("a", tmp_path, priority=1)
    daemon = Superd(tmp_path, text, *flags)
    try:
        daemon.wait_running()
        wait_for(lambda: daemon.record() == ["start a"], "a started")
        assert daemon.process.poll() is None  # still in the foreground: -n wins
        daemon.send(signal.SIGHUP)
        wait_for(lambda: daemon.record() == ["start a", "stop a", "start a"], "a restarted")
        daemon.send(signal.SIGTERM)
        assert daemon.wait_exit() == 0
        assert daemon.record()[-1] == "stop a"
    finally:
        daemon.close()
