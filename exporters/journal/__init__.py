"""The event journal: every event on the bus, durably, in SQLite (see docs/journal.md).

Writing (the daemon): :class:`Journal` (``open``/``from_settings``, ``attach(bus)``,
``next_serial()``, ``flush()``, ``aclose()``). Reading (notebooks, tests, ``/events``):
:func:`open_journal`. Configuration: :func:`settings_from_config` for ``[exporter:journal]``.
"""

from exporters.journal.events import SupervisorDaemonStart, register_journal_types
from exporters.journal.files import UnsafeJournalError
from exporters.journal.filters import EventFilter, ProcessSpec
from exporters.journal.reader import JournalReader, open_journal
from exporters.journal.retention import RetentionPolicy
from exporters.journal.rows import SCHEMA_VERSION, JournalRecord, event_json, event_row
from exporters.journal.settings import (
    SECTION,
    JournalSettings,
    parse_retention,
    settings_from_config,
    settings_from_section,
)
from exporters.journal.store import Journal, JournalError, JournalReset, JournalStats

__all__ = [
    "SCHEMA_VERSION",
    "SECTION",
    "EventFilter",
    "Journal",
    "JournalError",
    "JournalReader",
    "JournalRecord",
    "JournalReset",
    "JournalSettings",
    "JournalStats",
    "ProcessSpec",
    "RetentionPolicy",
    "SupervisorDaemonStart",
    "UnsafeJournalError",
    "event_json",
    "event_row",
    "open_journal",
    "parse_retention",
    "register_journal_types",
    "settings_from_config",
    "settings_from_section",
]
