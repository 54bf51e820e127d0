"""Crash storm: N programs that exit 50 ms after every start, restarted at once, for W s.

Each program runs ``bench/crash_once.sh``, which appends a line to a ``starts`` file
and sleeps 50 ms (``startsecs=0``); ``autorestart=unexpected`` with ``exitcodes=2``
restarts every normal run exactly as ``autorestart=true`` would, and lets the
harness end the storm cleanly: once a ``stop`` file exists the next run exits 2 and
stays EXITED. Measured over the window:

- restarts/s (lines added to ``starts``) and that rate over the ideal
  ``N / 0.05 s`` (a supervisor with zero restart latency);
- the daemon's CPU as percent of one core;
- ``getAllProcessInfo`` latency, called in sequence every 50 ms, p99;
- ``GET /metrics`` latency every 200 ms, p99 (daemons without ``/metrics`` get "—").

Then, for half the window (``QUIET_SHARE``), the storm goes on unpolled: the daemon's
CPU per restart there, and the share of the polled figure that the polling itself
costs (1 - unpolled / polled), separate the daemon's own cost per restart from the
harness' getAllProcessInfo and /metrics calls.

After the storm, with every run finished, each run was STARTING, RUNNING, EXITED:
the truth is 3 transitions per line of ``starts``. The fraction of them seen by an
acknowledging listener (``bench/count_listener.py``, default ``buffer_size=10``), by
the journal (``/events``) and by ``supervisor_process_transitions_total`` is
reported; 1 means every transition, in each of them alike.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from bench.config import ProgramSpec
from bench.daemons import (
    RPC_ERRORS,
    DaemonSpec,
    RunningDaemon,
    ScenarioFailed,
    cpu_between,
    process_states,
    running_daemon,
)
from bench.scenarios import Profile, Samples
from bench.stats import MetricSpec, percentile

PREFIX = "crash_"
RUN_SECONDS = 0.05
TRANSITIONS_PER_RUN = 3
RPC_INTERVAL = 0.05
METRICS_INTERVAL = 0.2
#: The unpolled window after the polled one, as a share of ``--duration``'s window.
QUIET_SHARE = 0.5
#: Bounds (not figures): storm start-up, the end of the storm, counters settling.
STARTUP_TIMEOUT = 30.0
DRAIN_TIMEOUT = 30.0
SETTLE_QUIET = 1.0
REQUEST_TIMEOUT = 30.0
BENCH = Path(__file__).resolve().parent.parent
SCRIPT = BENCH / "crash_once.sh"
LISTENER = BENCH / "count_listener.py"
RPC_BODY = xmlrpc.client.dumps((), "supervisor.getAllProcessInfo").encode()


def listener_section(count_file: Path) -> str:
    """One acknowledging listener with supervisord's default ``buffer_size`` (10)."""
    return (
        "[eventlistener:counter]\n"
        f"command={sys.executable} {LISTENER} {count_file} {PREFIX}\n"
        "events=PROCESS_STATE\n"
        "startsecs=0\n"
    )


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _wait_for(
    what: str, condition: Callable[[], bool], running: RunningDaemon, timeout: float
) -> None:
    # Polling is the instrument here: other processes write the files we read.
    deadline = time.monotonic() + timeout
    while not condition():
        if running.exited() is not None:
            raise ScenarioFailed(f"daemon exited waiting for {what}: {running.output_tail()}")
        if time.monotonic() > deadline:
            raise ScenarioFailed(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(0.05)


def _settled(read: Callable[[], int], timeout: float) -> int:
    """``read()`` once it has not changed for ``SETTLE_QUIET`` s (or at ``timeout``)."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = read()
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= SETTLE_QUIET:
            break
    return value


async def _timed(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> float | None:
    """One request's latency in seconds; None when the daemon answers 404 (no such page)."""
    started = time.perf_counter()
    async with session.request(method, url, **kw) as response:
        body = await response.read()
    elapsed = time.perf_counter() - started
    if response.status == 404:
        return None
    if response.status != 200 or b"<fault>" in body:
        raise ScenarioFailed(f"{method} {url}: HTTP {response.status}: {body[:200]!r}")
    return elapsed


async def _poll(
    session: aiohttp.ClientSession, interval: float, until: float, call: Callable[[], Any]
) -> list[float]:
    latencies: list[float] = []
    while time.perf_counter() < until:
        started = time.perf_counter()
        latency = await call()
        if latency is None:
            return []  # the daemon has no such endpoint
        latencies.append(latency)
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))
    return latencies


