"""The Prometheus exporter over scripted histories: real state machine, real bus, fake clock.

Histories run through ``RuntimeRig`` (the real ``ProcessRuntime`` with a fake spawner
and virtual time), so what is counted is what the daemon would publish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from exporters.prometheus import CATALOGUE, PrometheusExporter, TreeSample
from exporters.prometheus.catalogue import READY_SECONDS_BUCKETS, RUN_DURATION_BUCKETS
from supervisor_core import __version__
from supervisor_core.bus import EventBus
from supervisor_core.config.model import AutoRestart, ProcessConfig
from supervisor_core.control import (
    ControlError,
    GroupInfo,
    ProcessInfo,
    ShutdownState,
    SpawnFailed,
)
from supervisor_core.events import ProcessGroupRemoved
from supervisor_core.health import JOURNAL_LAG_SECONDS, JOURNAL_PENDING_EVENTS, FaultCounters
from supervisor_core.lifecycle import START_CAUSES, Cause, ProcessState
from supervisor_core.rpc_timings import RpcOutcome, RpcTimings
from supervisor_core.testing import FakeClock, FakeSpawner, RuntimeRig, capture_events


def config(name: str = "web", group: str | None = None, **overrides: object) -> ProcessConfig:
    return ProcessConfig(
        name=name,
        program_name=name,
        group_name=group or name,
        command=f"/bin/{name}",
        **overrides,  # type: ignore[arg-type]
    )


@dataclass
class FakeSampler:
    """Answers psutil samples from a table; records which pids were asked for."""

    samples: dict[int, TreeSample] = field(default_factory=dict)
    asked: list[int] = field(default_factory=list)

    def __call__(self, pid: int) -> TreeSample | None:
        self.asked.append(pid)
        return self.samples.get(pid)


@dataclass
class FakeSnapshots:
    """The daemon's ``groups()`` from harness records (or a fixed list)."""

    harnesses: list[RuntimeRig] = field(default_factory=list)
    extra: list[ProcessInfo] = field(default_factory=list)

    def groups(self) -> Sequence[GroupInfo]:
        infos = [info(h) for h in self.harnesses] + self.extra
        by_group: dict[str, list[ProcessInfo]] = {}
        for i in infos:
            by_group.setdefault(i.group, []).append(i)
        return [GroupInfo(name=g, priority=999, processes=tuple(p)) for g, p in by_group.items()]


def info(h: RuntimeRig) -> ProcessInfo:
    r = h.record
    return process_info(
        r.name,
        r.group,
        r.state,
        pid=r.pid,
        start=r.laststart.wall if r.laststart else 0.0,
    )


def process_info(
    name: str, group: str, state: ProcessState, *, pid: int = 0, start: float = 0.0
) -> ProcessInfo:
    return ProcessInfo(
        name=name,
        group=group,
        state=state,
        start=start,
        stop=0.0,
        now=0.0,
        pid=pid,
        spawnerr="",
        exitstatus=0,
        stdout_logfile="",
        stderr_logfile="",
    )


class World:
    """One bus, one clock, one registry with the exporter installed."""

    def __init__(self, *, snapshots: bool = True) -> None:
        self.clock = FakeClock()
        self.bus = EventBus(self.clock)
        self.registry = CollectorRegistry()
        self.sampler = FakeSampler()
        self.snapshots = FakeSnapshots()
        self.spawner = FakeSpawner()  # one pid space for every harness
        self.exporter = PrometheusExporter.install(
            bus=self.bus,
            registry=self.registry,
            control=self.snapshots if snapshots else None,
            sampler=self.sampler,
            daemon_metrics=False,
        )

    def harness(self, cfg: ProcessConfig) -> RuntimeRig:
        h = RuntimeRig(cfg, clock=self.clock, bus=self.bus, spawner=self.spawner)
        self.snapshots.harnesses.append(h)
        return h

    def value(self, metric: str, /, **labels: str) -> float | None:
        return self.registry.get_sample_value(metric, labels)

    def series(self) -> list[tuple[str, dict[str, str], float]]:
        return [(s.name, s.labels, s.value) for m in self.registry.collect() for s in m.samples]


def web(w: World, **labels: str) -> dict[str, str]:
    return {"group": "web", "name": "web", **labels}


def run_until_running(w: World, h: RuntimeRig) -> None:
    h.start()
    w.clock.jump_to_next_deadline()  # startsecs
    assert h.state is ProcessState.RUNNING


