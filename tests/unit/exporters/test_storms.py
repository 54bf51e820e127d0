"""The restart-storm detector on scripted histories, its settings, events and live wiring."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from exporters.storms import (
    SECTION,
    ActiveStorms,
    ChangeKind,
    Observation,
    ObservationKind,
    ProcessStormBegin,
    ProcessStormEnd,
    Storm,
    StormDetector,
    StormExporterSettings,
    StormMonitor,
    StormScope,
    StormSettings,
    detect_storms,
    observation_from_event,
    observation_from_record,
    register_storm_types,
    settings_from_config,
    settings_from_section,
    storm_event,
    storm_from_event,
)
from exporters.storms.detector import StormChange, make_observation
from supervisor_core.bus import EventBus
from supervisor_core.config import parse
from supervisor_core.config.errors import ConfigError
from supervisor_core.config.model import AutoRestart, ExtensionSection, Origin, ProcessConfig
from supervisor_core.events import (
    PROCESS_STATE_EVENT_TYPES,
    Event,
    EventTypeRegistry,
    ProcessGroupAdded,
    ProcessGroupRemoved,
    ProcessStateBackoff,
    ProcessStateExited,
    ProcessStateRunning,
    ProcessStateStarting,
    ProcessStateStopping,
    listener_payload,
    to_json_dict,
)
from supervisor_core.lifecycle import AUTOMATIC_RESTART_CAUSES, Cause, ProcessState
from supervisor_core.testing import FakeClock, FakeSpawner, RuntimeRig

K = ObservationKind
SETTINGS = StormSettings(burst=3, window=10.0, short_run=5.0, group_burst=2, host_burst=5)


def crash_loop(
    name: str,
    *,
    start: float,
    crashes: int,
    every: float,
    group: str | None = None,
    returncode: int = 1,
    cause: Cause | None = Cause.AUTORESTART,
) -> Iterator[Observation]:
    """RUNNING, then a crash ``every`` seconds later and a start with ``cause``, ``crashes`` times.

    With the default cause each crash is followed by an autorestart at the same instant.
    """
    group = group if group is not None else name
    t = start
    for _ in range(crashes):
        yield Observation(at=t, group=group, name=name, kind=K.RUNNING)
        t += every
        yield Observation(
            at=t,
            group=group,
            name=name,
            kind=K.EXIT,
            returncode=returncode,
            expected=False,
            run_duration=every,
        )
        if cause is not None:
            yield Observation(at=t, group=group, name=name, kind=K.START, cause=cause)


def running(name: str, at: float, group: str | None = None) -> Observation:
    return Observation(at=at, group=group or name, name=name, kind=K.RUNNING)


def process_storms(storms: list[Storm]) -> list[Storm]:
    return [s for s in storms if s.scope is StormScope.PROCESS]


def test_one_storm_begins_at_burst_and_ends_after_window_of_running() -> None:
    """3 restarts within 10 s begin a storm; RUNNING for 10 s ends it, at exactly that moment."""
    history = [
        *crash_loop("web", start=0.0, crashes=5, every=0.5, returncode=-9),
        running("web", 20.0),
    ]
    storms = detect_storms(history, SETTINGS, until=40.0)
    assert len(storms) == 1
    storm = storms[0]
    assert storm.scope is StormScope.PROCESS
    assert (storm.group, storm.name) == ("web", "web")
    assert storm.start == 0.5  # the first restart of the burst
    assert storm.end == 30.0  # RUNNING since 20 s, for the window of 10 s
    assert storm.reason == "recovered"
    assert storm.restarts == 5
    assert storm.signals == ("SIGKILL",)
    assert storm.exit_codes == ()
    assert storm.median_run_duration == 0.5


def test_storm_is_under_way_until_the_window_has_passed() -> None:
    """Before the hysteresis window passes, the storm has no end and is current."""
    detector = StormDetector(SETTINGS)
    changes: list[StormChange] = []
    for observation in crash_loop("web", start=0.0, crashes=3, every=1.0):
        changes.extend(detector.feed(observation))
    assert [c.kind for c in changes] == [ChangeKind.BEGIN]
    assert changes[0].storm.end is None
    detector.feed(running("web", 4.0))
    assert detector.next_deadline() == 14.0
    assert detector.advance(13.9) == []
    assert detector.in_storm() == {("web", "web")}
    ended = detector.advance(14.0)
    assert [c.kind for c in ended] == [ChangeKind.END]
    assert detector.current() == ()


def test_a_storm_ends_after_a_rerun_that_stayed_up() -> None:
    """A crash after RUNNING moves the end to the last RUNNING + window; next_wake is never late."""
    detector = StormDetector(SETTINGS)
    for observation in crash_loop("web", start=0.0, crashes=3, every=1.0):
        detector.feed(observation)
    detector.feed(running("web", 4.0))  # would end the storm at 14
    for observation in crash_loop("web", start=4.0, crashes=1, every=1.0):
        detector.feed(observation)
    detector.feed(running("web", 6.0))  # the run that lasts: ends it at 16
    assert detector.next_deadline() == 16.0
    wake = detector.next_wake()
    assert wake is not None
    assert wake <= 16.0
    assert detector.advance(14.0) == []
    assert detector.next_wake() == 16.0  # made exact once time reached it
    assert detector.advance(15.9) == []
    ended = detector.advance(16.0)
    assert [c.kind for c in ended] == [ChangeKind.END]
    assert ended[0].storm.end is not None
    assert detector.next_wake() is None


def test_two_storms_separated_by_a_healthy_period() -> None:
    """A crash loop, a healthy hour, another crash loop: two storms, each with its exits."""
    history = [
        *crash_loop("web", start=0.0, crashes=4, every=1.0, returncode=2),
        running("web", 10.0),
        *crash_loop("web", start=3600.0, crashes=3, every=0.2, returncode=3),
    ]
    storms = detect_storms(history, SETTINGS)
    assert [(s.start, s.end, s.restarts, s.exit_codes) for s in storms] == [
        (1.0, 20.0, 4, (2,)),
        (3600.2, None, 3, (3,)),
    ]


def test_a_flapping_program_below_burst_is_no_storm() -> None:
    """Two restarts per window, forever, never reach burst=3: no storm at all."""
    history: list[Observation] = []
    for cycle in range(50):
        base = cycle * 12.0
        history.extend(crash_loop("flappy", start=base, crashes=2, every=1.0))
        history.append(running("flappy", base + 2.0))
    assert detect_storms(history, SETTINGS, until=10_000.0) == []


def test_restarts_after_expected_long_runs_do_not_count_but_short_ones_do() -> None:
    """A restart after an expected exit counts only when that run was shorter than short_run."""
    detector = StormDetector(SETTINGS)
    long_ok = Observation(
        at=1.0, group="g", name="p", kind=K.EXIT, returncode=0, expected=True, run_duration=9.0
    )
    short_ok = Observation(
        at=1.0, group="g", name="p", kind=K.EXIT, returncode=0, expected=True, run_duration=1.0
    )
    failed = Observation(at=1.0, group="g", name="p", kind=K.EXIT, failed_start=True)
    assert not detector.counts(long_ok)
    assert detector.counts(short_ok)
    assert detector.counts(failed)
    assert detector.counts(None)  # a restart whose exit was not seen


def test_expected_long_runs_restarted_in_a_loop_are_no_storm() -> None:
    """exit 0 after 6 s, autorestart, again and again (burst within window): not a storm."""
    history = list(
        crash_loop("cron", start=0.0, crashes=10, every=6.0, returncode=0, cause=Cause.AUTORESTART)
    )
    history = [
        Observation(
            at=o.at,
            group=o.group,
            name=o.name,
            kind=o.kind,
            cause=o.cause,
            returncode=o.returncode,
            expected=True if o.kind is K.EXIT else None,
            run_duration=o.run_duration,
        )
        for o in history
    ]
    assert detect_storms(history, StormSettings(burst=2, window=20.0, short_run=5.0)) == []


@pytest.mark.parametrize("cause", sorted(AUTOMATIC_RESTART_CAUSES))
def test_every_automatic_restart_cause_feeds_a_storm(cause: Cause) -> None:
    """autorestart, retry and damped starts are restarts: three of them begin a storm."""
    storms = detect_storms(
        crash_loop("web", start=0.0, crashes=3, every=0.5, cause=cause), SETTINGS
    )
    assert [(s.scope, s.restarts) for s in storms] == [(StormScope.PROCESS, 3)]


@pytest.mark.parametrize(
    "cause",
    [Cause.OPERATOR, Cause.LISTENER, Cause.AUTOSTART, Cause.UPDATE, Cause.RELOAD, None],
)
def test_requested_starts_never_feed_a_storm(cause: Cause | None) -> None:
    """A crash loop restarted by requests (or starts of unknown cause) is no storm, however fast."""
    history = crash_loop("web", start=0.0, crashes=20, every=0.1, cause=cause)
    assert detect_storms(history, SETTINGS, until=100.0) == []


def test_exits_without_a_restart_are_no_storm() -> None:
    """Crashes that nothing restarts (autorestart=false) count nothing: only restarts do."""
    history = crash_loop("web", start=0.0, crashes=20, every=0.1, cause=None)
    assert detect_storms(history, SETTINGS) == []


def test_a_requested_start_forgets_the_restarts_counted_so_far() -> None:
    """Two restarts, an operator start, two restarts: never three in a row, so no storm."""
    history = [
        *crash_loop("web", start=0.0, crashes=2, every=0.5),
        *crash_loop("web", start=1.0, crashes=1, every=0.5, cause=Cause.OPERATOR),
        *crash_loop("web", start=2.0, crashes=2, every=0.5),
    ]
    assert detect_storms(history, SETTINGS) == []
    # The same history with an autorestart in the middle is a storm.
    history[8] = Observation(at=1.5, group="web", name="web", kind=K.START, cause=Cause.RETRY)
    assert [s.restarts for s in detect_storms(history, SETTINGS)] == [5]


@pytest.mark.parametrize(("kind", "reason"), [(K.STOPPED, "stopped"), (K.FATAL, "fatal")])
def test_stop_or_fatal_ends_a_storm_at_once(kind: ObservationKind, reason: str) -> None:
    """An operator stop or FATAL ends the storm at that moment, with that reason."""
    history = [
        *crash_loop("web", start=0.0, crashes=3, every=0.5),
        Observation(at=2.0, group="web", name="web", kind=kind),
    ]
    storms = detect_storms(history, SETTINGS)
    assert [(s.end, s.reason) for s in storms] == [(2.0, reason)]


def test_a_host_wide_storm_of_ten_programs() -> None:
    """Ten programs crashing together: ten process storms, one host storm, which subsides."""
    history: list[Observation] = []
    for index in range(10):
        history.extend(crash_loop(f"p{index}", start=index * 0.01, crashes=3, every=0.5))
    history.sort(key=lambda o: o.at)
    history.extend(running(f"p{index}", 5.0 + index) for index in range(10))
    storms = detect_storms(history, SETTINGS, until=100.0)
    assert len(process_storms(storms)) == 10
    hosts = [s for s in storms if s.scope is StormScope.HOST]
    assert len(hosts) == 1
    host = hosts[0]
    assert host.members[:5] == tuple(f"p{i}:p{i}" for i in range(5))
    assert set(host.members) == {f"p{i}:p{i}" for i in range(10)}
    # It subsides when fewer than ceil(5 / 2) = 3 programs are still stormy: the 8th
    # recovery (RUNNING at 12 s, + window).
    assert host.end == 22.0
    assert host.reason == "subsided"
    assert not [s for s in storms if s.scope is StormScope.GROUP]  # one process per group


def test_group_storm_of_one_groups_processes() -> None:
    """Two processes of one group storming at once make a group storm."""
    history = sorted(
        [
            *crash_loop("w0", group="web", start=0.0, crashes=3, every=0.5),
            *crash_loop("w1", group="web", start=0.1, crashes=3, every=0.5),
        ],
        key=lambda o: o.at,
    )
    storms = detect_storms(history, SETTINGS)
    groups = [s for s in storms if s.scope is StormScope.GROUP]
    assert len(groups) == 1
    assert groups[0].group == "web"
    assert groups[0].members == ("web:w0", "web:w1")
    assert groups[0].end is None


def test_removing_a_group_ends_its_storms() -> None:
    """forget() ends the storms of a removed group as stopped."""
    detector = StormDetector(SETTINGS)
    for observation in crash_loop("web", start=0.0, crashes=3, every=0.5):
        detector.feed(observation)
    changes = detector.forget("web", at=3.0, wall=1003.0)
    assert [(c.kind, c.storm.end, c.storm.reason) for c in changes] == [
        (ChangeKind.END, 1003.0, "stopped")
    ]
    assert detector.current() == ()


# --------------------------------------------------------------------------- settings


def storm_settings(values: dict[str, str]) -> StormExporterSettings:
    return settings_from_section(ExtensionSection(name=SECTION, values=values))


def test_settings_defaults_and_values() -> None:
    """Absent keys take the documented defaults; durations accept suffixes."""
    assert storm_settings({}) == StormExporterSettings()
    settings = storm_settings({"burst": "4", "window": "2m", "short_run": "1.5", "host_burst": "0"})
    assert settings.detector == StormSettings(burst=4, window=120.0, short_run=1.5, host_burst=0)


def test_settings_errors_name_file_and_line() -> None:
    """Every bad key is reported at once as file:line: [exporter:storms] key: reason."""
    origins = {"burst": Origin("/etc/s.conf", 3), "window": Origin("/etc/s.conf", 4)}
    origins["colour"] = Origin("/etc/s.conf", 5)
    values = {"burst": "0", "window": "soon", "colour": "red"}
    with pytest.raises(ConfigError) as caught:
        settings_from_section(ExtensionSection(name=SECTION, values=values, origins=origins))
    assert str(caught.value).splitlines() == [
        "/etc/s.conf:3: [exporter:storms] burst: must be >= 1: '0'",
        "/etc/s.conf:4: [exporter:storms] window: not a duration (e.g. 50ms, 30s, 15m, 12h, 7d,"
        " 2w): 'soon'",
        "/etc/s.conf:5: [exporter:storms] colour: unknown option: 'red'",
    ]


def test_settings_from_a_config_file(tmp_path: Path) -> None:
    """The section is read from a loaded supervisord.conf (which supervisord would ignore)."""
    text = "[supervisord]\n[exporter:storms]\nburst = 7\nenabled = false\n"
    config = parse(text, str(tmp_path / "supervisord.conf"))
    settings = settings_from_config(config)
    assert settings.detector.burst == 7
    assert not settings.enabled


# --------------------------------------------------------------------------- events


def test_storm_events_are_listener_opt_in() -> None:
    """STORM types are not in the EVENT family for listener pools, but are in STORM."""
    registry = EventTypeRegistry.with_core_types()
    register_storm_types(registry)
    register_storm_types(registry)  # a second extension asking for them changes nothing
    assert registry.is_listener_opt_in("PROCESS_STORM_BEGIN")
    assert "EVENT" not in registry.families_of("PROCESS_STORM_BEGIN")
    assert registry.families_of("PROCESS_STORM_END") == ("PROCESS_STORM_END", "STORM")
    assert "EVENT" in registry.families_of("PROCESS_STATE_EXITED")
    assert registry.is_abstract("STORM")
    assert "STORM" not in EventTypeRegistry.with_core_types()


def test_installing_the_detector_or_the_gauge_registers_the_storm_types() -> None:
    """A bus that did not know the storm types knows them once either storm part is installed."""
    for install in (
        lambda bus: StormMonitor(StormExporterSettings()).install(bus),
        ActiveStorms.install,
    ):
        bus = EventBus(FakeClock())
        assert "PROCESS_STORM_BEGIN" not in bus.registry
        install(bus)
        assert bus.registry.is_listener_opt_in("PROCESS_STORM_BEGIN")


def test_storm_event_payload_and_json() -> None:
    """A storm event renders as key:value tokens for listeners and round-trips to a Storm."""
    storm = Storm(
        scope=StormScope.PROCESS,
        group="web",
        name="web",
        start=10.5,
        end=None,
        restarts=3,
        exit_codes=(1, 2),
        signals=("SIGKILL",),
        median_run_duration=0.25,
        members=("web:web",),
    )
    data = storm_event(StormChange(kind=ChangeKind.BEGIN, storm=storm, at=1.0))
    assert isinstance(data, ProcessStormBegin)
    assert listener_payload(data) == (
        "processname:web groupname:web scope:process start:10.5 end: restarts:3 "
        "exit_codes:1,2 signals:SIGKILL median_run_duration:0.25 members:web:web reason:"
    )
    assert storm_from_event(data) == storm
    bus = EventBus(FakeClock())
    register_storm_types(bus.registry)
    event = bus.publish(data)
    as_json = to_json_dict(event)
    assert as_json["exit_codes"] == [1, 2]
    assert json.loads(json.dumps(as_json)) == as_json


def test_observations_from_events_and_records() -> None:
    """EXITED and BACKOFF are exits, RUNNING/STOPPED/FATAL their kinds, others ignored."""
    bus = EventBus(FakeClock())
    exited = bus.publish(
        ProcessStateExited(
            processname="a",
            groupname="g",
            from_state=ProcessState.RUNNING,
            cause=Cause.EXIT,
            returncode=-9,
            expected=False,
            run_duration=0.2,
        )
    )
    backoff = bus.publish(
        ProcessStateBackoff(
            processname="a", groupname="g", from_state=ProcessState.STARTING, cause=Cause.EXIT
        )
    )
    starting = bus.publish(
        ProcessStateStarting(
            processname="a", groupname="g", from_state=ProcessState.BACKOFF, cause=Cause.RETRY
        )
    )
    stopping = bus.publish(
        ProcessStateStopping(
            processname="a", groupname="g", from_state=ProcessState.RUNNING, cause=Cause.OPERATOR
        )
    )
    observation = observation_from_event(exited)
    assert observation is not None
    assert (observation.kind, observation.returncode, observation.run_duration) == (
        K.EXIT,
        -9,
        0.2,
    )
    failed = observation_from_event(backoff)
    assert failed is not None
    assert failed.failed_start
    restart = observation_from_event(starting)
    assert restart is not None
    assert (restart.kind, restart.cause, restart.is_restart) == (K.START, Cause.RETRY, True)
    assert observation_from_event(stopping) is None
    from exporters.journal.rows import event_row, record_from_row

    record = record_from_row(event_row(exited))
    replayed = observation_from_record(record)
    assert replayed is not None
    assert (replayed.kind, replayed.returncode, replayed.at) == (K.EXIT, -9, exited.wall_time)
    replayed_start = observation_from_record(record_from_row(event_row(starting)))
    assert replayed_start is not None
    assert (replayed_start.kind, replayed_start.cause) == (K.START, Cause.RETRY)
    # A record without a cause this version knows is a start, but never a restart.
    old = record_from_row(event_row(starting))
    unknown = replace(old, payload={**old.payload, "cause": "telepathy"})
    replayed_unknown = observation_from_record(unknown)
    assert replayed_unknown is not None
    assert (replayed_unknown.cause, replayed_unknown.is_restart) == (None, False)


# --------------------------------------------------------------------------- live


def test_monitor_publishes_begin_and_end_and_feeds_the_gauge() -> None:
    """On a bus: crashes publish PROCESS_STORM_BEGIN, the hysteresis timer publishes END."""
    clock = FakeClock()
    bus = EventBus(clock)
    monitor = StormMonitor(
        StormExporterSettings(detector=StormSettings(burst=3, window=5.0)),
        clock=clock,
        timers=clock,
    )
    monitor.install(bus)
    gauge = ActiveStorms.install(bus)
    seen: list[str] = []
    bus.subscribe(lambda e: seen.append(e.name), name="test", types=("STORM",))

    def publish_exit() -> None:
        bus.publish(
            ProcessStateRunning(
                processname="w",
                groupname="g",
                from_state=ProcessState.STARTING,
                cause=Cause.STARTSECS,
            )
        )
        clock.advance(0.2)
        bus.publish(
            ProcessStateExited(
                processname="w",
                groupname="g",
                from_state=ProcessState.RUNNING,
                cause=Cause.EXIT,
                returncode=1,
                expected=False,
                run_duration=0.2,
            )
        )
        bus.publish(
            ProcessStateStarting(
                processname="w",
                groupname="g",
                from_state=ProcessState.EXITED,
                cause=Cause.AUTORESTART,
            )
        )

    for _ in range(3):
        publish_exit()
    assert seen == ["PROCESS_STORM_BEGIN"]
    assert gauge() == {("g", "w")}
    assert [s.name for s in monitor.current()] == ["w"]
    bus.publish(
        ProcessStateRunning(
            processname="w", groupname="g", from_state=ProcessState.STARTING, cause=Cause.STARTSECS
        )
    )
    clock.jump_to_next_deadline()
    assert seen == ["PROCESS_STORM_BEGIN", "PROCESS_STORM_END"]
    assert gauge() == frozenset()
    ended = monitor.ended()
    assert len(ended) == 1
    assert ended[0].reason == "recovered"
    assert monitor.ended(since=(ended[0].end or 0) + 1) == ()
    bus.publish(ProcessGroupRemoved(groupname="g"))
    monitor.close()
    gauge.close()


def test_monitor_ends_storms_of_a_removed_group() -> None:
    """PROCESS_GROUP_REMOVED ends the group's storms (reason stopped)."""
    clock = FakeClock()
    bus = EventBus(clock)
    monitor = StormMonitor(
        StormExporterSettings(detector=StormSettings(burst=1, window=5.0)),
        clock=clock,
        timers=clock,
    )
    monitor.install(bus)
    ends: list[ProcessStormEnd] = []
    bus.subscribe(
        lambda e: ends.append(e.data) if isinstance(e.data, ProcessStormEnd) else None,
        name="t",
        types=("PROCESS_STORM_END",),
    )
    bus.publish(
        ProcessStateExited(
            processname="w",
            groupname="g",
            from_state=ProcessState.RUNNING,
            cause=Cause.EXIT,
            returncode=1,
        )
    )
    bus.publish(
        ProcessStateStarting(
            processname="w", groupname="g", from_state=ProcessState.EXITED, cause=Cause.AUTORESTART
        )
    )
    bus.publish(ProcessGroupRemoved(groupname="g"))
    assert [e.reason for e in ends] == ["stopped"]
    monitor.close()


