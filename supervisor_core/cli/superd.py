"""``superd``: the daemon's command line (supervisord's flags)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from supervisor_core import __version__


def build_parser() -> argparse.ArgumentParser:
    """supervisord's options, spelled as supervisord spells them."""
    parser = argparse.ArgumentParser(
        prog="superd",
        description="Run the programs of a supervisord.conf, with every transition an event.",
    )
    parser.add_argument("-c", "--configuration", metavar="FILE", help="configuration file path")
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="load the configuration, print every problem as file:line and exit "
        "(0 when valid, 2 when not)",
    )
    parser.add_argument("-v", "--version", action="version", version=__version__)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``superd``."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
