"""Restart latency: SIGKILL a running child, time until the daemon's new child is alive.

One program (``/bin/sleep``), ``autorestart=true``, ``startsecs=0``. The benchmark
watches the daemon's children in /proc at a fine interval: it measures, so a tight
poll is the instrument here, not a shortcut. "Alive" means a child with a new pid
whose command name is already ``sleep`` (forked and exec'd). Kills are spaced by a
varying pause so they land at different phases of a daemon's own loop.

The children are read from ``/proc/PID/task/TID/children`` (one small file per
daemon thread, Linux >= 3.5 with CONFIG_PROC_CHILDREN), not with psutil's
``children()``: that reads ``/proc/*/stat`` of every process on the machine, ~24 ms
per scan with ~570 processes on the shared bench machine, which made the scan
interval, not the daemon, the measured restart latency (and stole its CPU).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from typing import Any

import psutil

from bench.config import ProgramSpec
from bench.daemons import DaemonSpec, RunningDaemon, ScenarioFailed, running_daemon, sleeper_command
from bench.scenarios import Profile, Samples
from bench.stats import MetricSpec

PROGRAM = "sleeper"
CHILD_NAME = "sleep"
#: A restart slower than this is a failure, not a figure.
RESTART_TIMEOUT = 15.0
SCAN_INTERVAL = 0.001
#: Pauses between kills cycle through these (seconds), deterministic but phase-spread.
PAUSES = (0.13, 0.41, 0.27, 0.55, 0.19, 0.33, 0.47, 0.23)


def _child_pids(pid: int) -> list[int] | None:
    """Direct children of ``pid`` from /proc (every thread's), None without the files."""
    pids: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                pids.extend(int(token) for token in handle.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{pid}/children"):
                return None  # kernel without CONFIG_PROC_CHILDREN
    return pids


def _is_live_sleeper(pid: int) -> bool:
    """``comm`` is the child's name and it is not a zombie (``/proc/PID/stat``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    name, _, rest = stat.partition(b"(")[2].rpartition(b")")
    return name.decode(errors="replace") == CHILD_NAME and not rest.lstrip().startswith(b"Z")


def _live_children(daemon: RunningDaemon) -> list[int]:
    if daemon.process is None:
        raise RuntimeError("daemon not started")
    pids = _child_pids(daemon.process.pid)
    if pids is not None:
        return [pid for pid in pids if _is_live_sleeper(pid)]
    alive = []
    for child in daemon.process.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and child.name() == CHILD_NAME:
                alive.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def wait_new_child(daemon: RunningDaemon, old_pid: int | None, timeout: float) -> tuple[int, float]:
    """Scan until a live ``sleep`` child other than ``old_pid`` exists; (pid, instant)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if daemon.exited() is not None:
            raise ScenarioFailed(f"daemon exited: {daemon.output_tail()}")
        for pid in _live_children(daemon):
            if pid != old_pid:
                return pid, time.perf_counter()
        time.sleep(SCAN_INTERVAL)
    raise ScenarioFailed(f"no new {CHILD_NAME!r} child within {timeout:.0f} s of the kill")


class RestartLatency:
    """SIGKILL the child ``restart_kills`` times; one latency sample per kill."""

    name = "restart"
    title = "restart latency"
    metrics: tuple[MetricSpec, ...] = (
        MetricSpec(key="restart_s", label="SIGKILL → new child alive", unit="s"),
    )
    baseline_label = ""

    def __init__(self, profile: Profile) -> None:
        self.kills = profile.restart_kills

    def params(self) -> Mapping[str, Any]:
        """The number of kills per run."""
        return {"kills_per_run": self.kills, "program": sleeper_command()}

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Start the daemon with one sleeper and time each kill-to-respawn."""
        program = ProgramSpec(
            name=PROGRAM,
            command=sleeper_command(),
            autorestart="true",
            startsecs=0,
            startretries=1000,
        )
        latencies: list[float] = []
        with running_daemon(daemon, [program]) as running:
            pid, _ = wait_new_child(running, None, RESTART_TIMEOUT)
            for index in range(self.kills):
                time.sleep(PAUSES[index % len(PAUSES)])
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError as error:
                    raise ScenarioFailed(f"child {pid} vanished before the kill") from error
                killed_at = time.perf_counter()
                pid, seen_at = wait_new_child(running, pid, RESTART_TIMEOUT)
                latencies.append(seen_at - killed_at)
        return {"restart_s": latencies}

    def baseline_once(self) -> Samples | None:
        """No supervisor-free reference for restarts."""
        return None
