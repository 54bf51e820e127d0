"""``superctl``: supervisorctl's drop-in replacement (same commands, flags, text, exit codes).

Example::

    superctl -c /etc/supervisord.conf status
    superctl -s unix:///run/supervisor.sock restart web:*
    superctl -s http://127.0.0.1:9001 -u admin -p secret tail -f web
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from supervisor_core.ctl import options as ctl_options
from supervisor_core.ctl.commands import Controller
from supervisor_core.ctl.shell import Shell


def build_parser() -> argparse.ArgumentParser:
    """supervisorctl's options, spelled as supervisorctl spells them.

    Errors raise ``supervisor_core.ctl.options.UsageError`` instead of exiting.
    """
    return ctl_options.build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``superctl``; returns the exit status.

    One-shot mode (``superctl ACTION ARGS...``) returns the action's LSB exit code;
    the shell (no action) returns 0. Usage errors print ``Error: ...`` and return 2.
    """
    progname = sys.argv[0] if sys.argv and sys.argv[0] else "superctl"
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        resolved = ctl_options.resolve_options(args, argv0=progname)
    except ctl_options.UsageError as error:
        sys.stderr.write(f"Error: {error}\nFor help, use {progname} -h\n")
        return 2
    if isinstance(resolved, ctl_options.HelpRequested):
        sys.stdout.write(ctl_options.USAGE.format(progname=progname) + "\n")
        return 0
    if isinstance(resolved, ctl_options.VersionRequested):
        sys.stdout.write(ctl_options.version_text() + "\n")
        return 0
    controller = Controller(resolved, stdout=sys.stdout, stderr=sys.stderr)
    try:
        if resolved.args:
            controller.onecmd(" ".join(resolved.args))
            return controller.exitstatus
        Shell(controller).run(resolved.history_file)
        # Like supervisorctl, the shell's exit status is always 0.
        return 0
    except KeyboardInterrupt:
        controller.output("")
        return 130
    finally:
        controller.close()


if __name__ == "__main__":
    raise SystemExit(main())
