"""superctl against supervisorctl: the same commands against a real supervisord.

Two identical supervisords run side by side (one per client) so that every stateful
command sees the same state; read-only log commands whose text depends on the
daemon's own log run both clients against one daemon. Output text and exit codes
must be equal once pids, uptimes, dates, temp paths and ports are masked.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from supervisor_core.ctl.transport import make_server_proxy
from tests.peers import require_command, venv_bin

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

USER, PASSWORD = "ctluser", "ctl-secret"
CLIENT_TIMEOUT = 60.0
READY_TIMEOUT = 30.0

CONFIG = """\
[supervisord]
logfile=%(here)s/sd.log
pidfile=%(here)s/sd.pid
childlogdir=%(here)s
loglevel=info

[unix_http_server]
file=%(here)s/s.sock

[inet_http_server]
port=127.0.0.1:{port}
username={user}
password={password}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%(here)s/s.sock

[include]
files = conf.d/*.conf

[program:sleeper]
command={python} -c {sleeper}
startsecs=0
stdout_logfile=%(here)s/sleeper.out
stderr_logfile=%(here)s/sleeper.err

[program:dup]
command={python} -c "import time; time.sleep(1000)"
process_name=%(program_name)s_%(process_num)02d
numprocs=2
startsecs=0

[program:quick]
command={python} -c "pass"
startsecs=1
startretries=0

[program:a]
command={python} -c "import time; time.sleep(1000)"
startsecs=0

[program:b]
command={python} -c "import time; time.sleep(1000)"
autostart=false
startsecs=0

[group:x]
programs=a,b
"""

# Ignores SIGHUP so that ``signal HUP`` leaves it running; prints one line per channel.
SLEEPER = (
    '"import signal, sys, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); '
    "print('hi', flush=True); print('err', file=sys.stderr, flush=True); "
    'time.sleep(1000)"'
)

EXTRA = """\
[program:extra]
command={python} -c "import time; time.sleep({seconds})"
startsecs=0
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = READY_TIMEOUT) -> None:
    """Poll a real peer's condition until true or the deadline (peers have no events)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Daemon:
    """One running supervisord in its own directory."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def unix_url(self) -> str:
        return f"unix://{self.directory}/s.sock"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, method: str) -> Any:
        """One XML-RPC call over the unix socket, connection closed afterwards."""
        with make_server_proxy(self.unix_url, None, None) as proxy:
            return getattr(proxy.supervisor, method)()

    def settled(self) -> bool:
        try:
            infos = self.call("getAllProcessInfo")
        except OSError:
            return False
        except xmlrpc.client.Fault:
            return True  # shutting down: nothing left to settle
        # No process may be on its way somewhere: STARTING, BACKOFF, STOPPING.
        return all(info["state"] not in (10, 30, 40) for info in infos)

    def write_extra(self, seconds: int | None) -> None:
        target = self.directory / "conf.d" / "extra.conf"
        if seconds is None:
            target.unlink()
        else:
            target.write_text(EXTRA.format(python=sys.executable, seconds=seconds))


def start_daemon(directory: Path) -> Daemon:
    supervisord = require_command("supervisord")
    directory.mkdir()
    (directory / "conf.d").mkdir()
    port = free_port()
    (directory / "sd.conf").write_text(
        CONFIG.format(
            port=port, user=USER, password=PASSWORD, python=sys.executable, sleeper=SLEEPER
        )
    )
    log = (directory / "stdout.txt").open("wb")
    process = subprocess.Popen(
        [supervisord, "-n", "-c", str(directory / "sd.conf")],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=directory,
    )
    log.close()
    return Daemon(directory=directory, port=port, process=process)


def wait_ready(daemon: Daemon) -> None:
    def running() -> bool:
        assert daemon.process.poll() is None, "supervisord exited early"
        try:
            return bool(daemon.call("getState")["statename"] == "RUNNING")
        except OSError:
            return False

    wait_until("supervisord to answer getState", running)
    wait_until("autostarted processes to settle", daemon.settled)
    out, err = daemon.directory / "sleeper.out", daemon.directory / "sleeper.err"
    wait_until(
        "the sleeper's first output in its logs",
        lambda: out.exists() and out.read_text() == "hi\n" and err.read_text() == "err\n",
    )


def stop_daemon(daemon: Daemon) -> None:
    if daemon.process.poll() is None:
        os.kill(daemon.process.pid, signal.SIGTERM)
        try:
            daemon.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(daemon.process.pid, signal.SIGKILL)
            daemon.process.wait(timeout=10)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[tuple[Daemon, Daemon]]:
    """Two identical real supervisords; always terminated by pid at the end."""
    started: list[Daemon] = []
    try:
        started.extend(start_daemon(tmp_path / name) for name in ("real", "ours"))
        for daemon in started:
            wait_ready(daemon)
        yield started[0], started[1]
    finally:
        for daemon in started:
            stop_daemon(daemon)


def supervisorctl() -> list[str]:
    return [require_command("supervisorctl")]


def superctl() -> list[str]:
    script = venv_bin("superctl")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "supervisor_core.cli.superctl"]


_MASKS = [
    (re.compile(r"pid \d+, uptime [\d:]+"), "pid <PID>, uptime <UPTIME>"),
    (re.compile(r"[A-Z][a-z]{2} \d{2} \d{2}:\d{2} [AP]M"), "<DATE>"),
    (re.compile(r"(?m)^[1-9]\d*$"), "<PID>"),
    (re.compile(r"file: \S+ line: \d+"), "file: <FILE> line: <N>"),
    (re.compile(r"For help, use \S+ -h"), "For help, use <PROG> -h"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<PORT>"),
    # Whether supervisord reports a process dying within startsecs as a spawn error or
    # an abnormal termination depends on its own timing, not on the client.
    (re.compile(r"ERROR \((?:spawn error|abnormal termination)\)"), "ERROR (<DIED>)"),
]


def normalise(text: str, daemon: Daemon) -> str:
    text = text.replace(str(daemon.directory), "<DIR>")
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


@dataclass(frozen=True)
class Outcome:
    stdout: str
    stderr: str
    returncode: int


def run_client(client: list[str], daemon: Daemon, flags: list[str], args: list[str]) -> Outcome:
    done = subprocess.run(
        [*client, *flags, *args],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        stdin=subprocess.DEVNULL,
        cwd=daemon.directory,
        check=False,
    )
    return Outcome(normalise(done.stdout, daemon), normalise(done.stderr, daemon), done.returncode)


def follow_then_interrupt(
    client: list[str], daemon: Daemon, flags: list[str], args: list[str], expected: int
) -> Outcome:
    """Run ``tail -f``-like commands until ``expected`` bytes arrived, then Ctrl-C."""
    proc = subprocess.Popen(
        [*client, *flags, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=daemon.directory,
    )
    received = bytearray()
    arrived = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(65536):
            received.extend(chunk)
            if len(received) >= expected:
                arrived.set()
        arrived.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert arrived.wait(CLIENT_TIMEOUT), f"no output from {args}: {bytes(received)!r}"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=CLIENT_TIMEOUT)
        reader.join(timeout=CLIENT_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    assert proc.stdout is not None
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    proc.stdout.close()
    if "Cannot connect, error: <class 'KeyboardInterrupt'>" in stderr:
        # supervisorctl's asyncore loop sometimes catches the Ctrl-C inside its HTTP
        # handler and reports it as a connection error instead of ending with an empty
        # line (a race in supervisorctl); superctl always ends cleanly. Compare the
        # clean form.
        received.extend(b"\n")
        stderr = ""
    return Outcome(normalise(received.decode(), daemon), normalise(stderr, daemon), proc.returncode)


BANNER = len("==> Press Ctrl-C to exit <==\n")

# One step: the arguments, or a callable that changes both daemons' files.
Step = list[str] | Callable[[Daemon], None]

UNIX_STEPS: list[Step] = [
    ["version"],
    ["help"],
    ["help", "status"],
    ["help", "help"],
    ["help", "nope"],
    ["frobnicate", "now"],
    ["status"],
    ["status", "sleeper"],
    ["status", "x:*"],
    ["status", "nope", "x:zz", "q:*"],
    ["status", "all"],
    ["pid"],
    ["pid", "sleeper"],
    ["pid", "x:b"],
    ["pid", "all"],
    ["pid", "nope"],
    ["avail"],
    ["avail", "extra-arg"],
    ["tail", "sleeper"],
    ["tail", "-100", "sleeper", "stderr"],
    ["tail", "-2", "sleeper"],
    ["tail", "nope"],
    ["tail", "sleeper", "bogus"],
    ["tail", "-x", "sleeper"],
    ["tail"],
    ["maintail", "bogus"],
    ["clear", "sleeper"],
    ["tail", "sleeper"],
    ["clear", "nope", "x:*"],
    ["signal", "HUP", "sleeper"],
    ["signal", "HUP", "x:*"],
    ["signal", "HUP", "nope"],
    ["signal", "BOGUS", "sleeper"],
    ["signal", "HUP"],
    ["stop", "sleeper"],
    ["stop", "sleeper"],
    ["start", "sleeper"],
    ["start", "sleeper"],
    ["restart", "sleeper"],
    ["stop", "x:*"],
    ["start", "x:*"],
    ["restart", "dup:*"],
    ["stop", "nog:*"],
    ["start", "nog:*"],
    ["start", "nope"],
    ["start"],
    ["stop"],
    ["restart"],
    ["stop", "all"],
    ["status"],
    ["start", "all"],
    ["start", "quick"],
    ["status"],
    ["reread"],
    lambda daemon: daemon.write_extra(1000),
    ["reread"],
    ["add", "extra"],
    ["add", "extra"],
    ["add", "nope"],
    ["status", "extra"],
    ["remove", "extra"],
    ["stop", "extra"],
    ["remove", "extra", "nope"],
    ["update"],
    lambda daemon: daemon.write_extra(999),
    ["reread"],
    ["update", "nope", "extra"],
    lambda daemon: daemon.write_extra(None),
    ["update", "all"],
    ["update"],
    ["version", "x"],
    ["shutdown", "now"],
    ["shutdown"],
    ["status"],
    ["shutdown"],
]

HTTP_STEPS: list[Step] = [
    ["status"],
    ["stop", "x:*"],
    ["start", "x:a"],
    ["pid", "all"],
    ["tail", "sleeper"],
    ["shutdown"],
    ["avail"],
]


# Steps whose result order is supervisord's internal ordering of equal priorities,
# which differs between two daemons with the same history.
UNORDERED = [["stop", "all"], ["start", "all"], ["pid", "all"], ["status"], ["avail"]]


def sorted_lines(outcome: Outcome) -> Outcome:
    return Outcome(
        "".join(sorted(outcome.stdout.splitlines(keepends=True))),
        outcome.stderr,
        outcome.returncode,
    )


def compare_sequences(
    real: Daemon,
    ours: Daemon,
    steps: list[Step],
    flags: Callable[[Daemon], list[str]],
) -> None:
    mismatches: list[str] = []
    for step in steps:
        if callable(step):
            step(real)
            step(ours)
            continue
        expected = run_client(supervisorctl(), real, flags(real), step)
        actual = run_client(superctl(), ours, flags(ours), step)
        if step in UNORDERED:
            expected, actual = sorted_lines(expected), sorted_lines(actual)
        if expected != actual:
            mismatches.append(f"{step}:\n  supervisorctl: {expected}\n  superctl:      {actual}")
        if step == ["shutdown"]:
            # What a client sees while supervisord is half-way down is the daemon's
            # timing; compare from the moment both are gone.
            real.process.wait(timeout=READY_TIMEOUT)
            ours.process.wait(timeout=READY_TIMEOUT)
            continue
        wait_until("processes to settle", lambda: real.process.poll() is not None or real.settled())
        wait_until("processes to settle", lambda: ours.process.poll() is not None or ours.settled())
    assert not mismatches, "\n".join(mismatches)


def config_flags(daemon: Daemon) -> list[str]:
    return ["-c", str(daemon.directory / "sd.conf")]


def http_flags(daemon: Daemon) -> list[str]:
    return ["-s", daemon.http_url, "-u", USER, "-p", PASSWORD]


def test_unix_socket_sequence(daemons: tuple[Daemon, Daemon]) -> None:
    """Over the config's unix:// serverurl every command prints and exits the same."""
    real, ours = daemons
    # Log-following first, on one daemon, while the logs are what wait_ready saw.
    for client_args in (["tail", "-f", "sleeper"], ["tail", "-f", "sleeper", "stderr"]):
        outcomes = [
            follow_then_interrupt(client, real, config_flags(real), client_args, BANNER + 3)
            for client in (supervisorctl(), superctl())
        ]
        assert outcomes[0] == outcomes[1], client_args
        assert outcomes[1].returncode == 0
    main_log = min(1024, (real.directory / "sd.log").stat().st_size)
    outcomes = [
        follow_then_interrupt(
            client, real, config_flags(real), ["maintail", "-f"], BANNER + main_log
        )
        for client in (supervisorctl(), superctl())
    ]
    assert outcomes[0] == outcomes[1]
    plain = [
        run_client(c, real, config_flags(real), ["maintail", "-300"])
        for c in (supervisorctl(), superctl())
    ]
    assert plain[0] == plain[1]
    compare_sequences(real, ours, UNIX_STEPS, config_flags)


def test_http_sequence_with_credentials(daemons: tuple[Daemon, Daemon]) -> None:
    """Over http:// with basic auth the same; without or with bad credentials too."""
    real, ours = daemons
    for flags in (
        lambda d: ["-s", d.http_url],
        lambda d: ["-s", d.http_url, "-u", USER, "-p", "wrong"],
    ):
        expected = run_client(supervisorctl(), real, flags(real), ["status"])
        actual = run_client(superctl(), ours, flags(ours), ["status"])
        assert expected == actual
        assert actual.returncode == 1
    outcomes = [
        follow_then_interrupt(
            client, daemon, http_flags(daemon), ["tail", "-f", "sleeper"], BANNER + 3
        )
        for client, daemon in ((supervisorctl(), real), (superctl(), ours))
    ]
    assert outcomes[0] == outcomes[1]
    compare_sequences(real, ours, HTTP_STEPS, http_flags)


def test_usage_errors_and_unreachable_servers(tmp_path: Path) -> None:
    """Flag errors, missing config sections and dead servers print and exit the same."""
    (tmp_path / "nosection.conf").write_text("[supervisord]\n")
    daemon = Daemon(directory=tmp_path, port=0, process=subprocess.Popen(["true"]))
    daemon.process.wait()
    cases = [
        ["-x", "status"],
        ["-c", str(tmp_path / "missing.conf"), "status"],
        ["-c", str(tmp_path / "nosection.conf"), "status"],
        ["-s", "notaurl", "status"],
        ["-s", f"unix://{tmp_path}/absent.sock", "status"],
        ["-s", f"unix://{tmp_path}/absent.sock", "start", "x"],
        ["-s", f"unix://{tmp_path}/absent.sock", "avail"],
        ["-s", f"unix://{tmp_path}/absent.sock", "shutdown"],
        ["-s", f"http://127.0.0.1:{free_port()}", "status"],
        ["-s", "ftp://example", "status"],
    ]
    for args in cases:
        expected = run_client(supervisorctl(), daemon, [], args)
        actual = run_client(superctl(), daemon, [], args)
        assert expected == actual, args
