"""The restart-storm detector: a pure reducer over a stream of process observations.

Rules of this file:
- Pure: observations in (``Observation``: a time, a process, what happened), storm
  begins and ends out (``StormChange``). No clock, no bus, no I/O. Time passes only
  through ``feed`` and ``advance(now)``, so the live daemon (``exporters.storms.live``),
  alert tests and notebooks replaying a journal get the same storms from the same
  history.
- One time axis per detector: ``at`` (monotonic seconds in the daemon, anything
  increasing in a notebook) decides windows; ``wall`` is only reported.

- A storm is made of *restarts*, and a restart is what the state machine says it
  is: a start (PROCESS_STATE_STARTING) whose ``cause`` is an automatic one
  (``lifecycle.AUTOMATIC_RESTART_CAUSES``: autorestart, retry, damped), the same
  definition ``supervisor_process_restarts_total`` counts. Nothing is inferred from
  states or timestamps; a requested start (operator, listener, autostart, update,
  reload) never feeds a storm.

The rules (defaults in ``StormSettings``):

- An *exit* is a PROCESS_STATE_EXITED or a PROCESS_STATE_BACKOFF (a failed start):
  it says how the run before a restart ended (code, signal, duration).
- A restart *counts* towards a storm unless the exit before it was expected and its
  run lasted at least ``short_run`` seconds (a program that exits 0 after a long
  healthy run and is restarted is not storming).
- A process storm begins at the ``burst``-th counted restart inside a sliding
  ``window`` (its ``start`` is the first of those restarts). While it lasts every
  restart and every exit belongs to it. It ends once the process has stayed RUNNING
  for ``window`` seconds (hysteresis: ``end`` is that moment), or when it is stopped
  (STOPPED) or gives up (FATAL). A requested start forgets the restarts counted so
  far (somebody decided; the machine resets its damping history likewise) but does
  not end a storm under way.
- A group storm begins when ``group_burst`` processes of one group are in a storm
  at once and ends when fewer than half of that (rounded up) still are; a host
  storm likewise with ``host_burst`` processes of any group (many programs at once:
  look for a common cause). Their ``restarts``, exit codes and run durations are
  those of the member processes' restarts and exits while the group/host storm
  lasted.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields

from supervisor_core.lifecycle import Cause
from supervisor_core.signals import signal_name

__all__ = [
    "ChangeKind",
    "Observation",
    "ObservationKind",
    "Storm",
    "StormChange",
    "StormDetector",
    "StormScope",
    "StormSettings",
    "detect_storms",
    "make_observation",
]


class ObservationKind(enum.Enum):
    """What happened to a process, as far as storms are concerned."""

    EXIT = "exit"  # EXITED, or BACKOFF after a failed start: how a run ended
    START = "start"  # STARTING: a run began; its cause tells a restart from a request
    RUNNING = "running"
    STOPPED = "stopped"
    FATAL = "fatal"


class StormScope(enum.Enum):
    """Who a storm is about."""

    PROCESS = "process"
    GROUP = "group"
    HOST = "host"


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One fact about one process (from an event, a journal row, or a plain record).

    ``cause`` is the transition's (``lifecycle.Cause``): a START is a restart when
    its cause is an automatic one. ``returncode`` follows Popen (``-N`` = killed by
    signal N; None for a spawn failure); ``failed_start`` marks a BACKOFF (a start
    that did not reach RUNNING). ``wall`` defaults to ``at``.
    """

    at: float
    group: str
    name: str
    kind: ObservationKind
    cause: Cause | None = None
    returncode: int | None = None
    expected: bool | None = None
    run_duration: float | None = None
    failed_start: bool = False
    wall: float | None = None

    @property
    def wall_time(self) -> float:
        """``wall``, or ``at`` when no wall time was given."""
        return self.at if self.wall is None else self.wall

    @property
    def is_restart(self) -> bool:
        """A start with an automatic cause (what ``supervisor_process_restarts_total`` counts)."""
        return (
            self.kind is ObservationKind.START
            and self.cause is not None
            and self.cause.is_automatic_restart
        )


