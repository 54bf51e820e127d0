"""Pure pieces of superctl: namespecs, selection, exit-code arithmetic and output text."""

from __future__ import annotations

import pytest

from supervisor_core.ctl import render
from supervisor_core.ctl.api import ProcessInfoDict, ResultDict
from supervisor_core.ctl.codes import ExitStatus, Fault, exitstatus_for_fault
from supervisor_core.ctl.names import select_processes


def info(group: str, name: str, state: int = 20, statename: str = "RUNNING") -> ProcessInfoDict:
    return {
        "group": group,
        "name": name,
        "state": state,
        "statename": statename,
        "description": "desc",
        "pid": 1,
    }


def result(group: str, name: str, status: int, description: str = "") -> ResultDict:
    return {"group": group, "name": name, "status": status, "description": description}


def test_select_all_and_nothing_select_everything() -> None:
    """No names, or ``all`` among names, selects every process in server order."""
    infos = [info("a", "a"), info("g", "x")]
    assert select_processes(infos, []).infos == tuple(infos)
    assert select_processes(infos, ["nope", "all"]).infos == tuple(infos)
    assert select_processes(infos, ["all"]).errors == ()


def test_select_group_star_and_names_with_errors_in_argument_order() -> None:
    """``g:*`` selects the group; missing names and groups yield supervisorctl's errors."""
    infos = [info("a", "a"), info("g", "x"), info("g", "y")]
    selection = select_processes(infos, ["g:*", "zz", "q:*", "g:nope", "a"])
    assert [i["name"] for i in selection.infos] == ["x", "y", "a"]
    assert selection.errors == (
        "zz: ERROR (no such process)",
        "q: ERROR (no such group)",
        "g:nope: ERROR (no such process)",
    )


def test_status_lines_pad_names_to_at_least_30_plus_3() -> None:
    """Short names get a 33-wide column, the state a 10-wide one."""
    lines = render.status_lines([info("a", "a"), info("g", "x", 0, "STOPPED")])
    assert lines == [
        "a" + " " * 32 + "RUNNING   desc",
        "g:x" + " " * 30 + "STOPPED   desc",
    ]


def test_status_lines_widen_for_long_names() -> None:
    """The name column grows to the longest namespec plus three."""
    long = "g:" + "n" * 40
    lines = render.status_lines([info("g", "n" * 40), info("a", "a")])
    assert lines[0].startswith(long + "   RUNNING")
    assert lines[1] == "a" + " " * (len(long) + 2) + "RUNNING   desc"


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (Fault.SUCCESS, "g:x: started"),
        (Fault.BAD_NAME, "g:x: ERROR (no such process)"),
        (Fault.NO_FILE, "g:x: ERROR (no such file)"),
        (Fault.NOT_EXECUTABLE, "g:x: ERROR (file is not executable)"),
        (Fault.ALREADY_STARTED, "g:x: ERROR (already started)"),
        (Fault.SPAWN_ERROR, "g:x: ERROR (spawn error)"),
        (Fault.ABNORMAL_TERMINATION, "g:x: ERROR (abnormal termination)"),
    ],
)
def test_start_result_wording(status: int, line: str) -> None:
    """Each start result code has supervisorctl's wording."""
    assert render.start_result(result("g", "x", status)) == line


def test_signal_and_stop_result_wording() -> None:
    """Signal/stop results: success word, error reasons, FAILED prints the description."""
    assert render.signal_result(result("x", "x", Fault.SUCCESS)) == "x: signalled"
    assert render.stop_result(result("x", "x", Fault.SUCCESS)) == "x: stopped"
    assert render.stop_result(result("x", "x", Fault.NOT_RUNNING)) == "x: ERROR (not running)"
    assert render.signal_result(result("x", "x", Fault.BAD_SIGNAL)) == "x: ERROR (bad signal name)"
    assert render.stop_result(result("x", "x", Fault.FAILED, "FAILED: boom")) == "FAILED: boom"


def test_unknown_result_codes_raise_with_supervisorctl_text() -> None:
    """A code a command cannot word raises ``Unknown result code N for NAME``."""
    with pytest.raises(ValueError, match="Unknown result code 999 for g:x"):
        render.start_result(result("g", "x", 999))
    with pytest.raises(ValueError, match="Unknown result code 60 for x"):
        render.clear_result(result("x", "x", Fault.ALREADY_STARTED))


def test_clear_result_wording() -> None:
    """Clear results print cleared / no such process / failed."""
    assert render.clear_result(result("x", "x", Fault.SUCCESS)) == "x: cleared"
    assert render.clear_result(result("g", "x", Fault.FAILED)) == "g:x: ERROR (failed)"


def test_avail_line_columns() -> None:
    """``avail`` pads name to 32, in-use and autostart to 9, then group:process priority."""
    line = render.avail_line(
        {
            "group": "g",
            "name": "x",
            "inuse": False,
            "autostart": True,
            "group_prio": 5,
            "process_prio": 7,
        }
    )
    assert line == "g:x" + " " * 30 + "avail     auto      5:7"


def test_change_lines_sorted_or_no_updates() -> None:
    """``reread`` lists changes sorted by name, or says there are none."""
    assert render.change_lines([], [], []) == ["No config updates to processes"]
    assert render.change_lines(["b"], ["c"], ["a"]) == [
        "a: disappeared",
        "b: available",
        "c: changed",
    ]


def test_help_topics_golden() -> None:
    """Bare ``help`` lays out the documented actions in cmd.Cmd's columns."""
    assert render.help_topics() == (
        "\ndefault commands (type help <topic>):\n"
        "=====================================\n"
        "add    exit      open  reload  restart   start   tail   \n"
        "avail  fg        pid   remove  shutdown  status  update \n"
        "clear  maintail  quit  reread  signal    stop    version\n\n"
    )


def test_help_for_known_unknown_and_help() -> None:
    """``help X`` prints X's text, ``help help`` the help text, else ``*** No help on X``."""
    assert render.help_for("stop").startswith("stop <name>\t\tStop a process\n")
    assert render.help_for("help").startswith("help\t\tPrint a list")
    assert render.help_for("EOF") == "*** No help on EOF"


@pytest.mark.parametrize(
    ("current", "fault", "ignored", "expected"),
    [
        (0, Fault.SUCCESS, None, 0),
        (1, Fault.SUCCESS, None, 1),
        (0, Fault.ALREADY_STARTED, Fault.ALREADY_STARTED, 0),
        (0, Fault.ALREADY_STARTED, None, ExitStatus.GENERIC),
        (0, Fault.SPAWN_ERROR, None, ExitStatus.NOT_RUNNING),
        (0, Fault.ABNORMAL_TERMINATION, None, ExitStatus.NOT_RUNNING),
        (0, Fault.NOT_RUNNING, None, ExitStatus.NOT_RUNNING),
        (7, Fault.BAD_NAME, None, ExitStatus.GENERIC),
        (1, Fault.NO_FILE, None, ExitStatus.GENERIC),
    ],
)
def test_exitstatus_for_fault(current: int, fault: int, ignored: int | None, expected: int) -> None:
    """Dead-program faults give 7, other faults 1, success and the ignored fault keep it."""
    assert exitstatus_for_fault(current, fault, ignored) == expected