def test_a_damped_crash_loop_on_the_real_machine_counts_its_automatic_starts() -> None:
    """Through the real runtime: the storm's restarts are exactly the automatic STARTINGs."""
    clock = FakeClock()
    bus = EventBus(clock)
    monitor = StormMonitor(
        StormExporterSettings(detector=StormSettings(burst=3, window=10.0)),
        clock=clock,
        timers=clock,
    )
    monitor.install(bus)
    starts: list[Cause] = []
    bus.subscribe(
        lambda e: starts.append(e.data.cause) if isinstance(e.data, ProcessStateStarting) else None,
        name="starts",
        types=("PROCESS_STATE_STARTING",),
    )
    damped = ProcessConfig(
        name="web",
        program_name="web",
        group_name="web",
        command="/bin/false",
        startsecs=0,
        autorestart=AutoRestart.TRUE,
        backoff_initial=0.3,
        backoff_factor=1.0,
        backoff_max=0.3,
    )
    rig = RuntimeRig(damped, clock=clock, bus=bus, spawner=FakeSpawner())
    rig.start()
    for _ in range(6):
        clock.advance(0.3)
        rig.exit(1)  # EXITED; the damped restart is due 0.3 s later
        clock.jump_to_next_deadline()
    rig.stop()
    rig.exit(0)
    (storm,) = monitor.ended()
    assert storm.reason == "stopped"
    assert storm.exit_codes == (1,)
    assert starts == [Cause.OPERATOR, *[Cause.DAMPED] * 6]
    assert storm.restarts == sum(cause.is_automatic_restart for cause in starts) == 6
    monitor.close()


