"""The planner: bus events in, notifications out. Pure, no clock, no I/O.

Rules of this file:
- Kinds come from the events, never from guessing: a storm notification from a
  ``*_STORM_BEGIN``/``*_STORM_END`` event (the storm detector's), a fatal one from a
  ``PROCESS_STATE_FATAL``, an unexpected exit from a ``PROCESS_STATE_EXITED`` whose
  ``expected`` is false. Restarts are STARTING events whose ``cause`` is one of
  ``AUTOMATIC_RESTART_CAUSES``; that is what a storm summary counts.
- Never one message per crash. A storm gives one message when it begins and one
  when it ends; unexpected exits are batched: the first goes out at once, the next
  ones wait until ``min_interval`` has passed since the last message and then go
  out together. Exits of a process in a storm are left to the storm's messages
  when storms are notified too.
- Time passes only through events (``monotonic_time``) and ``advance(now)``; the
  caller sets a timer at ``next_deadline()``. Memory is bounded per process.
"""

from __future__ import annotations

import signal
from collections import Counter, deque
from dataclasses import dataclass, field

from exporters.notify.model import ExitRecord, Kind, Notification, Topic, rfc3339
from exporters.storms.events import StormEvent
from supervisor_core.events import (
    Event,
    ProcessGroupRemoved,
    ProcessStateBackoff,
    ProcessStateExited,
    ProcessStateFatal,
    ProcessStateStarting,
)
from supervisor_core.lifecycle import AUTOMATIC_RESTART_CAUSES

__all__ = ["EVENT_TYPES", "NotificationPlanner", "PlannerSettings"]

EVENT_TYPES = ("PROCESS_STATE", "STORM", "PROCESS_GROUP_REMOVED")
"""What the planner subscribes to."""

MAX_EXITS = 20  # exits listed in one message; the counts cover the rest
MAX_STARTS = 500  # starts remembered per process (a storm summary counts them by cause)
MAX_SERIALS = 100  # serials listed in one batch message


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannerSettings:
    """What to notify about and how to batch (from ``[exporter:notify]``)."""

    topics: frozenset[Topic] = frozenset({Topic.STORM, Topic.FATAL})
    min_interval: float = 60.0
    host: str = "localhost"
    stderr_lines: int = 20


@dataclass(slots=True)
class _Process:
    """What the planner remembers of one process (bounded)."""

    exits: deque[ExitRecord] = field(default_factory=lambda: deque(maxlen=MAX_EXITS))
    starts: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=MAX_STARTS))
    stderr_tail: tuple[str, ...] = ()
    in_storm: bool = False


@dataclass(slots=True)
class _Batch:
    """Unexpected exits waiting for the next batch message."""

    exits: list[ExitRecord] = field(default_factory=list)
    count: int = 0
    serials: list[int] = field(default_factory=list)
    processes: set[tuple[str, str]] = field(default_factory=set)

    def add(self, record: ExitRecord) -> None:
        self.count += 1
        self.processes.add((record.group, record.name))
        if len(self.exits) < MAX_EXITS:
            self.exits.append(record)
        if len(self.serials) < MAX_SERIALS:
            self.serials.append(record.serial)


def describe_status(returncode: int | None) -> str:
    """``exit 3``, ``SIGKILL``, or ``no exit status`` (a spawn failure)."""
    if returncode is None:
        return "no exit status"
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit {returncode}"


def _label(group: str, name: str) -> str:
    return name if group == name or not group else f"{group}:{name}"


def _exit_record(event: Event, data: ProcessStateExited | ProcessStateBackoff) -> ExitRecord:
    return ExitRecord(
        serial=event.serial,
        time=event.wall_time,
        group=data.groupname,
        name=data.processname,
        returncode=data.returncode,
        expected=data.expected,
        run_duration=data.run_duration,
        state=data.to_state.name,
    )


