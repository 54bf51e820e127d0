"""Idle cost: the daemon's CPU (percent of one core) and RSS with N sleeping programs.

All N programs are started and seen RUNNING; after a short settle, the daemon's own
CPU time (user + system, children excluded) is read before and after a window in
which the harness sends it nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from bench.daemons import (
    DaemonSpec,
    all_running_timeout,
    cpu_between,
    running_daemon,
    wait_all_running,
)
from bench.scenarios import MIB, Profile, Samples, sleeper_programs
from bench.stats import MetricSpec

#: Let the start-up burst (spawn logging, state changes) finish before measuring.
SETTLE = 1.0


class IdleCpu:
    """CPU percent of a core and RSS of the daemon while N programs just sleep."""

    name = "idle_cpu"
    title = "idle"
    baseline_label = ""

    def __init__(self, profile: Profile) -> None:
        self.programs = profile.programs
        self.window = profile.idle_window
        n = self.programs
        self.metrics: tuple[MetricSpec, ...] = (
            MetricSpec(
                key="cpu_percent", label=f"daemon CPU, {n} sleeping programs", unit="% core"
            ),
            MetricSpec(key="rss_mib", label=f"daemon RSS, {n} sleeping programs", unit="MiB"),
        )

    def params(self) -> Mapping[str, Any]:
        """Number of programs and the measuring window."""
        return {"programs": self.programs, "window_s": self.window}

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Start N sleepers, wait all RUNNING, measure CPU over the window and RSS."""
        with running_daemon(daemon, sleeper_programs(self.programs)) as running:
            wait_all_running(running, self.programs, all_running_timeout(self.programs))
            time.sleep(SETTLE)
            cpu_before = running.cpu_reading()
            wall_before = time.perf_counter()
            time.sleep(self.window)
            cpu_after = running.cpu_reading()
            wall_after = time.perf_counter()
            rss = running.rss_bytes()
        percent = 100.0 * cpu_between(cpu_before, cpu_after) / (wall_after - wall_before)
        return {"cpu_percent": [percent], "rss_mib": [rss / MIB]}

    def baseline_once(self) -> Samples | None:
        """No supervisor-free reference."""
        return None
