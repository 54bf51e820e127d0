"""Man pages and shell completion, generated from the argument parsers.

The parsers are the source of truth: ``superd``'s own parser, and for ``superctl``
its option parser plus one sub-command per action (with the help texts ``help``
prints). The generated files are checked in under ``deploy/man`` and
``deploy/completion``, shipped as package data, and a test regenerates and diffs
them. Regenerate after changing a flag or a command::

    .venv/bin/python -m supervisor_core.cli.reference --write deploy

Completion scripts come from ``shtab`` (a developer tool: only this generator
imports it).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path

from supervisor_core import __version__

# Files this module writes, relative to the output directory.
MAN_PAGES = {"man/superd.1": "superd", "man/superctl.1": "superctl"}
COMPLETIONS = {
    "completion/superctl.bash": ("superctl", "bash"),
    "completion/superd.bash": ("superd", "bash"),
    "completion/_superctl": ("superctl", "zsh"),
    "completion/_superd": ("superd", "zsh"),
}
# A fixed date keeps the pages reproducible (regenerating changes nothing).
_DATE = datetime.date(2026, 1, 1)


def superd_parser() -> argparse.ArgumentParser:
    """``superd``'s parser, with ``superd assets`` described as a sub-command."""
    from supervisor_core.cli.superd import assets_parser, build_parser

    parser = build_parser()
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    assets = assets_parser()
    commands.add_parser(
        "assets", parents=[assets], add_help=False, help=assets.description, description=None
    )
    return parser


def superctl_parser() -> argparse.ArgumentParser:
    """``superctl``'s options and one sub-command per action, with its help text."""
    from supervisor_core.ctl import superd_commands
    from supervisor_core.ctl.commands import Controller
    from supervisor_core.ctl.options import CtlOptions

    parser = argparse.ArgumentParser(
        prog="superctl",
        description="Control the programs of superd (or supervisord): supervisorctl's "
        "commands, flags, output and exit codes, plus events, storms and top.",
    )
    parser.add_argument("-c", "--configuration", metavar="FILE", help="configuration file path")
    parser.add_argument(
        "-i", "--interactive", action="store_true", help="start a shell after the command"
    )
    parser.add_argument(
        "-s", "--serverurl", metavar="URL", help="unix:///path or http://host:port of the daemon"
    )
    parser.add_argument("-u", "--username", metavar="USER", help="username for the server")
    parser.add_argument("-p", "--password", metavar="PASSWORD", help="password for the server")
    parser.add_argument(
        "-r", "--history-file", metavar="FILE", help="keep a readline history in FILE"
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(title="actions", dest="action", metavar="ACTION")
    controller = Controller(CtlOptions(), stdout=sys.stdout, stderr=sys.stderr)
    for action in controller.actions:
        text = superd_commands.help_for(action)
        if text.startswith("*** No help"):
            continue
        lines = text.splitlines()
        # supervisorctl's texts are "usage<TAB>what"; superd's are "usage" then "    what".
        if "\t" not in lines[0] and len(lines) > 1:
            summary = lines[1].strip()
        else:
            summary = lines[0].split("\t")[-1].strip() or lines[0]
        sub = commands.add_parser(action, help=summary, description=text)
        sub.add_argument("arguments", nargs="*", help=argparse.SUPPRESS)
    return parser


def _roff(text: str) -> str:
    escaped = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in escaped.splitlines()
    )


def manpage(parser: argparse.ArgumentParser, *, see_also: Sequence[str] = ()) -> str:
    """A section-1 man page (roff) from ``parser``: synopsis, options, commands."""
    name = parser.prog
    lines = [
        f'.TH {name.upper()} 1 "{_DATE.isoformat()}" "supervisor-core {__version__}" '
        '"User Commands"',
        ".SH NAME",
        f"{name} \\- {_roff(parser.description or '')}",
        ".SH SYNOPSIS",
        f".B {name}",
        _roff(parser.format_usage().removeprefix("usage: ").removeprefix(name).strip()),
        ".SH OPTIONS",
    ]
    subcommands: list[tuple[str, argparse.ArgumentParser, str]] = []
    for action in parser._actions:  # argparse has no public accessor for its actions
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            subcommands.extend(
                (command, sub, helps.get(command, "")) for command, sub in action.choices.items()
            )
            continue
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        flags = ", ".join(action.option_strings)
        metavar = f" {action.metavar}" if action.metavar else ""
        lines += [".TP", f"\\fB{_roff(flags)}\\fR{_roff(metavar)}", _roff(action.help or "")]
    if subcommands:
        lines.append(".SH COMMANDS")
        for command, sub, summary in subcommands:
            lines += [".TP", f"\\fB{command}\\fR", _roff(summary)]
            detail = sub.description or ""
            if detail and detail.strip() != summary.strip():
                lines += [".RS", ".nf", _roff(detail.expandtabs(8)), ".fi", ".RE"]
    if see_also:
        lines += [".SH SEE ALSO", ", ".join(f"\\fB{page}\\fR(1)" for page in see_also)]
    return "\n".join(lines) + "\n"


def completion(parser: argparse.ArgumentParser, shell: str) -> str:
    """The ``shell`` (bash or zsh) completion script for ``parser`` (needs shtab)."""
    import shtab

    return str(shtab.complete(parser, shell=shell))


def generate() -> dict[str, str]:
    """Every generated file: relative path -> text."""
    parsers = {"superd": superd_parser(), "superctl": superctl_parser()}
    files = {
        path: manpage(parsers[name], see_also=sorted(set(parsers) - {name}))
        for path, name in MAN_PAGES.items()
    }
    for path, (name, shell) in COMPLETIONS.items():
        files[path] = completion(parsers[name], shell)
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m supervisor_core.cli.reference --write DIR``."""
    parser = argparse.ArgumentParser(prog="python -m supervisor_core.cli.reference")
    parser.add_argument("--write", metavar="DIR", required=True, type=Path)
    args = parser.parse_args(argv)
    for relative, text in generate().items():
        target = args.write / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
