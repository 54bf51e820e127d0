"""``[exporter:journal]``: where the journal lives and how much of it is kept.

Keys (all optional)::

    [exporter:journal]
    enabled = true                    ; false: no journal (and no /events)
    path = journal.sqlite3            ; relative to the config file
                                      ; default: <childlogdir>/superd-journal.sqlite3
    retention = 7d, 100MB             ; by age and/or size; "none" keeps everything
    batch_size = 256                  ; events per transaction at most
    flush_interval = 50ms             ; longest an event waits before its commit

Pure parsing through the core's ``ExtensionReader``: the section in, a frozen
``JournalSettings`` out, or one ``ConfigError`` listing every bad key as
``file:line: [exporter:journal] key: ...``.

``stderr_lines`` (older superd versions) is accepted and ignored: the journal stores the
stderr tail exit events carry, whose length is ``[supervisord] stderr_tail_lines``.
``JournalSettings.notes`` says so, for the daemon to log.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from exporters.journal.files import private_directory_name, world_writable
from exporters.journal.retention import RetentionPolicy
from supervisor_core.config.converters import (
    boolean,
    byte_size,
    duration,
    integer_at_least,
    is_duration,
)
from supervisor_core.config.model import Config, ExtensionSection
from supervisor_core.config.reader import ExtensionReader

SECTION = "exporter:journal"
DEFAULT_FILENAME = "superd-journal.sqlite3"
DEFAULT_RETENTION = RetentionPolicy(max_age=7 * 86400.0, max_bytes=100 * 1024 * 1024)


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
        if is_duration(part):
            if max_age is not None:
                raise ValueError(f"two ages given ({part!r})")
            max_age = duration(part)
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
    """How the journal is kept (see the module docstring for the keys).

    ``notes`` are warnings about keys that are accepted but no longer do anything,
    each as ``file:line: [exporter:journal] key: ...``.
    """

    path: str
    private_directory: bool = False
    """True when ``path`` is in superd's own directory (made 0700) inside a shared one."""
    enabled: bool = True
    retention: RetentionPolicy = DEFAULT_RETENTION
    batch_size: int = 256
    flush_interval: float = 0.05
    notes: tuple[str, ...] = ()


def default_path(childlogdir: str) -> tuple[str, bool]:
    """The journal's default path and whether it sits in a private directory.

    ``<childlogdir>/superd-journal.sqlite3``, unless anyone may create files in
    ``childlogdir`` (``/tmp``): then ``<childlogdir>/superd-journal-<uid>/`` holds it.
    """
    if world_writable(childlogdir):
        directory = os.path.join(childlogdir, private_directory_name())
        return os.path.join(directory, DEFAULT_FILENAME), True
    return os.path.join(childlogdir, DEFAULT_FILENAME), False


def settings_from_section(
    section: ExtensionSection, *, childlogdir: str, here: str
) -> JournalSettings:
    """``[exporter:journal]`` -> settings (``ExtensionSection(name=SECTION)`` when absent).

    ``here`` is the directory a relative ``path`` is taken from (the config file's).

    Raises:
        ConfigError: every unknown key and bad value, each with its ``file:line``.
    """

    def journal_path(text: str) -> str:
        if not text.strip():
            raise ValueError("empty path")
        return os.path.normpath(os.path.join(here, text.strip()))

    reader = ExtensionReader(section)
    default, private_directory = default_path(childlogdir)
    defaults = JournalSettings(path=default)
    notes: list[str] = []
    if reader.get("stderr_lines", None, integer_at_least(0)) is not None:
        origin = section.origins.get("stderr_lines", section.origin)
        notes.append(
            f"{origin}: [{SECTION}] stderr_lines: ignored: the journal keeps the stderr "
            "tail exit events carry; its length is [supervisord] stderr_tail_lines"
        )
    path = reader.get("path", defaults.path, journal_path)
    settings = JournalSettings(
        path=path,
        private_directory=private_directory and path == default,
        enabled=reader.get("enabled", defaults.enabled, boolean),
        retention=reader.get("retention", defaults.retention, parse_retention),
        batch_size=reader.get("batch_size", defaults.batch_size, integer_at_least(1)),
        flush_interval=reader.get("flush_interval", defaults.flush_interval, duration),
        notes=tuple(notes),
    )
    reader.check()
    return settings


def settings_from_config(config: Config) -> JournalSettings:
    """``[exporter:journal]`` of a loaded config (defaults when absent); raises ConfigError."""
    return settings_from_section(
        config.extension_section_or_empty(SECTION),
        childlogdir=config.supervisord.childlogdir,
        here=os.path.dirname(os.path.abspath(config.path)),
    )
