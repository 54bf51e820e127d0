"""Shared helpers of the differential e2e tests: daemons side by side, clients, masks.

A :class:`Daemon` is a real supervisord or a superd running ``-n -c sd.conf`` in its
own directory on one shared config template (unix socket, inet port with basic
auth, an ``[include]`` of ``conf.d/*.conf``). Clients (supervisorctl, superctl) run
as subprocesses; their output is normalised (pids, uptimes, dates, paths, ports,
versions) before it is compared, so what remains is what a user would see differ.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import groupby
from pathlib import Path
from typing import Any

from supervisor_core.ctl.transport import make_server_proxy
from tests.peers import require_command, venv_bin

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
command=/bin/sh -c "sleep 0.3; exit 1"
startsecs=3
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

# quick lives 0.3 s: long enough that supervisord's reap right after spawning never
# sees it dead, and well inside startsecs even with supervisord's loop noticing an
# exit up to a second late, so both daemons always call it "exited too quickly".

EXTRA = """\
[program:extra]
command={python} -c "import time; time.sleep({seconds})"
startsecs=0
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
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


def daemon_argv(kind: str) -> list[str]:
    """The command prefix of a daemon kind: "supervisord" (the real one) or "superd"."""
    if kind == "supervisord":
        return [require_command("supervisord")]
    script = venv_bin("superd")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "supervisor_core.cli.superd"]


@dataclass
class Daemon:
    """One running supervisord or superd in its own directory."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes]
    kind: str = "supervisord"
    extra_masks: list[tuple[re.Pattern[str], str]] = field(default_factory=list)

    @property
    def unix_url(self) -> str:
        """``unix://`` URL of its socket."""
        return f"unix://{self.directory}/s.sock"

    @property
    def http_url(self) -> str:
        """``http://`` URL of its inet server (credentials USER/PASSWORD)."""
        return f"http://127.0.0.1:{self.port}"

    def proxy(self) -> Any:
        """A context-managed ServerProxy over the unix socket."""
        return make_server_proxy(self.unix_url, None, None)

    def call(self, method: str, *args: Any) -> Any:
        """One ``supervisor.*`` XML-RPC call over the unix socket, connection closed afterwards."""
        with self.proxy() as proxy:
            return getattr(proxy.supervisor, method)(*args)

    def settled(self) -> bool:
        """No process is STARTING, BACKOFF or STOPPING (or the daemon is going away)."""
        try:
            infos = self.call("getAllProcessInfo")
        except OSError:
            return False
        except xmlrpc.client.Fault:
            return True  # shutting down: nothing left to settle
        return all(info["state"] not in (10, 30, 40) for info in infos)

    def write_extra(self, seconds: int | None) -> None:
        """Add (or change, or with None remove) ``conf.d/extra.conf``."""
        target = self.directory / "conf.d" / "extra.conf"
        if seconds is None:
            target.unlink()
        else:
            target.write_text(EXTRA.format(python=sys.executable, seconds=seconds))


def start_daemon(directory: Path, kind: str = "supervisord", config: str = CONFIG) -> Daemon:
    """Write the config under ``directory`` and start ``kind`` on it in the foreground."""
    argv = daemon_argv(kind)
    directory.mkdir()
    (directory / "conf.d").mkdir()
    port = free_port()
    (directory / "sd.conf").write_text(
        config.format(
            port=port, user=USER, password=PASSWORD, python=sys.executable, sleeper=SLEEPER
        )
    )
    log = (directory / "stdout.txt").open("wb")
    process = subprocess.Popen(
        [*argv, "-n", "-c", str(directory / "sd.conf")],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=directory,
        start_new_session=True,
    )
    log.close()
    return Daemon(directory=directory, port=port, process=process, kind=kind)


