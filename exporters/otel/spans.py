"""Bus events -> OpenTelemetry spans: one span per run, one trace per restart episode.

Rules of this file:
- Pure apart from the tracer: the builder reads nothing but the events it is fed
  (and the program configs ``describe`` returns), never a clock. Every span start,
  end and span-event time is the wall time of the bus event that caused it, so a
  span says when things happened, not when they were exported.
- The ``TracerProvider`` is injected (tests pass one with an ``InMemorySpanExporter``);
  nothing here touches the global provider.
- Nothing is re-derived: why a run began, who asked and which episode it belongs to
  are the event's ``cause``, ``origin``, ``run`` and ``episode``, as the state
  machine set them (``lifecycle.Cause``, ``states._start``).
- A *run* is one attempt to run a child: it starts at ``PROCESS_STATE_STARTING`` (the
  spawn) and ends at the event that reports the child gone or never born: BACKOFF
  (a failed start), EXITED, or STOPPED. Its status is ERROR when the run failed: a
  spawn error, an exit during ``startsecs``, or an exit from RUNNING whose code is not
  in ``exitcodes`` (``expected`` false). A stop somebody asked for is never an error,
  whatever the exit code.
- An *episode* is the machine's restart episode: the runs whose events carry the same
  (process, ``episode``). Its root span opens at the STARTING of its first run (``run
  == episode``; or any STARTING whose ``episode`` is not the process' current one)
  and every run of it is a child of that root, so they share one trace id.
  *Grouping* never uses time: only the ``episode`` number.
- *Ending* the root uses time only because a span is exported when it ends and an
  episode has no end event of its own. A root ends (see ``EpisodeOutcome``) when
    * the process is STOPPED or FATAL: at that event (the next start is a request,
      which opens a new episode);
    * a STARTING opens the process' next episode: at the old one's last rest;
    * the process has rested (stayed RUNNING, or EXITED without a new start) for
      ``episode_quiet`` seconds: at the event it rested since.
  "Rested for" is measured on the events' monotonic clock and noticed at the next
  event on the bus (TICK_5 comes every 5 seconds), so the end *time* does not depend
  on when it is noticed. The quiet rule is a promptness rule, not a grouping rule: a
  run that continues an episode after its root ended (an automatic restart after a
  run shorter than ``backoff_reset`` but longer than ``episode_quiet``, or a damped
  restart whose delay exceeds it) is still a child of that root, in the same trace.
- Single-threaded, like the bus: ``observe`` is a synchronous bus callback.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from os.path import basename

from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import process_attributes as process_attrs
from opentelemetry.semconv.attributes import error_attributes
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from exporters.storms.events import ProcessStormBegin, ProcessStormEnd
from supervisor_core import __version__
from supervisor_core.config.model import ProcessConfig
from supervisor_core.events import (
    Event,
    ProcessDependency,
    ProcessGroupRemoved,
    ProcessStateBackoff,
    ProcessStateEvent,
    ProcessStateExited,
    ProcessStateFatal,
    ProcessStateRunning,
    ProcessStateStarting,
    ProcessStateStopped,
)
from supervisor_core.names import make_namespec
from supervisor_core.signals import signal_name

INSTRUMENTATION_NAME = "supervisor_core.otel"

# superd's own attributes (no semantic convention covers a supervisor's view).
ATTR_GROUP = "supervisor.group"
ATTR_PROCESS = "supervisor.process"
ATTR_NAMESPEC = "supervisor.namespec"
ATTR_RUN_NUMBER = "supervisor.run.number"  # the event's run: the process' start number
ATTR_EPISODE_NUMBER = "supervisor.episode.number"  # the event's episode: its first run
ATTR_CAUSE = "supervisor.cause"  # lifecycle.Cause: why the transition (or run) happened
ATTR_ORIGIN = "supervisor.origin"  # who asked, for requested transitions
ATTR_RUN_DURATION = "supervisor.run.duration"
ATTR_RUN_OUTCOME = "supervisor.run.outcome"
ATTR_TRIES = "supervisor.tries"
ATTR_EXPECTED = "supervisor.exit.expected"
ATTR_SIGNAL = "supervisor.exit.signal"
ATTR_SIGNAL_NAME = "supervisor.exit.signal_name"
ATTR_CORE_DUMPED = "supervisor.exit.core_dumped"
ATTR_OOM_KILLED = "supervisor.exit.oom_killed"
ATTR_STDERR_TAIL = "supervisor.exit.stderr_tail"
ATTR_SPAWNERR = "supervisor.spawnerr"
ATTR_SERIAL = "supervisor.event.serial"
ATTR_FROM_STATE = "supervisor.from_state"
ATTR_EPISODE_RUNS = "supervisor.episode.runs"
ATTR_EPISODE_FAILED_RUNS = "supervisor.episode.failed_runs"
ATTR_EPISODE_OUTCOME = "supervisor.episode.outcome"
ATTR_STORM_RESTARTS = "supervisor.storm.restarts"
ATTR_STORM_REASON = "supervisor.storm.reason"
ATTR_DEPENDENCY_WAITED_FOR = "supervisor.dependency.waited_for"
ATTR_DEPENDENCY_WAIT_SECONDS = "supervisor.dependency.wait_seconds"
ATTR_DEPENDENCY_WAITING_FOR = "supervisor.dependency.waiting_for"

Describe = Callable[[str, str], ProcessConfig | None]
"""``(groupname, processname)`` -> the process' current config, or None."""


