"""``[exporter:journal]``: where the journal lives and how much of it is kept.

Keys (all optional)::

    [exporter:journal]
    enabled = true                    ; false: no journal (and no /events)
    path = journal.sqlite3            ; relative to the config file
                                      ; default: <childlogdir>/superd-journal.sqlite3,
                                      ; or <childlogdir>/superd-journal-<uid>/... (0700)
                                      ; when childlogdir is world-writable (/tmp)
    retention = 7d, 100MB             ; by age and/or size; "none" keeps everything
    stderr_lines = 20                 ; stderr lines kept with an unexpected exit (0: off)
    batch_size = 256                  ; events per transaction at most
    flush_interval = 50ms             ; longest an event waits before its commit

Parsing: a section's raw values in (one ``stat`` of childlogdir for the default path),
a frozen ``JournalSettings`` out, or one ``ConfigError`` listing every bad key as
``file:line: [exporter:journal] key: ...``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from exporters.journal.files import private_directory_name, world_writable
from exporters.journal.retention import RetentionPolicy
from supervisor_core.config.converters import boolean, byte_size
from supervisor_core.config.errors import ConfigError, Problem
from supervisor_core.config.model import Origin

SECTION = "exporter:journal"
DEFAULT_FILENAME = "superd-journal.sqlite3"
DEFAULT_RETENTION = RetentionPolicy(max_age=7 * 86400.0, max_bytes=100 * 1024 * 1024)

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\Z", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """``"7d"``, ``"12h"``, ``"50ms"`` -> seconds; raises ValueError."""
    match = _DURATION_RE.match(text.strip())
    if match is None:
        raise ValueError("not a duration (e.g. 50ms, 30s, 15m, 12h, 7d, 2w)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


def parse_retention(text: str) -> RetentionPolicy:
    """``"7d"``, ``"100MB"``, ``"7d, 100MB"`` or ``"none"``; raises ValueError."""
    max_age: float | None = None
    max_bytes: int | None = None
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if parts == ["none"]:
        return RetentionPolicy()
    if not parts:
        raise ValueError("empty retention (use e.g. '7d', '100MB', '7d,100MB' or 'none')")
    for part in parts:
        if _DURATION_RE.match(part):
            if max_age is not None:
                raise ValueError(f"two ages given ({part!r})")
            max_age = parse_duration(part)
            if max_age <= 0:
                raise ValueError("age must be > 0")
            continue
        try:
            size = byte_size(part)
        except ValueError:
            raise ValueError(
                f"{part!r} is neither an age (7d, 12h) nor a size (100MB, 1GB)"
            ) from None
        if max_bytes is not None:
            raise ValueError(f"two sizes given ({part!r})")
        if size <= 0:
            raise ValueError("size must be > 0")
        max_bytes = size
    return RetentionPolicy(max_age=max_age, max_bytes=max_bytes)


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalSettings:
    """How the journal is kept (see the module docstring for the keys)."""

    path: str
    private_directory: bool = False
    """True when ``path`` is in superd's own directory (made 0700) inside a shared one."""
    enabled: bool = True
    retention: RetentionPolicy = DEFAULT_RETENTION
    stderr_lines: int = 20
    batch_size: int = 256
    flush_interval: float = 0.05


def default_path(childlogdir: str) -> tuple[str, bool]:
    """The journal's default path and whether it sits in a private directory.

    ``<childlogdir>/superd-journal.sqlite3``, unless anyone may create files in
    ``childlogdir`` (``/tmp``): then ``<childlogdir>/superd-journal-<uid>/`` holds it.
    """
    if world_writable(childlogdir):
        directory = os.path.join(childlogdir, private_directory_name())
        return os.path.join(directory, DEFAULT_FILENAME), True
    return os.path.join(childlogdir, DEFAULT_FILENAME), False


def _positive_int(text: str, *, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError("not an integer") from None
    if value < minimum:
        raise ValueError(f"must be >= {minimum}")
    return value


def parse_settings(
    values: Mapping[str, str],
    *,
    childlogdir: str,
    origins: Mapping[str, Origin] | None = None,
    origin: Origin | None = None,
    here: str | None = None,
) -> JournalSettings:
    """``[exporter:journal]`` keys -> settings; an absent section is ``values={}``.

    ``here`` is the directory a relative ``path`` is taken from (the config file's).

    Raises:
        ConfigError: every unknown key and bad value, each with its ``file:line``.
    """
    problems: list[Problem] = []
    fallback = origin or Origin("<config>", 0)

    def place(key: str) -> Origin:
        return (origins or {}).get(key, fallback)

    def bad(key: str, reason: str) -> None:
        problems.append(
            Problem(
                origin=place(key), section=SECTION, option=key, reason=reason, value=values[key]
            )
        )

    path, private_directory = default_path(childlogdir)
    enabled = True
    retention = DEFAULT_RETENTION
    stderr_lines = 20
    batch_size = 256
    flush_interval = 0.05
    for key, raw in values.items():
        try:
            if key == "enabled":
                enabled = boolean(raw)
            elif key == "path":
                if not raw.strip():
                    raise ValueError("empty path")
                path = os.path.normpath(os.path.join(here or os.getcwd(), raw.strip()))
                private_directory = False
            elif key == "retention":
                retention = parse_retention(raw)
            elif key == "stderr_lines":
                stderr_lines = _positive_int(raw, minimum=0)
            elif key == "batch_size":
                batch_size = _positive_int(raw, minimum=1)
            elif key == "flush_interval":
                flush_interval = parse_duration(raw)
            else:
                bad(key, "unknown option")
        except ValueError as error:
            bad(key, str(error))
    if problems:
        raise ConfigError(problems)
    return JournalSettings(
        path=path,
        private_directory=private_directory,
        enabled=enabled,
        retention=retention,
        stderr_lines=stderr_lines,
        batch_size=batch_size,
        flush_interval=flush_interval,
    )
