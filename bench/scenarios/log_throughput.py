"""Log throughput: one writer puts N bytes on stdout; time until all are in the log file.

The program is ``bench/writer.py`` with ``stdout_logfile`` set, rotation off
(``stdout_logfile_maxbytes=0``), started over XML-RPC; the clock runs from
``startProcess`` until the file holds every byte. The daemon's CPU seconds over the
same span come from psutil. The baseline is ``writer | cat > file`` with no
supervisor, ``cat``'s CPU read from ``wait4``'s rusage.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.config import ProgramSpec
from bench.daemons import (
    RPC_ERRORS,
    DaemonSpec,
    ScenarioFailed,
    cpu_between,
    running_daemon,
    writer_argv,
)
from bench.scenarios import MIB, Profile, Samples
from bench.stats import MetricSpec

PROGRAM = "writer"
STAT_INTERVAL = 0.005
#: Slower than this rate the run is a failure rather than a figure (bounds the wait).
SLOWEST_RATE = 4 * MIB


def copy_timeout(total_bytes: int) -> float:
    """How long ``total_bytes`` may take to reach the file before the run fails."""
    return 30.0 + total_bytes / SLOWEST_RATE


class LogThroughput:
    """Bytes from a child's stdout into its log file: wall time, MiB/s, daemon CPU."""

    name = "log_throughput"
    title = "log throughput"
    baseline_label = "writer | cat"

    def __init__(self, profile: Profile) -> None:
        self.total_bytes = profile.log_bytes
        size = f"{self.total_bytes / MIB:g} MiB"
        self.metrics: tuple[MetricSpec, ...] = (
            MetricSpec(key="wall_s", label=f"startProcess → {size} in the log", unit="s"),
            MetricSpec(key="mib_per_s", label="throughput", unit="MiB/s", lower_is_better=False),
            MetricSpec(key="cpu_s", label="copier CPU (daemon; baseline: cat)", unit="CPU s"),
        )

    def params(self) -> Mapping[str, Any]:
        """The number of bytes written per run."""
        return {"bytes": self.total_bytes, "mib": self.total_bytes / MIB}

    def _samples(self, wall: float, cpu: float) -> Samples:
        return {
            "wall_s": [wall],
            "mib_per_s": [self.total_bytes / MIB / wall],
            "cpu_s": [cpu],
        }

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Start the writer under the daemon and wait for its log to hold every byte."""
        # The log path goes into the config, so it lives in a temp dir of its own.
        with tempfile.TemporaryDirectory(prefix="superbench-log-") as tmp:
            logfile = Path(tmp) / "writer.log"
            program = ProgramSpec(
                name=PROGRAM,
                command=shlex.join(writer_argv(self.total_bytes)),
                autostart=False,
                autorestart="false",
                startsecs=0,
                exitcodes="0",
                stdout_logfile=str(logfile),
                stdout_logfile_maxbytes="0",
                stdout_logfile_backups=0,
                redirect_stderr=False,
            )
            with running_daemon(daemon, [program]) as running:
                cpu_before = running.cpu_reading()
                started = time.perf_counter()
                try:
                    running.rpc.supervisor.startProcess(PROGRAM, False)
                except RPC_ERRORS as error:
                    raise ScenarioFailed(f"startProcess failed: {error}") from error
                done = self._wait_size(logfile, running.exited, copy_timeout(self.total_bytes))
                cpu_after = running.cpu_reading()
            return self._samples(done - started, cpu_between(cpu_before, cpu_after))

    def _wait_size(self, logfile: Path, exited: Any, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        size = 0
        while time.perf_counter() < deadline:
            try:
                size = logfile.stat().st_size
            except FileNotFoundError:
                size = 0
            if size >= self.total_bytes:
                return time.perf_counter()
            if exited() is not None:
                raise ScenarioFailed(
                    f"daemon exited with {size} of {self.total_bytes} bytes logged"
                )
            time.sleep(STAT_INTERVAL)
        raise ScenarioFailed(
            f"only {size} of {self.total_bytes} bytes logged after {timeout:.0f} s"
        )

    def baseline_once(self) -> Samples | None:
        """``writer | cat > file``: wall time and ``cat``'s CPU (from ``wait4``)."""
        timeout = copy_timeout(self.total_bytes)
        with tempfile.TemporaryDirectory(prefix="superbench-log-") as tmp:
            target = Path(tmp) / "baseline.log"
            with target.open("wb") as sink:
                started = time.perf_counter()
                writer = subprocess.Popen(writer_argv(self.total_bytes), stdout=subprocess.PIPE)
                if writer.stdout is None:
                    raise RuntimeError("writer has no stdout pipe")
                cat = subprocess.Popen(["cat"], stdin=writer.stdout, stdout=sink)
                writer.stdout.close()  # cat holds the only read end now
                try:
                    status, cpu = _wait_with_cpu(cat.pid, timeout)
                except ScenarioFailed:
                    writer.kill()
                    cat.kill()
                    cat.wait(10)
                    writer.wait(10)
                    raise
                # wait4 reaped cat; tell Popen so it never waits on a recycled pid.
                cat.returncode = os.waitstatus_to_exitcode(status)
                done = time.perf_counter()
                writer.wait(timeout)
            if cat.returncode != 0 or writer.returncode != 0:
                raise ScenarioFailed(
                    f"baseline pipeline failed: cat={cat.returncode} writer={writer.returncode}"
                )
            size = target.stat().st_size
            if size != self.total_bytes:
                raise ScenarioFailed(f"baseline wrote {size} bytes, not {self.total_bytes}")
            return self._samples(done - started, cpu)


def _wait_with_cpu(pid: int, timeout: float) -> tuple[int, float]:
    """Reap child ``pid`` within ``timeout``; (wait status, user + system CPU seconds)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        reaped, status, usage = os.wait4(pid, os.WNOHANG)
        if reaped == pid:
            return status, usage.ru_utime + usage.ru_stime
        time.sleep(STAT_INTERVAL)
    raise ScenarioFailed(f"baseline pipeline still running after {timeout:.0f} s")
