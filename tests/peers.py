"""Finding the real peers tests talk to (supervisord, supervisorctl, promtool, ...).

Outside CI a missing peer skips the test with the reason; with ``CI=true`` it fails,
so a green CI run can never hide a peer that was not installed.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where missing peers are failures."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_peer(reason: str) -> None:
    """Skip (locally) or fail (in CI) because a real peer is not available."""
    if in_ci():
        pytest.fail(f"real peer missing under CI=true: {reason}")
    pytest.skip(reason)


def require_root(reason: str) -> None:
    """Skip (locally) or fail (under CI) unless this process is root (mounts, users)."""
    if os.geteuid() != 0:
        missing_peer(f"needs root: {reason}")


def venv_bin(name: str) -> Path:
    """Path of a console script installed next to the running interpreter."""
    return Path(sys.executable).parent / name


def require_command(name: str) -> str:
    """Absolute path of ``name`` from this venv or PATH, or skip/fail."""
    candidate = venv_bin(name)
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        missing_peer(f"command {name!r} not found in the venv or on PATH")
        raise AssertionError("unreachable")
    return found


def require_module(name: str) -> ModuleType:
    """``import name``, or skip (locally) / fail (under CI) when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        missing_peer(f"module {name!r} cannot be imported: {error}")
        raise AssertionError("unreachable") from error
