"""superctl's commands beyond supervisorctl's: their help, and what they share.

Rules of this file:
- supervisorctl's own text never changes: a bare ``help`` prints supervisorctl's
  section exactly, then a second section for superd's commands in the form
  supervisorctl itself gives a ``[ctlplugin:x]`` (``x commands (type help <topic>):``).
- The superd commands follow supervisorctl's conventions: ``Error: ...`` plus the
  usage for bad arguments (exit 2), ``NAME: ERROR (no such process)`` for unknown
  names (exit 1), and, like ``status``, the LSB status code 4 with supervisorctl's
  own message (``... refused connection``, ``... no such file``) when no daemon
  answers.
- Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org).
"""

from __future__ import annotations

import cmd
import io
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from supervisor_core.ctl import events, render, storms, top_help
from supervisor_core.ctl.codes import StatusExitStatus
from supervisor_core.ctl.names import select_processes

if TYPE_CHECKING:
    from supervisor_core.ctl.commands import Controller

# ``help TOPIC`` texts of the commands supervisorctl does not have.
HELP_TEXTS: Mapping[str, str] = {
    "events": events.HELP,
    "storms": storms.HELP,
    "top": top_help.HELP,
}

SECTION_HEADER = "superd commands (type help <topic>):"
NOTE = "Every command also takes --help; status and avail take --json."


def help_topics() -> str:
    """A bare ``help``: supervisorctl's section, then superd's (same layout)."""
    columns = io.StringIO()
    cmd.Cmd(stdout=columns).columnize(sorted(HELP_TEXTS), 79)
    return (
        render.help_topics()
        + f"{SECTION_HEADER}\n{'=' * len(SECTION_HEADER)}\n{columns.getvalue()}{NOTE}\n\n"
    )


def help_for(topic: str) -> str:
    """``help TOPIC`` for supervisorctl's topics and superd's."""
    text = HELP_TEXTS.get(topic)
    return text if text is not None else render.help_for(topic)


def wants_help(arg: str) -> bool:
    """Whether a command's arguments ask for its help (``--help`` anywhere)."""
    return "--help" in arg.split()


def use_colour(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour on a terminal unless ``NO_COLOR`` is set to anything non-empty."""
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def reach(controller: Controller) -> bool:
    """Whether the daemon answers; if not, report it as ``status`` does (exit 4)."""
    if controller.upcheck():
        return True
    controller.exitstatus = StatusExitStatus.UNKNOWN
    return False


def known_process(controller: Controller, name: str) -> bool:
    """Whether ``name`` (``name``, ``group:name``, ``group:*``) is one the daemon runs."""
    infos = controller.get_supervisor().getAllProcessInfo()
    return not select_processes(infos, [name]).errors


def run_events(controller: Controller, arg: str) -> None:
    """``superctl events ARG`` inside a controller session."""
    if not reach(controller):
        return
    status = events.run_events(
        arg,
        serverurl=controller.serverurl,
        username=controller.username,
        password=controller.password,
        stdout=controller.stdout,
        known=lambda name: known_process(controller, name),
        colour=use_colour(controller.stdout),
    )
    if status:
        controller.exitstatus = status


def run_storms(controller: Controller, arg: str) -> None:
    """``superctl storms ARG`` inside a controller session."""
    if not reach(controller):
        return
    status = storms.run_storms(
        arg,
        serverurl=controller.serverurl,
        username=controller.username,
        password=controller.password,
        stdout=controller.stdout,
    )
    if status:
        controller.exitstatus = status


__all__ = [
    "HELP_TEXTS",
    "help_for",
    "help_topics",
    "known_process",
    "reach",
    "run_events",
    "run_storms",
    "use_colour",
    "wants_help",
]
