"""The interactive shell, completion and the ``superctl`` entry point."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from supervisor_core.cli import superctl
from supervisor_core.ctl.commands import Controller
from supervisor_core.ctl.options import CtlOptions
from supervisor_core.ctl.shell import Shell, completions, history

from .fakes import FakeApi, FakeProcess


def infos() -> FakeApi:
    return FakeApi(
        processes=[FakeProcess(group="web", name="web"), FakeProcess(group="g", name="a")]
    )


def test_completion_of_actions_groups_and_processes() -> None:
    """Completion offers actions first, then groups or namespecs depending on the action."""
    api = infos()
    all_infos = api.getAllProcessInfo()
    actions = ["start", "status", "stop", "update"]
    assert completions("", "", actions, None) == ["start ", "status ", "stop ", "update ", "help "]
    assert completions("st", "st", actions, None) == ["start ", "status ", "stop "]
    assert completions("help s", "s", actions, None) == ["start ", "status ", "stop "]
    assert completions("update ", "", actions, all_infos) == ["web ", "g "]
    assert completions("stop ", "", actions, all_infos) == ["web ", "g:a ", "g:* "]
    assert completions("stop g:", "g:", actions, all_infos) == ["g:a ", "g:* "]
    assert completions("frob ", "", actions, all_infos) == []


def run_shell(lines: str, api: FakeApi) -> tuple[str, Controller]:
    out = io.StringIO()
    controller = Controller(
        CtlOptions(interactive=True, prompt="box"),
        stdout=out,
        stderr=io.StringIO(),
        api_factory=lambda *_: api,
    )
    shell = Shell(controller, stdin=io.StringIO(lines), stdout=out)
    shell.use_rawinput = False
    shell.run(None)
    return out.getvalue(), controller


def test_shell_shows_status_first_and_runs_lines_until_eof() -> None:
    """The shell runs ``status`` first, then each line, and prints a newline at EOF."""
    text, controller = run_shell("pid\n\nfrob\n", infos())
    assert text.startswith("web ")
    assert "box> 42\n" in text
    assert "box> *** Unknown syntax: frob\n" in text
    assert text.endswith("box> \n")
    assert controller.exitstatus == 1  # the shell itself still exits 0, see main


def test_shell_stops_at_quit() -> None:
    """``quit`` ends the shell before later lines run."""
    api = infos()
    run_shell("quit\npid\n", api)
    assert ("getPID", ()) not in api.calls


def test_history_file_is_written_back(tmp_path: Path) -> None:
    """A history file is created when the shell ends (readline available)."""
    pytest.importorskip("readline")
    target = tmp_path / "hist"
    with history(str(target)):
        pass
    assert target.exists()


def test_main_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """``-h`` prints the usage text (exit 0); a bad flag prints Error/For help (exit 2)."""
    assert superctl.main(["-h"]) == 0
    assert "[options] [action [arguments]]" in capsys.readouterr().out
    assert superctl.main(["-Z"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: option -Z not recognized\nFor help, use ")


def test_main_one_shot_returns_the_action_status(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A one-shot action against an absent server returns supervisorctl's code."""
    sock = tmp_path / "absent.sock"
    assert superctl.main(["-s", f"unix://{sock}", "status"]) == 4
    assert capsys.readouterr().out == f"unix://{sock} no such file\n"
    assert superctl.main(["-s", f"unix://{sock}", "start", "x"]) == 7


def test_encoding_warning_for_non_utf_stdout() -> None:
    """tail warns when stdout cannot carry all of Unicode, as supervisorctl does."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="latin-1")
    controller = Controller(
        CtlOptions(), stdout=out, stderr=io.StringIO(), api_factory=lambda *_: infos()
    )
    controller.onecmd("tail web")
    out.flush()
    assert raw.getvalue().startswith(b"Warning: sys.stdout.encoding is set to latin-1")