# --------------------------------------------------------------------------- histories


def test_crash_loop_counts_restarts_exits_codes_and_run_durations() -> None:
    """Three kills of a RUNNING process are three restarts, three unexpected exits,
    three runs in the histogram, and the last exit code is minus the signal."""
    w = World()
    h = w.harness(config(autorestart=AutoRestart.UNEXPECTED, startsecs=1))
    run_until_running(w, h)
    for lived in (10.0, 100.0, 2000.0):
        w.clock.advance(lived - 1)  # RUNNING since 1 s after the start
        h.exit(-9)
        w.clock.jump_to_next_deadline()  # the autorestart's startsecs
        assert h.state is ProcessState.RUNNING
    assert w.value("supervisor_process_restarts_total", **web(w)) == 3
    assert w.value("supervisor_process_exits_total", **web(w, expected="false")) == 3
    assert w.value("supervisor_process_exits_total", **web(w, expected="true")) == 0
    assert w.value("supervisor_process_last_exit_code", **web(w)) == -9
    assert w.value("supervisor_process_run_duration_seconds_count", **web(w)) == 3
    assert w.value("supervisor_process_run_duration_seconds_sum", **web(w)) == 2110.0
    assert w.value("supervisor_process_run_duration_seconds_bucket", **web(w, le="10.0")) == 1
    assert w.value("supervisor_process_run_duration_seconds_bucket", **web(w, le="300.0")) == 2
    assert w.value("supervisor_process_run_duration_seconds_bucket", **web(w, le="900.0")) == 2
    assert w.value("supervisor_process_run_duration_seconds_bucket", **web(w, le="+Inf")) == 3
    transitions = {
        (labels["from_state"], labels["to_state"]): value
        for name, labels, value in w.series()
        if name == "supervisor_process_transitions_total"
    }
    assert transitions == {
        ("STOPPED", "STARTING"): 1,
        ("STARTING", "RUNNING"): 4,
        ("RUNNING", "EXITED"): 3,
        ("EXITED", "STARTING"): 3,
    }
    assert w.value("supervisor_process_up", **web(w)) == 1
    assert w.value("supervisor_process_state", **web(w, state="RUNNING")) == 1
    assert w.value("supervisor_process_start_time_seconds", **web(w)) == h.record.laststart.wall  # type: ignore[union-attr]


def test_operator_start_of_an_exited_process_is_not_a_restart() -> None:
    """An EXITED process started again by an operator (a later instant) is no restart."""
    w = World()
    h = w.harness(config(autorestart=AutoRestart.FALSE))
    run_until_running(w, h)
    w.clock.advance(5)
    h.exit(0)
    assert h.state is ProcessState.EXITED
    w.clock.advance(30)
    h.start()
    assert w.value("supervisor_process_restarts_total", **web(w)) == 0
    assert w.value("supervisor_process_exits_total", **web(w, expected="true")) == 1
    assert w.value("supervisor_process_last_exit_code", **web(w)) == 0
    assert (
        w.value(
            "supervisor_process_transitions_total",
            **web(w, from_state="EXITED", to_state="STARTING"),
        )
        == 1
    )


def test_backoff_retries_are_restarts_until_fatal() -> None:
    """Failed starts retried from BACKOFF count as restarts; giving up ends in FATAL."""
    w = World()
    h = w.harness(config(startsecs=5, startretries=2))
    h.start()
    for _ in range(3):
        w.clock.advance(0.5)
        h.exit(1)  # too quickly: BACKOFF (or FATAL after the last try)
        w.clock.jump_to_next_deadline()  # the backoff delay: STARTING again
    assert h.state is ProcessState.FATAL
    assert w.value("supervisor_process_restarts_total", **web(w)) == 2
    assert w.value("supervisor_process_exits_total", **web(w, expected="false")) == 3
    assert w.value("supervisor_process_run_duration_seconds_bucket", **web(w, le="0.5")) == 3
    assert w.value("supervisor_process_state", **web(w, state="FATAL")) == 1
    assert w.value("supervisor_process_state", **web(w, state="BACKOFF")) == 0
    assert w.value("supervisor_process_up", **web(w)) == 0
    assert w.value("supervisor_process_last_exit_code", **web(w)) == 1


