"""supervisorctl's output text: status tables, per-process results, help.

Pure functions from XML-RPC results to lines. The exact spelling, spacing and
column widths are part of the compatibility contract (scripts grep this output).
"""

from __future__ import annotations

import cmd
import io
from collections.abc import Iterable, Mapping, Sequence

from supervisor_core.ctl.api import ConfigInfoDict, ProcessInfoDict, ResultDict
from supervisor_core.ctl.codes import Fault
from supervisor_core.names import make_namespec

# supervisorctl pads the name column to at least 30 characters, plus 3 spaces.
_MIN_NAME_WIDTH = 30


def status_lines(infos: Sequence[ProcessInfoDict]) -> list[str]:
    """One ``status`` line per process: name, state (10 wide), description.

    The name column is as wide as the longest namespec (at least 30) plus three.
    """
    names = [make_namespec(info["group"], info["name"]) for info in infos]
    width = max([_MIN_NAME_WIDTH, *(len(name) for name in names)]) + 3
    return [
        f"{name:<{width}}{info['statename']:<10}{info['description']}"
        for name, info in zip(names, infos, strict=True)
    ]


class UnknownResultCode(ValueError):
    """A per-process result carried a code the command has no wording for."""

    def __init__(self, code: int, name: str) -> None:
        super().__init__(f"Unknown result code {code} for {name}")


_START_ERRORS: Mapping[int, str] = {
    Fault.BAD_NAME: "no such process",
    Fault.NO_FILE: "no such file",
    Fault.NOT_EXECUTABLE: "file is not executable",
    Fault.ALREADY_STARTED: "already started",
    Fault.SPAWN_ERROR: "spawn error",
    Fault.ABNORMAL_TERMINATION: "abnormal termination",
}

_SIGNAL_ERRORS: Mapping[int, str] = {
    Fault.BAD_NAME: "no such process",
    Fault.BAD_SIGNAL: "bad signal name",
    Fault.NOT_RUNNING: "not running",
}

_CLEAR_ERRORS: Mapping[int, str] = {
    Fault.BAD_NAME: "no such process",
    Fault.FAILED: "failed",
}


def start_result(result: ResultDict) -> str:
    """The line for one process of ``start``: ``name: started`` or ``name: ERROR (...)``.

    Raises:
        UnknownResultCode: the code is not one ``start`` can report.
    """
    name = make_namespec(result["group"], result["name"])
    code = result["status"]
    if code == Fault.SUCCESS:
        return f"{name}: started"
    if code in _START_ERRORS:
        return f"{name}: ERROR ({_START_ERRORS[code]})"
    raise UnknownResultCode(code, name)


def signal_result(result: ResultDict, success: str = "signalled") -> str:
    """The line for one process of ``signal`` (or ``stop`` with ``success='stopped'``).

    A FAILED result prints the server's description alone, as supervisorctl does.

    Raises:
        UnknownResultCode: the code is not one ``signal``/``stop`` can report.
    """
    name = make_namespec(result["group"], result["name"])
    code = result["status"]
    if code == Fault.SUCCESS:
        return f"{name}: {success}"
    if code == Fault.FAILED:
        return result["description"]
    if code in _SIGNAL_ERRORS:
        return f"{name}: ERROR ({_SIGNAL_ERRORS[code]})"
    raise UnknownResultCode(code, name)


def stop_result(result: ResultDict) -> str:
    """The line for one process of ``stop``."""
    return signal_result(result, success="stopped")


def clear_result(result: ResultDict) -> str:
    """The line for one process of ``clear``.

    Raises:
        UnknownResultCode: the code is not one ``clear`` can report.
    """
    name = make_namespec(result["group"], result["name"])
    code = result["status"]
    if code == Fault.SUCCESS:
        return f"{name}: cleared"
    if code in _CLEAR_ERRORS:
        return f"{name}: ERROR ({_CLEAR_ERRORS[code]})"
    raise UnknownResultCode(code, name)


def avail_line(info: ConfigInfoDict) -> str:
    """One ``avail`` line: name (32), in use/avail (9), auto/manual (9), priorities."""
    name = make_namespec(info["group"], info["name"])
    inuse = "in use" if info["inuse"] else "avail"
    autostart = "auto" if info["autostart"] else "manual"
    return f"{name:<32} {inuse:<9} {autostart:<9} {info['group_prio']}:{info['process_prio']}"


def change_lines(added: Iterable[str], changed: Iterable[str], removed: Iterable[str]) -> list[str]:
    """``reread`` output: every changed group name, sorted, with what happened to it.

    A name listed twice keeps the last wording (removed over changed over added).
    """
    wording: dict[str, str] = {}
    for names, word in ((added, "available"), (changed, "changed"), (removed, "disappeared")):
        for name in names:
            wording[name] = word
    if not wording:
        return ["No config updates to processes"]
    return [f"{name}: {wording[name]}" for name in sorted(wording)]