class NotificationPlanner:
    """Turns a bus' events into notifications (see the module rules).

    Example::

        planner = NotificationPlanner(PlannerSettings(host="web-1"))
        for event in events:
            for notification in planner.feed(event):
                outbox.add(notification)
        deadline = planner.next_deadline()   # call advance(deadline) then
    """

    def __init__(self, settings: PlannerSettings) -> None:
        self.settings = settings
        self._processes: dict[tuple[str, str], _Process] = {}
        self._batch = _Batch()
        self._last_batch_sent: float | None = None

    # ------------------------------------------------------------------ input

    def feed(self, event: Event) -> list[Notification]:
        """The notifications ``event`` causes (usually none)."""
        data = event.data
        if isinstance(data, StormEvent):
            return self._storm(event, data)
        if isinstance(data, ProcessGroupRemoved):
            for key in [k for k in self._processes if k[0] == data.groupname]:
                del self._processes[key]
            return []
        if isinstance(data, ProcessStateStarting):
            self._process(data.groupname, data.processname).starts.append(
                (event.wall_time, data.cause.value)
            )
            return []
        if isinstance(data, ProcessStateExited | ProcessStateBackoff):
            return self._exit(event, data)
        if isinstance(data, ProcessStateFatal):
            return self._fatal(event, data)
        return []

    def next_deadline(self) -> float | None:
        """When ``advance`` has a batch to send (monotonic), or None."""
        if not self._batch.count or self._last_batch_sent is None:
            return None
        return self._last_batch_sent + self.settings.min_interval

    def advance(self, now: float, wall: float) -> list[Notification]:
        """The batch message due at ``now`` (monotonic), stamped ``wall``, if any."""
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        return [self._send_batch(now, wall)]

    def drain(self, now: float, wall: float) -> list[Notification]:
        """The waiting batch at once (superd is shutting down), if any."""
        if not self._batch.count:
            return []
        return [self._send_batch(now, wall)]

    # ------------------------------------------------------------------ kinds

    def _process(self, group: str, name: str) -> _Process:
        key = (group, name)
        found = self._processes.get(key)
        if found is None:
            found = self._processes[key] = _Process()
        return found

    def _on(self, topic: Topic) -> bool:
        return topic in self.settings.topics

    def _notification(
        self,
        kind: Kind,
        event: Event,
        *,
        group: str,
        name: str,
        summary: str,
        details: dict[str, object],
        serials: tuple[int, ...] | None = None,
    ) -> Notification:
        host = self.settings.host
        return Notification(
            id=f"{host}/{kind.value}/{event.serial}-{int(event.wall_time * 1000)}",
            kind=kind,
            host=host,
            group=group,
            name=name,
            time=event.wall_time,
            summary=summary,
            serials=serials if serials is not None else (event.serial,),
            details=details,
        )

    def _tail(self, process: _Process | None) -> list[str]:
        if process is None or self.settings.stderr_lines == 0:
            return []
        return list(process.stderr_tail[-self.settings.stderr_lines :])

    def _exit(
        self, event: Event, data: ProcessStateExited | ProcessStateBackoff
    ) -> list[Notification]:
        process = self._process(data.groupname, data.processname)
        record = _exit_record(event, data)
        process.exits.append(record)
        if data.stderr_tail:
            process.stderr_tail = data.stderr_tail
        unexpected = isinstance(data, ProcessStateExited) and data.expected is False
        if not unexpected or not self._on(Topic.UNEXPECTED_EXIT):
            return []
        if process.in_storm and self._on(Topic.STORM):
            return []  # the storm's own messages report it
        self._batch.add(record)
        last = self._last_batch_sent
        if last is None or event.monotonic_time - last >= self.settings.min_interval:
            return [self._send_batch(event.monotonic_time, event.wall_time, tail=process)]
        return []

    def _send_batch(self, now: float, wall: float, *, tail: _Process | None = None) -> Notification:
        batch, self._batch = self._batch, _Batch()
        self._last_batch_sent = now
        first = batch.exits[0]
        if len(batch.processes) == 1:
            group, name = first.group, first.name
            who = _label(group, name)
            tail = tail or self._processes.get((group, name))
        else:
            group = name = ""
            who = f"{len(batch.processes)} processes"
            tail = None
        statuses = sorted({describe_status(e.returncode) for e in batch.exits})
        plural = "s" if batch.count != 1 else ""
        summary = f"{who}: {batch.count} unexpected exit{plural} ({', '.join(statuses)})"
        details: dict[str, object] = {
            "exits": [e.to_json() for e in batch.exits],
            "exit_count": batch.count,
            "processes": sorted(_label(g, n) for g, n in batch.processes),
            "stderr_tail": self._tail(tail),
        }
        return Notification(
            id=f"{self.settings.host}/{Kind.UNEXPECTED_EXIT.value}/{first.serial}-"
            f"{int(first.time * 1000)}",
            kind=Kind.UNEXPECTED_EXIT,
            host=self.settings.host,
            group=group,
            name=name,
            time=wall,
            summary=summary,
            serials=tuple(batch.serials),
            details=details,
        )

    def _fatal(self, event: Event, data: ProcessStateFatal) -> list[Notification]:
        process = self._processes.get((data.groupname, data.processname))
        if not self._on(Topic.FATAL):
            return []
        who = _label(data.groupname, data.processname)
        if data.cause.value == "startlimit":
            why = "the start limit refused another automatic start"
        else:
            why = f"it could not be started ({data.tries} tries)"
        exits = list(process.exits)[-5:] if process is not None else []
        details: dict[str, object] = {
            "cause": data.cause.value,
            "from_state": data.from_state.name,
            "tries": data.tries,
            "spawnerr": data.spawnerr,
            "exits": [e.to_json() for e in exits],
            "exit_codes": sorted({describe_status(e.returncode) for e in exits}),
            "stderr_tail": self._tail(process),
        }
        summary = f"{who} is FATAL: {why}"
        if data.spawnerr:
            summary += f": {data.spawnerr}"
        return [
            self._notification(
                Kind.FATAL,
                event,
                group=data.groupname,
                name=data.processname,
                summary=summary,
                details=details,
            )
        ]

    def _storm(self, event: Event, data: StormEvent) -> list[Notification]:
        begin = data.end is None
        members = [(data.groupname, data.processname)] if data.scope == "process" else []
        if not members:
            for member in data.members:
                group, _, name = member.partition(":")
                members.append((group, name))
        if data.scope == "process":
            self._process(data.groupname, data.processname).in_storm = begin
        if not self._on(Topic.STORM):
            return []
        if data.scope == "process":
            who = _label(data.groupname, data.processname)
        elif data.scope == "group":
            who = f"group {data.groupname}"
        else:
            who = f"host {self.settings.host}"
        exits: list[ExitRecord] = []
        starts: Counter[str] = Counter()
        tail: _Process | None = None
        for key in members:
            process = self._processes.get(key)
            if process is None:
                continue
            exits.extend(e for e in process.exits if e.time >= data.start)
            starts.update(cause for at, cause in process.starts if at >= data.start)
            if process.stderr_tail and (tail is None or _last_exit(process) > _last_exit(tail)):
                tail = process
        exits.sort(key=lambda e: e.serial)
        restarts = {c: n for c, n in sorted(starts.items()) if c in AUTOMATIC_RESTART_CAUSES}
        statuses = [*(f"exit {c}" for c in data.exit_codes), *data.signals]
        details: dict[str, object] = {
            "scope": data.scope,
            "start": rfc3339(data.start),
            "end": rfc3339(data.end) if data.end is not None else None,
            "duration": None if data.end is None else round(data.end - data.start, 3),
            "exits": data.restarts,
            "exit_codes": list(data.exit_codes),
            "signals": list(data.signals),
            "median_run_duration": data.median_run_duration,
            "run_durations": [e.run_duration for e in exits[-MAX_EXITS:]],
            "recent_exits": [e.to_json() for e in exits[-MAX_EXITS:]],
            "restarts_by_cause": restarts,
            "damped_restarts": restarts.get("damped", 0),
            "members": list(data.members),
            "reason": data.reason,
            "stderr_tail": self._tail(tail),
        }
        status_text = ", ".join(statuses) or "no exit status"
        if begin:
            summary = (
                f"{who}: restart storm began: {data.restarts} exits since "
                f"{rfc3339(data.start)} ({status_text})"
            )
            kind = Kind.STORM_BEGIN
        else:
            assert data.end is not None
            median = (
                f", median run {data.median_run_duration:.2f}s"
                if data.median_run_duration is not None
                else ""
            )
            damping = ""
            if restarts.get("damped"):
                damping = f"; damping delayed {restarts['damped']} restarts"
            summary = (
                f"{who}: restart storm ended ({data.reason}) after "
                f"{data.end - data.start:.0f}s: {data.restarts} exits ({status_text}){median}"
                f"{damping}"
            )
            kind = Kind.STORM_END
        return [
            self._notification(
                kind,
                event,
                group=data.groupname,
                name=data.processname,
                summary=summary,
                details=details,
            )
        ]


def _last_exit(process: _Process) -> int:
    return process.exits[-1].serial if process.exits else -1
