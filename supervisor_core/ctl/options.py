"""superctl's command line and where each setting comes from.

Precedence is supervisorctl's: a command-line flag, then the ``[supervisorctl]``
section of the config file (``-c FILE`` or the first file on the search path), then
the built-in default. Options come before the action, as with ``getopt``: everything
from the first non-option word on is the action and its arguments.
"""

from __future__ import annotations

import argparse
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from supervisor_core import SUPERVISORD_COMPAT_VERSION, __version__
from supervisor_core.ctl.codes import API_VERSION
from supervisor_core.ctl.config import (
    DEFAULT_SERVERURL,
    CtlConfigError,
    default_search_paths,
    find_config,
    read_supervisorctl_section,
)

USAGE = """\
superctl -- control applications run by superd or supervisord from the cmd line.

Usage: {progname} [options] [action [arguments]]

Options:
-c/--configuration FILENAME -- configuration file path (searches if not given)
-h/--help -- print usage message and exit
-i/--interactive -- start an interactive shell after executing commands
-s/--serverurl URL -- URL on which supervisord server is listening
     (default "http://localhost:9001").
-u/--username USERNAME -- username to use for authentication with server
-p/--password PASSWORD -- password to use for authentication with server
-r/--history-file -- keep a readline history (if readline is available)
--version -- print superctl's version and the API version it speaks, and exit

action [arguments] -- see below

Actions are commands like "tail" or "stop".  If -i is specified or no action is
specified on the command line, a "shell" interpreting actions typed
interactively is started.  Use the action "help" to find out about available
actions; every action also takes --help.
"""


def version_text() -> str:
    """``superctl --version``: our version and the supervisord API it speaks."""
    return (
        f"superctl {__version__} (supervisorctl {SUPERVISORD_COMPAT_VERSION} compatible, "
        f"XML-RPC API {API_VERSION})"
    )


class UsageError(Exception):
    """The command line or the config file is unusable; printed as ``Error: ...``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CtlOptions:
    """Everything a superctl session needs to know, already resolved."""

    serverurl: str = DEFAULT_SERVERURL
    username: str | None = None
    password: str | None = None
    prompt: str = "supervisor"
    history_file: str | None = None
    interactive: bool = False
    configfile: str | None = None
    # The action and its arguments, as typed (empty: start the shell).
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HelpRequested:
    """``-h``/``--help``/``-?`` was given: print :data:`USAGE` and exit 0."""


@dataclass(frozen=True, slots=True)
class VersionRequested:
    """``--version`` was given: print :func:`version_text` and exit 0."""


def _check_url(value: str) -> bool:
    parsed = urllib.parse.urlparse(value)
    return bool(parsed.scheme and (parsed.netloc or parsed.path))


class _Once(argparse.Action):
    """Store a value, refusing a second occurrence the way supervisorctl does."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, self.dest) is not None:
            raise UsageError(f"conflicting command line option {option_string!r}")
        if self.nargs == 0:
            setattr(namespace, self.dest, True)
            return
        if self.dest == "serverurl" and isinstance(values, str) and not _check_url(values):
            raise UsageError(
                f"invalid value for {option_string} {values!r}: value {values!r} is not a URL"
            )
        setattr(namespace, self.dest, values)


class _Parser(argparse.ArgumentParser):
    """argparse with getopt's error wording, raising instead of exiting."""

    def error(self, message: str) -> Any:  # argparse declares NoReturn
        if message.startswith("unrecognized arguments: "):
            option = message.split(": ", 1)[1].split(maxsplit=1)[0].split("=", 1)[0]
            raise UsageError(f"option {option} not recognized")
        if message.startswith("argument ") and "expected one argument" in message:
            option = message.split()[1].split("/", maxsplit=1)[0].rstrip(":")
            raise UsageError(f"option {option} requires argument")
        raise UsageError(message)


def build_parser(prog: str = "superctl") -> argparse.ArgumentParser:
    """supervisorctl's options, spelled as supervisorctl spells them.

    Errors raise :class:`UsageError` rather than exiting; ``-h`` sets ``help``.
    """
    parser = _Parser(prog=prog, add_help=False, usage=f"{prog} [options] [action [arguments]]")
    parser.add_argument("-h", "-?", "--help", dest="help", action="store_true")
    parser.add_argument("--version", dest="version", action="store_true")
    parser.add_argument("-c", "--configuration", dest="configfile", action=_Once)
    parser.add_argument("-i", "--interactive", dest="interactive", action=_Once, nargs=0)
    parser.add_argument("-s", "--serverurl", dest="serverurl", action=_Once)
    parser.add_argument("-u", "--username", dest="username", action=_Once)
    parser.add_argument("-p", "--password", dest="password", action=_Once)
    parser.add_argument("-r", "--history_file", "--history-file", dest="history_file", action=_Once)
    parser.add_argument("action", nargs=argparse.REMAINDER)
    return parser


def resolve_options(
    argv: Sequence[str],
    *,
    argv0: str,
    environ: Mapping[str, str] | None = None,
) -> CtlOptions | HelpRequested | VersionRequested:
    """Parse ``argv`` and merge it with the config file into :class:`CtlOptions`.

    Args:
        argv: the arguments after the program name.
        argv0: the program path, which anchors the config search path.
        environ: the environment for ``%(ENV_X)s`` expansions.

    Raises:
        UsageError: bad flags, or a config file that cannot be used.
    """
    namespace = build_parser().parse_args(list(argv))
    if namespace.help:
        return HelpRequested()
    if namespace.version:
        return VersionRequested()
    action: list[str] = list(namespace.action)
    if action[:1] == ["--"]:
        action = action[1:]

    configfile: str | None = namespace.configfile
    if configfile is None:
        configfile = find_config(default_search_paths(argv0))
    section = None
    if configfile is not None:
        try:
            section = read_supervisorctl_section(configfile, environ)
        except CtlConfigError as error:
            raise UsageError(str(error)) from None

    def pick(flag: str | None, configured: str | None) -> str | None:
        return flag if flag is not None else configured

    return CtlOptions(
        serverurl=pick(namespace.serverurl, section.serverurl if section else None)
        or DEFAULT_SERVERURL,
        username=pick(namespace.username, section.username if section else None),
        password=pick(namespace.password, section.password if section else None),
        prompt=section.prompt if section else "supervisor",
        history_file=pick(namespace.history_file, section.history_file if section else None),
        interactive=bool(namespace.interactive) or not action,
        configfile=configfile,
        args=tuple(action),
    )
