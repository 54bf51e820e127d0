"""Which processes superctl's ``status`` arguments select (see ``supervisor_core.names``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from supervisor_core.ctl.api import ProcessInfoDict
from supervisor_core.names import split_namespec


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
