"""The files that come with superd: alert rules, dashboards, notebooks, example configs.

They are package data (symlinks in a checkout, copies in a wheel), so an installed
superd finds them without the source tree::

    from supervisor_core.assets import asset_files, write_assets

    write_assets(Path("/etc/superd"))       # superd assets --write /etc/superd

Layout under the package (and under the directory ``write_assets`` fills):
``grafana/`` (dashboards, provisioning, alerting), ``prometheus/`` (rule files and
their promtool tests), ``notebooks/`` (post-mortem notebooks), ``examples/``
(``demo/`` and ``seed/`` configs with their programs), ``man/`` (man pages) and
``completion/`` (bash and zsh completion for superctl and superd).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

# The kinds of asset, in the order ``superd assets --list`` shows them.
KINDS = ("grafana", "prometheus", "notebooks", "examples", "man", "completion")


class AssetsError(Exception):
    """An asset could not be written (the message names the path)."""


@dataclass(frozen=True, slots=True)
class Asset:
    """One file: its path under the assets root and where it comes from."""

    path: PurePosixPath
    source: Traversable


def _walk(node: Traversable, prefix: PurePosixPath) -> list[Asset]:
    found: list[Asset] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name.startswith(("__", ".")):
            continue
        path = prefix / child.name
        if child.is_dir():
            found.extend(_walk(child, path))
        elif child.is_file():
            found.append(Asset(path, child))
    return found


def asset_files() -> list[Asset]:
    """Every asset file, grouped by kind (see :data:`KINDS`), sorted within each."""
    root = resources.files(__name__)
    files: list[Asset] = []
    for kind in KINDS:
        node = root / kind
        if node.is_dir():
            files.extend(_walk(node, PurePosixPath(kind)))
    return files


def write_assets(destination: Path, *, overwrite: bool = False) -> list[Path]:
    """Copy every asset under ``destination``; returns the paths written.

    Scripts (files starting with ``#!``) are made executable: wheels do not keep
    file modes, and the example configs run their programs directly.

    Raises:
        AssetsError: a file exists and ``overwrite`` is false, or cannot be written;
            nothing is written then (existing files are checked first).
    """
    files = asset_files()
    targets = [destination.joinpath(*asset.path.parts) for asset in files]
    if not overwrite:
        existing = [str(target) for target in targets if target.exists()]
        if existing:
            raise AssetsError(
                f"{existing[0]}: already exists (and {len(existing) - 1} more); "
                "use --force to overwrite"
            )
    written: list[Path] = []
    for asset, target in zip(files, targets, strict=True):
        data = asset.source.read_bytes()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            if data.startswith(b"#!"):
                os.chmod(target, 0o755)
        except OSError as error:
            raise AssetsError(f"{target}: {error.strerror or error}") from None
        written.append(target)
    return written


__all__ = ["KINDS", "Asset", "AssetsError", "asset_files", "write_assets"]
