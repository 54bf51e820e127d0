"""Which events a reader asked for: by type (families allowed) and by process name.

One filter serves both sides of ``/events``: ``sql()`` selects journaled rows and
``matches(event)`` tests live events, so a replay and the live tail that follows it
agree on what belongs to the stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from supervisor_core.events import Event, event_type, event_type_names, is_subtype


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """A process selector: ``name``, ``group:name`` or ``group:*`` (supervisorctl's)."""

    groupname: str | None
    processname: str | None

    @classmethod
    def parse(cls, text: str) -> ProcessSpec:
        """Parse a namespec; raises ValueError on an empty one."""
        if not text or text.strip() != text:
            raise ValueError(f"bad process name: {text!r}")
        group, sep, name = text.partition(":")
        if not sep:
            return cls(None, text)
        if not group or not name:
            raise ValueError(f"bad process name: {text!r}")
        return cls(group, None if name == "*" else name)

    def matches(self, groupname: str | None, processname: str | None) -> bool:
        """Whether an event of that group and process is selected."""
        if self.groupname is not None and groupname != self.groupname:
            return False
        return self.processname is None or processname == self.processname


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """Event types (names or families; empty = all), minus ``exclude`` (names or
    families), and processes (empty = all)."""

    types: frozenset[str] = frozenset()
    processes: tuple[ProcessSpec, ...] = ()
    exclude: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        types: Iterable[str] = (),
        processes: Iterable[str] = (),
        exclude: Iterable[str] = (),
    ) -> EventFilter:
        """Validate names; raises ``UnknownEventType`` or ValueError naming the bad one."""
        type_set = frozenset(types)
        exclude_set = frozenset(exclude)
        for name in type_set | exclude_set:
            event_type(name)
        return cls(
            types=type_set,
            processes=tuple(ProcessSpec.parse(p) for p in processes),
            exclude=exclude_set,
        )

    def concrete_types(self) -> tuple[str, ...]:
        """Every registered type name the ``types`` families cover, sorted."""
        return _covered(self.types)

    def _type_selected(self, name: str) -> bool:
        if self.types and not any(is_subtype(name, family) for family in self.types):
            return False
        return not any(is_subtype(name, family) for family in self.exclude)

    def matches(self, event: Event) -> bool:
        """Whether a live event is selected."""
        if not self._type_selected(event.name):
            return False
        if not self.processes:
            return True
        groupname = getattr(event.data, "groupname", None)
        processname = getattr(event.data, "processname", None)
        return any(spec.matches(groupname, processname) for spec in self.processes)

    def sql(self) -> tuple[str, list[str]]:
        """A WHERE fragment (``"1"`` for none) and its parameters."""
        clauses: list[str] = []
        params: list[str] = []
        if self.types:
            names = self.concrete_types()
            clauses.append(f"type IN ({', '.join('?' * len(names))})")
            params.extend(names)
        excluded = _covered(self.exclude)
        if excluded:
            names = excluded
            clauses.append(f"type NOT IN ({', '.join('?' * len(names))})")
            params.extend(names)
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


def _covered(families: frozenset[str]) -> tuple[str, ...]:
    """Every registered concrete type name under one of ``families``, sorted."""
    return tuple(
        sorted(
            name
            for name in event_type_names(include_abstract=False)
            if any(is_subtype(name, family) for family in families)
        )
    )
