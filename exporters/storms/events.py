"""Storm event types, and observations from events and journal records.

Event types (all in the abstract family ``STORM``, registered with
``listener_opt_in`` by ``register_storm_types``: a supervisord listener pool
receives them only when its ``events=`` names one of them or ``STORM``, never
through ``EVENT``):

- ``PROCESS_STORM_BEGIN`` / ``PROCESS_STORM_END``: one process.
- ``GROUP_STORM_BEGIN`` / ``GROUP_STORM_END``: several processes of one group.
- ``HOST_STORM_BEGIN`` / ``HOST_STORM_END``: many programs of this superd at once.

Every one carries the same fields (docs/storms.md shows payloads): ``processname``
and ``groupname`` (empty where the scope has none), ``scope``, ``start`` and ``end``
(wall time; ``end`` empty on a BEGIN), ``restarts``, ``exit_codes``, ``signals``,
``median_run_duration``, ``members`` and ``reason`` (END only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from exporters.journal.rows import JournalRecord
from exporters.storms.detector import (
    ChangeKind,
    Observation,
    ObservationKind,
    Storm,
    StormChange,
    StormScope,
    make_observation,
)
from supervisor_core.events import (
    Event,
    EventData,
    EventTypeRegistry,
    ProcessStateBackoff,
    ProcessStateEvent,
    ProcessStateExited,
    ProcessStateFatal,
    ProcessStateRunning,
    ProcessStateStarting,
    ProcessStateStopped,
)
from supervisor_core.lifecycle import Cause

__all__ = [
    "GroupStormBegin",
    "GroupStormEnd",
    "HostStormBegin",
    "HostStormEnd",
    "ProcessStormBegin",
    "ProcessStormEnd",
    "StormEvent",
    "observation_from_event",
    "observation_from_record",
    "register_storm_types",
    "storm_event",
    "storm_from_event",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class StormEvent(EventData):
    """A restart storm began or ended (see ``exporters.storms.detector.Storm``)."""

    event_name: ClassVar[str] = "STORM"

    processname: str
    groupname: str
    scope: str
    start: float
    end: float | None = None
    restarts: int = 0
    exit_codes: tuple[int, ...] = ()
    signals: tuple[str, ...] = ()
    median_run_duration: float | None = None
    members: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStormBegin(StormEvent):
    """A process had ``burst`` counted automatic restarts within ``window``."""

    event_name: ClassVar[str] = "PROCESS_STORM_BEGIN"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStormEnd(StormEvent):
    """The process stayed RUNNING for ``window``, was stopped, or went FATAL."""

    event_name: ClassVar[str] = "PROCESS_STORM_END"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupStormBegin(StormEvent):
    """``group_burst`` processes of one group are in a storm at once."""

    event_name: ClassVar[str] = "GROUP_STORM_BEGIN"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupStormEnd(StormEvent):
    """Fewer than half of ``group_burst`` processes of the group are still in a storm."""

    event_name: ClassVar[str] = "GROUP_STORM_END"


@dataclass(frozen=True, slots=True, kw_only=True)
class HostStormBegin(StormEvent):
    """``host_burst`` processes of this superd are in a storm at once."""

    event_name: ClassVar[str] = "HOST_STORM_BEGIN"


@dataclass(frozen=True, slots=True, kw_only=True)
class HostStormEnd(StormEvent):
    """Fewer than half of ``host_burst`` processes are still in a storm."""

    event_name: ClassVar[str] = "HOST_STORM_END"


_TYPES: dict[tuple[StormScope, ChangeKind], type[StormEvent]] = {
    (StormScope.PROCESS, ChangeKind.BEGIN): ProcessStormBegin,
    (StormScope.PROCESS, ChangeKind.END): ProcessStormEnd,
    (StormScope.GROUP, ChangeKind.BEGIN): GroupStormBegin,
    (StormScope.GROUP, ChangeKind.END): GroupStormEnd,
    (StormScope.HOST, ChangeKind.BEGIN): HostStormBegin,
    (StormScope.HOST, ChangeKind.END): HostStormEnd,
}


def register_storm_types(registry: EventTypeRegistry) -> None:
    """Register ``STORM`` (abstract, listener opt-in) and its six types (idempotent)."""
    registry.register(StormEvent, abstract=True, listener_opt_in=True)
    registry.register(*_TYPES.values())


def storm_event(change: StormChange) -> StormEvent:
    """The event data to publish for a detector change."""
    storm = change.storm
    cls = _TYPES[(storm.scope, change.kind)]
    return cls(
        processname=storm.name,
        groupname=storm.group,
        scope=storm.scope.value,
        start=storm.start,
        end=storm.end,
        restarts=storm.restarts,
        exit_codes=storm.exit_codes,
        signals=storm.signals,
        median_run_duration=storm.median_run_duration,
        members=storm.members,
        reason=storm.reason,
    )


def storm_from_event(data: StormEvent) -> Storm:
    """The storm an event describes (inverse of ``storm_event``)."""
    return Storm(
        scope=StormScope(data.scope),
        group=data.groupname,
        name=data.processname,
        start=data.start,
        end=data.end,
        restarts=data.restarts,
        exit_codes=data.exit_codes,
        signals=data.signals,
        median_run_duration=data.median_run_duration,
        members=data.members,
        reason=data.reason,
    )


def _kind(data: ProcessStateEvent) -> ObservationKind | None:
    if isinstance(data, ProcessStateExited | ProcessStateBackoff):
        return ObservationKind.EXIT
    if isinstance(data, ProcessStateStarting):
        return ObservationKind.START
    if isinstance(data, ProcessStateRunning):
        return ObservationKind.RUNNING
    if isinstance(data, ProcessStateStopped):
        return ObservationKind.STOPPED
    if isinstance(data, ProcessStateFatal):
        return ObservationKind.FATAL
    return None


# Per data class: (the kind, whether it is a failed start); None: not an observation.
_EVENT_KINDS: dict[type, tuple[ObservationKind, bool] | None] = {}


def _event_kind(data: EventData) -> tuple[ObservationKind, bool] | None:
    if not isinstance(data, ProcessStateEvent):
        result = None
    else:
        kind = _kind(data)
        result = None if kind is None else (kind, isinstance(data, ProcessStateBackoff))
    _EVENT_KINDS[type(data)] = result
    return result


def observation_from_event(event: Event) -> Observation | None:
    """The observation a bus event makes (None for events storms ignore).

    Windows run on ``monotonic_time``; ``wall_time`` is what storms report. The
    event's ``cause`` travels as is: it alone makes a STARTING a restart.
    """
    data = event.data
    try:
        known = _EVENT_KINDS[type(data)]
    except KeyError:
        known = _event_kind(data)
    if known is None:
        return None
    state: ProcessStateEvent = data  # type: ignore[assignment]  # a kind: a state event
    return make_observation(
        event.monotonic_time,
        event.wall_time,
        state.groupname,
        state.processname,
        known[0],
        state.cause,
        state.returncode,
        state.expected,
        state.run_duration,
        known[1],
    )


_RECORD_KINDS = {
    "PROCESS_STATE_EXITED": ObservationKind.EXIT,
    "PROCESS_STATE_BACKOFF": ObservationKind.EXIT,
    "PROCESS_STATE_STARTING": ObservationKind.START,
    "PROCESS_STATE_RUNNING": ObservationKind.RUNNING,
    "PROCESS_STATE_STOPPED": ObservationKind.STOPPED,
    "PROCESS_STATE_FATAL": ObservationKind.FATAL,
}


def observation_from_record(record: JournalRecord) -> Observation | None:
    """The observation a journal record makes, for replaying a journal in a notebook.

    Windows run on ``wall_time`` (the monotonic clock restarts with the machine).
    The cause is the recorded event's (``payload["cause"]``); a record without a
    known one (a journal written before events carried causes) has ``cause`` None,
    so its starts are not restarts: nothing is guessed from states or times.
    """
    kind = _RECORD_KINDS.get(record.type)
    if kind is None or record.groupname is None or record.processname is None:
        return None
    return Observation(
        at=record.wall_time,
        group=record.groupname,
        name=record.processname,
        kind=kind,
        cause=_recorded_cause(record),
        returncode=record.exit_status,
        expected=record.expected,
        run_duration=record.run_duration,
        failed_start=record.type == "PROCESS_STATE_BACKOFF",
    )


def _recorded_cause(record: JournalRecord) -> Cause | None:
    value = record.payload.get("cause")
    if not isinstance(value, str):
        return None
    try:
        return Cause(value)
    except ValueError:  # a cause this version does not know: not a restart we can count
        return None
