"""Benchmark scenarios: each runs one daemon under test once and returns its samples.

A scenario is an object with ``name``, ``title``, ``metrics``, ``params()``,
``run_once(daemon) -> {metric key: [samples]}`` and ``baseline_once()`` (samples of a
supervisor-free reference pipeline, or None). ``run_once`` raises ``DaemonUnavailable``
when the daemon cannot run the scenario and ``ScenarioFailed`` when it ran but the
scenario did not complete; the harness records either and carries on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bench.config import ProgramSpec
from bench.daemons import DaemonSpec, sleeper_command
from bench.stats import MetricSpec

Samples = dict[str, list[float]]

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Sizes of one benchmark run (``--quick`` shrinks every one of them)."""

    reps: int
    restart_kills: int
    log_bytes: int
    programs: int
    idle_window: float
    rpc_sequential_calls: int
    rpc_clients: int
    rpc_calls_per_client: int
    storm_programs: int = 8
    storm_window: float = 10.0
    crash_programs: int = 20
    crash_window: float = 20.0
    metrics_scrapes: int = 100
    bus_events: int = 200_000
    journal_window: float = 10.0
    many_programs: int = 2000
    many_calls: int = 5
    #: Keys of the log-throughput cases to run (empty: all of them).
    log_cases: tuple[str, ...] = ()
    #: The load scenario: programs, how many of them crash-loop, clients, window (s).
    load_programs: int = 500
    load_crashing: int = 50
    load_sse_clients: int = 20
    load_rpc_clients: int = 100
    load_duration: float = 60.0
    #: Soak mode: the bound (MiB/min) of the late RSS slope; None when not soaking.
    load_soak: float | None = None

    def with_overrides(self, **changes: Any) -> Profile:
        """A copy with the non-None ``changes`` applied."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values.update({k: v for k, v in changes.items() if v is not None})
        return Profile(**values)


FULL = Profile(
    reps=3,
    restart_kills=20,
    log_bytes=1024 * MIB,
    programs=500,
    idle_window=20.0,
    rpc_sequential_calls=200,
    rpc_clients=100,
    rpc_calls_per_client=5,
)
QUICK = Profile(
    reps=2,
    restart_kills=5,
    log_bytes=128 * MIB,
    programs=100,
    idle_window=5.0,
    rpc_sequential_calls=50,
    rpc_clients=100,
    rpc_calls_per_client=2,
    storm_programs=4,
    storm_window=3.0,
    crash_window=5.0,
    metrics_scrapes=30,
    bus_events=50_000,
    journal_window=4.0,
    many_programs=500,
    many_calls=3,
    load_programs=100,
    load_crashing=10,
    load_duration=10.0,
)


def sleeper_programs(count: int) -> list[ProgramSpec]:
    """``count`` sleeping programs with supervisord's defaults (startsecs=1, AUTO logs)."""
    width = max(3, len(str(count)))
    return [
        ProgramSpec(name=f"sleep_{index:0{width}d}", command=sleeper_command())
        for index in range(count)
    ]


class Scenario(Protocol):
    """One benchmark scenario, parameterized by a ``Profile``."""

    name: str
    title: str
    metrics: tuple[MetricSpec, ...]
    baseline_label: str

    def params(self) -> Mapping[str, Any]:
        """The sizes this scenario runs with, for the report."""
        ...

    def run_once(self, daemon: DaemonSpec) -> Samples:
        """Run the scenario once against ``daemon``; metric key -> samples."""
        ...

    def baseline_once(self) -> Samples | None:
        """Run the supervisor-free reference once, or return None when there is none."""
        ...


def all_scenarios(profile: Profile) -> list[Scenario]:
    """Every scenario, in report order."""
    from bench.scenarios.crash_storm import CrashStorm
    from bench.scenarios.event_throughput import EventThroughput
    from bench.scenarios.idle_cpu import IdleCpu
    from bench.scenarios.journal_storm import JournalStorm
    from bench.scenarios.launch import Launch
    from bench.scenarios.listener_storm import ListenerStorm
    from bench.scenarios.load import Load
    from bench.scenarios.log_throughput import LogThroughput
    from bench.scenarios.many_programs import ManyPrograms
    from bench.scenarios.metrics_scrape import MetricsScrape
    from bench.scenarios.restart import RestartLatency
    from bench.scenarios.rpc_latency import RpcLatency

    return [
        RestartLatency(profile),
        LogThroughput(profile),
        IdleCpu(profile),
        Launch(profile),
        RpcLatency(profile),
        MetricsScrape(profile),
        ListenerStorm(profile),
        CrashStorm(profile),
        EventThroughput(profile),
        JournalStorm(profile),
        ManyPrograms(profile),
        Load(profile),
    ]
