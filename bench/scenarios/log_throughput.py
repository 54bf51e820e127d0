"""Log throughput under every write pattern: N bytes of output -> log files.

One daemon per repetition holds one program per case (``bench/writer.py`` with the
case's block size, ``autostart=false``); the cases run one after the other, each
started over XML-RPC, and the clock runs from ``startProcess`` until the case's log
files (and their backups) hold every byte. The daemon's CPU over the same span is
reported per GiB logged, so cases of different sizes compare.

Cases: 100-byte lines written one ``write()`` each, 4 KiB, 65,500-byte (a 64 KiB stdio
buffer of text lines; the original scenario), 64 KiB and 1 MiB writes, and stdout +
stderr interleaved (65,500-byte blocks alternating), each with rotation off
(``maxbytes=0``) and with supervisord's default ``50MB`` / 10 backups. Rotated cases
write at most 512 MiB, so the 11 files keep every byte; 100-byte lines write 1/16 of
the size (one system call per line is the writer's cost, not the daemon's).

The baseline is ``writer | cat > file`` (two ``cat``s for the interleaved case), its
CPU read from ``wait4``'s rusage; there is no rotating baseline.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.config import ProgramSpec
from bench.daemons import (
    RPC_ERRORS,
    DaemonSpec,
    RunningDaemon,
    ScenarioFailed,
    cpu_between,
    running_daemon,
    writer_argv,
)
from bench.scenarios import MIB, Profile, Samples
from bench.stats import MetricSpec

GIB = 1024 * MIB
STAT_INTERVAL = 0.005
#: Slower than this rate the run is a failure rather than a figure (bounds the wait).
SLOWEST_RATE = 4 * MIB
#: supervisord's default ``*_logfile_maxbytes`` and ``*_logfile_backups``.
DEFAULT_MAXBYTES = 50 * 1000 * 1000
DEFAULT_BACKUPS = 10
#: Rotated cases stay below (backups + 1) x maxbytes, so no byte is rotated away.
ROTATED_LIMIT = 512 * MIB


def copy_timeout(total_bytes: int) -> float:
    """How long ``total_bytes`` may take to reach the file before the run fails."""
    return 30.0 + total_bytes / SLOWEST_RATE


@dataclass(frozen=True, slots=True, kw_only=True)
class LogCase:
    """One write pattern: block size, both streams or one, rotation or not."""

    key: str
    label: str
    block: int
    interleave: bool = False
    rotate: bool = False
    #: The share of the profile's ``log_bytes`` this case writes.
    divisor: int = 1

    def total_bytes(self, log_bytes: int) -> int:
        """Bytes this case writes for a profile writing ``log_bytes``."""
        total = log_bytes // self.divisor
        return min(total, ROTATED_LIMIT) if self.rotate else total

    def program(self, workdir: Path, total_bytes: int) -> ProgramSpec:
        """The ``[program:x]`` of this case, logging under ``workdir``."""
        maxbytes = str(DEFAULT_MAXBYTES) if self.rotate else "0"
        backups = DEFAULT_BACKUPS if self.rotate else 0
        return ProgramSpec(
            name=self.key,
            command=shlex.join(writer_argv(total_bytes, self.block, interleave=self.interleave)),
            autostart=False,
            autorestart="false",
            startsecs=0,
            exitcodes="0",
            stdout_logfile=str(workdir / f"{self.key}.out.log"),
            stdout_logfile_maxbytes=maxbytes,
            stdout_logfile_backups=backups,
            stderr_logfile=str(workdir / f"{self.key}.err.log"),
            stderr_logfile_maxbytes=maxbytes,
            stderr_logfile_backups=backups,
            redirect_stderr=False,
        )

    def files(self, workdir: Path) -> list[Path]:
        """Every file this case's bytes can end up in (backups included)."""
        bases = [workdir / f"{self.key}.out.log", workdir / f"{self.key}.err.log"]
        suffixes = [""] + ([f".{n}" for n in range(1, DEFAULT_BACKUPS + 1)] if self.rotate else [])
        return [Path(f"{base}{suffix}") for base in bases for suffix in suffixes]


