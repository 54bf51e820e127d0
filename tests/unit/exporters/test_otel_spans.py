"""SpanBuilder on scripted histories: run spans, episode traces, statuses and event times."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from exporters.otel.spans import (
    INSTRUMENTATION_NAME,
    SpanBuilder,
    process_attributes,
    wall_ns,
)
from exporters.storms.events import ProcessStormBegin, register_storm_types
from supervisor_core import control
from supervisor_core.bus import EventBus
from supervisor_core.config.model import AutoRestart, ProcessConfig
from supervisor_core.events import (
    Event,
    ProcessDependency,
    ProcessGroupRemoved,
    ProcessStateEvent,
    ProcessStateStopped,
    Tick5,
)
from supervisor_core.lifecycle import Cause, ProcessState, Requester
from supervisor_core.testing import (
    CapturedEvents,
    FakeClock,
    FakeSpawner,
    RuntimeRig,
    capture_events,
)

QUIET = 60.0


def config(**overrides: object) -> ProcessConfig:
    values: dict[str, object] = {
        "name": "web",
        "program_name": "web",
        "group_name": "web",
        "command": "/usr/bin/python3 -m http.server 8080",
        "startsecs": 1,
        "autorestart": AutoRestart.TRUE,
    }
    values.update(overrides)
    return ProcessConfig(**values)  # type: ignore[arg-type]


@dataclass
class Rig:
    """A machine harness whose bus feeds a SpanBuilder with an in-memory exporter."""

    harness: RuntimeRig
    builder: SpanBuilder
    exporter: InMemorySpanExporter
    events: CapturedEvents

    @property
    def clock(self) -> FakeClock:
        return self.harness.clock

    def spans(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith(prefix)]

    def state_events(self, to_state: ProcessState) -> list[Event]:
        return [
            e
            for e in self.events
            if isinstance(e.data, ProcessStateEvent) and e.data.to_state is to_state
        ]

    def start_running(self) -> None:
        """Operator start; the child survives startsecs."""
        self.harness.start()
        self.clock.jump_to_next_deadline()
        assert self.harness.state is ProcessState.RUNNING

    def run_for(self, seconds: float) -> None:
        """Let time pass (both clocks) with a RUNNING child."""
        self.clock.advance(seconds)
        if self.harness.state is ProcessState.STARTING:
            self.clock.jump_to_next_deadline()

    def tick(self) -> Event:
        """A TICK_5 at the current time (how superd's idle moments reach the builder)."""
        return self.harness.bus.publish(Tick5(when=int(self.clock.wall())))


def make_rig(
    process: ProcessConfig, *, describe: bool = False, **builder_options: object
) -> Iterator[Rig]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    clock = FakeClock(monotonic=1000.0, wall=1_700_000_000.25)
    bus = EventBus(clock)
    builder = SpanBuilder(
        provider,
        episode_quiet=QUIET,
        describe=(lambda group, name: process) if describe else (lambda group, name: None),
        **builder_options,  # type: ignore[arg-type]
    )
    bus.subscribe(builder.observe, name="otel")
    with capture_events(bus) as events:
        harness = RuntimeRig(process, clock=clock, bus=bus, spawner=FakeSpawner(first_pid=4242))
        yield Rig(harness=harness, builder=builder, exporter=exporter, events=events)
    provider.shutdown()


@pytest.fixture
def rig() -> Iterator[Rig]:
    yield from make_rig(config())


def by_start(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return sorted(spans, key=lambda s: s.start_time or 0)


def event_names(span: ReadableSpan) -> list[str]:
    return [e.name for e in span.events]


def test_a_run_killed_twice_is_three_runs_in_one_trace(rig: Rig) -> None:
    """Two SIGKILLs and an operator stop: three run spans under one episode root, one trace."""
    rig.start_running()
    rig.run_for(2)
    rig.harness.exit(-9)
    rig.run_for(3)
    rig.harness.exit(-9)
    rig.run_for(4)
    rig.harness.stop()
    rig.harness.exit(-15)

    (episode,) = rig.named("episode")
    runs = by_start(rig.named("run"))
    assert [s.name for s in runs] == ["run web"] * 3
    assert episode.parent is None
    assert episode.context is not None
    trace_id = episode.context.trace_id
    for run in runs:
        assert run.context is not None
        assert run.context.trace_id == trace_id
        assert run.parent is not None
        assert run.parent.span_id == episode.context.span_id
    assert [r.status.status_code for r in runs] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert runs[0].status.description == "exited unexpectedly: terminated by SIGKILL"
    assert [r.attributes["process.pid"] for r in runs if r.attributes] == [4242, 4243, 4244]
    assert [r.attributes["supervisor.run.number"] for r in runs if r.attributes] == [1, 2, 3]
    assert runs[0].attributes is not None
    assert runs[0].attributes["error.type"] == "SIGKILL"
    assert runs[0].attributes["supervisor.exit.signal"] == 9
    assert runs[0].attributes["supervisor.exit.signal_name"] == "SIGKILL"
    assert runs[0].attributes["supervisor.exit.expected"] is False
    assert "process.exit.code" not in runs[0].attributes
    assert runs[2].attributes is not None
    assert runs[2].attributes["supervisor.run.outcome"] == "stopped"
    assert "error.type" not in runs[2].attributes
    assert episode.attributes is not None
    assert episode.attributes["supervisor.episode.runs"] == 3
    assert episode.attributes["supervisor.episode.failed_runs"] == 2
    assert episode.attributes["supervisor.episode.outcome"] == "stopped"
    assert episode.status.status_code is StatusCode.UNSET
    assert episode.instrumentation_scope is not None
    assert episode.instrumentation_scope.name == INSTRUMENTATION_NAME


def test_span_times_are_the_events_wall_times(rig: Rig) -> None:
    """Starts, ends and span events carry the bus events' wall times in ns, not export time."""
    rig.start_running()
    rig.run_for(2.5)
    rig.harness.exit(-9)
    rig.run_for(1.5)
    rig.harness.stop()
    rig.clock.advance(0.75)
    rig.harness.exit(0)

    starting = rig.state_events(ProcessState.STARTING)
    exited = rig.state_events(ProcessState.EXITED)
    stopped = rig.state_events(ProcessState.STOPPED)
    runs = by_start(rig.named("run"))
    (episode,) = rig.named("episode")
    # FakeClock starts at wall 1_700_000_000.25; exact in ns.
    assert runs[0].start_time == 1_700_000_000_250_000_000
    assert [r.start_time for r in runs] == [wall_ns(e.wall_time) for e in starting]
    assert runs[0].end_time == wall_ns(exited[0].wall_time)
    assert runs[1].end_time == wall_ns(stopped[0].wall_time)
    assert episode.start_time == runs[0].start_time
    assert episode.end_time == runs[1].end_time
    assert runs[1].end_time == 1_700_000_000_250_000_000 + 5_750_000_000
    state_events = [e for e in rig.events if isinstance(e.data, ProcessStateEvent)]
    recorded = sorted((event.timestamp, event.name) for run in runs for event in run.events)
    assert recorded == [(wall_ns(e.wall_time), e.name) for e in state_events]


def test_transitions_are_span_events_with_serials(rig: Rig) -> None:
    """Each transition of a run is a span event named after its event type, with its serial."""
    rig.start_running()
    rig.run_for(2)
    rig.harness.stop()
    rig.harness.exit(0)

    (run,) = rig.named("run")
    assert event_names(run) == [
        "PROCESS_STATE_STARTING",
        "PROCESS_STATE_RUNNING",
        "PROCESS_STATE_STOPPING",
        "PROCESS_STATE_STOPPED",
    ]
    serials = [e.serial for e in rig.events if isinstance(e.data, ProcessStateEvent)]
    assert [e.attributes["supervisor.event.serial"] for e in run.events if e.attributes] == serials
    assert [e.attributes["supervisor.from_state"] for e in run.events if e.attributes] == [
        "STOPPED",
        "STARTING",
        "RUNNING",
        "STOPPING",
    ]
    stopped = run.events[-1].attributes
    assert stopped is not None
    assert stopped["process.exit.code"] == 0
    assert stopped["process.pid"] == 4242
    assert run.status.status_code is StatusCode.UNSET
    assert run.attributes is not None
    assert run.attributes["process.exit.code"] == 0
    assert run.attributes["supervisor.run.duration"] == pytest.approx(3.0)  # startsecs + 2


def test_a_run_that_stays_running_ends_the_episode_at_its_running_event(rig: Rig) -> None:
    """RUNNING for episode_quiet ends the episode at RUNNING; the next run is a new trace."""
    rig.start_running()
    rig.run_for(1)
    rig.harness.exit(1)  # a crash: restarts at once, same episode
    rig.run_for(QUIET + 5)  # the second run lasts
    rig.harness.exit(-11)  # and dies much later: a new episode begins with the restart
    rig.run_for(1)
    rig.harness.stop()
    rig.harness.exit(0)

    episodes = by_start(rig.named("episode"))
    runs = by_start(rig.named("run"))
    assert len(episodes) == 2
    assert len(runs) == 3
    running = rig.state_events(ProcessState.RUNNING)
    assert episodes[0].end_time == wall_ns(running[1].wall_time)
    assert episodes[0].attributes is not None
    assert episodes[0].attributes["supervisor.episode.outcome"] == "running"
    assert episodes[0].attributes["supervisor.episode.runs"] == 2
    traces = [span.context.trace_id for span in (*episodes, *runs) if span.context]
    assert traces[2:] == [traces[0], traces[0], traces[1]]
    assert traces[0] != traces[1]
    # The lasting run outlives its episode; its SIGSEGV is still an error.
    assert runs[1].end_time is not None
    assert episodes[0].end_time is not None
    assert runs[1].end_time > episodes[0].end_time
    assert runs[1].status.status_code is StatusCode.ERROR
    assert runs[1].attributes is not None
    assert runs[1].attributes["error.type"] == "SIGSEGV"
    assert runs[0].attributes is not None
    assert runs[0].attributes["error.type"] == "1"
    assert runs[0].attributes["process.exit.code"] == 1
    assert runs[0].status.description == "exited unexpectedly: exit status 1"


def test_a_tick_after_the_quiet_period_exports_the_episode(rig: Rig) -> None:
    """The end of a quiet period is noticed at the next event (a TICK) and dated at RUNNING."""
    rig.start_running()
    rig.run_for(QUIET - 1)
    rig.tick()
    assert rig.named("episode") == []
    rig.run_for(1)
    rig.tick()
    (episode,) = rig.named("episode")
    assert episode.end_time == wall_ns(rig.state_events(ProcessState.RUNNING)[0].wall_time)
    assert rig.named("run") == []  # still running
    assert rig.builder.open_episodes() == {}


def test_failed_starts_until_fatal_are_error_runs_and_an_error_episode() -> None:
    """Exits during startsecs are ERROR runs; FATAL ends the episode with ERROR status."""
    for rig in make_rig(config(startsecs=5, startretries=2)):
        rig.harness.start()
        for _ in range(3):
            rig.clock.advance(0.5)
            rig.harness.exit(2)
            rig.clock.jump_to_next_deadline()  # the BACKOFF delay
        assert rig.harness.state is ProcessState.FATAL

        runs = by_start(rig.named("run"))
        (episode,) = rig.named("episode")
        assert len(runs) == 3
        for run in runs:
            assert run.status.status_code is StatusCode.ERROR
            assert run.status.description == "exited too quickly: exit status 2"
            assert run.attributes is not None
            assert run.attributes["supervisor.run.outcome"] == "backoff"
            assert run.attributes["supervisor.spawnerr"] == (
                "Exited too quickly (process log may have details)"
            )
        assert [r.attributes["supervisor.tries"] for r in runs if r.attributes] == [0, 1, 2]
        assert [r.attributes["supervisor.cause"] for r in runs if r.attributes] == [
            "operator",
            "retry",
            "retry",
        ]
        assert [r.attributes["supervisor.episode.number"] for r in runs if r.attributes] == [1] * 3
        assert episode.status.status_code is StatusCode.ERROR
        assert (
            episode.status.description == "FATAL: Exited too quickly (process log may have details)"
        )
        assert episode.attributes is not None
        assert episode.attributes["supervisor.episode.outcome"] == "fatal"
        assert episode.attributes["supervisor.episode.failed_runs"] == 3
        assert event_names(episode) == ["PROCESS_STATE_FATAL"]
        assert episode.events[0].attributes is not None
        assert episode.events[0].attributes["supervisor.cause"] == "startretries"
        assert episode.end_time == wall_ns(rig.state_events(ProcessState.FATAL)[0].wall_time)


def test_a_spawn_error_is_an_error_run_without_a_pid() -> None:
    """A child that cannot be created is a run with error.type spawn_error and no pid."""
    for rig in make_rig(config(startretries=0)):
        rig.harness.spawner.fail_next("can't find command '/usr/bin/nope'")
        with pytest.raises(control.SpawnFailed):
            rig.harness.start()
        (run,) = rig.named("run")
        assert run.status.status_code is StatusCode.ERROR
        assert run.status.description == "spawn error: can't find command '/usr/bin/nope'"
        assert run.attributes is not None
        assert run.attributes["error.type"] == "spawn_error"
        assert "process.pid" not in run.attributes
        assert run.start_time == run.end_time
        (episode,) = rig.named("episode")
        assert episode.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize(
    ("autorestart", "returncode", "status"),
    [
        (AutoRestart.UNEXPECTED, 0, StatusCode.UNSET),
        (AutoRestart.FALSE, 3, StatusCode.ERROR),
    ],
)
def test_an_exit_without_restart_ends_the_episode_after_the_quiet_period(
    autorestart: AutoRestart, returncode: int, status: StatusCode
) -> None:
    """EXITED for episode_quiet ends the episode at the EXITED time; ERROR if unexpected."""
    for rig in make_rig(config(autorestart=autorestart)):
        rig.start_running()
        rig.run_for(3)
        rig.harness.exit(returncode)
        assert rig.harness.state is ProcessState.EXITED
        (run,) = rig.named("run")
        assert run.status.status_code is status
        assert rig.builder.open_episodes() == {"web": 1}
        rig.clock.advance(QUIET)
        rig.tick()
        (episode,) = rig.named("episode")
        assert episode.end_time == wall_ns(rig.state_events(ProcessState.EXITED)[0].wall_time)
        assert episode.status.status_code is status
        assert episode.attributes is not None
        assert episode.attributes["supervisor.episode.outcome"] == "exited"


def test_an_operator_start_soon_after_an_exit_opens_a_new_trace() -> None:
    """A requested start opens a new episode even within episode_quiet: a new trace."""
    for rig in make_rig(config(autorestart=AutoRestart.FALSE)):
        rig.start_running()
        rig.run_for(2)
        rig.harness.exit(1)
        rig.clock.advance(10)
        rig.tick()
        rig.start_running()
        rig.harness.stop()
        rig.harness.exit(0)
        runs = by_start(rig.named("run"))
        episodes = by_start(rig.named("episode"))
        assert len(runs) == 2
        assert len(episodes) == 2
        assert [r.context.trace_id for r in runs if r.context] == [
            e.context.trace_id for e in episodes if e.context
        ]
        assert episodes[0].attributes is not None
        assert episodes[0].attributes["supervisor.episode.outcome"] == "new_episode"
        assert episodes[0].end_time == wall_ns(rig.state_events(ProcessState.EXITED)[0].wall_time)
        assert episodes[0].status.status_code is StatusCode.UNSET
        assert [e.attributes["supervisor.episode.number"] for e in episodes if e.attributes] == [
            1,
            2,
        ]


def test_runs_carry_their_cause_run_episode_and_origin(rig: Rig) -> None:
    """supervisor.cause/origin of the run's STARTING, run and episode numbers, on every span."""
    rig.start_running()
    rig.run_for(2)
    rig.harness.exit(1)  # autorestart: run 2, same episode, no origin
    rig.run_for(2)
    rig.harness.stop()
    rig.harness.exit(0)

    runs = by_start(rig.named("run"))
    (episode,) = rig.named("episode")
    first, second = (r.attributes for r in runs)
    assert first is not None
    assert second is not None
    assert (first["supervisor.cause"], first["supervisor.origin"]) == ("operator", "test")
    assert second["supervisor.cause"] == "autorestart"
    assert "supervisor.origin" not in second
    assert [a["supervisor.run.number"] for a in (first, second)] == [1, 2]
    assert [a["supervisor.episode.number"] for a in (first, second)] == [1, 1]
    assert episode.attributes is not None
    assert episode.attributes["supervisor.episode.number"] == 1
    assert episode.attributes["supervisor.cause"] == "operator"  # why the episode began
    assert episode.attributes["supervisor.origin"] == "test"
    causes = [
        (e.name, e.attributes.get("supervisor.cause"), e.attributes.get("supervisor.origin"))
        for r in runs
        for e in r.events
        if e.attributes is not None
    ]
    assert causes == [
        ("PROCESS_STATE_STARTING", "operator", "test"),
        ("PROCESS_STATE_RUNNING", "startsecs", None),
        ("PROCESS_STATE_EXITED", "exit", None),
        ("PROCESS_STATE_STARTING", "autorestart", None),
        ("PROCESS_STATE_RUNNING", "startsecs", None),
        ("PROCESS_STATE_STOPPING", "operator", "test"),
        ("PROCESS_STATE_STOPPED", "operator", "test"),
    ]


def test_a_restart_after_a_long_run_opens_a_new_trace_before_the_quiet_period() -> None:
    """An autorestart after a run of backoff_reset opens the machine's next episode: new trace."""
    for rig in make_rig(config(backoff_reset=10.0)):
        rig.start_running()
        rig.run_for(1)
        rig.harness.exit(1)  # short run: same episode
        rig.run_for(20)  # longer than backoff_reset, far shorter than episode_quiet
        rig.harness.exit(1)  # the restart opens episode 3
        rig.run_for(1)
        rig.harness.stop()
        rig.harness.exit(0)
        runs = by_start(rig.named("run"))
        episodes = by_start(rig.named("episode"))
        assert [r.attributes["supervisor.episode.number"] for r in runs if r.attributes] == [
            1,
            1,
            3,
        ]
        assert len(episodes) == 2
        traces = [r.context.trace_id for r in runs if r.context]
        assert traces[0] == traces[1] != traces[2]
        assert episodes[0].attributes is not None
        assert episodes[0].attributes["supervisor.episode.outcome"] == "new_episode"
        assert episodes[0].attributes["supervisor.episode.runs"] == 2
        assert episodes[0].end_time == wall_ns(rig.state_events(ProcessState.EXITED)[1].wall_time)
        assert episodes[1].attributes is not None
        assert episodes[1].attributes["supervisor.cause"] == "autorestart"


def test_a_run_after_the_quiet_period_still_joins_its_episodes_trace() -> None:
    """Quiet only ends the root: a later run of the same episode is its child, same trace."""
    for rig in make_rig(config(backoff_reset=600.0)):
        rig.start_running()
        rig.run_for(QUIET + 40)  # RUNNING past episode_quiet, short of backoff_reset
        rig.tick()
        (root,) = rig.named("episode")
        assert root.attributes is not None
        assert root.attributes["supervisor.episode.outcome"] == "running"
        rig.harness.exit(-9)  # the autorestart continues episode 1
        rig.run_for(1)
        rig.harness.stop()
        rig.harness.exit(0)
        assert rig.named("episode") == [root]
        runs = by_start(rig.named("run"))
        assert len(runs) == 2
        assert root.context is not None
        for run in runs:
            assert run.context is not None
            assert run.context.trace_id == root.context.trace_id
            assert run.parent is not None
            assert run.parent.span_id == root.context.span_id
        assert runs[1].attributes is not None
        assert runs[1].attributes["supervisor.episode.number"] == 1
        assert runs[1].attributes["supervisor.cause"] == "autorestart"


def test_a_damped_restart_later_than_the_quiet_period_joins_the_same_trace() -> None:
    """EXITED past episode_quiet ends the root; the damped restart still continues its trace."""
    for rig in make_rig(config(backoff_initial=QUIET * 2, backoff_max=QUIET * 2)):
        rig.start_running()
        rig.harness.exit(1)
        assert rig.harness.state is ProcessState.EXITED
        rig.clock.advance(QUIET)
        rig.tick()
        (root,) = rig.named("episode")
        assert root.status.status_code is StatusCode.ERROR
        assert root.attributes is not None
        assert root.attributes["supervisor.episode.outcome"] == "exited"
        rig.clock.jump_to_next_deadline()  # the damped restart
        assert len(rig.state_events(ProcessState.STARTING)) == 2
        rig.clock.jump_to_next_deadline()
        rig.harness.stop()
        rig.harness.exit(0)
        runs = by_start(rig.named("run"))
        assert rig.named("episode") == [root]
        assert {r.context.trace_id for r in runs if r.context} == {
            root.context.trace_id if root.context else 0
        }
        assert [r.attributes["supervisor.cause"] for r in runs if r.attributes] == [
            "operator",
            "damped",
        ]


def test_a_process_built_anew_starts_a_new_trace_though_its_numbers_repeat(rig: Rig) -> None:
    """After a reload the process' runs count from 1 again: run 1 opens a new root anyway."""
    rig.start_running()
    rig.harness.stop(Requester(cause=Cause.RELOAD))
    rig.harness.exit(0)
    reloaded = RuntimeRig(
        config(), clock=rig.clock, bus=rig.harness.bus, spawner=rig.harness.spawner
    )
    reloaded.autostart(Requester(cause=Cause.RELOAD))
    reloaded.run_until_running()
    reloaded.stop()
    reloaded.exit(0)
    episodes = by_start(rig.named("episode"))
    runs = by_start(rig.named("run"))
    assert [r.attributes["supervisor.run.number"] for r in runs if r.attributes] == [1, 1]
    assert len(episodes) == 2
    assert len({r.context.trace_id for r in runs if r.context}) == 2
    assert episodes[1].attributes is not None
    assert episodes[1].attributes["supervisor.cause"] == "reload"


def test_stop_during_backoff_ends_the_episode_and_records_on_it() -> None:
    """BACKOFF -> STOPPED has no run: the transition is an event of the episode, which ends."""
    for rig in make_rig(config(startsecs=5, startretries=3)):
        rig.harness.start()
        rig.harness.exit(1)
        assert rig.harness.state is ProcessState.BACKOFF
        rig.harness.stop()
        (episode,) = rig.named("episode")
        assert event_names(episode) == ["PROCESS_STATE_STOPPED"]
        assert episode.attributes is not None
        assert episode.attributes["supervisor.episode.outcome"] == "stopped"


def test_process_attributes_come_from_the_config() -> None:
    """process.command/executable.name/working_directory/owner/parent_pid; command line opt-in."""
    process = config(directory="/srv/web", user="www-data")
    for rig in make_rig(process, describe=True, parent_pid=77):
        rig.start_running()
        rig.harness.stop()
        rig.harness.exit(0)
        (run,) = rig.named("run")
        assert run.attributes is not None
        assert run.attributes["process.command"] == "/usr/bin/python3"
        assert run.attributes["process.executable.name"] == "python3"
        assert run.attributes["process.working_directory"] == "/srv/web"
        assert run.attributes["process.owner"] == "www-data"
        assert run.attributes["process.parent_pid"] == 77
        assert run.attributes["supervisor.namespec"] == "web"
        assert "process.command_line" not in run.attributes
    assert process_attributes(process, command_line=True)["process.command_line"] == (
        "/usr/bin/python3 -m http.server 8080"
    )
    assert process_attributes(config(command="'unbalanced"))["process.command"] == "'unbalanced"


def test_stderr_tail_is_recorded_on_the_run_unless_turned_off() -> None:
    """The exit's stderr tail becomes supervisor.exit.stderr_tail on the run span."""
    for stderr_tail in (True, False):
        for rig in make_rig(config(), stderr_tail=stderr_tail):
            rig.start_running()
            event = rig.state_events(ProcessState.RUNNING)[0]
            stopped = ProcessStateStopped(
                processname="web",
                groupname="web",
                from_state=ProcessState.STOPPING,
                cause=Cause.OPERATOR,
                run=1,
                episode=1,
                pid=4242,
                returncode=0,
                expected=True,
                stderr_tail=("Traceback:", "boom"),
                oom_killed=False,
                core_dumped=False,
            )
            rig.builder.observe(
                Event(serial=99, wall_time=event.wall_time + 1, monotonic_time=1, data=stopped)
            )
            (run,) = rig.named("run")
            assert run.attributes is not None
            assert run.attributes["supervisor.exit.oom_killed"] is False
            assert run.attributes["supervisor.exit.core_dumped"] is False
            if stderr_tail:
                assert run.attributes["supervisor.exit.stderr_tail"] == ("Traceback:", "boom")
            else:
                assert "supervisor.exit.stderr_tail" not in run.attributes


def test_storm_events_are_recorded_on_the_episode(rig: Rig) -> None:
    """PROCESS_STORM_BEGIN for a process with an open episode is an event of that episode."""
    register_storm_types(rig.harness.bus.registry)  # as the storm extension does
    rig.start_running()
    rig.harness.bus.publish(
        ProcessStormBegin(
            processname="web", groupname="web", scope="process", start=1.0, restarts=5
        )
    )
    rig.harness.bus.publish(
        ProcessStormBegin(processname="db", groupname="db", scope="process", start=1.0)
    )
    rig.harness.stop()
    rig.harness.exit(0)
    (episode,) = rig.named("episode")
    assert event_names(episode) == ["PROCESS_STORM_BEGIN"]
    assert episode.events[0].attributes is not None
    assert episode.events[0].attributes["supervisor.storm.restarts"] == 5


def test_removing_the_group_ends_a_resting_episode() -> None:
    """PROCESS_GROUP_REMOVED ends the episode of an EXITED process of that group at its exit."""
    for rig in make_rig(config(autorestart=AutoRestart.FALSE)):
        rig.start_running()
        rig.harness.exit(1)
        rig.harness.bus.publish(ProcessGroupRemoved(groupname="other"))
        assert rig.named("episode") == []
        rig.harness.bus.publish(ProcessGroupRemoved(groupname="web"))
        (episode,) = rig.named("episode")
        assert episode.attributes is not None
        assert episode.attributes["supervisor.episode.outcome"] == "removed"
        assert episode.end_time == wall_ns(rig.state_events(ProcessState.EXITED)[0].wall_time)


def test_close_ends_open_spans_at_the_last_event(rig: Rig) -> None:
    """close() ends a live run at the last event's time and its episode at its rest."""
    rig.start_running()
    rig.run_for(5)
    last = rig.tick()
    rig.builder.close()
    (run,) = rig.named("run")
    (episode,) = rig.named("episode")
    assert run.end_time == wall_ns(last.wall_time)
    assert run.attributes is not None
    assert run.attributes["supervisor.run.outcome"] == "open"
    assert episode.end_time == wall_ns(rig.state_events(ProcessState.RUNNING)[0].wall_time)
    assert episode.attributes is not None
    assert episode.attributes["supervisor.episode.outcome"] == "closed"
    rig.builder.close()  # idempotent
    assert len(rig.spans()) == 2


def test_events_of_processes_without_an_episode_make_no_spans(rig: Rig) -> None:
    """A STOPPED with no run or episode before it (and non-process events) is ignored."""
    stopped = ProcessStateStopped(
        processname="web", groupname="web", from_state=ProcessState.STOPPING, cause=Cause.OPERATOR
    )
    rig.builder.observe(Event(serial=1, wall_time=1.0, monotonic_time=1.0, data=stopped))
    rig.tick()
    rig.builder.close()
    assert rig.spans() == ()


def test_episode_quiet_must_be_positive() -> None:
    """A zero quiet period is refused (every event would end every episode)."""
    with pytest.raises(ValueError, match="episode_quiet"):
        SpanBuilder(TracerProvider(shutdown_on_exit=False), episode_quiet=0)


@pytest.mark.parametrize(
    ("wall", "ns"),
    [
        (1_700_000_000.25, 1_700_000_000_250_000_000),
        (1_700_000_000.0, 1_700_000_000_000_000_000),
        (0.000001, 1_000),
    ],
)
def test_wall_ns_keeps_the_fraction(wall: float, ns: int) -> None:
    """Epoch seconds become ns without the float product's rounding."""
    assert wall_ns(wall) == ns


def test_a_start_held_by_depends_on_carries_its_wait() -> None:
    """The run a held start becomes says what it waited for, how long, and the
    PROCESS_DEPENDENCY events as span events; a called-off wait leaves nothing."""
    for rig in make_rig(config()):
        bus, clock = rig.harness.bus, rig.harness.clock
        waiting = ProcessDependency(processname="web", groupname="web", waiting_for=("db",))
        bus.publish(waiting)
        bus.publish(ProcessDependency(processname="web", groupname="web", waiting_for=()))
        bus.publish(waiting)  # called off above; this wait is the one that counts
        clock.advance(2.5)
        bus.publish(
            ProcessDependency(processname="web", groupname="web", waiting_for=(), released=True)
        )
        rig.harness.start()
        rig.harness.stop()
        rig.harness.exit(-15)
        rig.builder.close()
        (run,) = rig.named("run")
        assert run.attributes is not None
        assert run.attributes["supervisor.dependency.waited_for"] == ("db",)
        assert run.attributes["supervisor.dependency.wait_seconds"] == 2.5
        waits = [e for e in run.events if e.name == "PROCESS_DEPENDENCY"]
        assert [e.attributes["supervisor.dependency.waiting_for"] for e in waits] == [  # type: ignore[index]
            ("db",),
            (),
        ]
