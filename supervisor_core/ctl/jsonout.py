"""``status --json`` and ``avail --json``: supervisorctl's tables as JSON for scripts.

The objects are the XML-RPC structs as the daemon returns them (supervisord's field
names: ``name``, ``group``, ``statename``, ``pid``, ``start``, ``exitstatus`` ...)
plus ``namespec``, the name the text table prints. Exit statuses are those of the
text form; per-name errors go to stderr, so stdout is always one JSON document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from supervisor_core.ctl.codes import STOPPED_STATES, ExitStatus, StatusExitStatus
from supervisor_core.ctl.names import select_processes
from supervisor_core.names import make_namespec

if TYPE_CHECKING:
    from supervisor_core.ctl.commands import Controller

JSON_FLAG = "--json"


def split_json_flag(arg: str) -> tuple[bool, list[str]]:
    """``(asked for JSON, the other words)`` of a command's arguments."""
    words = arg.split()
    return JSON_FLAG in words, [word for word in words if word != JSON_FLAG]


def as_json(structs: Sequence[Mapping[str, object]]) -> str:
    """One JSON array, each struct with its ``namespec`` added first."""
    return json.dumps(
        [{"namespec": make_namespec(str(s["group"]), str(s["name"])), **s} for s in structs],
        indent=2,
    )


def status(controller: Controller, names: list[str]) -> None:
    """``status --json [NAME...]`` (exit 3 if any is not running, 4 for unknown names)."""
    if not controller.upcheck():
        controller.exitstatus = StatusExitStatus.UNKNOWN
        return
    infos = controller.get_supervisor().getAllProcessInfo()
    selection = select_processes(infos, names)
    for message in selection.errors:
        controller.stderr.write(message + "\n")
        controller.exitstatus = StatusExitStatus.UNKNOWN
    controller.stderr.flush()
    controller.output(as_json(selection.infos))
    if any(info["state"] in STOPPED_STATES for info in selection.infos):
        controller.exitstatus = StatusExitStatus.NOT_RUNNING


def avail(controller: Controller, names: list[str]) -> None:
    """``avail --json``: every configured process (exit 1 for extra arguments)."""
    if names:
        controller.output("Error: avail accepts no arguments")
        controller.exitstatus = ExitStatus.GENERIC
        return
    infos = controller.get_supervisor().getAllConfigInfo()
    controller.output(as_json(infos))


__all__ = ["as_json", "avail", "split_json_flag", "status"]
