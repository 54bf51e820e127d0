"""``python -m exporters.alerts render [--root DIR] [--check]``: write or check the artefacts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exporters.alerts.render import drifted, write


def main(argv: list[str] | None = None) -> int:
    """Render (or with ``--check`` only compare) every generated file; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m exporters.alerts")
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="write the rule files, dashboards, provisioning")
    render.add_argument(
        "--root",
        type=Path,
        default=Path.cwd(),
        help="repository root to write under (default: the current directory)",
    )
    render.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a file is out of date"
    )
    args = parser.parse_args(argv)
    root: Path = args.root
    if args.check:
        stale = drifted(root)
        for relative in stale:
            print(f"out of date: {relative}", file=sys.stderr)
        return 1 if stale else 0
    for path in write(root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