def wait_ready(daemon: Daemon, *, sleeper_logs: bool = True) -> None:
    """Until the daemon answers RUNNING, its autostarts settled and the sleeper logged."""

    def running() -> bool:
        assert daemon.process.poll() is None, f"{daemon.kind} exited early"
        try:
            return bool(daemon.call("getState")["statename"] == "RUNNING")
        except OSError:
            return False

    wait_until(f"{daemon.kind} to answer getState", running)
    wait_until("autostarted processes to settle", daemon.settled)
    if not sleeper_logs:
        return
    out, err = daemon.directory / "sleeper.out", daemon.directory / "sleeper.err"
    wait_until(
        "the sleeper's first output in its logs",
        lambda: out.exists() and out.read_text() == "hi\n" and err.read_text() == "err\n",
    )


def stop_daemons(daemons: Iterable[Daemon]) -> None:
    """SIGTERM every daemon by pid (all at once, they stop in parallel), SIGKILL after a bound."""
    alive = [d for d in daemons if d.process.poll() is None]
    for daemon in alive:
        # supervisord stops one priority level per pass of its 1 s loop when it gets
        # SIGTERM; asking it to stop everything without waiting first signals all
        # processes at once, so teardown takes seconds instead of ten.
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            daemon.call("stopAllProcesses", False)
    for daemon in alive:
        os.kill(daemon.process.pid, signal.SIGTERM)
    for daemon in alive:
        try:
            daemon.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(daemon.process.pid, signal.SIGKILL)
            daemon.process.wait(timeout=10)


def stop_daemon(daemon: Daemon) -> None:
    """SIGTERM the daemon by pid, SIGKILL after a bound."""
    stop_daemons([daemon])


@contextmanager
def running_daemons(
    base: Path, kinds: Iterable[tuple[str, str]], *, config: str = CONFIG
) -> Iterator[list[Daemon]]:
    """Start ``(directory name, kind)`` daemons, wait until ready, stop all by pid at the end."""
    started: list[Daemon] = []
    try:
        for name, kind in kinds:
            started.append(start_daemon(base / name, kind, config))
        for daemon in started:
            wait_ready(daemon)
        yield started
    finally:
        stop_daemons(started)


def supervisorctl() -> list[str]:
    """The real supervisorctl."""
    return [require_command("supervisorctl")]


def superctl() -> list[str]:
    """Our superctl."""
    script = venv_bin("superctl")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "supervisor_core.cli.superctl"]