def test_spawn_failures_retried_are_restarts_without_exits() -> None:
    """A spawn error goes to BACKOFF with no exit: a retry is a restart, not an exit."""
    w = World()
    h = w.harness(config())
    w.spawner.fail_next("ENOENT")
    with pytest.raises(SpawnFailed):
        h.start()
    assert h.state is ProcessState.BACKOFF
    w.clock.jump_to_next_deadline()
    assert w.value("supervisor_process_restarts_total", **web(w)) == 1
    assert w.value("supervisor_process_exits_total", **web(w, expected="false")) == 0
    assert w.value("supervisor_process_last_exit_code", **web(w)) is None
    assert w.value("supervisor_process_run_duration_seconds_count", **web(w)) == 0


def test_operator_stop_counts_the_exit_and_no_restart() -> None:
    """A stop: RUNNING -> STOPPING -> STOPPED, the exit counted as the event says, no restart."""
    w = World()
    h = w.harness(config(autorestart=AutoRestart.TRUE))
    run_until_running(w, h)
    h.stop()
    w.clock.advance(0.25)
    h.exit(-15)
    assert h.state is ProcessState.STOPPED
    assert w.value("supervisor_process_state", **web(w, state="STOPPED")) == 1
    assert w.value("supervisor_process_restarts_total", **web(w)) == 0
    assert w.value("supervisor_process_exits_total", **web(w, expected="false")) == 1
    assert w.value("supervisor_process_last_exit_code", **web(w)) == -15
    assert (
        w.value(
            "supervisor_process_transitions_total",
            **web(w, from_state="STOPPING", to_state="STOPPED"),
        )
        == 1
    )


