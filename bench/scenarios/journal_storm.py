"""Journal cost: a crash storm of 50 programs with the journal on, then off, in one run.

The storm is ``crash_storm``'s (``bench/crash_once.sh``: each run sleeps 50 ms and
exits, ``startsecs=0``, restarted at once). Each repetition starts superd twice on
the same programs: with the journal (the default) and with ``[exporter:journal]
enabled=false``. Over the same window it measures:

- events/s into the journal: the rise of ``supervisor_events_total`` (every event
  the bus published; the journal is the lossless subscriber, and its
  ``supervisor_events_dropped_total{subscriber="journal"}`` must stay 0, or the
  run fails);
- the daemon's CPU with and without the journal, and their difference (the cost of
  journaling at that rate), plus restarts/s in both (the storm's own pace).

supervisord has no journal: *not available*.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.config import ProgramSpec
from bench.daemons import (
    DaemonSpec,
    DaemonUnavailable,
    RunningDaemon,
    ScenarioFailed,
    cpu_between,
    running_daemon,
)
from bench.scenarios import Profile, Samples
from bench.scenarios.crash_storm import (
    PREFIX,
    SCRIPT,
    STARTUP_TIMEOUT,
    _get_text,
    _lines,
    _wait_for,
)
from bench.stats import MetricSpec

PROGRAMS = 50
JOURNAL_OFF = "[exporter:journal]\nenabled=false\n"
_EVENTS_TOTAL = re.compile(r'^supervisor_events_total\{type="[^"]+"\} (\S+)$', re.MULTILINE)
_JOURNAL_DROPS = re.compile(
    r'^supervisor_events_dropped_total\{subscriber="journal"\} (\S+)$', re.MULTILINE
)


def _counters(running: RunningDaemon) -> tuple[float, float]:
    """(events published so far, events the journal dropped) from ``/metrics``."""
    base = running.layout.rpc_url.rsplit("/", 1)[0]
    text = asyncio.run(_get_text(f"{base}/metrics"))
    if text is None:
        raise ScenarioFailed("no /metrics")
    dropped = _JOURNAL_DROPS.search(text)
    return sum(float(value) for value in _EVENTS_TOTAL.findall(text)), (
        float(dropped.group(1)) if dropped else 0.0
    )


class JournalStorm:
    """Events/s into the journal in a 50-program crash storm, and the CPU it costs."""

    name = "journal_storm"
    title = "journal in a crash storm"
    baseline_label = ""

    def __init__(self, profile: Profile) -> None:
        self.window = profile.journal_window
        self.metrics: tuple[MetricSpec, ...] = (
            MetricSpec(
                key="events_per_s",
                label=f"{PROGRAMS} programs: events/s into the journal",
                unit="1/s",
                lower_is_better=False,
            ),
            MetricSpec(key="cpu_on", label="daemon CPU, journal on", unit="% core"),
            MetricSpec(key="cpu_off", label="daemon CPU, journal off", unit="% core"),
            MetricSpec(key="cpu_cost", label="CPU cost of journaling (on - off)", unit="% core"),
            MetricSpec(
                key="restarts_on",
                label="restarts/s, journal on",
                unit="1/s",
                lower_is_better=False,
            ),
            MetricSpec(
                key="restarts_off",
                label="restarts/s, journal off",
                unit="1/s",
                lower_is_better=False,
            ),
        )

    def params(self) -> Mapping[str, Any]:
        """Programs and window."""
        return {"programs": PROGRAMS, "window_s": self.window}

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Storm with the journal, then without; same programs, same window."""
        if daemon.name != "superd":
            raise DaemonUnavailable("no journal")
        on = self._storm(daemon, journal=True)
        off = self._storm(daemon, journal=False)
        return {
            "events_per_s": [on["events_per_s"]],
            "cpu_on": [on["cpu"]],
            "cpu_off": [off["cpu"]],
            "cpu_cost": [on["cpu"] - off["cpu"]],
            "restarts_on": [on["restarts"]],
            "restarts_off": [off["restarts"]],
        }

    def _storm(self, daemon: DaemonSpec, *, journal: bool) -> dict[str, float]:
        with tempfile.TemporaryDirectory(prefix="superbench-journal-") as tmp:
            starts, stop = Path(tmp) / "starts", Path(tmp) / "stop"
            programs = [
                ProgramSpec(
                    name=f"{PREFIX}{index:02d}",
                    command=f"/bin/sh {SCRIPT} {starts} {stop}",
                    autorestart="unexpected",
                    exitcodes="2",
                    startsecs=0,
                    stdout_logfile="NONE",
                    redirect_stderr=True,
                )
                for index in range(PROGRAMS)
            ]
            extra = "" if journal else JOURNAL_OFF
            with running_daemon(daemon, programs, extra) as running:
                _wait_for(
                    "every program started",
                    lambda: _lines(starts) >= 2 * PROGRAMS,
                    running,
                    STARTUP_TIMEOUT,
                )
                events_before, _ = _counters(running)
                starts_before, cpu_before = _lines(starts), running.cpu_reading()
                started = time.perf_counter()
                time.sleep(self.window)
                starts_after, cpu_after = _lines(starts), running.cpu_reading()
                elapsed = time.perf_counter() - started
                events_after, dropped = _counters(running)
                stop.touch()
        if journal and dropped:
            raise ScenarioFailed(f"the journal dropped {dropped:.0f} events")
        return {
            "events_per_s": (events_after - events_before) / elapsed,
            "cpu": 100 * cpu_between(cpu_before, cpu_after) / elapsed,
            "restarts": (starts_after - starts_before) / elapsed,
        }

    def baseline_once(self) -> Samples | None:
        """No reference."""
        return None
