"""The package and its entry points are importable and wired as documented."""

from __future__ import annotations

import re

import supervisor_core
from supervisor_core.cli import superctl, superd


def test_version_is_semver() -> None:
    """The package version is a plain MAJOR.MINOR.PATCH string."""
    assert re.fullmatch(r"\d+\.\d+\.\d+", supervisor_core.__version__)


def test_entry_points_have_help(capsys: object) -> None:
    """Both commands build an argument parser that names them."""
    assert superd.build_parser().prog == "superd"
    assert superctl.build_parser().prog == "superctl"
