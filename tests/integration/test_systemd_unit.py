"""deploy/systemd/superd.service: systemd accepts it, and its commands run superd right."""

from __future__ import annotations

import configparser
import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
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


def test_ready_means_serving_and_stop_means_every_program_stopped(tmp_path: Path) -> None:
    """Under the unit's Type=notify: when READY=1 (STATUS=N processes) arrives, the control
    socket answers and every autostart program is spawned; at SIGTERM (what systemctl stop
    sends superd under KillMode=mixed) superd says STOPPING=1, stops its programs itself
    (reverse priority, SIGKILL after stopwaitsecs for one ignoring its stopsignal) and
    exits 0 before systemd would have to kill anything."""
    deaf = tmp_path / "deaf.py"
    deaf.write_text(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "while True:\n    time.sleep(1)\n"
    )
    text = (
        base_config(tmp_path)
        + program_section("a", tmp_path, priority=1)
        + program_section("b", tmp_path, priority=2)
        + f"[program:deaf]\ncommand = {sys.executable} {deaf}\npriority = 3\nstartsecs = 0\n"
        "stopwaitsecs = 1\n\n"
        + program_section("manual", tmp_path, priority=4, extra="autostart = false")
    )
    path = str(tmp_path / "systemd-notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(30)
    old = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = path
    try:
        daemon = Superd(tmp_path, text, "-n")
    finally:
        if old is None:
            os.environ.pop("NOTIFY_SOCKET")
        else:
            os.environ["NOTIFY_SOCKET"] = old
    try:
        assert listener.recv(4096).decode() == "READY=1\nSTATUS=4 processes"
        infos = {info["name"]: info for info in daemon.call("getAllProcessInfo")}  # no retry
        assert all(infos[name]["pid"] > 0 for name in ("a", "b", "deaf"))
        assert infos["manual"]["statename"] == "STOPPED"
        deaf_pid = infos["deaf"]["pid"]
        wait_for(lambda: sorted(daemon.record()) == ["start a", "start b"], "a and b up")
        wait_for(lambda: daemon.states()["deaf"] == "RUNNING", "deaf RUNNING")
        daemon.send(signal.SIGTERM)
        assert listener.recv(4096).decode().startswith("STOPPING=1")
        assert daemon.wait_exit() == 0
        assert [line for line in daemon.record() if line.startswith("stop")] == [
            "stop b",
            "stop a",
        ]
        assert not psutil.pid_exists(deaf_pid)
        log = daemon.main_log()
        assert f"killing 'deaf' ({deaf_pid}) with SIGKILL" in log
        assert log.index("killing 'deaf'") < log.index("stopped: b")
    finally:
        daemon.close()
        listener.close()