# --------------------------------------------------------------------------- listener pools


@pytest.mark.parametrize(
    ("events", "delivered"),
    [({"EVENT"}, False), ({"PROCESS_STORM_BEGIN"}, True), ({"STORM"}, True)],
)
def test_listener_pools_get_storm_events_only_when_they_ask_by_name(
    events: set[str], delivered: bool
) -> None:
    """A supervisord pool with events=EVENT never buffers a storm; one naming it does."""
    from tests.unit.test_pools import Harness

    registry = EventTypeRegistry.with_core_types()
    register_storm_types(registry)
    harness = Harness(events=events, registry=registry)
    harness.start()
    storm = Storm(scope=StormScope.PROCESS, group="web", name="web", start=1.0, restarts=3)
    serial = harness.bus.publish(
        storm_event(StormChange(kind=ChangeKind.BEGIN, storm=storm, at=1.0))
    ).serial
    assert (serial in harness.buffered()) is delivered
    if "EVENT" in events:  # the pool does take every supervisord type
        assert harness.remote("still delivered") in harness.buffered()


def test_make_observation_equals_the_keyword_constructor() -> None:
    """The positional fast constructor gives an Observation equal to Observation(...)."""

    fast = make_observation(
        1.5, 1700000000.5, "g", "n", ObservationKind.EXIT, Cause.EXIT, -9, False, 0.25, True
    )
    slow = Observation(
        at=1.5,
        wall=1700000000.5,
        group="g",
        name="n",
        kind=ObservationKind.EXIT,
        cause=Cause.EXIT,
        returncode=-9,
        expected=False,
        run_duration=0.25,
        failed_start=True,
    )
    assert fast == slow
    assert hash(fast) == hash(slow)
    with pytest.raises(AttributeError):
        fast.at = 2.0  # type: ignore[misc]  # still frozen