_new_object = object.__new__
_FAST_FIELDS = (
    "at",
    "wall",
    "group",
    "name",
    "kind",
    "cause",
    "returncode",
    "expected",
    "run_duration",
    "failed_start",
)
if set(_FAST_FIELDS) != {f.name for f in fields(Observation)}:  # pragma: no cover
    raise TypeError("make_observation must set every field of Observation")
# The slots' own setters (what object.__setattr__ finds by name, found once).
(
    _set_at,
    _set_wall,
    _set_group,
    _set_name,
    _set_kind,
    _set_cause,
    _set_returncode,
    _set_expected,
    _set_run_duration,
    _set_failed_start,
) = (Observation.__dict__[name].__set__ for name in _FAST_FIELDS)


def make_observation(  # noqa: PLR0917 - one argument per field, positional for speed
    at: float,
    wall: float | None,
    group: str,
    name: str,
    kind: ObservationKind,
    cause: Cause | None,
    returncode: int | None,
    expected: bool | None,
    run_duration: float | None,
    failed_start: bool,
) -> Observation:
    """``Observation(at=at, wall=wall, ...)``, built without the keyword ``__init__``.

    The live monitor makes one per process state event; a frozen dataclass' generated
    ``__init__`` costs twice as much as the ten slot writes (bus -> exporters
    throughput). The result is equal to the one the constructor gives.
    """
    observation: Observation = _new_object(Observation)
    _set_at(observation, at)
    _set_wall(observation, wall)
    _set_group(observation, group)
    _set_name(observation, name)
    _set_kind(observation, kind)
    _set_cause(observation, cause)
    _set_returncode(observation, returncode)
    _set_expected(observation, expected)
    _set_run_duration(observation, run_duration)
    _set_failed_start(observation, failed_start)
    return observation


@dataclass(frozen=True, slots=True, kw_only=True)
class StormSettings:
    """The detector's thresholds (``[exporter:storms]``, see docs/storms.md)."""

    burst: int = 5
    window: float = 60.0
    short_run: float = 10.0
    group_burst: int = 2
    host_burst: int = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Storm:
    """A storm, under way (``end`` None) or over.

    ``group``/``name`` are empty where the scope has none (a host storm has neither,
    a group storm no name); ``members`` are the ``group:name`` of the processes
    involved. ``restarts`` counts the automatic restarts of the storm (from the
    first of its burst on); ``exit_codes`` and ``signals`` are the distinct ones of
    the exits before those restarts and during the storm, ``median_run_duration``
    is over the runs that ended in those exits. ``reason`` says why it ended:
    ``recovered`` (RUNNING for ``window``), ``stopped``, ``fatal``, or ``subsided``
    (group/host).
    """

    scope: StormScope
    group: str
    name: str
    start: float
    end: float | None = None
    restarts: int = 0
    exit_codes: tuple[int, ...] = ()
    signals: tuple[str, ...] = ()
    median_run_duration: float | None = None
    members: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def key(self) -> tuple[StormScope, str, str]:
        """What identifies the storm's subject."""
        return (self.scope, self.group, self.name)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (None while under way)."""
        return None if self.end is None else self.end - self.start


class ChangeKind(enum.Enum):
    """A storm began or ended."""

    BEGIN = "begin"
    END = "end"


@dataclass(frozen=True, slots=True, kw_only=True)
class StormChange:
    """A storm began (``storm.end`` None) or ended; ``at`` is on the detector's axis."""

    kind: ChangeKind
    storm: Storm
    at: float


