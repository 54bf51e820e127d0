"""Which events a reader asked for: by type (families allowed), process name and cause.

One filter serves both sides of ``/events``: ``sql()`` selects journaled rows and
``matches(event)`` tests live events, so a replay and the live tail that follows it
agree on what belongs to the stream. Families are expanded once, when the filter is
built, against the registry given (the daemon's: ``EventBus.registry``), into the
concrete type names both sides use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from supervisor_core.events import Event, EventTypeRegistry
from supervisor_core.lifecycle import Cause
from supervisor_core.names import split_namespec


def parse_cause(text: str) -> Cause:
    """A cause by its value (``autorestart``); raises ValueError listing the known ones."""
    try:
        return Cause(text)
    except ValueError:
        known = ", ".join(cause.value for cause in Cause)
        raise ValueError(f"unknown cause {text!r} (known: {known})") from None


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """A process selector: ``name``, ``group:name`` or ``group:*`` (supervisorctl's)."""

    groupname: str | None
    processname: str | None

    @classmethod
    def parse(cls, text: str) -> ProcessSpec:
        """Parse a selector; raises ValueError on an empty name or group.

        ``group:name`` and ``group:*`` are supervisorctl's namespecs; a bare ``name``
        (unlike supervisorctl's ``name:name``) selects the process of that name in any group.
        """
        if not text or text.strip() != text or text.startswith(":") or text.endswith(":"):
            raise ValueError(f"bad process name: {text!r}")
        if ":" not in text:
            return cls(None, text)
        return cls(*split_namespec(text))

    def matches(self, groupname: str | None, processname: str | None) -> bool:
        """Whether an event of that group and process is selected."""
        if self.groupname is not None and groupname != self.groupname:
            return False
        return self.processname is None or processname == self.processname


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """Event types (names or families), minus ``exclude`` (names or families),
    processes and causes; each empty = all.

    A cause filter selects process state changes with one of ``causes`` (only they
    have a cause): ``causes={Cause.AUTORESTART, Cause.DAMPED, Cause.RETRY}`` are the
    restarts.

    ``concrete`` holds the concrete type names ``types`` cover and ``excluded`` those
    ``exclude`` covers (both filled by ``build``).
    """

    types: frozenset[str] = frozenset()
    processes: tuple[ProcessSpec, ...] = ()
    causes: frozenset[Cause] = frozenset()
    exclude: frozenset[str] = frozenset()
    concrete: frozenset[str] = field(default=frozenset(), compare=False)
    excluded: frozenset[str] = field(default=frozenset(), compare=False)

    @classmethod
    def build(
        cls,
        *,
        registry: EventTypeRegistry,
        types: Iterable[str] = (),
        processes: Iterable[str] = (),
        causes: Iterable[str] = (),
        exclude: Iterable[str] = (),
    ) -> EventFilter:
        """Validate names against ``registry``; raises ``UnknownEventType`` or
        ValueError naming the bad one."""
        type_set = frozenset(types)
        exclude_set = frozenset(exclude)
        for name in type_set | exclude_set:
            registry.event_type(name)

        def covered(families: frozenset[str]) -> frozenset[str]:
            return frozenset(
                name
                for name in registry.names(include_abstract=False)
                if any(registry.is_subtype(name, family) for family in families)
            )

        return cls(
            types=type_set,
            processes=tuple(ProcessSpec.parse(p) for p in processes),
            causes=frozenset(parse_cause(c) for c in causes),
            exclude=exclude_set,
            concrete=covered(type_set),
            excluded=covered(exclude_set),
        )

    def concrete_types(self) -> tuple[str, ...]:
        """Every registered type name the ``types`` families cover, sorted."""
        return tuple(sorted(self.concrete))

    def matches(self, event: Event) -> bool:
        """Whether a live event is selected."""
        if self.types and event.name not in self.concrete:
            return False
        if event.name in self.excluded:
            return False
        if self.causes and getattr(event.data, "cause", None) not in self.causes:
            return False
        if not self.processes:
            return True
        groupname = getattr(event.data, "groupname", None)
        processname = getattr(event.data, "processname", None)
        return any(spec.matches(groupname, processname) for spec in self.processes)

    def sql(self, *, cause_column: str = "cause") -> tuple[str, list[str]]:
        """A WHERE fragment (``"1"`` for none) and its parameters.

        ``cause_column`` is how the file at hand reads the cause (an expression on
        the payload for a version-1 journal).
        """
        clauses: list[str] = []
        params: list[str] = []
        if self.types:
            names = self.concrete_types()
            clauses.append(f"type IN ({', '.join('?' * len(names))})")
            params.extend(names)
        if self.excluded:
            left_out = sorted(self.excluded)
            clauses.append(f"type NOT IN ({', '.join('?' * len(left_out))})")
            params.extend(left_out)
        if self.causes:
            values = sorted(cause.value for cause in self.causes)
            clauses.append(f"{cause_column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
        if self.processes:
            alternatives: list[str] = []
            for spec in self.processes:
                parts: list[str] = []
                if spec.groupname is not None:
                    parts.append("groupname = ?")
                    params.append(spec.groupname)
                if spec.processname is not None:
                    parts.append("processname = ?")
                    params.append(spec.processname)
                alternatives.append("(" + " AND ".join(parts) + ")")
            clauses.append("(" + " OR ".join(alternatives) + ")")
        return (" AND ".join(clauses) if clauses else "1", params)