# ``help ACTION`` texts, exactly as supervisorctl prints them (one string per action;
# embedded tabs and newlines are part of the text).
HELP_TEXTS: Mapping[str, str] = {
    "add": "add <name> [...]\tActivates any updates in config for process/group",
    "avail": "avail\t\t\tDisplay all configured processes",
    "clear": (
        "clear <name>\t\tClear a process' log files.\n"
        "clear <name> <name>\tClear multiple process' log files\n"
        "clear all\t\tClear all process' log files"
    ),
    "exit": "exit\tExit the supervisor shell.",
    "fg": "fg <process>\tConnect to a process in foreground mode\n\t\tCtrl-C to exit",
    "maintail": (
        "maintail -f \tContinuous tail of supervisor main log file (Ctrl-C to exit)\n"
        "maintail -100\tlast 100 *bytes* of supervisord main log file\n"
        "maintail\tlast 1600 *bytes* of supervisor main log file\n"
    ),
    "open": (
        "open <url>\tConnect to a remote supervisord process.\n"
        "\t\t(for UNIX domain socket, use unix:///socket/path)"
    ),
    "pid": (
        "pid\t\t\tGet the PID of supervisord.\n"
        "pid <name>\t\tGet the PID of a single child process by name.\n"
        "pid all\t\t\tGet the PID of every child process, one per line."
    ),
    "quit": "quit\tExit the supervisor shell.",
    "reload": "reload \t\tRestart the remote supervisord.",
    "remove": "remove <name> [...]\tRemoves process/group from active config",
    "reread": "reread \t\t\tReload the daemon's configuration files without add/remove",
    "restart": (
        "restart <name>\t\tRestart a process\n"
        "restart <gname>:*\tRestart all processes in a group\n"
        "restart <name> <name>\tRestart multiple processes or groups\n"
        "restart all\t\tRestart all processes\n"
        "Note: restart does not reread config files. For that, see reread and update."
    ),
    "shutdown": "shutdown \tShut the remote supervisord down.",
    "signal": (
        "signal <signal name> <name>\t\tSignal a process\n"
        "signal <signal name> <gname>:*\t\tSignal all processes in a group\n"
        "signal <signal name> <name> <name>\tSignal multiple processes or groups\n"
        "signal <signal name> all\t\tSignal all processes"
    ),
    "start": (
        "start <name>\t\tStart a process\n"
        "start <gname>:*\t\tStart all processes in a group\n"
        "start <name> <name>\tStart multiple processes or groups\n"
        "start all\t\tStart all processes"
    ),
    "status": (
        "status <name>\t\tGet status for a single process\n"
        "status <gname>:*\tGet status for all processes in a group\n"
        "status <name> <name>\tGet status for multiple named processes\n"
        "status\t\t\tGet all process status info"
    ),
    "stop": (
        "stop <name>\t\tStop a process\n"
        "stop <gname>:*\t\tStop all processes in a group\n"
        "stop <name> <name>\tStop multiple processes or groups\n"
        "stop all\t\tStop all processes"
    ),
    "tail": (
        "tail [-f] <name> [stdout|stderr] (default stdout)\n"
        "Ex:\n"
        "tail -f <name>\t\tContinuous tail of named process stdout\n"
        "\t\t\tCtrl-C to exit.\n"
        "tail -100 <name>\tlast 100 *bytes* of process stdout\n"
        "tail <name> stderr\tlast 1600 *bytes* of process stderr"
    ),
    "update": (
        "update\t\t\tReload config and add/remove as necessary, and will restart "
        "affected programs\n"
        "update all\t\tReload config and add/remove as necessary, and will restart "
        "affected programs\n"
        "update <gname> [...]\tUpdate specific groups"
    ),
    "version": "version\t\t\tShow the version of the remote supervisord process",
}

HELP_HELP = "help\t\tPrint a list of available actions\nhelp <action>\tPrint help for <action>"

_TOPICS_HEADER = "default commands (type help <topic>):"


def help_topics() -> str:
    """The text of a bare ``help``: a blank line, a header, a ruler and the actions.

    The actions are laid out in columns by :meth:`cmd.Cmd.columnize` within 79
    characters, the way ``cmd`` prints its topics.
    """
    columns = io.StringIO()
    cmd.Cmd(stdout=columns).columnize(sorted(HELP_TEXTS), 79)
    return f"\n{_TOPICS_HEADER}\n{'=' * len(_TOPICS_HEADER)}\n{columns.getvalue()}\n"


def help_for(topic: str) -> str:
    """The text of ``help TOPIC`` (``*** No help on TOPIC`` for unknown topics)."""
    if topic == "help":
        return HELP_HELP
    text = HELP_TEXTS.get(topic)
    if text is None:
        return f"*** No help on {topic}"
    return text