@dataclass(slots=True)
class _Tally:
    """Restarts and exits accumulated by a storm while it lasts."""

    start: float
    restarts: int = 0
    codes: set[int] = field(default_factory=set)
    signals: set[str] = field(default_factory=set)
    durations: list[float] = field(default_factory=list)
    members: set[str] = field(default_factory=set)

    def add_restart(self, member: str) -> None:
        """Count a restart of ``member`` (``group:name``)."""
        self.restarts += 1
        self.members.add(member)

    def add_exit(self, observation: Observation, member: str) -> None:
        """Record an exit of ``member`` (``group:name``, the observation's process)."""
        code = observation.returncode
        if code is not None and code >= 0:
            self.codes.add(code)
        elif code is not None:
            self.signals.add(signal_name(-code))
        if observation.run_duration is not None:
            self.durations.append(observation.run_duration)
        self.members.add(member)

    def storm(
        self, scope: StormScope, group: str, name: str, end: float | None, reason: str | None
    ) -> Storm:
        return Storm(
            scope=scope,
            group=group,
            name=name,
            start=self.start,
            end=end,
            restarts=self.restarts,
            exit_codes=tuple(sorted(self.codes)),
            signals=tuple(sorted(self.signals)),
            median_run_duration=statistics.median(self.durations) if self.durations else None,
            members=tuple(sorted(self.members)),
            reason=reason,
        )


@dataclass(frozen=True, slots=True)
class _Restart:
    """A counted restart, with the exit that preceded it (None: not seen)."""

    restart: Observation
    exit: Observation | None


@dataclass(slots=True)
class _Process:
    """One process' recent counted restarts, its last exit, and its storm."""

    #: ``group:name``, as storms list their members (made once, not per event).
    member: str
    # None until the first counted restart: an empty deque is ~600 bytes, and most
    # of a fleet of thousands never restarts.
    restarts: deque[_Restart] | None = None
    last_exit: Observation | None = None
    running_since: Observation | None = None
    tally: _Tally | None = None


