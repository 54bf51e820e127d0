"""``depends_on`` at run time: which starts wait, what stops first.

Rules of this file:
- Pure decisions over snapshots: the supervisor asks, with the current states, what
  a start must wait for, which dependencies a start brings along, and in which
  waves a set of processes must stop; it carries the answers out.
- A dependency is *ready* when it is RUNNING: with ``ready=`` that is when the
  program said (or a probe found) it is ready, else after ``startsecs``.
- The graph is acyclic (``config.dependencies`` refuses cycles at load time), so
  every stop has a first wave and every wait can end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from supervisor_core.config.dependencies import Dependencies, dependents
from supervisor_core.lifecycle import STOPPED_STATES, ProcessState


@dataclass(frozen=True, slots=True)
class DependencyGraph:
    """The resolved ``depends_on`` of the active configuration, both ways.

    ``empty`` (no process depends on anything: supervisord's world) is computed once:
    the supervisor asks it at every state change.
    """

    requires: Dependencies
    required_by: Dependencies
    empty: bool

    @classmethod
    def of(cls, requires: Dependencies) -> DependencyGraph:
        """The graph of ``requires`` (namespec -> direct dependencies)."""
        return cls(
            requires=requires,
            required_by=dependents(requires),
            empty=not any(requires.values()),
        )

    def waiting_for(self, name: str, states: Mapping[str, ProcessState]) -> tuple[str, ...]:
        """The direct dependencies of ``name`` that are not RUNNING (ready) now."""
        return tuple(
            dep
            for dep in self.requires.get(name, ())
            if states.get(dep) is not ProcessState.RUNNING
        )

    def to_bring_along(self, name: str, states: Mapping[str, ProcessState]) -> tuple[str, ...]:
        """Dependencies an explicit start of ``name`` starts first, deepest first.

        Those that are idle (STOPPED or EXITED: ``autostart=false``, or stopped by
        somebody) and so would not start by themselves; a FATAL one is left for a
        person to look at, and its dependent waits for it visibly.
        """
        order: list[str] = []

        def visit(node: str) -> None:
            for dep in self.requires.get(node, ()):
                if dep in order:
                    continue
                visit(dep)
                if states.get(dep) in (ProcessState.STOPPED, ProcessState.EXITED):
                    order.append(dep)

        visit(name)
        return tuple(order)

    def running_dependents(self, name: str, states: Mapping[str, ProcessState]) -> tuple[str, ...]:
        """Every process that depends on ``name`` (transitively) and is not stopped."""
        found: list[str] = []
        todo = list(self.required_by.get(name, ()))
        while todo:
            node = todo.pop(0)
            if node in found:
                continue
            found.append(node)
            todo.extend(self.required_by.get(node, ()))
        return tuple(n for n in found if states.get(n) not in STOPPED_STATES)

    def stop_waves(self, names: Iterable[str]) -> list[list[str]]:
        """``names`` in waves: each wave holds those none of whose dependents remain."""
        remaining = list(names)
        waves: list[list[str]] = []
        while remaining:
            wave = [
                n for n in remaining if not any(d in remaining for d in self.required_by.get(n, ()))
            ]
            if not wave:  # unreachable for an acyclic graph; never loop forever
                wave = list(remaining)
            waves.append(wave)
            remaining = [n for n in remaining if n not in wave]
        return waves
