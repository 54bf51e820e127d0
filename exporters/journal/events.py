"""The event type the journal adds: ``SUPERVISOR_DAEMON_START``.

A daemon restart leaves a hole in what was observed (children it could not watch
while it was down). The journal publishes this event first thing after it is
attached to the bus, so every subscriber (journal, ``/events``, metrics) sees where
one daemon's history ends and the next one begins, and how long the gap was.
``register_journal_types`` adds it to a daemon's registry (``Journal.attach`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from supervisor_core.events import EventData, EventTypeRegistry


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorDaemonStart(EventData):
    """A daemon started and continues the journal.

    ``previous_serial``/``previous_wall_time`` are the journal's last event before
    this start (None for a fresh journal); ``journal_reset`` is where an unusable
    journal file was moved, with ``journal_reset_reason`` saying why.
    """

    event_name: ClassVar[str] = "SUPERVISOR_DAEMON_START"

    pid: int
    version: str
    previous_serial: int | None = None
    previous_wall_time: float | None = None
    journal_reset: str | None = None
    journal_reset_reason: str | None = None


def register_journal_types(registry: EventTypeRegistry) -> None:
    """Register ``SUPERVISOR_DAEMON_START`` (idempotent)."""
    registry.register(SupervisorDaemonStart)