@pytest.mark.parametrize("state", list(ProcessState))
def test_observation_from_event_of_every_state(state: ProcessState) -> None:
    """Each process state event gives the observation its kind says (or none), with its facts."""
    cls = PROCESS_STATE_EVENT_TYPES.get(state)
    if cls is None:
        return
    data = cls(
        processname="n",
        groupname="g",
        from_state=ProcessState.RUNNING,
        cause=Cause.AUTORESTART,
        returncode=3,
        expected=True,
        run_duration=0.5,
    )
    event = Event(serial=1, wall_time=100.0, monotonic_time=5.0, data=data)
    kinds = {
        ProcessState.EXITED: ObservationKind.EXIT,
        ProcessState.BACKOFF: ObservationKind.EXIT,
        ProcessState.STARTING: ObservationKind.START,
        ProcessState.RUNNING: ObservationKind.RUNNING,
        ProcessState.STOPPED: ObservationKind.STOPPED,
        ProcessState.FATAL: ObservationKind.FATAL,
    }
    observation = observation_from_event(event)
    if state not in kinds:
        assert observation is None
        return
    assert observation == Observation(
        at=5.0,
        wall=100.0,
        group="g",
        name="n",
        kind=kinds[state],
        cause=Cause.AUTORESTART,
        returncode=3,
        expected=True,
        run_duration=0.5,
        failed_start=state is ProcessState.BACKOFF,
    )
    assert observation_from_event(replace(event, data=ProcessGroupAdded(groupname="g"))) is None
