"""Daemons under test: how to start one in the foreground, know it is ready, and stop it.

Rules of this file:
- A daemon under test is only a command line; the harness appends ``-n -c FILE``.
- Every wait is bounded in time; every process started here is stopped here, by pid
  (SIGTERM, then SIGKILL after a bounded wait), and so are the children it left behind.
- A daemon that exits early or never answers ``supervisor.getState`` is reported as
  ``DaemonUnavailable`` (e.g. superd before it can run programs), never as a crash.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.config import ConfigLayout, ProgramSpec, fd_budget, render_config

#: How long a daemon may take to answer getState with RUNNING before it is "not available".
DEFAULT_READY_TIMEOUT = 10.0
#: How long after SIGTERM before SIGKILL (the config's stopwaitsecs is 5 s).
STOP_TIMEOUT = 30.0
POLL_INTERVAL = 0.05


class DaemonUnavailable(Exception):
    """The daemon cannot run this scenario (exited early, never ready, refused it)."""


class ScenarioFailed(Exception):
    """The daemon ran but the scenario did not complete (timeout, wrong answer)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonSpec:
    """A daemon under test: a name for the report and the command that runs it."""

    name: str
    argv: tuple[str, ...]
    #: Seconds to wait for getState RUNNING before the daemon counts as not available.
    ready_timeout: float = DEFAULT_READY_TIMEOUT

    def command(self, config: Path) -> list[str]:
        """The foreground command line for ``config`` (``-n -c FILE``, supervisord's flags)."""
        return [*self.argv, "-n", "-c", str(config)]

    @classmethod
    def parse(cls, name: str, command: str) -> DaemonSpec:
        """A spec from a shell-quoted command prefix such as ``".venv/bin/superd"``."""
        argv = shlex.split(command)
        if not argv:
            raise ValueError(f"daemon {name!r}: empty command")
        if os.sep in argv[0]:
            # Daemons run with the temp dir as cwd, so a relative path must be resolved here.
            argv[0] = os.path.abspath(argv[0])
        return cls(name=name, argv=tuple(argv))


def default_daemons() -> list[DaemonSpec]:
    """supervisord and superd from the running interpreter's virtualenv."""
    bindir = Path(sys.executable).parent
    return [
        DaemonSpec(name="supervisord", argv=(str(bindir / "supervisord"),)),
        DaemonSpec(name="superd", argv=(str(bindir / "superd"),)),
    ]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``wanted`` (children inherit it).

    Returns the soft limit now in force; the hard limit caps it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


@dataclass(frozen=True, slots=True, kw_only=True)
class CpuReading:
    """A process's CPU counters at one instant, from two sources of different precision."""

    #: user + system seconds from /proc/PID/stat (clock ticks, 10 ms; includes exited threads).
    ticks_seconds: float
    #: Per-thread run time in ns from /proc/PID/task/TID/schedstat, or empty when unavailable.
    thread_ns: Mapping[int, int]


def read_cpu(process: psutil.Process) -> CpuReading:
    """Read both CPU counters of ``process``."""
    times = process.cpu_times()
    thread_ns: dict[int, int] = {}
    task_dir = Path(f"/proc/{process.pid}/task")
    try:
        for entry in task_dir.iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                thread_ns[int(entry.name)] = int((entry / "schedstat").read_text().split()[0])
    except OSError:
        thread_ns = {}
    return CpuReading(ticks_seconds=float(times.user + times.system), thread_ns=thread_ns)


def cpu_between(before: CpuReading, after: CpuReading) -> float:
    """CPU seconds used between two readings of one process.

    The nanosecond schedstat figures are used when the same threads exist in both
    readings (an idle daemon's few milliseconds vanish in 10 ms clock ticks); when a
    thread came or went, its time would be lost from the per-thread sum, so the
    tick-based figure, which keeps exited threads' time, is used instead.
    """
    if before.thread_ns and before.thread_ns.keys() == after.thread_ns.keys():
        return sum(after.thread_ns.values()) / 1e9 - sum(before.thread_ns.values()) / 1e9
    return after.ticks_seconds - before.ticks_seconds


