"""superctl's flags, config file section and their precedence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from supervisor_core.ctl.config import (
    CtlConfigError,
    default_search_paths,
    read_supervisorctl_section,
)
from supervisor_core.ctl.options import CtlOptions, HelpRequested, UsageError, resolve_options

NOWHERE = "/nonexistent-prefix/bin/superctl"  # its search path finds no config


def resolve(argv: list[str], environ: dict[str, str] | None = None) -> CtlOptions:
    resolved = resolve_options(argv, argv0=NOWHERE, environ=environ or {})
    assert isinstance(resolved, CtlOptions)
    return resolved


@pytest.fixture(autouse=True)
def _no_config_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The search path includes ./supervisord.conf: run where there is none.
    monkeypatch.chdir(tmp_path)


def test_defaults_without_config_start_the_shell() -> None:
    """No flags and no config: localhost:9001, prompt ``supervisor``, interactive."""
    options = resolve([])
    assert options == CtlOptions(interactive=True)


def test_action_words_after_the_first_are_not_options() -> None:
    """Everything from the first non-option word on is the action, getopt style."""
    options = resolve(["-s", "unix:///x.sock", "tail", "-f", "web", "-c", "z"])
    assert options.args == ("tail", "-f", "web", "-c", "z")
    assert options.serverurl == "unix:///x.sock"
    assert not options.interactive


def test_interactive_flag_and_leading_double_dash() -> None:
    """``-i`` sets interactive even with an action; a leading ``--`` is dropped."""
    options = resolve(["-i", "--", "status"])
    assert options.interactive
    assert options.args == ("status",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-x", "status"], "option -x not recognized"),
        (["--bogus"], "option --bogus not recognized"),
        (["-c"], "option -c requires argument"),
        (["-c", "a", "-c", "b"], "conflicting command line option '-c'"),
        (["-i", "-i"], "conflicting command line option '-i'"),
        (["-s", "foo"], "invalid value for -s 'foo': value 'foo' is not a URL"),
        (["-c", "/nonexistent.conf", "status"], "could not find config file /nonexistent.conf"),
    ],
)
def test_usage_errors_use_supervisorctl_wording(argv: list[str], message: str) -> None:
    """Bad command lines raise UsageError with supervisorctl's message."""
    with pytest.raises(UsageError) as raised:
        resolve_options(argv, argv0=NOWHERE, environ={})
    assert str(raised.value) == message


@pytest.mark.parametrize("flag", ["-h", "--help", "-?"])
def test_help_flags(flag: str) -> None:
    """``-h``, ``--help`` and ``-?`` ask for the usage text."""
    assert resolve_options([flag, "status"], argv0=NOWHERE) == HelpRequested()


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_config_section_is_read_with_expansions(tmp_path: Path) -> None:
    """serverurl/history_file expand %(here)s; every value expands %(ENV_X)s; ; comments."""
    conf = write(
        tmp_path / "s.conf",
        "[supervisorctl]\n"
        "serverurl = unix://%(here)s/run/../s.sock ; comment\n"
        "username = %(ENV_WHO)s\n"
        "password = secret # another\n"
        "prompt = box\n"
        "history_file = %(here)s/hist\n",
    )
    section = read_supervisorctl_section(conf, {"WHO": "alice"})
    assert section.serverurl == f"unix://{tmp_path}/s.sock"
    assert section.username == "alice"
    assert section.password == "secret"
    assert section.prompt == "box"
    assert section.history_file == f"{tmp_path}/hist"


def test_config_defaults_when_keys_are_missing(tmp_path: Path) -> None:
    """An empty section gives supervisorctl's defaults."""
    section = read_supervisorctl_section(write(tmp_path / "s.conf", "[supervisorctl]\n"), {})
    assert section.serverurl == "http://localhost:9001"
    assert section.prompt == "supervisor"
    assert section.username is None
    assert section.history_file is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[supervisord]\n", ".ini file does not include supervisorctl section"),
        ("[supervisorctl]\nprompt=%(ENV_NOPE)s\n", "contains names ('ENV_NOPE')"),
        ("[supervisorctl]\nprompt=100%\n", "is badly formatted"),
        ("no header\n", "File contains no section headers"),
    ],
)
def test_config_errors(tmp_path: Path, text: str, message: str) -> None:
    """Unusable config files raise CtlConfigError naming the problem."""
    with pytest.raises(CtlConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_supervisorctl_section(write(tmp_path / "s.conf", text), {})


def test_flags_override_config_and_config_overrides_defaults(tmp_path: Path) -> None:
    """Command-line flags win over the section, which wins over defaults."""
    conf = write(
        tmp_path / "s.conf",
        "[supervisorctl]\nserverurl=http://127.0.0.1:1\nusername=u\npassword=p\nprompt=pr\n",
    )
    options = resolve(["-c", conf, "-u", "v", "status"])
    assert options.serverurl == "http://127.0.0.1:1"
    assert options.username == "v"
    assert options.password == "p"
    assert options.prompt == "pr"
    assert options.configfile == conf


def test_search_path_finds_config_in_cwd(tmp_path: Path) -> None:
    """Without -c, ./supervisord.conf on the search path is used."""
    write(tmp_path / "supervisord.conf", "[supervisorctl]\nserverurl=http://h:2\n")
    assert resolve(["status"]).serverurl == "http://h:2"


def test_search_path_order() -> None:
    """The search path is supervisord's: prefix/etc, prefix, cwd, etc/, /etc, /etc/supervisor."""
    assert default_search_paths("/opt/venv/bin/superctl") == (
        "/opt/venv/etc/supervisord.conf",
        "/opt/venv/supervisord.conf",
        "supervisord.conf",
        "etc/supervisord.conf",
        "/etc/supervisord.conf",
        "/etc/supervisor/supervisord.conf",
    )


def test_environment_defaults_to_os_environ(tmp_path: Path) -> None:
    """Without an explicit environment, %(ENV_X)s reads the process environment."""
    conf = write(tmp_path / "s.conf", "[supervisorctl]\nprompt=%(ENV_HOME)s\n")
    assert read_supervisorctl_section(conf).prompt == os.environ["HOME"]
