"""superctl's own commands and flags: help, --help, --version, --json, colour (fake API)."""

from __future__ import annotations

import io
import json

import pytest

from supervisor_core import SUPERVISORD_COMPAT_VERSION, __version__
from supervisor_core.cli import superctl, superd
from supervisor_core.ctl import render, superd_commands
from supervisor_core.ctl.codes import API_VERSION
from supervisor_core.http.rpc import API_VERSION as SERVED_API_VERSION

from .fakes import FakeApi, FakeProcess, no_socket, refused
from .test_commands import Session, standard


def test_bare_help_lists_every_command_in_two_sections() -> None:
    """``help`` keeps supervisorctl's section byte for byte and adds a superd section."""
    session = Session(standard())
    session.controller.onecmd("help")
    text = session.out.getvalue()
    assert text.startswith(render.help_topics())
    rest = text[len(render.help_topics()) :]
    assert rest.startswith("superd commands (type help <topic>):\n")
    for action in session.controller.actions:
        if action not in ("EOF", "help"):
            assert action in text, action
    assert "--json" in rest


@pytest.mark.parametrize("topic", ["events", "storms", "top"])
def test_help_on_the_superd_commands(topic: str) -> None:
    """``help events``/``storms``/``top`` print their usage instead of "No help on"."""
    lines, status = Session(standard()).run(f"help {topic}")
    assert lines[0].startswith(f"{topic} ")
    assert "No help" not in "\n".join(lines)
    assert status == 0


def test_every_command_takes_help_and_exits_zero() -> None:
    """``ACTION --help`` prints ``help ACTION`` for every action and leaves status 0."""
    api = standard()
    for action in Session(api).controller.actions:
        if action in ("EOF", "help"):
            continue
        session = Session(api)
        lines, status = session.run(f"{action} --help")
        assert "\n".join(lines) == superd_commands.help_for(action), action
        assert status == 0, action
    assert not [call for call in api.calls if call[0] != "getVersion"]


def test_status_json_is_one_document_with_the_status_exit_code() -> None:
    """``status --json`` prints the structs as a JSON array; errors go to stderr, exit 3/4."""
    session = Session(standard())
    lines, status = session.run("status --json")
    infos = json.loads("\n".join(lines))
    assert [(i["namespec"], i["statename"]) for i in infos] == [
        ("web", "RUNNING"),
        ("g:a", "RUNNING"),
        ("g:b", "STOPPED"),
    ]
    assert status == 3
    session = Session(standard())
    lines, status = session.run("status --json web nope")
    assert [i["namespec"] for i in json.loads("\n".join(lines))] == ["web"]
    assert session.err.getvalue() == "nope: ERROR (no such process)\n"
    assert status == 4


def test_status_json_on_a_dead_daemon_exits_like_status() -> None:
    """No daemon: the same message and exit status 4 as the text form."""
    for error in (refused(), no_socket()):
        api = FakeApi(error=error)
        text_lines, text_status = Session(api).run("status")
        json_lines, json_status = Session(api).run("status --json")
        assert (json_lines, json_status) == (text_lines, text_status)
        assert json_status == 4


def test_avail_json() -> None:
    """``avail --json`` lists the config structs with their namespecs."""
    lines, status = Session(standard()).run("avail --json")
    assert [(i["namespec"], i["inuse"]) for i in json.loads("\n".join(lines))] == [
        ("web", True),
        ("g:a", True),
        ("g:b", True),
    ]
    assert status == 0


@pytest.mark.parametrize("command", ["events", "storms", "top"])
@pytest.mark.parametrize("error", [refused, no_socket])
def test_superd_commands_on_a_dead_daemon_exit_like_status(command: str, error: object) -> None:
    """events/storms/top print supervisorctl's message and exit 4, as ``status`` does."""
    api = FakeApi(error=error())  # type: ignore[operator]
    expected = Session(api).run("status")
    assert Session(api).run(command) == expected


def test_no_color_and_non_terminals_get_no_colour() -> None:
    """Colour needs a terminal, and NO_COLOR (any non-empty value) turns it off."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert superd_commands.use_colour(Tty(), {}) is True
    assert superd_commands.use_colour(Tty(), {"NO_COLOR": "1"}) is False
    assert superd_commands.use_colour(Tty(), {"NO_COLOR": ""}) is True
    assert superd_commands.use_colour(io.StringIO(), {}) is False


def test_versions(capsys: pytest.CaptureFixture[str]) -> None:
    """``superctl --version`` and ``superd --version`` name ours and the API (exit 0)."""
    assert API_VERSION == SERVED_API_VERSION
    assert superctl.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"superctl {__version__} (supervisorctl {SUPERVISORD_COMPAT_VERSION} compatible, "
        f"XML-RPC API {API_VERSION})\n"
    )
    with pytest.raises(SystemExit) as exited:
        superd.main(["--version"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("superd 0.")
    assert "supervisord 4." in out
    assert f"XML-RPC API {API_VERSION}" in out


def test_unknown_name_in_a_group_is_not_a_known_process() -> None:
    """known_process follows supervisorctl's names: ``g:a`` and ``g:*`` yes, ``zz`` no."""
    session = Session(FakeApi(processes=[FakeProcess(group="g", name="a")]))
    controller = session.controller
    assert superd_commands.known_process(controller, "g:a")
    assert superd_commands.known_process(controller, "g:*")
    assert not superd_commands.known_process(controller, "zz")
