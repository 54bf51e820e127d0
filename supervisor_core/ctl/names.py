"""Process names as supervisorctl spells them: ``name``, ``group:name``, ``group:*``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from supervisor_core.ctl.api import ProcessInfoDict


def split_namespec(namespec: str) -> tuple[str, str | None]:
    """``(group, process)`` for a namespec; ``process`` is None for a whole group.

    ``web`` means process ``web`` of group ``web``; ``g:web`` process ``web`` of ``g``;
    ``g:*`` and ``g:`` mean every process of ``g``.
    """
    group, sep, process = namespec.partition(":")
    if not sep:
        return namespec, namespec
    if process in ("", "*"):
        return group, None
    return group, process


def make_namespec(group: str, process: str) -> str:
    """The short name supervisorctl prints: ``name`` when group and process agree."""
    if group == process:
        return process
    return f"{group}:{process}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """Which process infos a ``status`` argument list selects, and the names that missed."""

    infos: tuple[ProcessInfoDict, ...]
    # One error line per argument that matched nothing, in argument order.
    errors: tuple[str, ...] = ()


def select_processes(infos: Sequence[ProcessInfoDict], names: Iterable[str]) -> Selection:
    """Resolve ``status`` arguments against ``getAllProcessInfo`` results.

    No names, or ``all`` among them, selects everything. Otherwise each name selects
    the infos it matches, in server order, repeated names repeating their matches (as
    supervisorctl does); a name that matches nothing yields an error line instead.
    """
    wanted = list(names)
    if not wanted or "all" in wanted:
        return Selection(infos=tuple(infos))
    selected: list[ProcessInfoDict] = []
    errors: list[str] = []
    for name in wanted:
        group, process = split_namespec(name)
        matches = [
            info
            for info in infos
            if info["group"] == group and (process is None or info["name"] == process)
        ]
        if matches:
            selected.extend(matches)
        elif process is None:
            errors.append(f"{group}: ERROR (no such group)")
        else:
            errors.append(f"{name}: ERROR (no such process)")
    return Selection(infos=tuple(selected), errors=tuple(errors))
