"""Launch: from starting the daemon to all N programs (startsecs=1) RUNNING.

The clock starts just before the daemon's ``Popen``; readiness is the first
``getState`` answering RUNNING, and "all RUNNING" is seen by polling
``getAllProcessInfo`` every 50 ms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.daemons import (
    DaemonSpec,
    all_running_timeout,
    running_daemon,
    wait_all_running,
)
from bench.scenarios import Profile, Samples, sleeper_programs
from bench.stats import MetricSpec


class Launch:
    """Time to RPC-ready and to all N programs RUNNING."""

    name = "launch"
    title = "launch"
    baseline_label = ""

    def __init__(self, profile: Profile) -> None:
        self.programs = profile.programs
        self.metrics: tuple[MetricSpec, ...] = (
            MetricSpec(
                key="ready_s", label=f"launch → getState RUNNING ({self.programs})", unit="s"
            ),
            MetricSpec(
                key="all_running_s", label=f"launch → {self.programs} programs RUNNING", unit="s"
            ),
        )

    def params(self) -> Mapping[str, Any]:
        """Number of programs (each with startsecs=1)."""
        return {"programs": self.programs, "startsecs": 1}

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Launch the daemon with N sleepers and time readiness and all RUNNING."""
        with running_daemon(daemon, sleeper_programs(self.programs)) as running:
            ready = running.ready_at
            all_running = wait_all_running(
                running, self.programs, all_running_timeout(self.programs)
            )
        return {
            "ready_s": [ready - running.launched_at],
            "all_running_s": [all_running - running.launched_at],
        }

    def baseline_once(self) -> Samples | None:
        """No supervisor-free reference."""
        return None
