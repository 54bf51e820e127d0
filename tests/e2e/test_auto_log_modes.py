"""AUTO child logs in the real supervisord and in superd: when they exist and who may read them.

supervisord creates each AUTO log with ``mkstemp`` when the config is loaded (0600,
before the first start), and re-creates files with ``0666 & ~umask`` after a clear,
a rotation or a reopen. superd must have the same files at the same moments and
never make one readable by more users than supervisord's is.
"""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest

from tests.e2e.ctl_diff import CONFIG, Daemon, running_daemons, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

MODES_CONFIG = (
    CONFIG
    + """
[program:idle]
command={python} -c "import time; time.sleep(1000)"
autostart=false
startsecs=0

[program:chatty]
command={python} -c "import os, time; os.write(1, b'x' * 3000); time.sleep(1000)"
startsecs=0
stdout_logfile_maxbytes=1KB
stdout_logfile_backups=1
"""
)


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def logfiles(daemon: Daemon, name: str) -> tuple[str, str]:
    info = daemon.call("getProcessInfo", name)
    return info["stdout_logfile"], info["stderr_logfile"]


def walk(daemon: Daemon) -> dict[str, int]:
    """The mode of ``idle``'s (and ``chatty``'s) AUTO logs after each step an operator takes."""
    modes: dict[str, int] = {}
    out, err = logfiles(daemon, "idle")

    def record(step: str, path: str = out) -> None:
        modes[step] = mode(path)

    record("loaded, stdout")
    record("loaded, stderr", err)
    assert daemon.call("readProcessStdoutLog", "idle", 0, 0) == ""
    daemon.call("clearProcessLogs", "idle")
    record("cleared before the first start")
    assert daemon.call("readProcessStdoutLog", "idle", 0, 0) == ""
    daemon.call("startProcess", "idle")
    record("started")
    daemon.call("clearProcessLogs", "idle")
    record("cleared while running")
    os.rename(out, out + ".moved")
    os.kill(daemon.process.pid, signal.SIGUSR2)
    wait_until(f"{daemon.kind} to reopen the moved log", lambda: os.path.exists(out))
    record("reopened after a move")
    chatty = logfiles(daemon, "chatty")[0]
    wait_until(f"{daemon.kind} to rotate chatty's log", lambda: os.path.exists(chatty + ".1"))
    wait_until("the new file after the rotation", lambda: os.path.exists(chatty))
    record("rotated", chatty)
    return modes


def test_auto_logs_exist_at_load_and_are_never_wider_than_supervisords(tmp_path: Path) -> None:
    """AUTO logs are 0600 from config load on and stay 0600 through clear, reopen, rotation."""
    with running_daemons(
        tmp_path, [("real", "supervisord"), ("ours", "superd")], config=MODES_CONFIG
    ) as (real, ours):
        expected, actual = walk(real), walk(ours)
    assert expected["loaded, stdout"] == expected["loaded, stderr"] == 0o600
    report = {step: (oct(expected[step]), oct(actual[step])) for step in expected}
    assert all(actual[step] & ~expected[step] == 0 for step in expected), report
    assert set(actual.values()) == {0o600}, report