def _describe_nothing(groupname: str, processname: str) -> None:
    return None


class EpisodeOutcome(enum.Enum):
    """How an episode ended (attribute ``supervisor.episode.outcome``)."""

    STOPPED = "stopped"  # STOPPED: an operator or the shutdown stopped it
    FATAL = "fatal"  # FATAL: superd gave up starting it
    NEW_EPISODE = "new_episode"  # a start opened the process' next episode
    RUNNING = "running"  # it stayed RUNNING for episode_quiet
    EXITED = "exited"  # it stayed EXITED for episode_quiet (no new start)
    REMOVED = "removed"  # its group was removed from the configuration
    CLOSED = "closed"  # the exporter closed while the episode was still open


def wall_ns(wall_time: float) -> int:
    """Epoch seconds (float) -> epoch nanoseconds, without the float's ns rounding.

    ``int(t * 1e9)`` loses ~100 ns at today's epoch; splitting off the whole
    seconds keeps the fraction exact to the float's resolution.
    """
    seconds = int(wall_time)
    return seconds * 1_000_000_000 + round((wall_time - seconds) * 1_000_000_000)


def process_attributes(
    config: ProcessConfig, *, command_line: bool = False
) -> dict[str, AttributeValue]:
    """The semantic conventions' ``process.*`` attributes a program's config tells.

    ``process.command`` and ``process.executable.name`` come from the first word of
    ``command`` (what superd executes, before PATH lookup); ``process.command_line``
    only when asked for, since command lines can hold secrets (the conventions say
    not to collect it by default).
    """
    attributes: dict[str, AttributeValue] = {}
    try:
        words = shlex.split(config.command)
    except ValueError:  # unbalanced quotes: superd itself could not run it either
        words = config.command.split()
    if words:
        attributes[process_attrs.PROCESS_COMMAND] = words[0]
        attributes[process_attrs.PROCESS_EXECUTABLE_NAME] = basename(words[0])
    if command_line:
        attributes[process_attrs.PROCESS_COMMAND_LINE] = config.command
    if config.directory is not None:
        attributes[process_attrs.PROCESS_WORKING_DIRECTORY] = config.directory
    if config.user is not None:
        attributes[process_attrs.PROCESS_OWNER] = config.user
    return attributes


def exit_attributes(data: ProcessStateEvent, *, stderr_tail: bool) -> dict[str, AttributeValue]:
    """What a state change caused by an exit says about it (empty for other changes)."""
    attributes: dict[str, AttributeValue] = {}
    if data.returncode is not None:
        if data.returncode >= 0:
            attributes[process_attrs.PROCESS_EXIT_CODE] = data.returncode
        else:
            attributes[ATTR_SIGNAL] = -data.returncode
            attributes[ATTR_SIGNAL_NAME] = signal_name(-data.returncode)
    if data.expected is not None:
        attributes[ATTR_EXPECTED] = data.expected
    if data.run_duration is not None:
        attributes[ATTR_RUN_DURATION] = data.run_duration
    if data.core_dumped is not None:
        attributes[ATTR_CORE_DUMPED] = data.core_dumped
    if data.oom_killed is not None:
        attributes[ATTR_OOM_KILLED] = data.oom_killed
    if stderr_tail and data.stderr_tail:
        attributes[ATTR_STDERR_TAIL] = list(data.stderr_tail)
    return attributes