async def _window(base: str, rpc_url: str, seconds: float) -> tuple[list[float], list[float]]:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        until = time.perf_counter() + seconds
        headers = {"Content-Type": "text/xml"}
        rpc, metrics = await asyncio.gather(
            _poll(
                session,
                RPC_INTERVAL,
                until,
                lambda: _timed(session, "POST", rpc_url, data=RPC_BODY, headers=headers),
            ),
            _poll(
                session, METRICS_INTERVAL, until, lambda: _timed(session, "GET", f"{base}/metrics")
            ),
        )
    return rpc, metrics


async def _get_text(url: str) -> str | None:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        if response.status == 404:
            return None
        if response.status != 200:
            raise ScenarioFailed(f"GET {url}: HTTP {response.status}")
        return await response.text()


def journal_transitions(base: str) -> int | None:
    """PROCESS_STATE events of the storm's programs in ``/events`` (None: no journal)."""
    text = asyncio.run(_get_text(f"{base}/events?types=PROCESS_STATE&limit=1000000"))
    if text is None:
        return None
    count = 0
    for line in text.splitlines():
        if line.strip() and str(json.loads(line).get("processname", "")).startswith(PREFIX):
            count += 1
    return count


def metric_transitions(base: str) -> int | None:
    """Sum of ``supervisor_process_transitions_total`` over the storm's programs."""
    text = asyncio.run(_get_text(f"{base}/metrics"))
    if text is None:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith("supervisor_process_transitions_total{") and f'name="{PREFIX}' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