class StormDetector:
    """Turns observations into storm begins and ends; see the module docstring.

    Example::

        detector = StormDetector(StormSettings(burst=3, window=10))
        for observation in observations:
            for change in detector.feed(observation):
                print(change.kind, change.storm)
        detector.advance(now)     # ends storms whose process has stayed up long enough
    """

    def __init__(self, settings: StormSettings | None = None) -> None:
        self.settings = settings if settings is not None else StormSettings()
        self._processes: dict[tuple[str, str], _Process] = {}
        # Keys of the processes whose tally is not None (in a storm): time passing
        # only concerns them, so a feed costs O(storms), not O(processes).
        self._stormy: dict[tuple[str, str], _Process] = {}
        # No storm can end before this time: at most the earliest ``running_since.at +
        # window`` of a process in a storm (lowered when such a process is seen
        # RUNNING, made exact when time reaches it). A feed in a crash loop then
        # costs O(1) instead of a pass over every storm (bus -> exporters throughput).
        self._floor = math.inf
        self._groups: dict[str, _Tally] = {}
        self._host: _Tally | None = None

    # ------------------------------------------------------------------ queries

    def current(self) -> tuple[Storm, ...]:
        """Every storm under way: processes, then groups, then the host."""
        result: list[Storm] = []
        for (group, name), process in sorted(self._processes.items()):
            if process.tally is not None:
                result.append(process.tally.storm(StormScope.PROCESS, group, name, None, None))
        for group, tally in sorted(self._groups.items()):
            result.append(tally.storm(StormScope.GROUP, group, "", None, None))
        if self._host is not None:
            result.append(self._host.storm(StormScope.HOST, "", "", None, None))
        return tuple(result)

    def in_storm(self) -> frozenset[tuple[str, str]]:
        """The ``(group, name)`` of every process in a storm now."""
        return frozenset(self._stormy)

    def next_wake(self) -> float | None:
        """A time no later than ``next_deadline()`` (None: no storm can end by time alone).

        Cheap (no pass over the storms): calling ``advance`` at that time is enough
        to end every storm that is due; if none is, this moves to a later time.
        """
        return None if math.isinf(self._floor) else self._floor

    def next_deadline(self) -> float | None:
        """The earliest time at which ``advance`` would end a storm (None: no such time)."""
        deadlines = [
            since.at + self.settings.window
            for process in self._stormy.values()
            if (since := process.running_since) is not None
        ]
        return min(deadlines, default=None)

    # ------------------------------------------------------------------ input

    def advance(self, now: float) -> list[StormChange]:
        """Let time pass until ``now``: end storms of processes RUNNING for ``window``."""
        changes: list[StormChange] = []
        if not self._stormy or now < self._floor:
            return changes
        window = self.settings.window
        due = sorted(
            (since.at + window, key)
            for key, process in self._stormy.items()
            if (since := process.running_since) is not None and now - since.at >= window
        )
        for deadline, key in due:
            process = self._processes[key]
            assert process.running_since is not None
            wall = process.running_since.wall_time + window
            changes.extend(self._end_process(key, process, deadline, wall, "recovered"))
        earliest = self.next_deadline()
        self._floor = math.inf if earliest is None else earliest
        return changes

    def feed(self, observation: Observation) -> list[StormChange]:
        """Apply one observation (after letting time pass up to it)."""
        # advance's own test, inline: in a crash loop no storm is due at most feeds,
        # and the call alone was a third of a feed.
        changes = (
            self.advance(observation.at) if self._stormy and observation.at >= self._floor else []
        )
        key = (observation.group, observation.name)
        process = self._processes.get(key)
        if process is None:
            process = self._processes[key] = _Process(member=f"{key[0]}:{key[1]}")
        kind = observation.kind
        if kind is ObservationKind.RUNNING:
            process.running_since = observation
            if process.tally is not None:
                self._floor = min(self._floor, observation.at + self.settings.window)
        elif kind is ObservationKind.EXIT:
            process.running_since = None
            process.last_exit = observation
            if process.tally is not None:
                process.tally.add_exit(observation, process.member)
                self._add_to_scopes(observation, process.member, restart=False)
        elif kind is ObservationKind.START:
            process.running_since = None
            if observation.is_restart:
                changes.extend(self._on_restart(key, process, observation))
            else:
                # A request: what was counted so far no longer adds up to a storm.
                process.restarts = None
            process.last_exit = None
        else:
            process.running_since = None
            process.last_exit = None
            process.restarts = None
            reason = "stopped" if kind is ObservationKind.STOPPED else "fatal"
            changes.extend(
                self._end_process(key, process, observation.at, observation.wall_time, reason)
            )
        return changes

    def forget(self, group: str, *, at: float, wall: float) -> list[StormChange]:
        """A group was removed at ``at``: its processes' storms end as ``stopped``."""
        changes = self.advance(at)
        for key in [k for k in self._processes if k[0] == group]:
            changes.extend(self._end_process(key, self._processes[key], at, wall, "stopped"))
            del self._processes[key]
            self._stormy.pop(key, None)
        return changes

    # ------------------------------------------------------------------ rules

    def counts(self, exit: Observation | None) -> bool:
        """Whether an automatic restart after ``exit`` counts towards a storm.

        It does unless that exit was expected and its run lasted ``short_run`` or
        more; a restart whose exit was not seen (None) counts.
        """
        if exit is None or exit.failed_start or exit.expected is not True:
            return True
        duration = exit.run_duration
        return duration is not None and duration < self.settings.short_run

    def _on_restart(
        self, key: tuple[str, str], process: _Process, observation: Observation
    ) -> Iterator[StormChange]:
        settings = self.settings
        if process.tally is not None:
            process.tally.add_restart(process.member)
            self._add_to_scopes(observation, process.member, restart=True)
            return
        if not self.counts(process.last_exit):
            return
        restarts = process.restarts
        if restarts is None:
            restarts = process.restarts = deque()
        restarts.append(_Restart(observation, process.last_exit))
        while restarts and observation.at - restarts[0].restart.at >= settings.window:
            restarts.popleft()
        if len(restarts) < settings.burst:
            return
        tally = _Tally(start=restarts[0].restart.wall_time)
        for past in restarts:
            tally.add_restart(process.member)
            if past.exit is not None:
                tally.add_exit(past.exit, process.member)
        process.restarts = None
        process.tally = tally
        self._stormy[key] = process
        # A group or host storm already under way gains a member.
        for scope_tally in (self._groups.get(key[0]), self._host):
            if scope_tally is not None:
                scope_tally.members.add(f"{key[0]}:{key[1]}")
        storm = tally.storm(StormScope.PROCESS, key[0], key[1], None, None)
        yield StormChange(kind=ChangeKind.BEGIN, storm=storm, at=observation.at)
        yield from self._scopes_after_change(observation.at, observation.wall_time)

    def _add_to_scopes(self, observation: Observation, member: str, *, restart: bool) -> None:
        for tally in (self._groups.get(observation.group), self._host):
            if tally is None:
                continue
            if restart:
                tally.add_restart(member)
            else:
                tally.add_exit(observation, member)

    def _end_process(
        self,
        key: tuple[str, str],
        process: _Process,
        at: float,
        wall: float | None,
        reason: str,
    ) -> Iterator[StormChange]:
        tally = process.tally
        if tally is None:
            return
        process.tally = None
        self._stormy.pop(key, None)
        end = wall if wall is not None else at
        storm = tally.storm(StormScope.PROCESS, key[0], key[1], end, reason)
        yield StormChange(kind=ChangeKind.END, storm=storm, at=at)
        yield from self._scopes_after_change(at, end)

    def _scopes_after_change(self, at: float, wall: float) -> Iterator[StormChange]:
        """Begin or end group and host storms after a process storm began or ended."""
        settings = self.settings
        stormy = sorted(self.in_storm())
        per_group: dict[str, int] = {}
        for group, _ in stormy:
            per_group[group] = per_group.get(group, 0) + 1
        for group in sorted(set(per_group) | set(self._groups)):
            count = per_group.get(group, 0)
            tally = self._groups.get(group)
            if tally is None and settings.group_burst > 0 and count >= settings.group_burst:
                tally = self._groups[group] = self._seed(wall, [k for k in stormy if k[0] == group])
                yield StormChange(
                    kind=ChangeKind.BEGIN,
                    storm=tally.storm(StormScope.GROUP, group, "", None, None),
                    at=at,
                )
            elif tally is not None and count < math.ceil(settings.group_burst / 2):
                del self._groups[group]
                yield StormChange(
                    kind=ChangeKind.END,
                    storm=tally.storm(StormScope.GROUP, group, "", wall, "subsided"),
                    at=at,
                )
        count = len(stormy)
        if self._host is None and settings.host_burst > 0 and count >= settings.host_burst:
            self._host = self._seed(wall, stormy)
            yield StormChange(
                kind=ChangeKind.BEGIN,
                storm=self._host.storm(StormScope.HOST, "", "", None, None),
                at=at,
            )
        elif self._host is not None and count < math.ceil(settings.host_burst / 2):
            host, self._host = self._host, None
            yield StormChange(
                kind=ChangeKind.END,
                storm=host.storm(StormScope.HOST, "", "", wall, "subsided"),
                at=at,
            )

    def _seed(self, wall: float, members: list[tuple[str, str]]) -> _Tally:
        """A group/host tally starting now, with the members in a storm so far."""
        tally = _Tally(start=wall)
        tally.members.update(f"{group}:{name}" for group, name in members)
        return tally


def detect_storms(
    observations: Iterable[Observation],
    settings: StormSettings | None = None,
    *,
    until: float | None = None,
) -> list[Storm]:
    """Every storm of a history, in the order they began (for notebooks and alerts).

    ``until`` lets time pass after the last observation (on the ``at`` axis), so a
    process that recovered by then has its storm ended; storms still under way have
    ``end`` None.
    """
    detector = StormDetector(settings)
    began: dict[tuple[StormScope, str, str], int] = {}
    storms: list[Storm] = []

    def record(changes: list[StormChange]) -> None:
        for change in changes:
            if change.kind is ChangeKind.BEGIN:
                began[change.storm.key] = len(storms)
                storms.append(change.storm)
            else:
                storms[began.pop(change.storm.key)] = change.storm

    for observation in observations:
        record(detector.feed(observation))
    if until is not None:
        record(detector.advance(until))
    current = {storm.key: storm for storm in detector.current()}
    for key, index in began.items():
        storms[index] = current.get(key, storms[index])
    return storms