def cause_attributes(data: ProcessStateEvent) -> dict[str, AttributeValue]:
    """``supervisor.cause`` and, for requested transitions, ``supervisor.origin``."""
    attributes: dict[str, AttributeValue] = {ATTR_CAUSE: data.cause.value}
    if data.origin:
        attributes[ATTR_ORIGIN] = data.origin
    return attributes


def state_event_attributes(event: Event, data: ProcessStateEvent) -> dict[str, AttributeValue]:
    """The attributes of the span event recording one state transition."""
    attributes: dict[str, AttributeValue] = {
        ATTR_SERIAL: event.serial,
        ATTR_FROM_STATE: data.from_state.name,
        **cause_attributes(data),
    }
    if data.pid:
        attributes[process_attrs.PROCESS_PID] = data.pid
    if isinstance(data, ProcessStateStarting | ProcessStateBackoff):
        attributes[ATTR_TRIES] = data.tries
    if data.spawnerr and not isinstance(data, ProcessStateRunning):
        attributes[ATTR_SPAWNERR] = data.spawnerr
    return attributes


@dataclass(slots=True, kw_only=True)
class _Episode:
    number: int  # the events' ``episode``
    span: Span
    ended: bool = False
    runs: int = 0
    failed_runs: int = 0
    # The event the process has rested in since (RUNNING of the current run, or the
    # EXITED after the last run); the episode ends there after episode_quiet.
    rest: Event | None = None
    last_exit_unexpected: bool = False


@dataclass(slots=True, kw_only=True)
class _Run:
    span: Span
    pid: int = 0


@dataclass(slots=True, kw_only=True)
class _Track:
    """What the builder holds for one process between events.

    ``episode`` is the process' current episode, open or already ended (a late run
    of an ended episode is still parented to its root); it is forgotten when the
    process' group is removed.
    """

    key: tuple[str, str]
    episode: _Episode | None = None
    run: _Run | None = None
    # PROCESS_DEPENDENCY events of a start held by depends_on, for its run span.
    waits: list[tuple[Event, ProcessDependency]] = field(default_factory=list)

    @property
    def open_episode(self) -> _Episode | None:
        episode = self.episode
        return None if episode is None or episode.ended else episode


