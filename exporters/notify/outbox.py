"""The outbox: notifications waiting for delivery, in a small SQLite file of our own.

Rules of this file:
- A row is written (and committed, ``synchronous=FULL``) *before* any delivery is
  tried, so a notification survives a SIGKILL of superd (and a power cut) from the
  moment ``add`` returns; it is deleted only after its target accepted it. Delivery
  is therefore at least once; the notification id lets a receiver drop the rare
  duplicate (a kill between the target's answer and the delete).
- One row per (notification, target). ``INSERT OR IGNORE`` on that pair makes adding
  the same notification twice harmless.
- Targets are stored as a hash of their key (a webhook URL can hold a token): the
  file carries no secret. Rows of a target no longer configured are reported by
  ``orphans`` so the caller can drop them loudly.
- Times are wall clock: they must mean something to the next superd run.
- Writes are rare (one per notification and attempt, never one per event), so they
  run on the caller's thread; each is one short transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass

from exporters.notify.model import Notification, from_json, notification_json

__all__ = ["Outbox", "OutboxRow", "target_hash"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL,
    target TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    last_error TEXT,
    UNIQUE (notification_id, target)
);
CREATE INDEX IF NOT EXISTS outbox_target ON outbox (target, id);
"""


def target_hash(key: str) -> str:
    """What the outbox stores for a target key (no secret in the file)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    """One pending delivery."""

    row_id: int
    target: str  # target_hash of the target's key
    channel: str
    created: float
    attempts: int
    next_attempt: float
    notification: Notification


class Outbox:
    """The outbox file (see the module rules). ``Outbox.open(path)``; ``close()``."""

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: str) -> Outbox:
        """Open (or create) the outbox at ``path``; an unusable file is moved aside.

        Raises:
            OSError, sqlite3.Error: the directory cannot hold a database at all.
        """
        try:
            return cls(_connect(path), path)
        except sqlite3.DatabaseError as error:
            moved = f"{path}.unusable-{int(time.time())}"
            os.replace(path, moved)
            logger.error("notify: outbox %s unusable (%s); moved it to %s", path, error, moved)
            return cls(_connect(path), path)

    def close(self) -> None:
        """Close the file (idempotent)."""
        with contextlib.suppress(sqlite3.ProgrammingError):
            self._db.close()

    def add(
        self, notification: Notification, targets: list[tuple[str, str]], *, now: float
    ) -> list[int]:
        """Queue ``notification`` for each ``(channel, target key)``; committed on return.

        Returns the row ids that were new (an id already queued for a target is not
        queued again).
        """
        body = _dumps(notification)
        added: list[int] = []
        with self._db:
            for channel, key in targets:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO outbox "
                    "(notification_id, target, channel, kind, body, created, next_attempt) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        notification.id,
                        target_hash(key),
                        channel,
                        notification.kind.value,
                        body,
                        now,
                        now,
                    ),
                )
                if cursor.rowcount:
                    added.append(int(cursor.lastrowid or 0))
        return added

    def heads(self) -> list[OutboxRow]:
        """The oldest pending row of each target: delivery is in order per target."""
        rows = self._db.execute(
            "SELECT id, target, channel, created, attempts, next_attempt, body FROM outbox "
            "WHERE id IN (SELECT MIN(id) FROM outbox GROUP BY target) ORDER BY id"
        ).fetchall()
        return [row for raw in rows if (row := self._row(raw)) is not None]

    def _row(self, raw: tuple[int, str, str, float, int, float, str]) -> OutboxRow | None:
        row_id, target, channel, created, attempts, next_attempt, body = raw
        try:
            notification = from_json(body)
        except ValueError as error:
            logger.error("notify: outbox row %d is unreadable (%s); removing it", row_id, error)
            self.delete(row_id)
            return None
        return OutboxRow(
            row_id=row_id,
            target=target,
            channel=channel,
            created=created,
            attempts=attempts,
            next_attempt=next_attempt,
            notification=notification,
        )

    def delete(self, row_id: int) -> None:
        """The row was delivered (or given up): remove it."""
        with self._db:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def retry_later(self, row_id: int, *, attempts: int, at: float, error: str) -> None:
        """Record a failed attempt; the next one is due at ``at`` (wall)."""
        with self._db:
            self._db.execute(
                "UPDATE outbox SET attempts = ?, next_attempt = ?, last_error = ? WHERE id = ?",
                (attempts, at, error, row_id),
            )

    def orphans(self, known: set[str]) -> list[OutboxRow]:
        """Rows whose target hash is not in ``known`` (a target removed from the config)."""
        rows = self._db.execute(
            "SELECT id, target, channel, created, attempts, next_attempt, body FROM outbox "
            "ORDER BY id"
        ).fetchall()
        return [row for raw in rows if raw[1] not in known and (row := self._row(raw)) is not None]

    def pending(self) -> int:
        """How many deliveries wait."""
        return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def _dumps(notification: Notification) -> str:
    return json.dumps(notification_json(notification), ensure_ascii=False)


def _connect(path: str) -> sqlite3.Connection:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.isolation_level = "DEFERRED"
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        tables = {
            str(r[0])
            for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if version > SCHEMA_VERSION or (version == 0 and tables - {"outbox", "sqlite_sequence"}):
            raise sqlite3.DatabaseError("not a superd notify outbox")
        connection.executescript(SCHEMA)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.Error:
        connection.close()
        raise
    return connection