MASKS = [
    (re.compile(r"pid \d+, uptime [\d:]+"), "pid <PID>, uptime <UPTIME>"),
    (re.compile(r"[A-Z][a-z]{2} \d{2} \d{2}:\d{2} [AP]M"), "<DATE>"),
    (re.compile(r"(?m)^[1-9]\d*$"), "<PID>"),
    (re.compile(r"file: \S+ line: \d+"), "file: <FILE> line: <N>"),
    (re.compile(r"For help, use \S+ -h"), "For help, use <PROG> -h"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<PORT>"),
    # AUTO child logs get a random suffix from mkstemp in both daemons.
    (re.compile(r"---supervisor-[\w]{8}\.log"), "---supervisor-<RANDOM>.log"),
    # Whether a process dying within startsecs is reported as a spawn error or an
    # abnormal termination depends on the daemon's own timing, not on the client.
    (re.compile(r"ERROR \((?:spawn error|abnormal termination)\)"), "ERROR (<DIED>)"),
    # superctl's bare ``help`` adds a section for its own commands after supervisorctl's,
    # in the form supervisorctl gives a ctlplugin's; supervisorctl's own part must match.
    (re.compile(r"superd commands \(type help <topic>\):\n=+\n(?:.+\n)*\n"), ""),
]


def normalise(text: str, daemon: Daemon) -> str:
    """``text`` with the daemon's directory, pids, uptimes, dates and ports masked."""
    text = text.replace(str(daemon.directory), "<DIR>")
    for pattern, replacement in [*MASKS, *daemon.extra_masks]:
        text = pattern.sub(replacement, text)
    return text


@dataclass(frozen=True)
class Outcome:
    """What a client printed (normalised) and its exit status."""

    stdout: str
    stderr: str
    returncode: int


def run_client(client: list[str], daemon: Daemon, flags: list[str], args: list[str]) -> Outcome:
    """Run one client command to completion (bounded) against ``daemon``."""
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
        while chunk := proc.stdout.read1(65536):  # type: ignore[attr-defined]
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

# One step: the arguments, or a callable that changes every daemon's files.
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


# Steps whose result order is a daemon's internal ordering of equal priorities,
# which differs between two daemons with the same history.
UNORDERED = [["stop", "all"], ["start", "all"], ["pid", "all"], ["status"], ["avail"]]


def sorted_lines(outcome: Outcome) -> Outcome:
    """``outcome`` with its stdout lines sorted."""
    return Outcome(
        "".join(sorted(outcome.stdout.splitlines(keepends=True))),
        outcome.stderr,
        outcome.returncode,
    )


def sorted_runs(outcome: Outcome) -> Outcome:
    """``outcome`` with each run of consecutive lines of the same result sorted.

    ``restart dup:*`` prints ``dup:dup_00: stopped`` and ``dup:dup_01: stopped`` in
    the order the daemon saw them stop, which is a race; the order of the runs
    (stopped before started) is kept.
    """
    lines = outcome.stdout.splitlines(keepends=True)
    runs = [sorted(run) for _, run in groupby(lines, key=lambda line: line.rpartition(": ")[2])]
    return Outcome(
        "".join(line for run in runs for line in run), outcome.stderr, outcome.returncode
    )


@dataclass(frozen=True)
class Runner:
    """One client driving one daemon in a differential sequence."""

    label: str
    client: list[str]
    daemon: Daemon


def compare_sequences(
    runners: list[Runner],
    steps: list[Step],
    flags: Callable[[Daemon], list[str]],
) -> list[str]:
    """Run ``steps`` through every runner in lockstep; return the mismatches vs the first.

    Clients of one step run concurrently (each against its own daemon), then every
    daemon is awaited until its processes settled before the next step.
    """
    mismatches: list[str] = []
    with ThreadPoolExecutor(max_workers=len(runners)) as pool:
        for step in steps:
            if callable(step):
                for runner in runners:
                    step(runner.daemon)
                continue
            outcomes = list(pool.map(partial(_run_step, step, flags), runners))
            if step in UNORDERED:
                outcomes = [sorted_lines(o) for o in outcomes]
            elif any(arg == "all" or arg.endswith(":*") for arg in step):
                outcomes = [sorted_runs(o) for o in outcomes]
            for runner, outcome in zip(runners[1:], outcomes[1:], strict=True):
                if outcome != outcomes[0]:
                    mismatches.append(
                        f"{step}:\n  {runners[0].label}: {outcomes[0]}\n  {runner.label}: {outcome}"
                    )
            daemons = [r.daemon for r in runners]
            if step == ["shutdown"]:
                # What a client sees while a daemon is half-way down is its timing;
                # compare from the moment all are gone.
                for daemon in daemons:
                    daemon.process.wait(timeout=READY_TIMEOUT)
                continue
            for daemon in daemons:
                wait_settled(daemon)
    return mismatches


def _run_step(step: list[str], flags: Callable[[Daemon], list[str]], runner: Runner) -> Outcome:
    return run_client(runner.client, runner.daemon, flags(runner.daemon), step)


def wait_settled(daemon: Daemon) -> None:
    """Until the daemon's processes settled or the daemon exited."""
    wait_until(
        f"{daemon.kind}'s processes to settle",
        lambda: daemon.process.poll() is not None or daemon.settled(),
    )


def config_flags(daemon: Daemon) -> list[str]:
    """Client flags that use the daemon's config (its unix:// serverurl)."""
    return ["-c", str(daemon.directory / "sd.conf")]


def http_flags(daemon: Daemon) -> list[str]:
    """Client flags for its http:// server with the right credentials."""
    return ["-s", daemon.http_url, "-u", USER, "-p", PASSWORD]
