"""What docs/operations.md promises, checked against a real superd (issue 19)."""

from __future__ import annotations

import os
import signal
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.superd_harness import Superd, base_config, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def cleanup() -> Iterator[list[Superd]]:
    started: list[Superd] = []
    yield started
    for daemon in started:
        daemon.close()


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def start(tmp: Path, text: str, cleanup: list[Superd], *, umask: int = 0o022) -> Superd:
    """superd started under ``umask`` (the child inherits it), RUNNING."""
    previous = os.umask(umask)
    try:
        daemon = Superd(tmp, text)
    finally:
        os.umask(previous)
    cleanup.append(daemon)
    daemon.wait_running()
    return daemon


def test_control_socket_keeps_its_mode_across_reloads_under_umask_000(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """With umask 000 the unix socket is 0700 (the default chmod) at start and again
    after each SIGHUP re-creates it."""
    daemon = start(tmp_path, base_config(tmp_path), cleanup, umask=0)
    sock = tmp_path / "sock"
    assert mode(sock) == 0o700
    bound = "Server 'unix_http_server' running"  # logged once per bind
    for generation in (2, 3):
        daemon.send(signal.SIGHUP)
        wait_for(lambda n=generation: daemon.stdout_text().count(bound) == n, "a new socket")
        daemon.wait_running()
        assert mode(sock) == 0o700


CHATTY = "import sys\nsys.stdout.write('x' * 3000 + '\\n')\nsys.stdout.flush()\n"


def test_auto_logs_stay_0600_after_rotation_and_clear(
    tmp_path: Path, cleanup: list[Superd]
) -> None:
    """An AUTO child log and its rotated backups are 0600, and stay 0600 after
    clearProcessLogs re-creates the file, under the usual umask 022."""
    (tmp_path / "chatty.py").write_text(CHATTY)
    text = base_config(tmp_path) + (
        "[program:chatty]\n"
        f"command = {sys.executable} {tmp_path / 'chatty.py'}\n"
        "startsecs = 0\nautorestart = false\n"
        "stdout_logfile_maxbytes = 1000\nstdout_logfile_backups = 2\n"
    )
    daemon = start(tmp_path, text, cleanup)
    wait_for(lambda: daemon.states() == {"chatty": "EXITED"}, "chatty exits")
    logfile = daemon.call("getProcessInfo", "chatty")["stdout_logfile"]
    assert logfile.startswith(str(tmp_path))
    wait_for(lambda: os.path.exists(logfile + ".1"), "a rotation")
    assert {mode(logfile), mode(logfile + ".1")} == {0o600}
    assert daemon.call("clearProcessLogs", "chatty") is True
    assert os.path.exists(logfile)
    assert mode(logfile) == 0o600
    daemon.call("startProcess", "chatty")
    wait_for(lambda: daemon.states() == {"chatty": "EXITED"}, "chatty exits again")
    assert mode(logfile) == 0o600
    assert mode(logfile + ".1") == 0o600