def _cases() -> tuple[LogCase, ...]:
    plain = (
        LogCase(key="lines100", label="100-byte lines, one write each", block=100, divisor=16),
        LogCase(key="w4k", label="4 KiB writes", block=4096),
        LogCase(key="w65500", label="65,500-byte writes", block=65_500),
        LogCase(key="w64k", label="64 KiB writes", block=65_536),
        LogCase(key="w1m", label="1 MiB writes", block=MIB),
        LogCase(
            key="inter", label="stdout+stderr interleaved, 65,500 B", block=65_500, interleave=True
        ),
    )
    rotated = tuple(
        LogCase(
            key=f"{case.key}_rot",
            label=f"{case.label}, 50MB/10 rotation",
            block=case.block,
            interleave=case.interleave,
            rotate=True,
            divisor=case.divisor,
        )
        for case in plain
    )
    return plain + rotated


CASES = _cases()


class LogThroughput:
    """Bytes from a child's stdout/stderr into its log files: MiB/s, daemon CPU per GiB."""

    name = "log_throughput"
    title = "log throughput"
    baseline_label = "writer | cat"

    def __init__(self, profile: Profile) -> None:
        self.log_bytes = profile.log_bytes
        unknown = set(profile.log_cases) - {case.key for case in CASES}
        if unknown:
            raise ValueError(
                f"unknown log cases {sorted(unknown)}; known: {[c.key for c in CASES]}"
            )
        self.cases = tuple(c for c in CASES if not profile.log_cases or c.key in profile.log_cases)
        metrics: list[MetricSpec] = []
        for case in self.cases:
            size = f"{case.total_bytes(self.log_bytes) / MIB:g} MiB"
            metrics.append(
                MetricSpec(
                    key=f"{case.key}_mib_per_s",
                    label=f"{case.label} ({size}): throughput",
                    unit="MiB/s",
                    lower_is_better=False,
                )
            )
            metrics.append(
                MetricSpec(
                    key=f"{case.key}_cpu_per_gib",
                    label=f"{case.label}: copier CPU per GiB (daemon; baseline: cat)",
                    unit="CPU s",
                )
            )
        self.metrics: tuple[MetricSpec, ...] = tuple(metrics)

    def params(self) -> Mapping[str, Any]:
        """The bytes and block size of every case."""
        return {
            case.key: {
                "bytes": case.total_bytes(self.log_bytes),
                "block": case.block,
                "interleave": case.interleave,
                "rotate": case.rotate,
            }
            for case in self.cases
        }

    @staticmethod
    def _samples(case: LogCase, total: int, wall: float, cpu: float) -> Samples:
        return {
            f"{case.key}_mib_per_s": [total / MIB / wall],
            f"{case.key}_cpu_per_gib": [cpu * GIB / total],
        }

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Start every case's writer under one daemon in turn; time each until logged."""
        samples: Samples = {}
        # The log paths go into the config, so they live in a temp dir of their own.
        with tempfile.TemporaryDirectory(prefix="superbench-log-") as tmp:
            workdir = Path(tmp)
            programs = [
                case.program(workdir, case.total_bytes(self.log_bytes)) for case in self.cases
            ]
            with running_daemon(daemon, programs) as running:
                for case in self.cases:
                    samples.update(self._run_case(running, case, workdir))
                    _discard(case.files(workdir))
        return samples

    def _run_case(self, running: RunningDaemon, case: LogCase, workdir: Path) -> Samples:
        total = case.total_bytes(self.log_bytes)
        cpu_before = running.cpu_reading()
        started = time.perf_counter()
        try:
            running.rpc.supervisor.startProcess(case.key, False)
        except RPC_ERRORS as error:
            raise ScenarioFailed(f"{case.key}: startProcess failed: {error}") from error
        done = _wait_logged(case.files(workdir), total, running.exited, copy_timeout(total))
        cpu_after = running.cpu_reading()
        return self._samples(case, total, done - started, cpu_between(cpu_before, cpu_after))

    def baseline_once(self) -> Samples | None:
        """``writer | cat > file`` for every unrotated case: wall time and ``cat``'s CPU."""
        samples: Samples = {}
        for case in self.cases:
            if not case.rotate:
                samples.update(self._baseline_case(case))
        return samples

    def _baseline_case(self, case: LogCase) -> Samples:
        total = case.total_bytes(self.log_bytes)
        timeout = copy_timeout(total)
        with tempfile.TemporaryDirectory(prefix="superbench-log-") as tmp:
            targets = [Path(tmp) / "out.log", Path(tmp) / "err.log"]
            with targets[0].open("wb") as out_sink, targets[1].open("wb") as err_sink:
                started = time.perf_counter()
                writer = subprocess.Popen(
                    writer_argv(total, case.block, interleave=case.interleave),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE if case.interleave else None,
                )
                pipes = [writer.stdout, writer.stderr] if case.interleave else [writer.stdout]
                cats = [
                    _cat(pipe, sink)
                    for pipe, sink in zip(pipes, (out_sink, err_sink), strict=False)
                ]
                cpu = 0.0
                try:
                    for cat in cats:
                        status, used = _wait_with_cpu(cat.pid, timeout)
                        # wait4 reaped cat; tell Popen so it never waits on a recycled pid.
                        cat.returncode = os.waitstatus_to_exitcode(status)
                        cpu += used
                except ScenarioFailed:
                    for process in (writer, *cats):
                        process.kill()
                        process.wait(10)
                    raise
                done = time.perf_counter()
                writer.wait(timeout)
            codes = [cat.returncode for cat in cats] + [writer.returncode]
            if any(codes):
                raise ScenarioFailed(f"baseline pipeline failed: exit codes {codes}")
            size = sum(target.stat().st_size for target in targets)
            if size != total:
                raise ScenarioFailed(f"baseline wrote {size} bytes, not {total}")
            return self._samples(case, total, done - started, cpu)