# --------------------------------------------------------------------------- properties


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=50.0)),
        st.tuples(st.just("exit"), st.sampled_from([0, 1, 2, -9, -15])),
        st.tuples(st.just("start"), st.just(0)),
        st.tuples(st.just("stop"), st.just(0)),
        st.tuples(st.just("timer"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(actions=ACTIONS, autorestart=st.sampled_from(list(AutoRestart)))
def test_any_history_agrees_with_the_event_stream(
    actions: list[tuple[str, float]], autorestart: AutoRestart
) -> None:
    """For any history: transitions sum to the PROCESS_STATE events, restarts never
    exceed the automatic starts, exits equal the exit-carrying events, and the series
    per process stay within a fixed bound with no pid in any label."""
    w = World()
    h = w.harness(config(autorestart=autorestart, startsecs=2, startretries=3))
    with capture_events(w.bus, types=("PROCESS_STATE",)) as events:
        for action, arg in actions:
            try:
                if action == "advance":
                    w.clock.advance(arg)
                elif action == "exit":
                    if h.record.pid:
                        h.exit(int(arg))
                elif action == "start":
                    h.start()
                elif action == "stop":
                    h.stop()
                else:
                    w.clock.jump_to_next_deadline()
            except ControlError:
                continue
    series = w.series()
    transitions = sum(v for n, _, v in series if n == "supervisor_process_transitions_total")
    assert transitions == len(events)
    automatic_starts = sum(
        1
        for e in events
        if e.name == "PROCESS_STATE_STARTING"
        and e.data.from_state in (ProcessState.BACKOFF, ProcessState.EXITED)  # type: ignore[attr-defined]
    )
    assert w.value("supervisor_process_restarts_total", **web(w)) <= automatic_starts  # type: ignore[operator]
    exits = sum(1 for e in events if e.data.returncode is not None)  # type: ignore[attr-defined]
    assert sum(v for n, _, v in series if n == "supervisor_process_exits_total") == exits
    per_process = [s for s in series if s[1].get("name") == "web"]
    # 8 states + up + start + restarts + starts by cause + 2 exits + last code + storm
    # + ready + two histograms (buckets, +Inf, sum, count) + at most one series per
    # legal transition.
    histograms = len(RUN_DURATION_BUCKETS) + 3 + len(READY_SECONDS_BUCKETS) + 3
    bound = 8 + 1 + 1 + 1 + len(START_CAUSES) + 2 + 1 + 1 + 1 + histograms + 20
    assert len(per_process) <= bound
    pids = {str(e.data.pid) for e in events if e.data.pid}  # type: ignore[attr-defined]
    for _, labels, _ in series:
        assert not pids & set(labels.values())
        assert set(labels) <= {"group", "name", "state", "from_state", "to_state", "expected",
                               "le", "mode", "stream", "type", "subscriber", "version",
                               "cause", "action"}  # fmt: skip


# --------------------------------------------------------------------------- snapshot


def test_processes_come_from_the_snapshot() -> None:
    """A process that never changed state is shown STOPPED with zero counters; one the
    snapshot no longer has is not shown at all."""
    w = World()
    h = w.harness(config("gone"))
    h.start()
    w.snapshots.harnesses.clear()
    w.snapshots.extra.append(process_info("idle", "batch", ProcessState.STOPPED))
    assert w.value("supervisor_process_state", group="batch", name="idle", state="STOPPED") == 1
    assert w.value("supervisor_process_restarts_total", group="batch", name="idle") == 0
    assert (
        w.value("supervisor_process_exits_total", group="batch", name="idle", expected="true") == 0
    )
    assert w.value("supervisor_process_run_duration_seconds_count", group="batch", name="idle") == 0
    assert w.value("supervisor_process_start_time_seconds", group="batch", name="idle") is None
    assert w.value("supervisor_process_last_exit_code", group="batch", name="idle") is None
    assert not [s for s in w.series() if s[1].get("name") == "gone"]


def test_a_refused_snapshot_falls_back_to_the_events() -> None:
    """A daemon shutting down (ShutdownState from groups()) still gets scraped."""
    w = World()
    h = w.harness(config())
    run_until_running(w, h)

    def refuse() -> Sequence[GroupInfo]:
        raise ShutdownState()

    w.exporter.collector.set_groups(refuse)
    assert w.value("supervisor_process_up", **web(w)) == 1
    assert w.value("supervisor_process_restarts_total", **web(w)) == 0


def test_without_snapshots_the_events_name_the_processes() -> None:
    """With no ``groups()`` source the aggregate's processes and last states are shown."""
    w = World(snapshots=False)
    h = w.harness(config())
    run_until_running(w, h)
    assert w.value("supervisor_process_up", **web(w)) == 1
    assert w.value("supervisor_process_start_time_seconds", **web(w)) == 1_700_000_000.0
    assert w.sampler.asked == []  # no pid without a snapshot: nothing sampled


def test_a_removed_group_is_forgotten() -> None:
    """PROCESS_GROUP_REMOVED drops the group's counters (bounded memory under churn)."""
    w = World(snapshots=False)
    run_until_running(w, w.harness(config("a", group="g")))
    run_until_running(w, w.harness(config("b", group="keep")))
    w.bus.publish(ProcessGroupRemoved(groupname="g"))
    assert set(w.exporter.aggregate.snapshot()) == {("keep", "b")}
    assert w.value("supervisor_process_up", group="g", name="a") is None


# --------------------------------------------------------------------------- resources


def test_psutil_samples_are_rendered_and_a_gone_process_is_absent() -> None:
    """Samples of the pid in the snapshot become the resource series; a pid whose
    sample is None (gone) and a process with no pid have none of them, not zeros."""
    w = World()
    live = w.harness(config("live"))
    dead = w.harness(config("dead"))
    w.harness(config("never"))
    run_until_running(w, live)
    run_until_running(w, dead)
    w.sampler.samples[live.record.pid] = TreeSample(
        cpu_user=1.5, cpu_system=0.25, rss=4096, open_fds=None, threads=3, processes=2
    )
    who = {"group": "live", "name": "live"}
    assert w.value("supervisor_process_cpu_seconds_total", **who, mode="user") == 1.5
    assert w.value("supervisor_process_cpu_seconds_total", **who, mode="system") == 0.25
    assert w.value("supervisor_process_resident_memory_bytes", **who) == 4096
    assert w.value("supervisor_process_threads", **who) == 3
    assert w.value("supervisor_process_tree_processes", **who) == 2
    assert w.value("supervisor_process_open_fds", **who) is None  # unknown, not 0
    resource = ("cpu_seconds", "resident_memory", "open_fds", "threads", "tree_processes")
    for name, labels, _ in w.series():
        if any(r in name for r in resource):
            assert labels["name"] == "live"
    w.sampler.asked.clear()
    list(w.registry.collect())
    assert sorted(w.sampler.asked) == sorted([live.record.pid, dead.record.pid])


def test_log_bytes_and_storm_seams() -> None:
    """Log bytes and storm flags come from their injected sources, for shown processes."""
    w = World()
    run_until_running(w, w.harness(config()))
    w.exporter.close()
    registry = CollectorRegistry()
    exporter = PrometheusExporter.install(
        bus=w.bus,
        registry=registry,
        control=w.snapshots,
        sampler=w.sampler,
        daemon_metrics=False,
        log_bytes=lambda: {("web", "web"): {"stdout": 10}, ("x", "y"): {"stdout": 1}},
        storms=lambda: {("web", "web")},
    )
    assert (
        registry.get_sample_value(
            "supervisor_process_log_bytes_total", {**web(w), "stream": "stdout"}
        )
        == 10
    )
    assert (
        registry.get_sample_value(
            "supervisor_process_log_bytes_total", {**web(w), "stream": "stderr"}
        )
        == 0
    )
    assert (
        registry.get_sample_value(
            "supervisor_process_log_bytes_total", {"group": "x", "name": "y", "stream": "stdout"}
        )
        is None
    )
    assert registry.get_sample_value("supervisor_process_restart_storm", web(w)) == 1
    exporter.close()


def test_storm_gauge_is_zero_without_a_detector() -> None:
    """Until a storm detector is plugged in, restart_storm is 0 for every process."""
    w = World()
    run_until_running(w, w.harness(config()))
    assert w.value("supervisor_process_restart_storm", **web(w)) == 0
    assert w.value("supervisor_process_log_bytes_total", **web(w, stream="stdout")) is None


# --------------------------------------------------------------------------- daemon


def test_bus_counters_and_info() -> None:
    """events_total counts every published type (0 for types not seen yet),
    dropped counts a full buffered subscriber's losses, info carries the version."""
    w = World()
    buffered = w.bus.subscribe_buffer("sse", maxsize=1, types=("PROCESS_STATE",))
    run_until_running(w, w.harness(config()))
    assert w.value("supervisor_events_total", type="PROCESS_STATE_STARTING") == 1
    assert w.value("supervisor_events_total", type="PROCESS_STATE_RUNNING") == 1
    assert w.value("supervisor_events_total", type="TICK_5") == 0
    assert w.value("supervisor_events_dropped_total", subscriber="sse") == 1
    assert w.value("supervisor_events_dropped_total", subscriber="prometheus") == 0
    assert w.value("supervisor_event_subscriber_errors_total", subscriber="prometheus") == 0
    assert w.value("supervisor_info", version=__version__) == 1
    buffered.close()
    assert w.value("supervisor_events_dropped_total", subscriber="sse") == 1  # kept


def test_daemon_metrics_and_no_global_registry() -> None:
    """superd's own process_* metrics land in the injected registry, never the global."""
    bus = EventBus(FakeClock())
    registry = CollectorRegistry()
    exporter = PrometheusExporter.install(bus=bus, registry=registry)
    assert registry.get_sample_value("process_resident_memory_bytes") is not None
    assert b"supervisor_" not in generate_latest(REGISTRY)
    exporter.close()
    exporter.close()  # idempotent
    assert list(registry.collect()) == []
    assert "prometheus" not in bus.snapshot().subscribers


def test_both_exposition_formats_render() -> None:
    """The text and OpenMetrics encoders both render the same families."""
    w = World()
    h = w.harness(config())
    run_until_running(w, h)
    h.exit(3)
    text = generate_latest(w.registry).decode()
    openmetrics = generate_openmetrics(w.registry).decode()
    assert 'supervisor_process_restarts_total{group="web",name="web"} 1.0' in text
    assert openmetrics.endswith("# EOF\n")
    assert "# TYPE supervisor_process_restarts counter" in openmetrics


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.name)
def test_catalogue_names_follow_conventions(spec: object) -> None:
    """Names are prefixed supervisor_, counters end in _total, others do not."""
    from exporters.prometheus.catalogue import MetricSpec, MetricType

    assert isinstance(spec, MetricSpec)
    assert spec.name.startswith("supervisor_")
    assert spec.name.endswith("_total") == (spec.type is MetricType.COUNTER)
    assert not {"pid", "command", "timestamp"} & set(spec.all_labels)


def test_damped_restarts_are_restarts_and_operator_starts_are_not() -> None:
    """With restart damping every delayed restart counts (cause damped), as the events say;
    an operator's restart is a start by cause operator and no restart."""
    w = World()
    h = w.harness(
        config(
            autorestart=AutoRestart.TRUE,
            startsecs=0,
            backoff_initial=0.3,
            backoff_factor=1.0,
            backoff_max=0.3,
        )
    )
    with capture_events(w.bus, types=("PROCESS_STATE_STARTING",)) as starts:
        h.start()
        for _ in range(9):
            w.clock.advance(0.3)
            h.exit(1)
            w.clock.jump_to_next_deadline()  # the damped delay: STARTING again
        h.stop()
        h.exit(-15)
        h.start()
    damped = [e for e in starts if e.data.cause is Cause.DAMPED]  # type: ignore[attr-defined]
    assert len(damped) == 9
    assert w.value("supervisor_process_restarts_total", **web(w)) == 9
    assert w.value("supervisor_process_starts_total", **web(w, cause="damped")) == 9
    assert w.value("supervisor_process_starts_total", **web(w, cause="operator")) == 2
    assert w.value("supervisor_process_starts_total", **web(w, cause="autorestart")) == 0


def test_ready_gauge_and_time_to_ready_come_from_the_events() -> None:
    """Time to ready is STARTING to RUNNING per start; the gauge is 1 while RUNNING."""
    w = World()
    h = w.harness(config(startsecs=3, autorestart=AutoRestart.TRUE))
    h.start()
    assert w.value("supervisor_process_ready", **web(w)) == 0
    w.clock.jump_to_next_deadline()  # startsecs: RUNNING after 3 s
    assert w.value("supervisor_process_ready", **web(w)) == 1
    w.clock.advance(10)
    h.exit(1)  # autorestart: STARTING again, not ready
    assert w.value("supervisor_process_ready", **web(w)) == 0
    w.clock.jump_to_next_deadline()
    assert w.value("supervisor_process_ready_seconds_count", **web(w)) == 2
    assert w.value("supervisor_process_ready_seconds_sum", **web(w)) == 6.0
    assert w.value("supervisor_process_ready_seconds_bucket", **web(w, le="2.0")) == 0
    assert w.value("supervisor_process_ready_seconds_bucket", **web(w, le="5.0")) == 2


def test_rpc_durations_and_health_gauges_are_rendered_from_the_core_seams() -> None:
    """The RPC histogram shows each called (method, outcome) with cumulative buckets and
    the health gauges show the journal's lag and pending events, read at scrape time."""
    timings = RpcTimings()
    timings.declare_methods(["supervisor.getState"])
    faults = FaultCounters()
    lag = {"seconds": 2.5, "pending": 7.0}
    faults.register_gauge(JOURNAL_LAG_SECONDS, lambda: lag["seconds"])
    faults.register_gauge(JOURNAL_PENDING_EVENTS, lambda: lag["pending"])
    registry = CollectorRegistry()
    exporter = PrometheusExporter.install(
        bus=EventBus(FakeClock()),
        registry=registry,
        daemon_metrics=False,
        health_gauges=faults.gauges,
        rpc_durations=timings.snapshot,
    )
    name = "supervisor_rpc_request_duration_seconds"
    assert registry.get_sample_value(f"{name}_count", {"method": "supervisor.getState"}) is None
    timings.observe("supervisor.getState", RpcOutcome.OK, 0.0007)
    timings.observe("supervisor.getState", RpcOutcome.OK, 0.3)
    timings.observe("nope", RpcOutcome.FAULT, 0.0001)
    ok = {"method": "supervisor.getState", "outcome": "ok"}
    assert registry.get_sample_value(f"{name}_bucket", {**ok, "le": "0.0005"}) == 0
    assert registry.get_sample_value(f"{name}_bucket", {**ok, "le": "0.001"}) == 1
    assert registry.get_sample_value(f"{name}_bucket", {**ok, "le": "0.5"}) == 2
    assert registry.get_sample_value(f"{name}_bucket", {**ok, "le": "+Inf"}) == 2
    assert registry.get_sample_value(f"{name}_count", ok) == 2
    assert registry.get_sample_value(f"{name}_sum", ok) == pytest.approx(0.3007)
    unknown = {"method": "unknown", "outcome": "fault"}
    assert registry.get_sample_value(f"{name}_count", unknown) == 1
    assert registry.get_sample_value("supervisor_journal_lag_seconds") == 2.5
    assert registry.get_sample_value("supervisor_journal_pending_events") == 7
    lag.update(seconds=0.0, pending=0.0)
    assert registry.get_sample_value("supervisor_journal_lag_seconds") == 0
    assert registry.get_sample_value("supervisor_journal_pending_events") == 0
    exporter.close()
