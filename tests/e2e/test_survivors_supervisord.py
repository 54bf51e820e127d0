"""What the real supervisord does after it was SIGKILLed: the behaviour superd's
``[supervisord] survivors`` improves on (docs/operations.md, "When superd is killed")."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from supervisor_core.ctl.transport import make_server_proxy
from tests.e2e.ctl_diff import wait_until
from tests.integration.test_survivors import HOLDER
from tests.peers import require_command

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture
def processes() -> Iterator[list[psutil.Process]]:
    """Everything the test started or left behind, killed (by pid, create time checked) after."""
    started: list[psutil.Process] = []
    yield started
    for process in started:
        with contextlib.suppress(psutil.Error):
            process.kill()


def holder_state(tmp: Path) -> tuple[str, int]:
    with make_server_proxy(f"unix://{tmp / 's.sock'}", None, None) as proxy:
        info = proxy.supervisor.getProcessInfo("holder")
    return str(info["statename"]), int(info["pid"])


def test_supervisord_starts_a_second_copy_that_fails(
    tmp_path: Path, processes: list[psutil.Process]
) -> None:
    """After supervisord is SIGKILLed its child keeps running, and the next supervisord
    starts a second copy, which fails on the lock the first holds and ends FATAL,
    with no word about the first one."""
    supervisord = require_command("supervisord")
    (tmp_path / "holder.py").write_text(HOLDER)
    (tmp_path / "sd.conf").write_text(
        f"[supervisord]\nlogfile={tmp_path / 'sd.log'}\npidfile={tmp_path / 'sd.pid'}\n"
        f"childlogdir={tmp_path}\n\n"
        f"[unix_http_server]\nfile={tmp_path / 's.sock'}\n\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        "[program:holder]\n"
        f"command={sys.executable} {tmp_path / 'holder.py'} {tmp_path / 'lock'} "
        f"{tmp_path / 'holds'}\nstartsecs=1\nstartretries=1\n"
    )

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [supervisord, "-n", "-c", str(tmp_path / "sd.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        processes.append(psutil.Process(process.pid))
        return process

    first = start()
    wait_until("the first holder RUNNING", lambda: _state_is(tmp_path, "RUNNING"))
    survivor = holder_state(tmp_path)[1]
    processes.append(psutil.Process(survivor))
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    second = start()
    wait_until("the second holder FATAL", lambda: _state_is(tmp_path, "FATAL"))
    assert psutil.pid_exists(survivor)
    assert psutil.Process(survivor).status() != psutil.STATUS_ZOMBIE
    assert "survivor" not in (tmp_path / "sd.log").read_text()
    second.terminate()
    second.wait(timeout=30)


def _state_is(tmp: Path, state: str) -> bool:
    try:
        return holder_state(tmp)[0] == state
    except (OSError, xmlrpc.client.Fault):
        return False