def _discard(paths: Sequence[Path]) -> None:
    """Free a finished case's files, truncating before unlinking.

    A daemon may keep a log open after its program exited (superd keeps the writer
    for the next run); an unlinked but open file keeps its dirty pages, which the
    kernel still writes back, so every later case would pay for the GiB before it.
    Truncation drops the pages whoever holds the file.
    """
    for path in paths:
        try:
            os.truncate(path, 0)
        except FileNotFoundError:
            continue
        path.unlink(missing_ok=True)


def _cat(pipe: IO[bytes] | None, sink: IO[bytes]) -> subprocess.Popen[bytes]:
    if pipe is None:
        raise RuntimeError("writer has no output pipe")
    cat = subprocess.Popen(["cat"], stdin=pipe, stdout=sink)
    pipe.close()  # cat holds the only read end now
    return cat


def _sizes(paths: Sequence[Path]) -> tuple[int, ...]:
    sizes = []
    for path in paths:
        try:
            sizes.append(path.stat().st_size)
        except FileNotFoundError:
            sizes.append(0)
    return tuple(sizes)


def _wait_logged(paths: Sequence[Path], total: int, exited: Any, timeout: float) -> float:
    """Wait until ``paths`` hold ``total`` bytes together; returns that instant.

    A rotation renames files between two ``stat`` calls, so a sum is trusted only when
    two consecutive scans agree file by file.
    """
    deadline = time.perf_counter() + timeout
    previous: tuple[int, ...] = ()
    size = 0
    while time.perf_counter() < deadline:
        sizes = _sizes(paths)
        size = sum(sizes)
        if size >= total:
            if len(paths) <= 2 or sizes == previous:
                return time.perf_counter()
            previous = sizes
            continue
        previous = sizes
        if exited() is not None:
            raise ScenarioFailed(f"daemon exited with {size} of {total} bytes logged")
        time.sleep(STAT_INTERVAL)
    raise ScenarioFailed(f"only {size} of {total} bytes logged after {timeout:.0f} s")


def _wait_with_cpu(pid: int, timeout: float) -> tuple[int, float]:
    """Reap child ``pid`` within ``timeout``; (wait status, user + system CPU seconds)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        reaped, status, usage = os.wait4(pid, os.WNOHANG)
        if reaped == pid:
            return status, usage.ru_utime + usage.ru_stime
        time.sleep(STAT_INTERVAL)
    raise ScenarioFailed(f"baseline pipeline still running after {timeout:.0f} s")
