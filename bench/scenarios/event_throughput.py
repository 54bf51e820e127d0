"""Event throughput: an in-process bus with superd's real extensions, events/s.

No daemon runs: this measures superd's event pipeline itself. One ``EventBus`` is
built with every installed extension the way ``superd`` opens them (entry points
of ``supervisor_core.extensions``, from a parsed config): the journal to a file in a
temp dir, Prometheus, the storm detector; OpenTelemetry stays off (no
``[exporter:otel]`` section, its default). Then N synthetic ``PROCESS_STATE``
events (STARTING, RUNNING, EXITED of a few programs, in turn, as a crash loop
publishes them) are published as fast as the loop can, and two figures come out:

- published/s: N over the time the N ``publish`` calls took (the synchronous
  fan-out to every subscriber, the journal's hand-off and its backpressure);
- journaled/s: N over the time until the journal has committed the last one.

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


async def _measure(events: int, workdir: Path) -> tuple[float, float]:
    # Imported here: the harness process needs them only for this scenario.
    from exporters.journal import Journal
    from supervisor_core.bus import EventBus
    from supervisor_core.clock import SystemClock
    from supervisor_core.config.loader import parse
    from supervisor_core.events import PROCESS_STATE_EVENT_TYPES, ProcessStateEvent
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
    cycle = (
        (ProcessState.EXITED, ProcessState.STARTING),
        (ProcessState.STARTING, ProcessState.RUNNING),
        (ProcessState.RUNNING, ProcessState.EXITED),
    )
    # What the state machine publishes for a crash loop: STARTING (autorestart),
    # RUNNING and an unexpected EXITED with its exit facts.
    causes = (Cause.AUTORESTART, Cause.STARTSECS, Cause.EXIT)
    changes: list[ProcessStateEvent] = []
    for index in range(PROGRAMS * len(cycle)):
        from_state, to_state = cycle[index % len(cycle)]
        exited = to_state is ProcessState.EXITED
        name = f"crash_{index // len(cycle):02d}"
        changes.append(
            PROCESS_STATE_EVENT_TYPES[to_state](
                processname=name,
                groupname=name,
                from_state=from_state,
                cause=causes[index % len(cycle)],
                run=index // len(cycle) + 1,
                episode=1,
                pid=1000 + index,
                expected=False if exited else None,
                returncode=1 if exited else None,
                run_duration=0.05 if exited else None,
            )
        )
    try:
        started = time.perf_counter()
        last = None
        for index in range(events):
            change = changes[index % len(changes)]
            last = bus.publish(change, at=clock.now())
        published = time.perf_counter() - started
        assert last is not None
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while (journal.committed_serial() or -1) < last.serial:
            if time.monotonic() > deadline:
                raise ScenarioFailed("the journal did not commit every event in time")
            await asyncio.sleep(0.001)
        journaled = time.perf_counter() - started
    finally:
        for extension in reversed(extensions):
            await extension.aclose()
    return events / published, events / journaled


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
        )

    def params(self) -> Mapping[str, Any]:
        """Events per run and the extensions that receive them."""
        return {"events": self.events, "programs": PROGRAMS, "otel": False}

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """superd's pipeline in this process; any other daemon has none."""
        if daemon.name != "superd":
            raise DaemonUnavailable("no in-process event bus")
        with tempfile.TemporaryDirectory(prefix="superbench-bus-") as tmp:
            published, journaled = asyncio.run(self._run(Path(tmp)))
        return {"published": [published], "journaled": [journaled]}

    async def _run(self, workdir: Path) -> tuple[float, float]:
        return await _measure(self.events, workdir)

    def baseline_once(self) -> Samples | None:
        """No reference."""
        return None
