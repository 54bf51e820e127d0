"""Running the real ``superd`` as a subprocess on a temporary config, for integration and e2e tests.

superd is an external peer here: its readiness is awaited by polling XML-RPC
``getState`` with a bounded deadline (there is no event to await across processes).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from supervisor_core.ctl.transport import make_server_proxy

DEADLINE = 20.0

# A program that records its start and its SIGTERM in a shared file, then waits.
PROGRAM = """\
import signal, sys
name, record = sys.argv[1], sys.argv[2]
def log(what):
    with open(record, "a") as f:
        f.write(f"{what} {name}\\n")
def term(*_):
    log("stop")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
log("start")
while True:
    signal.pause()
"""


def program_section(name: str, tmp: Path, *, priority: int, extra: str = "") -> str:
    """A ``[program:name]`` running PROGRAM, recording into ``tmp/record``."""
    return (
        f"[program:{name}]\n"
        f"command = {sys.executable} {tmp / 'prog.py'} {name} {tmp / 'record'}\n"
        f"priority = {priority}\nstartsecs = 0\nstopwaitsecs = 5\n{extra}\n"
    )


def base_config(tmp: Path, *, nodaemon: bool = True) -> str:
    """``[supervisord]``, ``[unix_http_server]`` and ``[supervisorctl]`` under ``tmp``."""
    (tmp / "prog.py").write_text(PROGRAM)
    return (
        f"[unix_http_server]\nfile = {tmp / 'sock'}\n\n"
        f"[supervisord]\nlogfile = {tmp / 'main.log'}\npidfile = {tmp / 'superd.pid'}\n"
        f"childlogdir = {tmp}\nnodaemon = {'true' if nodaemon else 'false'}\n"
        f"identifier = itest\nloglevel = debug\n\n"
        f"[supervisorctl]\nserverurl = unix://{tmp / 'sock'}\n\n"
    )


def wait_for(condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll ``condition`` until truthy (bounded); superd is an external process."""
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


class Superd:
    """One ``superd -c config`` subprocess and an XML-RPC client for it."""

    def __init__(self, tmp: Path, text: str, *extra_args: str, cwd: Path | None = None) -> None:
        """Start superd on ``text``; with ``cwd``, from there with ``-c`` relative to it."""
        self.tmp = tmp
        self.config = tmp / "supervisord.conf"
        self.config.write_text(text)
        config_arg = str(self.config) if cwd is None else os.path.relpath(self.config, cwd)
        command = [str(Path(sys.executable).parent / "superd"), "-c", config_arg]
        # Files, not pipes: a foreground superd logs to stdout, and a pipe nobody
        # reads fills up (64 KiB) and blocks the daemon in the middle of a test.
        self.stdout_path = tmp / "superd.stdout"
        self.stderr_path = tmp / "superd.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [*command, *extra_args],
                stdout=out,
                stderr=err,
                # Its own session: a stray signal to our group never reaches it.
                start_new_session=True,
                cwd=cwd,
            )

    def call(self, method: str, *args: Any) -> Any:
        """Call ``supervisor.<method>(*args)`` over the unix socket (a fresh connection)."""
        with make_server_proxy(f"unix://{self.tmp / 'sock'}", None, None) as proxy:
            return getattr(proxy.supervisor, method)(*args)

    def wait_running(self) -> None:
        """Until getState says RUNNING."""
        wait_for(lambda: self.call("getState")["statename"] == "RUNNING", "RUNNING")

    def states(self) -> dict[str, str]:
        """namespec -> statename."""
        infos = self.call("getAllProcessInfo")
        return {info["name"]: info["statename"] for info in infos}

    def wait_states(self, expected: dict[str, str]) -> None:
        """Until the processes and their states are exactly ``expected``."""
        wait_for(lambda: self.states() == expected, f"states {expected}")

    def pids(self) -> list[int]:
        """pids of every running process."""
        return [i["pid"] for i in self.call("getAllProcessInfo") if i["pid"]]

    def send(self, sig: signal.Signals) -> None:
        """Signal superd."""
        os.kill(self.process.pid, sig)

    def wait_exit(self, timeout: float = DEADLINE) -> int:
        """superd's exit status."""
        return self.process.wait(timeout=timeout)

    def record(self) -> list[str]:
        """Lines PROGRAM wrote ("start a", "stop a", ...)."""
        path = self.tmp / "record"
        return path.read_text().splitlines() if path.exists() else []

    def stdout_text(self) -> str:
        """What superd wrote on stdout so far (its log, in the foreground)."""
        return self.stdout_path.read_text(errors="replace")

    def stderr_text(self) -> str:
        """What superd wrote on stderr so far."""
        return self.stderr_path.read_text(errors="replace")

    def main_log(self) -> str:
        """The main log's text."""
        return (self.tmp / "main.log").read_text()

    def daemon_pid(self) -> int | None:
        """The pid in the pidfile (the detached daemon in daemon mode), or None."""
        try:
            return int((self.tmp / "superd.pid").read_text())
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        """Kill superd (and the daemon it detached, if any) if a test left it running, and
        the programs it ran: a killed superd cannot stop them, and a failed test must not
        leave them running (a busy loop would slow every later test)."""
        daemon = self.daemon_pid()
        # Only while unreaped (our child) or still a superd: a reused pid is somebody else.
        leftovers = _descendants(self.process.pid) if self.process.poll() is None else []
        if daemon is not None and daemon != self.process.pid:
            leftovers += _descendants(daemon, only_superd=True)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=DEADLINE)
        if daemon is not None and daemon != self.process.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(daemon, signal.SIGKILL)
        for process in leftovers:
            # psutil checks the start time: a pid reused since is not killed.
            with contextlib.suppress(psutil.Error):
                process.kill()


def _descendants(pid: int, *, only_superd: bool = False) -> list[psutil.Process]:
    """The live descendants of ``pid`` (empty when it is gone, or not a superd if asked)."""
    try:
        process = psutil.Process(pid)
        if only_superd and not any("superd" in part for part in process.cmdline()):
            return []
        children: list[psutil.Process] = process.children(recursive=True)
    except psutil.Error:
        return []
    return children