class SpanBuilder:
    """Turns the bus' events into run and episode spans (see the module's rules).

    Example::

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        builder = SpanBuilder(provider, episode_quiet=60.0)
        bus.subscribe(builder.observe, name="otel")
        ...
        builder.close()

    Args:
        tracer_provider: where spans go; never the global one.
        episode_quiet: seconds of RUNNING (or of EXITED without a new start) after
            which an episode's root span is ended (and so exported).
        describe: the current config of a process, for its ``process.*``
            attributes (None: only what the events say).
        command_line: record ``process.command_line`` (off by default: secrets).
        stderr_tail: record the run's stderr tail on its exit (on by default).
        parent_pid: superd's pid, recorded as ``process.parent_pid`` on runs.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider,
        *,
        episode_quiet: float = 60.0,
        describe: Describe = _describe_nothing,
        command_line: bool = False,
        stderr_tail: bool = True,
        parent_pid: int | None = None,
    ) -> None:
        if not episode_quiet > 0:
            raise ValueError(f"episode_quiet must be more than 0 seconds, not {episode_quiet}")
        self._tracer = tracer_provider.get_tracer(INSTRUMENTATION_NAME, __version__)
        self.episode_quiet = episode_quiet
        self._describe = describe
        self._command_line = command_line
        self._stderr_tail = stderr_tail
        self._parent_pid = parent_pid
        self._tracks: dict[tuple[str, str], _Track] = {}
        # The tracks whose episode is open: only they concern time passing, so an
        # event costs O(open episodes), not O(processes).
        self._open: dict[tuple[str, str], _Track] = {}
        self._last: Event | None = None

    # ------------------------------------------------------------------ public

    def observe(self, event: Event) -> None:
        """Feed one bus event (a synchronous bus callback; any type is accepted)."""
        self._last = event
        self._settle(event)
        data = event.data
        if isinstance(data, ProcessStateEvent):
            self._on_state(event, data)
        elif isinstance(data, ProcessStormBegin | ProcessStormEnd):
            self._on_storm(event, data)
        elif isinstance(data, ProcessGroupRemoved):
            self._on_group_removed(event, data.groupname)
        elif isinstance(data, ProcessDependency):
            self._on_dependency(event, data)

    def open_episodes(self) -> Mapping[str, int]:
        """namespec -> runs so far, for every episode still open (introspection)."""
        return {
            make_namespec(group, name): episode.runs
            for (group, name), track in self._open.items()
            if (episode := track.open_episode) is not None
        }

    def close(self) -> None:
        """End every open span: runs at the last event's time, episodes at their rest.

        Called when the exporter shuts down after the last event; normally the
        shutdown's STOPPED events have ended everything already.
        """
        last = self._last
        for track in self._tracks.values():
            if track.run is not None and last is not None:
                track.run.span.set_attribute(ATTR_RUN_OUTCOME, "open")
                track.run.span.end(end_time=wall_ns(last.wall_time))
                track.run = None
            episode = track.open_episode
            if episode is not None:
                end = episode.rest if episode.rest is not None else last
                if end is not None:
                    self._end_episode(track, EpisodeOutcome.CLOSED, end)
        self._tracks.clear()
        self._open.clear()

    # ------------------------------------------------------------------ episodes

    def _settle(self, now: Event) -> None:
        """End every episode whose process has rested for ``episode_quiet`` by ``now``."""
        for track in list(self._open.values()):
            episode = track.open_episode
            if episode is None or episode.rest is None:
                continue
            if now.monotonic_time - episode.rest.monotonic_time < self.episode_quiet:
                continue
            outcome = (
                EpisodeOutcome.RUNNING
                if isinstance(episode.rest.data, ProcessStateRunning)
                else EpisodeOutcome.EXITED
            )
            self._end_episode(track, outcome, episode.rest)

    def _open_episode(self, track: _Track, event: Event, data: ProcessStateEvent) -> _Episode:
        """A new root for the episode ``data`` opens (at the STARTING of its first run)."""
        attributes: dict[str, AttributeValue] = {
            ATTR_GROUP: data.groupname,
            ATTR_PROCESS: data.processname,
            ATTR_NAMESPEC: make_namespec(data.groupname, data.processname),
            ATTR_EPISODE_NUMBER: data.episode,
            # Why the episode began: the cause of its first run.
            **cause_attributes(data),
        }
        span = self._tracer.start_span(
            f"episode {make_namespec(data.groupname, data.processname)}",
            # A root: a fresh trace id per episode, whatever context the caller has.
            context=trace.set_span_in_context(trace.INVALID_SPAN),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=wall_ns(event.wall_time),
        )
        track.episode = _Episode(number=data.episode, span=span)
        self._open[track.key] = track
        return track.episode

    def _end_episode(self, track: _Track, outcome: EpisodeOutcome, at: Event) -> None:
        episode = track.open_episode
        if episode is None:
            return
        span = episode.span
        span.set_attribute(ATTR_EPISODE_RUNS, episode.runs)
        span.set_attribute(ATTR_EPISODE_FAILED_RUNS, episode.failed_runs)
        span.set_attribute(ATTR_EPISODE_OUTCOME, outcome.value)
        if outcome is EpisodeOutcome.FATAL:
            spawnerr = at.data.spawnerr if isinstance(at.data, ProcessStateEvent) else None
            span.set_status(Status(StatusCode.ERROR, f"FATAL: {spawnerr or 'gave up'}"))
        elif outcome is EpisodeOutcome.EXITED and episode.last_exit_unexpected:
            span.set_status(
                Status(StatusCode.ERROR, "exited unexpectedly, no new start within episode_quiet")
            )
        span.end(end_time=wall_ns(at.wall_time))
        episode.ended = True
        episode.rest = None
        del self._open[track.key]

    # ------------------------------------------------------------------ runs

    def _run_attributes(self, data: ProcessStateEvent) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            ATTR_GROUP: data.groupname,
            ATTR_PROCESS: data.processname,
            ATTR_NAMESPEC: make_namespec(data.groupname, data.processname),
            ATTR_RUN_NUMBER: data.run,
            ATTR_EPISODE_NUMBER: data.episode,
            ATTR_TRIES: data.tries,
            # Why this run began: the cause of its STARTING.
            **cause_attributes(data),
        }
        config = self._describe(data.groupname, data.processname)
        if config is not None:
            attributes.update(process_attributes(config, command_line=self._command_line))
        if self._parent_pid is not None:
            attributes[process_attrs.PROCESS_PARENT_PID] = self._parent_pid
        return attributes

    def _start_run(self, track: _Track, event: Event, data: ProcessStateEvent) -> None:
        if track.run is not None:  # cannot happen with the core's machine; stay consistent
            self._end_run(track, event, data, outcome="superseded", error=None)
        episode = track.episode
        # run == episode: the episode's first run, which always opens a root (the
        # numbers start again at 1 for a process built anew by a reload or update).
        if episode is None or episode.number != data.episode or data.run == data.episode:
            if episode is not None and not episode.ended:
                # The machine opened the next episode (a request, or a restart after
                # a long run): the previous one ended where the process last rested.
                self._end_episode(track, EpisodeOutcome.NEW_EPISODE, episode.rest or event)
            episode = self._open_episode(track, event, data)
        episode.runs += 1
        episode.rest = None
        span = self._tracer.start_span(
            f"run {make_namespec(data.groupname, data.processname)}",
            # A late run of an ended episode still joins its root, hence its trace.
            context=trace.set_span_in_context(episode.span),
            kind=SpanKind.INTERNAL,
            attributes=self._run_attributes(data),
            start_time=wall_ns(event.wall_time),
        )
        track.run = _Run(span=span)
        self._add_waits(track, span, event)

    def _on_dependency(self, event: Event, data: ProcessDependency) -> None:
        key = (data.groupname, data.processname)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track(key=key)
        if not data.waiting_for and not data.released:
            track.waits.clear()  # the held start was called off: no run follows
        else:
            track.waits.append((event, data))

    def _add_waits(self, track: _Track, span: Span, started: Event) -> None:
        """A run whose start depends_on held: how long it waited, for what, as events."""
        waits, track.waits = track.waits, []
        if not waits:
            return
        waited_for = sorted({dep for _, data in waits for dep in data.waiting_for})
        span.set_attribute(ATTR_DEPENDENCY_WAITED_FOR, waited_for)
        span.set_attribute(
            ATTR_DEPENDENCY_WAIT_SECONDS, max(0.0, started.wall_time - waits[0][0].wall_time)
        )
        for event, data in waits:
            span.add_event(
                data.event_name,
                {
                    ATTR_SERIAL: event.serial,
                    ATTR_DEPENDENCY_WAITING_FOR: list(data.waiting_for),
                },
                timestamp=wall_ns(event.wall_time),
            )

    def _see_pid(self, run: _Run, pid: int) -> None:
        # STARTING is published before the fork, so the pid arrives with a later event.
        if pid and pid != run.pid:
            run.pid = pid
            run.span.set_attribute(process_attrs.PROCESS_PID, pid)

    def _end_run(
        self,
        track: _Track,
        event: Event,
        data: ProcessStateEvent,
        *,
        outcome: str,
        error: tuple[str, str] | None,
    ) -> None:
        """End the run at ``event``; ``error`` is (error.type, description) for ERROR."""
        run = track.run
        if run is None:
            return
        self._see_pid(run, data.pid)
        span = run.span
        span.set_attributes(exit_attributes(data, stderr_tail=self._stderr_tail))
        span.set_attribute(ATTR_RUN_OUTCOME, outcome)
        if error is not None:
            error_type, description = error
            span.set_attribute(error_attributes.ERROR_TYPE, error_type)
            if data.spawnerr:
                span.set_attribute(ATTR_SPAWNERR, data.spawnerr)
            span.set_status(Status(StatusCode.ERROR, description))
            if track.episode is not None:
                track.episode.failed_runs += 1  # shown only while the root is open
        span.end(end_time=wall_ns(event.wall_time))
        track.run = None

    # ------------------------------------------------------------------ dispatch

    def _on_state(self, event: Event, data: ProcessStateEvent) -> None:
        key = (data.groupname, data.processname)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track(key=key)
        if isinstance(data, ProcessStateStarting):
            self._start_run(track, event, data)
        self._record_transition(track, event, data)
        episode = track.open_episode
        if isinstance(data, ProcessStateRunning):
            if track.run is not None:
                self._see_pid(track.run, data.pid)
            if episode is not None:
                episode.rest = event
        elif isinstance(data, ProcessStateBackoff):
            self._end_run(track, event, data, outcome="backoff", error=_failed_start(data))
        elif isinstance(data, ProcessStateExited):
            unexpected = data.expected is False
            error = _exit_error(data, "exited unexpectedly") if unexpected else None
            self._end_run(track, event, data, outcome="exited", error=error)
            if episode is not None:
                episode.rest = event
                episode.last_exit_unexpected = unexpected
        elif isinstance(data, ProcessStateStopped):
            self._end_run(track, event, data, outcome="stopped", error=None)
            self._end_episode(track, EpisodeOutcome.STOPPED, event)
        elif isinstance(data, ProcessStateFatal):
            self._end_run(track, event, data, outcome="fatal", error=("FATAL", "FATAL"))
            self._end_episode(track, EpisodeOutcome.FATAL, event)
        else:  # STOPPING, UNKNOWN: the child is still there, but not resting
            if track.run is not None:
                self._see_pid(track.run, data.pid)
            if episode is not None:
                episode.rest = None

    def _record_transition(self, track: _Track, event: Event, data: ProcessStateEvent) -> None:
        """The transition as a span event: on the run, or on the episode between runs."""
        target = track.run.span if track.run is not None else None
        episode = track.open_episode
        if target is None and episode is not None:
            target = episode.span
        if target is None:
            return
        attributes = state_event_attributes(event, data)
        attributes.update(exit_attributes(data, stderr_tail=False))
        target.add_event(data.event_name, attributes, timestamp=wall_ns(event.wall_time))

    def _on_storm(self, event: Event, data: ProcessStormBegin | ProcessStormEnd) -> None:
        track = self._tracks.get((data.groupname, data.processname))
        episode = None if track is None else track.open_episode
        if episode is None:
            return
        attributes: dict[str, AttributeValue] = {
            ATTR_SERIAL: event.serial,
            ATTR_STORM_RESTARTS: data.restarts,
        }
        if data.reason:
            attributes[ATTR_STORM_REASON] = data.reason
        episode.span.add_event(data.event_name, attributes, timestamp=wall_ns(event.wall_time))

    def _on_group_removed(self, event: Event, groupname: str) -> None:
        for key, track in list(self._tracks.items()):
            if key[0] != groupname or track.run is not None:
                continue  # a removed group's processes were stopped: no run is left
            episode = track.open_episode
            if episode is not None:
                self._end_episode(track, EpisodeOutcome.REMOVED, episode.rest or event)
            del self._tracks[key]


def _failed_start(data: ProcessStateEvent) -> tuple[str, str]:
    """error.type and description of a start that failed (-> BACKOFF)."""
    if data.returncode is None:
        return "spawn_error", f"spawn error: {data.spawnerr or 'unknown'}"
    return _exit_error(data, "exited too quickly")


def _exit_error(data: ProcessStateEvent, what: str) -> tuple[str, str]:
    """error.type (signal name or exit code) and description of a bad exit."""
    if data.signal is not None:
        name = signal_name(data.signal)
        return name, f"{what}: terminated by {name}"
    return str(data.returncode), f"{what}: exit status {data.returncode}"


__all__ = [
    "INSTRUMENTATION_NAME",
    "Describe",
    "EpisodeOutcome",
    "SpanBuilder",
    "cause_attributes",
    "exit_attributes",
    "process_attributes",
    "wall_ns",
]
