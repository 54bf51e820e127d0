"""The interactive ``superctl`` shell: a prompt, readline history and completion.

The shell only reads lines; every line is run by :meth:`Controller.onecmd`, so the
shell and one-shot mode share one implementation of each action.
"""

from __future__ import annotations

import cmd
import contextlib
from collections.abc import Iterator
from types import ModuleType
from typing import TextIO

from supervisor_core.ctl.api import ProcessInfoDict
from supervisor_core.ctl.commands import Controller

# Actions whose arguments are groups, and those whose arguments are process names.
_GROUP_ACTIONS = frozenset({"add", "remove", "update"})
_PROCESS_ACTIONS = frozenset(
    {"clear", "fg", "pid", "restart", "signal", "start", "status", "stop", "tail"}
)


def completions(
    line: str, text: str, actions: list[str], infos: list[ProcessInfoDict] | None
) -> list[str]:
    """Candidates for completing ``text`` at the end of ``line`` (each ends in a space).

    The first word completes to an action; ``help`` completes actions; group actions
    complete group names; process actions complete ``name``, ``group:name`` and
    ``group:*``. ``infos`` is ``getAllProcessInfo`` (None when not needed).
    """
    words = line.split()
    if not line.strip() or (len(words) == 1 and not line.endswith(" ")):
        candidates = [*actions, "help"] if "help" not in actions else actions
    elif words[0] == "help":
        candidates = actions
    elif words[0] in _GROUP_ACTIONS:
        candidates = list(dict.fromkeys(info["group"] for info in infos or []))
    elif words[0] in _PROCESS_ACTIONS:
        candidates = []
        for info in infos or []:
            if ":" in text or info["name"] != info["group"]:
                candidates.append(f"{info['group']}:{info['name']}")
                if f"{info['group']}:*" not in candidates:
                    candidates.append(f"{info['group']}:*")
            else:
                candidates.append(info["name"])
    else:
        candidates = []
    return [f"{candidate} " for candidate in candidates if candidate.startswith(text)]


def _readline() -> ModuleType | None:
    try:
        import readline
    except ImportError:  # e.g. a Python built without it: no history, no completion
        return None
    return readline


@contextlib.contextmanager
def history(history_file: str | None) -> Iterator[None]:
    """Load readline history from ``history_file`` and save it back when done.

    Also makes ``group:name``, ``group:*`` and names with ``-`` single words for
    completion. Unreadable or unwritable history files are ignored, as in supervisorctl.
    """
    readline = _readline()
    if readline is not None:
        delims = readline.get_completer_delims()
        readline.set_completer_delims(delims.replace(":", "").replace("*", "").replace("-", ""))
        if history_file:
            with contextlib.suppress(OSError):
                readline.read_history_file(history_file)
    try:
        yield
    finally:
        if readline is not None and history_file:
            with contextlib.suppress(OSError):
                readline.write_history_file(history_file)


class Shell(cmd.Cmd):
    """``cmd.Cmd`` front end of a :class:`Controller`; shows ``status`` first."""

    def __init__(
        self,
        controller: Controller,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        super().__init__(stdin=stdin, stdout=stdout)
        self.controller = controller
        self.prompt = controller.prompt + "> "
        self._infos: list[ProcessInfoDict] | None = None

    def onecmd(self, line: str) -> bool:
        """Run one line through the controller; True ends the loop."""
        self._infos = None  # completion data is fresh for each new line
        return self.controller.onecmd(line)

    def emptyline(self) -> bool:
        """An empty line does nothing (``cmd.Cmd`` would repeat the last command)."""
        return False

    # typeshed declares a list return, but readline calls this and wants one string.
    def complete(self, text: str, state: int) -> str | None:  # type: ignore[override]
        """readline's completer: the ``state``-th candidate for ``text``."""
        readline = _readline()
        line = readline.get_line_buffer() if readline is not None else text
        words = line.split()
        infos = None
        if words and (words[0] in _GROUP_ACTIONS or words[0] in _PROCESS_ACTIONS):
            if self._infos is None:
                self._infos = self.controller.get_supervisor().getAllProcessInfo()
            infos = self._infos
        matches = completions(line, text, self.controller.actions, infos)
        return matches[state] if state < len(matches) else None

    def run(self, history_file: str | None) -> None:
        """Run the shell until ``quit``, EOF or Ctrl-C."""
        with history(history_file):
            self.cmdqueue.append("status")
            try:
                self.cmdloop()
            except KeyboardInterrupt:
                self.controller.output("")
