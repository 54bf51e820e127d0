"""``depends_on`` across the whole file: names resolved to processes, cycles refused.

Rules of this file:
- Pure: groups in, a mapping (or problems) out. The loader calls ``check`` once every
  section is read, so a name may refer to a section further down or in an include.
- A name is ``group:name``, ``group:*`` (every process of the group) or a bare
  ``name``: the group of that name (a ``[program:x]`` is the group ``x`` of its
  ``numprocs`` processes), else the one process of that name in any group.
- Problems name the ``depends_on`` line of the depending program: an unknown name,
  a process depending on itself, a cycle (all its members, in order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from supervisor_core.config.errors import Problem
from supervisor_core.config.model import GroupConfig, Origin, ProcessConfig

Dependencies = Mapping[str, tuple[str, ...]]
"""namespec -> the namespecs it depends on (directly), in the order written."""


def _resolve(name: str, groups: Sequence[GroupConfig]) -> tuple[str, ...] | None:
    group_name, sep, process_name = name.partition(":")
    by_group = {group.name: group for group in groups}
    if sep:
        group = by_group.get(group_name)
        if group is None:
            return None
        if process_name in ("", "*"):
            return tuple(p.namespec for p in group.processes)
        found = [p.namespec for p in group.processes if p.name == process_name]
        return tuple(found) or None
    group = by_group.get(name)
    if group is not None:
        return tuple(p.namespec for p in group.processes)
    found = [p.namespec for g in groups for p in g.processes if p.name == name]
    return tuple(found) if len(found) == 1 else None


def _origin(process: ProcessConfig) -> Origin:
    origin = process.key_origins.get("depends_on") or process.origin
    return origin if origin is not None else Origin("<config>", 0)


def _section(process: ProcessConfig) -> str:
    return f"{process.kind.value}:{process.program_name}"


def resolve(groups: Sequence[GroupConfig]) -> tuple[Dependencies, list[Problem]]:
    """Every process' direct dependencies, and the problems found (unknown, cycles)."""
    problems: list[Problem] = []
    resolved: dict[str, tuple[str, ...]] = {}
    processes = {p.namespec: p for g in groups for p in g.processes}
    for namespec, process in processes.items():
        targets: list[str] = []
        for name in process.depends_on:
            found = _resolve(name, groups)
            if found is None:
                problems.append(
                    Problem(
                        origin=_origin(process),
                        section=_section(process),
                        option="depends_on",
                        reason="names no program, group or group:process",
                        value=name,
                    )
                )
                continue
            if namespec in found:
                problems.append(
                    Problem(
                        origin=_origin(process),
                        section=_section(process),
                        option="depends_on",
                        reason=f"{namespec} cannot depend on itself",
                        value=name,
                    )
                )
                continue
            targets.extend(t for t in found if t not in targets)
        resolved[namespec] = tuple(targets)
    reported: set[frozenset[str]] = set()
    for cycle in _cycles(resolved):
        members = frozenset(cycle)
        if members in reported:
            continue
        reported.add(members)
        first = processes[cycle[0]]
        problems.append(
            Problem(
                origin=_origin(first),
                section=_section(first),
                option="depends_on",
                reason="dependency cycle: " + " -> ".join([*cycle, cycle[0]]),
            )
        )
    return MappingProxyType(resolved), problems


def _cycles(graph: Mapping[str, tuple[str, ...]]) -> list[list[str]]:
    """The cycles a depth-first walk from every node runs into (each loop once per entry)."""
    cycles: list[list[str]] = []
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append(path[path.index(node) :])
            return
        if node in done:
            return
        path.append(node)
        for target in graph.get(node, ()):
            walk(target, path)
        path.pop()
        done.add(node)

    for start in graph:
        walk(start, [])
    return cycles


def dependents(dependencies: Dependencies) -> Dependencies:
    """The reverse mapping: namespec -> the namespecs that depend on it directly."""
    reverse: dict[str, list[str]] = {name: [] for name in dependencies}
    for name, targets in dependencies.items():
        for target in targets:
            reverse.setdefault(target, []).append(name)
    return MappingProxyType({name: tuple(users) for name, users in reverse.items()})
