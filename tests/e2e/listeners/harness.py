"""One supervisor daemon (the real supervisord or superd) as a subprocess, for listener e2e tests.

Both are started the same way, ``DAEMON -n -c FILE``, on a config that has a unix socket,
the ``[rpcinterface:supervisor]`` section supervisord needs and ``identifier``. The
daemon is an external peer, so readiness and conditions are polled with a bounded
deadline; it is stopped by pid (TERM, then KILL).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervisor_core.ctl.transport import make_server_proxy

DEADLINE = 30.0
HERE = Path(__file__).parent
PYTHON = sys.executable


def header(tmp: Path, *, identifier: str = "cmp") -> str:
    """The sections every listener test config starts with."""
    return (
        f"[unix_http_server]\nfile = {tmp / 'sock'}\n\n"
        f"[supervisord]\nlogfile = {tmp / 'main.log'}\npidfile = {tmp / 'daemon.pid'}\n"
        f"childlogdir = {tmp}\nloglevel = debug\nidentifier = {identifier}\n\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        f"[supervisorctl]\nserverurl = unix://{tmp / 'sock'}\n\n"
    )


def wait_for(condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll ``condition`` until truthy, failing after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        try:
            value = condition()
        except (OSError, xmlrpc.client.Fault):
            value = None
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines a recorder.py wrote (none yet: empty)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


class Daemon:
    """``command -n -c tmp/supervisord.conf`` and an XML-RPC client over its socket."""

    def __init__(self, command: str, tmp: Path, text: str) -> None:
        self.tmp = tmp
        self.config = tmp / "supervisord.conf"
        self.config.write_text(text)
        self._out = (tmp / "daemon.out").open("wb")
        self.process = subprocess.Popen(
            [command, "-n", "-c", str(self.config)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            cwd=tmp,
            start_new_session=True,
        )
        try:
            wait_for(lambda: self.call("getState")["statename"] == "RUNNING", "daemon RUNNING")
        except AssertionError:
            self.close()
            raise

    def call(self, method: str, *args: Any) -> Any:
        """``supervisor.<method>(*args)`` on a fresh connection."""
        if self.process.poll() is not None:
            raise AssertionError(f"daemon exited with {self.process.returncode}: {self.output()}")
        with make_server_proxy(f"unix://{self.tmp / 'sock'}", None, None) as proxy:
            return getattr(proxy.supervisor, method)(*args)

    def state(self, namespec: str) -> str:
        """The statename of one process."""
        return str(self.call("getProcessInfo", namespec)["statename"])

    def output(self) -> str:
        """What the daemon wrote on stdout/stderr, and its main log's tail."""
        self._out.flush()
        text = (self.tmp / "daemon.out").read_text(errors="replace")
        log = self.tmp / "main.log"
        if log.exists():
            text += "\n--- main.log ---\n" + log.read_text(errors="replace")[-4000:]
        return text

    def close(self) -> None:
        """TERM the daemon (its children stop with it), KILL after the deadline."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=DEADLINE)
        self._out.close()
