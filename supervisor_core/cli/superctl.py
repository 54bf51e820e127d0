"""``superctl``: the client's command line (supervisorctl's commands and flags)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from supervisor_core import __version__


def build_parser() -> argparse.ArgumentParser:
    """supervisorctl's options, spelled as supervisorctl spells them."""
    parser = argparse.ArgumentParser(prog="superctl", description="Control superd or supervisord.")
    parser.add_argument("-c", "--configuration", metavar="FILE", help="configuration file path")
    parser.add_argument("-v", "--version", action="version", version=__version__)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``superctl``."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
