"""``logfile=syslog`` and ``stdout_syslog``/``stderr_syslog`` reach a real syslog datagram socket.

The test binds the AF_UNIX datagram socket itself (``[supervisord] syslog_socket``
points superd at it instead of /dev/log) and reads what a syslog daemon would read.
"""

from __future__ import annotations

import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.superd_harness import DEADLINE, Superd, base_config, wait_for

pytestmark = pytest.mark.integration

DATAGRAM = re.compile(
    r"^<(?P<pri>\d+)>(?P<stamp>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) "
    r"superd\[(?P<pid>\d+)\]: (?P<message>.*)$",
    re.DOTALL,
)
MAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]{4} ")

TALKER = (
    "import sys, time; print('hello out', flush=True); "
    "print('hello err\\nsecond line', file=sys.stderr, flush=True); time.sleep(1000)"
)


class SyslogReceiver:
    """The test's own syslog daemon: a bound datagram socket and what arrived on it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.datagrams: list[str] = []

    def wait_for(self, predicate: str, deadline: float = DEADLINE) -> re.Match[str]:
        """Receive until a datagram's message contains ``predicate``; that datagram parsed."""
        end = time.monotonic() + deadline
        for datagram in self.datagrams:
            match = DATAGRAM.match(datagram)
            if match and predicate in match["message"]:
                return match
        while time.monotonic() < end:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            text = data.decode()
            self.datagrams.append(text)
            match = DATAGRAM.match(text)
            assert match is not None, f"not a syslog datagram: {text!r}"
            if predicate in match["message"]:
                return match
        raise AssertionError(f"no datagram with {predicate!r} in {self.datagrams}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[SyslogReceiver]:
    receiving = SyslogReceiver(tmp_path / "log.sock")
    yield receiving
    receiving.close()


def syslog_config(tmp: Path, *, nodaemon: bool) -> str:
    text = base_config(tmp, nodaemon=nodaemon).replace(
        f"logfile = {tmp / 'main.log'}\n", f"logfile = syslog\nsyslog_socket = {tmp / 'log.sock'}\n"
    )
    return text + (
        f'[program:talker]\ncommand = {sys.executable} -c "{TALKER}"\n'
        "startsecs = 0\nstdout_syslog = true\nstderr_syslog = true\n"
        "stdout_logfile = NONE\nstderr_logfile = NONE\n"
    )


@pytest.mark.parametrize("mode", ["-n", "daemon"])
def test_main_log_and_child_output_go_to_the_syslog_socket(
    tmp_path: Path, receiver: SyslogReceiver, mode: str
) -> None:
    """Main log lines (supervisord's text, severity by level) and child lines become datagrams."""
    foreground = mode == "-n"
    superd = Superd(tmp_path, syslog_config(tmp_path, nodaemon=foreground))
    try:
        if not foreground:
            assert superd.wait_exit() == 0, superd.stderr_text()
        pid = wait_for(superd.daemon_pid, "the pidfile")
        spawned = receiver.wait_for("spawned: 'talker' with pid")
        assert MAIN_LINE.match(spawned["message"]), spawned["message"]
        assert " INFO spawned: 'talker'" in spawned["message"]
        assert int(spawned["pri"]) == 8 + 6  # user.info
        assert int(spawned["pid"]) == pid
        out = receiver.wait_for("talker hello out")
        assert out["message"] == "talker hello out"
        assert int(out["pri"]) == 14
        assert receiver.wait_for("talker hello err")["message"] == "talker hello err"
        assert receiver.wait_for("talker second line")["message"] == "talker second line"
        # Child output is not main-log text, and the main log has no file.
        assert not any("INFO talker hello" in d for d in receiver.datagrams)
        assert not (tmp_path / "main.log").exists()
        superd.call("shutdown")
        stopping = receiver.wait_for("stopped: talker")
        assert " WARN stopped: talker" in stopping["message"]
        assert int(stopping["pri"]) == 8 + 4  # user.warning
        wait_for(lambda: superd.daemon_pid() is None, "superd to exit")
    finally:
        superd.close()


def test_logfile_syslog_without_a_socket_refuses_to_start(tmp_path: Path) -> None:
    """logfile=syslog with no socket at syslog_socket exits 2 naming the socket; nothing runs."""
    superd = Superd(tmp_path, syslog_config(tmp_path, nodaemon=True))
    try:
        assert superd.wait_exit() == 2
        assert f"cannot connect to {tmp_path / 'log.sock'}" in superd.stderr_text()
        assert not (tmp_path / "sock").exists()
    finally:
        superd.close()


def test_child_syslog_survives_a_restarted_syslog_daemon(
    tmp_path: Path, receiver: SyslogReceiver
) -> None:
    """After the syslog socket is re-bound (syslogd restarted), child lines arrive again."""
    text = syslog_config(tmp_path, nodaemon=True).replace(
        "logfile = syslog\n", f"logfile = {tmp_path / 'main.log'}\n"
    )
    superd = Superd(tmp_path, text)
    try:
        receiver.wait_for("talker hello out")
        receiver.close()
        (tmp_path / "log.sock").unlink()
        superd.call("stopProcess", "talker")
        superd.call("startProcess", "talker")  # talks while nothing listens: dropped, logged
        wait_for(lambda: "syslog: cannot send to" in superd.main_log(), "the drop in the main log")
        again = SyslogReceiver(tmp_path / "log.sock")
        try:
            superd.call("stopProcess", "talker")
            superd.call("startProcess", "talker")
            assert again.wait_for("talker hello out")["message"] == "talker hello out"
        finally:
            again.close()
        superd.send(signal.SIGTERM)
        assert superd.wait_exit() == 0
    finally:
        superd.close()
