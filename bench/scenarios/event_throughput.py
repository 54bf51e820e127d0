"""Event throughput: an in-process bus with superd's real extensions, events/s.

No daemon runs: this measures superd's event pipeline itself. One ``EventBus`` is
built with every installed extension the way ``superd`` opens them (entry points
of ``supervisor_core.extensions``, from a parsed config): the journal to a file in a
temp dir, Prometheus, the storm detector; OpenTelemetry stays off (no
``[exporter:otel]`` section, its default). Then N synthetic ``PROCESS_STATE``
events (STARTING, RUNNING, EXITED of a few programs, in turn, as a crash loop
publishes them, each with the cause the state machine gives it: an autorestart,
startsecs, an exit) are published as fast as the loop can, and two figures come out:

- published/s: N over the time the N ``publish`` calls took (the synchronous
  fan-out to every subscriber, the journal's hand-off and its backpressure);
- journaled/s: N over the time until the journal has committed the last one;
- CPU per event: the process' CPU time (every thread: the publisher, the journal's
  encoder and writer, SQLite) over that same span, divided by N. On a loaded machine
  the rates move with the neighbours' load; this figure moves much less.

supervisord has no in-process bus: its cells are *not available*.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.daemons import DaemonSpec, DaemonUnavailable, ScenarioFailed
from bench.scenarios import Profile, Samples
from bench.stats import MetricSpec

PROGRAMS = 20
#: Bound (not a figure): the journal committing what was published.
DRAIN_TIMEOUT = 120.0


async def _measure(events: int, workdir: Path) -> tuple[float, float, float]:
    # Imported here: the harness process needs them only for this scenario.
    from exporters.journal import Journal
    from supervisor_core.bus import EventBus
    from supervisor_core.clock import SystemClock
    from supervisor_core.config.loader import parse
    from supervisor_core.events import (
        ProcessStateEvent,
        ProcessStateExited,
        ProcessStateRunning,
        ProcessStateStarting,
    )
    from supervisor_core.extensions import discover_extensions, first_serial
    from supervisor_core.lifecycle import Cause, ProcessState

    config_path = workdir / "supervisord.conf"
    config = parse(
        f"[supervisord]\nchildlogdir={workdir}\n"
        f"[exporter:journal]\npath={workdir / 'journal.sqlite3'}\n"
        "[program:x]\ncommand=/bin/true\n",
        str(config_path),
    )
    extensions = [
        extension
        for factory in discover_extensions()
        if (extension := factory.open(config)) is not None
    ]
    names = sorted(extension.name for extension in extensions)
    if "journal" not in names or "prometheus" not in names:
        raise ScenarioFailed(f"extensions missing: opened {names}")
    clock = SystemClock()
    bus = EventBus(clock, first_serial=first_serial(extensions))
    for extension in extensions:
        extension.install(bus)
    journal = next(
        getattr(extension, "journal")  # noqa: B009 - JournalExtension's attribute
        for extension in extensions
        if extension.name == "journal"
    )
    assert isinstance(journal, Journal)
    # One crash-loop cycle per program, as the machine publishes it: an autorestart
    # (run 2 of the episode run 1 opened), RUNNING after startsecs, an unexpected exit.
    transitions: list[ProcessStateEvent] = []
    for program in range(PROGRAMS):
        name = f"crash_{program:02d}"
        pid = 1000 + program
        transitions += [
            ProcessStateStarting(
                processname=name,
                groupname=name,
                from_state=ProcessState.EXITED,
                cause=Cause.AUTORESTART,
                run=2,
                episode=1,
            ),
            ProcessStateRunning(
                processname=name,
                groupname=name,
                from_state=ProcessState.STARTING,
                cause=Cause.STARTSECS,
                run=2,
                episode=1,
                pid=pid,
            ),
            ProcessStateExited(
                processname=name,
                groupname=name,
                from_state=ProcessState.RUNNING,
                cause=Cause.EXIT,
                run=2,
                episode=1,
                pid=pid,
                expected=False,
                returncode=1,
                run_duration=0.05,
            ),
        ]
    try:
        started = time.perf_counter()
        cpu_started = time.process_time()
        last = None
        for index in range(events):
            last = bus.publish(transitions[index % len(transitions)], at=clock.now())
        published = time.perf_counter() - started
        assert last is not None
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while (journal.committed_serial() or -1) < last.serial:
            if time.monotonic() > deadline:
                raise ScenarioFailed("the journal did not commit every event in time")
            await asyncio.sleep(0.001)
        journaled = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        for extension in reversed(extensions):
            await extension.aclose()
    return events / published, events / journaled, cpu / events * 1e6


class EventThroughput:
    """Publish N synthetic PROCESS_STATE events through superd's extensions."""

    name = "event_throughput"
    title = "event throughput"
    baseline_label = ""

    def __init__(self, profile: Profile) -> None:
        self.events = profile.bus_events
        self.metrics: tuple[MetricSpec, ...] = (
            MetricSpec(
                key="published",
                label="bus -> all exporters, published",
                unit="1/s",
                lower_is_better=False,
            ),
            MetricSpec(
                key="journaled",
                label="bus -> all exporters, committed to the journal",
                unit="1/s",
                lower_is_better=False,
            ),
            MetricSpec(
                key="cpu_per_event",
                label="bus -> all exporters, CPU per event (all threads)",
                unit="µs",
            ),
        )

    def params(self) -> Mapping[str, Any]:
        """Events per run and the extensions that receive them."""
        return {"events": self.events, "programs": PROGRAMS, "otel": False}

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """superd's pipeline in this process; any other daemon has none."""
        if daemon.name != "superd":
            raise DaemonUnavailable("no in-process event bus")
        with tempfile.TemporaryDirectory(prefix="superbench-bus-") as tmp:
            published, journaled, cpu = asyncio.run(self._run(Path(tmp)))
        return {"published": [published], "journaled": [journaled], "cpu_per_event": [cpu]}

    async def _run(self, workdir: Path) -> tuple[float, float, float]:
        return await _measure(self.events, workdir)

    def baseline_once(self) -> Samples | None:
        """No reference."""
        return None
