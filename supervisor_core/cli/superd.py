"""``superd``: the daemon's command line (supervisord's flags)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from supervisor_core import __version__


def build_parser() -> argparse.ArgumentParser:
    """supervisord's options, spelled as supervisord spells them."""
    parser = argparse.ArgumentParser(
        prog="superd",
        description="Run the programs of a supervisord.conf, with every transition an event.",
    )
    add = parser.add_argument
    add("-c", "--configuration", metavar="FILE", help="configuration file path")
    add(
        "--check-config",
        action="store_true",
        help="load the configuration, print every problem as file:line and exit "
        "(0 when valid, 2 when not)",
    )
    add("-n", "--nodaemon", action="store_true", default=None, help="run in the foreground")
    add("-s", "--silent", action="store_true", default=None, help="no logs to stdout")
    add("-u", "--user", metavar="USER", help="run as this user (name or uid)")
    add("-m", "--umask", metavar="UMASK", help="umask for the daemon (octal, e.g. 022)")
    add("-d", "--directory", metavar="DIR", help="directory to chdir to when daemonized")
    add("-l", "--logfile", metavar="FILE", help="the daemon's log file")
    add("-y", "--logfile_maxbytes", metavar="BYTES", help="rotate the log at this size (50MB)")
    add("-z", "--logfile_backups", metavar="NUM", help="number of rotated logs to keep")
    add("-e", "--loglevel", metavar="LEVEL", help="critical, error, warn, info, debug, trace")
    add("-j", "--pidfile", metavar="FILE", help="write the daemon's pid here")
    add("-i", "--identifier", metavar="STR", help="identifier used by RPC clients")
    add("-q", "--childlogdir", metavar="DIR", help="directory of AUTO child logs")
    add("-k", "--nocleanup", action="store_true", default=None, help="keep AUTO child logs")
    add("-a", "--minfds", metavar="NUM", help="minimum free file descriptors to start")
    add("-t", "--strip_ansi", action="store_true", default=None, help="strip ANSI from logs")
    add("--minprocs", metavar="NUM", help="minimum free process descriptors to start")
    add("--profile_options", metavar="OPTIONS", help="profile the daemon (e.g. cumulative)")
    add("-v", "--version", action="version", version=__version__)
    return parser


def check_config(path: str | None) -> int:
    """Load ``path`` (or the first file of supervisord's search path) and report.

    Prints each problem on stderr and returns 2, or prints a one-line summary on
    stdout and returns 0.
    """
    from supervisor_core.config import ConfigError, find_config, load

    if path is None:
        path = find_config()
        if path is None:
            from supervisor_core.config import default_search_path

            print(
                "superd: no configuration file found at "
                + ", ".join(default_search_path())
                + "; use -c FILE",
                file=sys.stderr,
            )
            return 2
    try:
        config = load(path)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        count = len(error.problems)
        print(f"superd: {count} problem{'s' if count != 1 else ''} in {path}", file=sys.stderr)
        return 2
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    processes = len(config.processes())
    included = len(config.included_files)
    print(
        f"OK: {config.path}: {len(config.groups)} group{'s' if len(config.groups) != 1 else ''}, "
        f"{processes} process{'es' if processes != 1 else ''}, "
        f"{included} included file{'s' if included != 1 else ''}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``superd``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.check_config:
        return check_config(args.configuration)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
