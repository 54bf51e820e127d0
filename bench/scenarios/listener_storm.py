"""Listener throughput: events per second delivered to a pool of 4 acknowledging listeners
while programs crash and restart as fast as the daemon lets them.

``storm_programs`` programs run ``/bin/false`` with ``startsecs=0`` and
``autorestart=true`` (every run is STARTING, RUNNING, EXITED: a crash storm). One
``[eventlistener:acks]`` pool (``numprocs=4``, ``events=PROCESS_STATE``,
``buffer_size=10000`` so the figure is delivery, not overflow) runs
``bench/ack_listener.py``, which appends one byte per acknowledged event to its own
file. The figure is (bytes after − bytes before) / window over a fixed window that
starts once every listener has acknowledged something. Both daemons restart crashed
programs at their own pace (supervisord about once per second per program), so the
figure is what each daemon actually delivers under its own storm.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.config import ProgramSpec
from bench.daemons import DaemonSpec, RunningDaemon, ScenarioFailed, running_daemon
from bench.scenarios import Profile, Samples
from bench.stats import MetricSpec

LISTENERS = 4
#: Every listener must have acknowledged an event within this (a bound, not a figure).
WARMUP_TIMEOUT = 30.0
LISTENER = Path(__file__).resolve().parent.parent / "ack_listener.py"


def pool_section() -> str:
    """The ``[eventlistener:acks]`` section (``%(here)s`` is the config's directory)."""
    return (
        "[eventlistener:acks]\n"
        f"command={sys.executable} {LISTENER} %(here)s/acks-%(process_num)d\n"
        "process_name=%(program_name)s_%(process_num)d\n"
        f"numprocs={LISTENERS}\n"
        "events=PROCESS_STATE\n"
        "buffer_size=10000\n"
        "startsecs=0\n"
    )


def acknowledged(daemon: RunningDaemon) -> list[int]:
    """Events each listener has acknowledged so far (its count file's size)."""
    sizes = []
    for index in range(LISTENERS):
        path = daemon.layout.workdir / f"acks-{index}"
        sizes.append(path.stat().st_size if path.exists() else 0)
    return sizes


class ListenerStorm:
    """Events/s acknowledged by 4 listeners during a crash storm of ``storm_programs``."""

    name = "listener_storm"
    title = "listener throughput in a crash storm"
    metrics: tuple[MetricSpec, ...] = (
        MetricSpec(
            key="events_per_s",
            label="events/s delivered to 4 listeners",
            unit="1/s",
            lower_is_better=False,
        ),
    )
    baseline_label = ""

    def __init__(self, profile: Profile) -> None:
        self.programs = profile.storm_programs
        self.window = profile.storm_window

    def params(self) -> Mapping[str, Any]:
        """Programs crashing, listeners, the measuring window."""
        return {
            "crashing_programs": self.programs,
            "listeners": LISTENERS,
            "window_s": self.window,
        }

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Start the storm, wait until every listener works, count over the window."""
        programs = [
            ProgramSpec(
                name=f"crash_{index:02d}",
                command="/bin/false",
                autorestart="true",
                startsecs=0,
                startretries=1_000_000,
            )
            for index in range(self.programs)
        ]
        with running_daemon(daemon, programs, pool_section()) as running:
            deadline = time.monotonic() + WARMUP_TIMEOUT
            # Polling files is the instrument here (another process writes them).
            while not all(acknowledged(running)):
                if running.exited() is not None:
                    raise ScenarioFailed(f"daemon exited: {running.output_tail()}")
                if time.monotonic() > deadline:
                    raise ScenarioFailed(f"listeners idle after {WARMUP_TIMEOUT:.0f} s")
                time.sleep(0.05)
            before, start = sum(acknowledged(running)), time.perf_counter()
            time.sleep(self.window)
            after, end = sum(acknowledged(running)), time.perf_counter()
        return {"events_per_s": [(after - before) / (end - start)]}

    def baseline_once(self) -> Samples | None:
        """No supervisor-free reference."""
        return None
