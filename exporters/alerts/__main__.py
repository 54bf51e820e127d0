"""``python -m exporters.alerts render [--root DIR] [--check] [--selector M] [--runbook-base URL]``.

Writes (or with ``--check`` compares) every generated artefact. The checked-in files
are rendered with the defaults; ``--selector`` and ``--runbook-base`` render a site's
own copy (``--root`` elsewhere), e.g. ``--selector 'env="prod"'``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exporters.alerts.render import artefacts, drifted, write
from exporters.alerts.rules import DEFAULT_RUNBOOK_BASE, AlertConfig


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
    render.add_argument(
        "--selector",
        default="",
        help='extra label matchers for every rule and query, e.g. \'job="superd", env="prod"\'',
    )
    render.add_argument(
        "--runbook-base",
        default=DEFAULT_RUNBOOK_BASE,
        help="URL the runbook_url annotations point at (#<alertname> is appended)",
    )
    args = parser.parse_args(argv)
    root: Path = args.root
    try:
        config = AlertConfig(selector=args.selector, runbook_base=args.runbook_base)
        artefacts(config)
    except (ValueError, RuntimeError) as error:  # a bad matcher; the SDK not installed
        parser.error(str(error))
    if args.check:
        stale = drifted(root, config)
        for relative in stale:
            print(f"out of date: {relative}", file=sys.stderr)
        return 1 if stale else 0
    for path in write(root, config):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