class _TimeoutTransport(xmlrpc.client.Transport):
    """xmlrpc's HTTP transport with a socket timeout, so no call can hang the run."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        connection = super().make_connection(host)
        connection.timeout = self._timeout
        return connection


def rpc_proxy(url: str, timeout: float = 10.0) -> xmlrpc.client.ServerProxy:
    """An XML-RPC proxy whose every call is bounded by ``timeout`` seconds."""
    return xmlrpc.client.ServerProxy(url, transport=_TimeoutTransport(timeout))


def close_proxy(proxy: xmlrpc.client.ServerProxy) -> None:
    """Close the proxy's kept-alive HTTP connection (xmlrpc keeps one open per proxy)."""
    proxy("close")()


#: What a not-yet-ready or vanished daemon's RPC endpoint can raise.
RPC_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    http.client.HTTPException,
    xmlrpc.client.Error,
)


class RunningDaemon:
    """One foreground daemon process started from a generated config."""

    def __init__(self, spec: DaemonSpec, layout: ConfigLayout, config: Path) -> None:
        self.spec = spec
        self.layout = layout
        self.config = config
        self.output_path = layout.workdir / "daemon.out"
        self.rpc = rpc_proxy(layout.rpc_url)
        self._popen: subprocess.Popen[bytes] | None = None
        self.launched_at = 0.0
        self.ready_at = 0.0
        self.process: psutil.Process | None = None

    @property
    def pid(self) -> int:
        """The daemon's pid; only valid after ``start``."""
        if self._popen is None:
            raise RuntimeError("daemon not started")
        return self._popen.pid

    def start(self) -> float:
        """Start the daemon; returns the ``perf_counter`` instant of the launch.

        Raises:
            DaemonUnavailable: the command cannot be executed.
        """
        with self.output_path.open("wb") as output:
            self.launched_at = time.perf_counter()
            try:
                self._popen = subprocess.Popen(
                    self.spec.command(self.config),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=self.layout.workdir,
                    # Own session: a Ctrl-C in the terminal reaches the harness, which then
                    # stops the daemon the orderly way instead of both racing.
                    start_new_session=True,
                )
            except OSError as error:
                raise DaemonUnavailable(f"cannot start {self.spec.argv[0]}: {error}") from error
        self.process = psutil.Process(self._popen.pid)
        return self.launched_at

    def output_tail(self, limit: int = 240) -> str:
        """The last ``limit`` characters the daemon printed, on one line."""
        try:
            data = self.output_path.read_bytes()[-limit:]
        except OSError:
            return ""
        return " ".join(data.decode("utf-8", "replace").split())

    def exited(self) -> int | None:
        """The daemon's exit status if it has exited."""
        return None if self._popen is None else self._popen.poll()

    def wait_ready(self, timeout: float | None = None) -> float:
        """Wait until ``supervisor.getState`` answers RUNNING; returns the instant it did.

        Raises:
            DaemonUnavailable: the daemon exited, or did not answer within ``timeout``.
        """
        if timeout is None:
            timeout = self.spec.ready_timeout
        deadline = time.perf_counter() + timeout
        probe = rpc_proxy(self.layout.rpc_url, timeout=2.0)
        try:
            return self._poll_ready(probe, deadline, timeout)
        finally:
            close_proxy(probe)

    def _poll_ready(
        self, probe: xmlrpc.client.ServerProxy, deadline: float, timeout: float
    ) -> float:
        last_error = "no answer"
        while time.perf_counter() < deadline:
            status = self.exited()
            if status is not None:
                elapsed = time.perf_counter() - self.launched_at
                raise DaemonUnavailable(
                    f"exited with status {status} after {elapsed:.1f} s: {self.output_tail()}"
                )
            try:
                state = probe.supervisor.getState()
            except RPC_ERRORS as error:
                last_error = f"{type(error).__name__}: {error}"
            else:
                if isinstance(state, dict) and state.get("statecode") == 1:
                    self.ready_at = time.perf_counter()
                    return self.ready_at
                last_error = f"getState answered {state!r}"
            time.sleep(POLL_INTERVAL)
        raise DaemonUnavailable(
            f"never answered getState with RUNNING within {timeout:.0f} s ({last_error})"
        )

    def cpu_reading(self) -> CpuReading:
        """The daemon's own CPU counters now (children excluded); see ``cpu_between``."""
        if self.process is None:
            raise RuntimeError("daemon not started")
        return read_cpu(self.process)

    def rss_bytes(self) -> int:
        """The daemon's resident set size."""
        if self.process is None:
            raise RuntimeError("daemon not started")
        return int(self.process.memory_info().rss)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the daemon by pid (SIGTERM, then SIGKILL) and kill children it left behind."""
        close_proxy(self.rpc)
        if self._popen is None or self.process is None:
            return
        try:
            # Snapshot before the daemon exits: once it is gone its orphans are
            # reparented and no longer findable as its children.
            children = self.process.children(recursive=True)
        except psutil.Error:
            children = []
        if self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                print(
                    f"  {self.spec.name} (pid {self.pid}) ignored SIGTERM for {timeout:.0f} s; "
                    "sending SIGKILL",
                    file=sys.stderr,
                )
                self._popen.kill()
                self._popen.wait(10)
        leftovers = [child for child in children if child.is_running()]
        for child in leftovers:
            with contextlib.suppress(psutil.Error):
                child.kill()
        if leftovers:
            psutil.wait_procs(leftovers, timeout=10)


@contextlib.contextmanager
def running_daemon(
    spec: DaemonSpec,
    programs: Sequence[ProgramSpec],
    extra_sections: str = "",
) -> Iterator[RunningDaemon]:
    """Write a config for ``programs`` in a fresh temp dir, start ``spec`` on it, wait ready.

    ``extra_sections`` go into the config as written (see ``config.render_config``).

    The daemon is stopped and the directory removed on exit, whatever happened.

    Raises:
        DaemonUnavailable: the daemon exited early or never became ready.
    """
    budget = fd_budget(len(programs))
    minfds = min(budget, raise_fd_limit(budget))
    with tempfile.TemporaryDirectory(prefix="superbench-") as tmp:
        workdir = Path(tmp)
        layout = ConfigLayout(
            workdir=workdir,
            port=free_port(),
            minfds=minfds,
            minprocs=max(200, len(programs) + 100),
        )
        layout.childlogdir.mkdir()
        config = workdir / "supervisord.conf"
        config.write_text(render_config(layout, programs, extra_sections))
        daemon = RunningDaemon(spec, layout, config)
        daemon.start()
        try:
            daemon.wait_ready()
            yield daemon
        finally:
            daemon.stop()


def process_states(daemon: RunningDaemon) -> dict[str, str]:
    """``group:name -> statename`` from one ``getAllProcessInfo`` call."""
    infos = daemon.rpc.supervisor.getAllProcessInfo()
    if not isinstance(infos, list):
        raise ScenarioFailed(f"getAllProcessInfo answered {type(infos).__name__}, not a list")
    return {f"{info['group']}:{info['name']}": str(info["statename"]) for info in infos}


def wait_all_running(daemon: RunningDaemon, expected: int, timeout: float) -> float:
    """Poll ``getAllProcessInfo`` until ``expected`` processes are RUNNING.

    Returns the ``perf_counter`` instant the condition was first seen.

    Raises:
        ScenarioFailed: not reached within ``timeout`` or the daemon died.
    """
    deadline = time.perf_counter() + timeout
    running = 0
    last_error = ""
    while time.perf_counter() < deadline:
        if daemon.exited() is not None:
            raise ScenarioFailed(f"daemon exited while starting programs: {daemon.output_tail()}")
        try:
            states = process_states(daemon)
        except RPC_ERRORS as error:
            last_error = f" (last error {type(error).__name__}: {error})"
        else:
            running = sum(1 for state in states.values() if state == "RUNNING")
            if running >= expected:
                return time.perf_counter()
        time.sleep(POLL_INTERVAL)
    raise ScenarioFailed(
        f"only {running}/{expected} programs RUNNING after {timeout:.0f} s{last_error}"
    )


def all_running_timeout(programs: int) -> float:
    """A generous bound for ``programs`` programs with startsecs=1 to reach RUNNING."""
    return 30.0 + 0.2 * programs


def writer_argv(total_bytes: int, block: int = 65_500, *, interleave: bool = False) -> list[str]:
    """The argv of the output writer program (``bench/writer.py``)."""
    writer = Path(__file__).resolve().parent / "writer.py"
    argv = [sys.executable, str(writer), str(total_bytes), str(block)]
    return [*argv, "--interleave"] if interleave else argv


def sleeper_command(seconds: int = 3600) -> str:
    """A child that starts fast and sleeps; bounded so an orphan cannot linger for days."""
    sleep = "/bin/sleep" if os.path.exists("/bin/sleep") else "sleep"
    return f"{sleep} {seconds}"