class CrashStorm:
    """Restarts/s, daemon CPU and control-plane latency in a crash storm; event counts after."""

    name = "crash_storm"
    title = "crash storm"
    baseline_label = "sh loop, no supervisor"

    def __init__(self, profile: Profile) -> None:
        self.programs = profile.crash_programs
        self.window = profile.crash_window
        n = self.programs
        self.metrics: tuple[MetricSpec, ...] = (
            MetricSpec(
                key="restarts_per_s",
                label=f"{n} programs: restarts/s",
                unit="1/s",
                lower_is_better=False,
            ),
            MetricSpec(
                key="of_ideal",
                label=f"restarts/s ÷ ideal ({n} / 50 ms)",
                unit="×",
                lower_is_better=False,
            ),
            MetricSpec(key="cpu_pct", label="daemon CPU during the storm", unit="% core"),
            # CPU % scales with the restart rate a loaded machine lets the daemon reach;
            # the CPU per restart does not, so it compares runs under different loads.
            MetricSpec(key="cpu_ms_per_restart", label="daemon CPU per restart", unit="ms"),
            MetricSpec(
                key="cpu_ms_per_restart_unpolled",
                label="daemon CPU per restart, no RPC or /metrics polling",
                unit="ms",
            ),
            MetricSpec(
                key="polling_share",
                label="share of the CPU per restart that the polling costs",
                unit="×",
            ),
            MetricSpec(key="rpc_p99_ms", label="getAllProcessInfo p99 during the storm", unit="ms"),
            MetricSpec(key="metrics_p99_ms", label="/metrics p99 during the storm", unit="ms"),
            MetricSpec(
                key="listener_share",
                label="transitions delivered to a listener (buffer_size=10)",
                unit="×",
                lower_is_better=False,
            ),
            MetricSpec(
                key="journal_share",
                label="transitions in the journal (/events)",
                unit="×",
                lower_is_better=False,
            ),
            MetricSpec(
                key="metrics_share",
                label="transitions in transitions_total",
                unit="×",
                lower_is_better=False,
            ),
        )

    def params(self) -> Mapping[str, Any]:
        """Crashing programs, run length, window."""
        return {"programs": self.programs, "run_s": RUN_SECONDS, "window_s": self.window}

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Storm, measure the window, end the storm, compare the transition counts."""
        with tempfile.TemporaryDirectory(prefix="superbench-storm-") as tmp:
            starts, stop, count = Path(tmp) / "starts", Path(tmp) / "stop", Path(tmp) / "counted"
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
                for index in range(self.programs)
            ]
            with running_daemon(daemon, programs, listener_section(count)) as running:
                base = running.layout.rpc_url.rsplit("/", 1)[0]
                _wait_for(
                    "every program started",
                    lambda: _lines(starts) >= 2 * self.programs,
                    running,
                    STARTUP_TIMEOUT,
                )
                starts_before, cpu_before = _lines(starts), running.cpu_reading()
                started = time.perf_counter()
                rpc, metrics = asyncio.run(_window(base, running.layout.rpc_url, self.window))
                starts_after, cpu_after = _lines(starts), running.cpu_reading()
                elapsed = time.perf_counter() - started
                # The same storm with nobody polling: the daemon's own cost per restart.
                time.sleep(self.window * QUIET_SHARE)
                quiet_starts, quiet_cpu = _lines(starts), running.cpu_reading()
                stop.touch()
                _wait_for(
                    "the storm's end", lambda: self._all_exited(running), running, DRAIN_TIMEOUT
                )
                truth = TRANSITIONS_PER_RUN * _lines(starts)
                delivered = _settled(lambda: _size(count), DRAIN_TIMEOUT)
                journal = self._settled_or_none(lambda: journal_transitions(base), truth)
                metric = metric_transitions(base)
        rate = (starts_after - starts_before) / elapsed
        samples: Samples = {
            "restarts_per_s": [rate],
            "of_ideal": [rate * RUN_SECONDS / self.programs],
            "cpu_pct": [100 * cpu_between(cpu_before, cpu_after) / elapsed],
            "listener_share": [delivered / truth],
        }
        if starts_after > starts_before:
            samples["cpu_ms_per_restart"] = [
                1000 * cpu_between(cpu_before, cpu_after) / (starts_after - starts_before)
            ]
        if starts_after > starts_before and quiet_starts > starts_after:
            unpolled = 1000 * cpu_between(cpu_after, quiet_cpu) / (quiet_starts - starts_after)
            samples["cpu_ms_per_restart_unpolled"] = [unpolled]
            samples["polling_share"] = [1 - unpolled / samples["cpu_ms_per_restart"][0]]
        if rpc:
            samples["rpc_p99_ms"] = [1000 * percentile(rpc, 99)]
        if metrics:
            samples["metrics_p99_ms"] = [1000 * percentile(metrics, 99)]
        if journal is not None:
            samples["journal_share"] = [journal / truth]
        if metric is not None:
            samples["metrics_share"] = [metric / truth]
        return samples

    @staticmethod
    def _settled_or_none(read: Callable[[], int | None], truth: int) -> int | None:
        first = read()
        if first is None or first == truth:
            return first
        return _settled(lambda: read() or 0, DRAIN_TIMEOUT)

    def _all_exited(self, running: RunningDaemon) -> bool:
        try:
            states = process_states(running)
        except RPC_ERRORS:
            return False
        mine = [state for name, state in states.items() if name.startswith(PREFIX)]
        return len(mine) == self.programs and all(state == "EXITED" for state in mine)

    def baseline_once(self) -> Samples | None:
        """N shell loops running ``crash_once.sh`` back to back: restarts/s with zero latency.

        What the child itself costs per run (``sh`` start-up, the ``echo``, exec of
        ``sleep``) bounds the ratio to the ideal for any supervisor; this measures it
        on the same machine, in the same run.
        """
        loop = f'while :; do /bin/sh {SCRIPT} "$1" "$2" || exit 0; done'
        with tempfile.TemporaryDirectory(prefix="superbench-crash-") as tmp:
            starts, stop = Path(tmp) / "starts", Path(tmp) / "stop"
            loops = [
                subprocess.Popen(["/bin/sh", "-c", loop, "loop", str(starts), str(stop)])
                for _ in range(self.programs)
            ]
            try:
                time.sleep(1.0)  # every loop is running
                before, started = _lines(starts), time.perf_counter()
                time.sleep(self.window)
                after, elapsed = _lines(starts), time.perf_counter() - started
            finally:
                stop.touch()
                for process in loops:
                    try:
                        process.wait(DRAIN_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait(10)
        rate = (after - before) / elapsed
        return {"restarts_per_s": [rate], "of_ideal": [rate * RUN_SECONDS / self.programs]}
