"""The journal writer: every event on the bus, durably, in SQLite.

Rules of this file:
- Lossless. The journal subscribes synchronously (``EventBus.subscribe``) and
  never drops an event. The callback only appends the event to a buffer; one
  writer thread encodes rows and commits them in batches (every
  ``batch_size`` events or ``flush_interval`` seconds), so disk latency never sits
  on the event loop.
- Backpressure is bounded. When ``max_pending`` events wait (the disk is slower
  than the event rate), the callback waits at most ``max_block`` seconds for the
  writer; if the buffer is still full it keeps the event anyway (memory grows,
  nothing is lost), counts it in ``overflowed`` and logs once until the buffer
  drains to half. The loop is never stalled for more than ``max_block`` per episode.
- A failing write (disk full, I/O error) is retried with backoff, keeping the batch;
  only ``aclose`` gives up after a few last tries and logs how many were lost. The
  first failure of an episode and every retry are logged, and the first success
  after them logs a "resumed" line; every failure counts in ``errors``
  (``supervisor_journal_errors_total``).
- An event that cannot become a row at all (a serial beyond SQLite's 64-bit
  integers, say) is not retried forever: it is left out, logged with its serial and
  counted in ``errors`` and ``lost``; the rest of its batch is committed.
- The writer thread never dies silently: anything it raises is logged with its
  traceback and counted, and the thread carries on after a pause. Should it end
  anyway, every ``flush`` waiter is failed rather than left hanging, and later
  flushes raise at once.
- ``flush(timeout=)`` bounds how long a caller (``/events``) waits for a commit
  while the disk is full; it raises :class:`JournalStalled` instead of hanging.
- One connection, one writing thread (``check_same_thread=False`` because the
  connection is made on the loop's thread, then used only by the writer). A second
  thread, the encoder, takes the batches and turns them into rows while the writer
  commits the batch before (at most ``_ENCODED_AHEAD`` batches ahead): SQLite works
  without the GIL, so encoding (Python) and inserting (C) overlap on two cores
  instead of taking turns. Batches are committed in the order they were taken. Readers
  open their own read-only connections (``reader.open_journal``); WAL lets them
  read while the writer commits.
- An unusable file (not SQLite, corrupt, or a newer schema) is moved aside, never
  written into; a fresh journal starts and ``reset`` says where the old one went.
  A file of an older schema is upgraded in place (``rows.upgrade``) when opened.
- Events are stored as they are: the stderr tail is the one the core put on the
  event (bounded there by ``[supervisord] stderr_tail_lines``), nothing is trimmed
  or kept aside here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TypeVar

from exporters.journal import files
from exporters.journal.events import SupervisorDaemonStart, register_journal_types
from exporters.journal.retention import RetentionPolicy
from exporters.journal.rows import (
    COLUMNS,
    INSERT_SQL,
    SCHEMA_SQL,
    SCHEMA_VERSION,
    Row,
    event_row,
    insert_rows_sql,
    upgrade,
)
from exporters.journal.settings import JournalSettings
from supervisor_core import __version__
from supervisor_core.bus import EventBus, Subscription
from supervisor_core.clock import Clock, SystemClock
from supervisor_core.events import Event

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

SUBSCRIBER_NAME = "journal"
NO_RETENTION = RetentionPolicy()
# Size retention re-measures after each delete, at most this many times per pass.
_SIZE_PASSES = 4
_RETRY_DELAYS = (0.05, 0.2, 1.0, 5.0)
# Rows per INSERT statement at most (the rest of a batch goes in halves), below
# SQLite's parameter limit: 2,048 rows are 36,864 parameters, more than the 32,766
# of SQLite >= 3.32, so 1,820 there. One sqlite3_step inserts them without the GIL.
_CHUNK_ROWS = 2048
_NEVER = float("inf")
# Encoded batches waiting for the writer, at most (the pipeline's depth).
_ENCODED_AHEAD = 2


@dataclass(frozen=True, slots=True)
class _Encoded:
    """A batch the encoder hands to the writer: its events, their rows, and flags."""

    batch: list[Event]
    rows: list[tuple[int, Row]]
    closing: bool
    retention_asked: bool
    #: The encoder's last: the journal is closing and nothing is pending.
    last: bool


class JournalError(Exception):
    """The journal cannot be used as asked (closed, or a bus that would reuse serials)."""


class JournalStalled(JournalError, TimeoutError):
    """``flush`` timed out: the writer cannot commit (disk full, I/O errors)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalReset:
    """An unusable journal file was moved aside; a fresh one replaced it."""

    moved_to: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalStats:
    """The journal's counters at one moment (``Journal.snapshot()``).

    ``committed_serial`` is the last serial known durable; ``pending`` waits for
    the writer; ``backpressure_waits`` counts times the loop waited for room;
    ``overflowed`` counts events kept beyond ``max_pending``; ``write_errors``
    counts failed transactions (retried); ``lost`` counts events given up (at
    close, or that could not be encoded); ``errors`` counts every failure of the
    writer (failed transactions, unencodable events, failed retention passes,
    unexpected exceptions): ``supervisor_journal_errors_total``. ``uncommitted``
    counts the events accepted but not yet durable (``pending`` plus the batch being
    written): ``supervisor_journal_pending_events``; ``lag_seconds`` is the age of the
    oldest of them (0 when caught up): ``supervisor_journal_lag_seconds``.
    """

    path: str
    committed_serial: int | None
    pending: int
    written: int
    batches: int
    backpressure_waits: int
    overflowed: int
    write_errors: int
    lost: int
    retention_deleted: int
    errors: int = 0
    uncommitted: int = 0
    lag_seconds: float = 0.0


def _transient(error: sqlite3.Error) -> bool:
    """Whether a failed write may succeed later: the file's problem, not the row's.

    OperationalError (disk full, I/O error, locked) and a bare DatabaseError (a
    damaged file) are retried; IntegrityError, DataError, InterfaceError and the
    like are about what a row holds and would fail again.
    """
    return isinstance(error, sqlite3.OperationalError) or type(error) is sqlite3.DatabaseError


def _settle(future: concurrent.futures.Future[_T], value: _T) -> None:
    # The awaiting side may have been cancelled (a client went away) meanwhile.
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        future.set_result(value)


# --------------------------------------------------------------------------- opening


def _unusable_reason(path: str) -> str | None:
    """Why an existing file cannot be our journal, or None when it can (or is absent)."""
    if not os.path.exists(path):
        return None
    if os.path.getsize(path) == 0:
        # Truncated by a full disk or a careless cleanup: the serials would silently
        # restart at 0 with no trace of the history that was lost.
        return "empty (0 bytes): the history it held is gone, serials restart at 0"
    try:
        connection = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as error:
        return f"cannot be opened: {error}"
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        check = connection.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            return f"corrupt: {check}"
        tables = {
            str(row[0])
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as error:
        return f"corrupt: {error}"
    finally:
        connection.close()
    if version > SCHEMA_VERSION:
        return (
            f"written by a newer superd (schema version {version}; "
            f"this one knows up to {SCHEMA_VERSION})"
        )
    if version == 0 and tables:
        return "not a superd journal (an SQLite file with other tables)"
    if version >= 1 and "events" not in tables:
        return "corrupt: the events table is missing"
    return None


def _move_aside(path: str, tag: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = f"{path}.{tag}-{stamp}"
    counter = 1
    while os.path.exists(target):
        counter += 1
        target = f"{path}.{tag}-{stamp}.{counter}"
    os.replace(path, target)
    # The WAL may hold committed transactions: keep it with its database.
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.replace(path + suffix, target + suffix)
    return target


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot use WAL mode (got {mode!r})")
        # FULL: a committed batch survives power loss too, at one fsync per batch.
        connection.execute("PRAGMA synchronous=FULL")
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version == 0:
            connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
            connection.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA_SQL.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            connection.execute("COMMIT")
        else:
            upgrade(connection)
    except sqlite3.Error:
        connection.close()
        raise
    return connection


# --------------------------------------------------------------------------- journal


class Journal:
    """A durable, lossless SQLite journal of every event on a bus.

    Example (what superd does)::

        journal = Journal.from_settings(settings)          # before the bus exists
        bus = EventBus(clock, first_serial=journal.next_serial())
        journal.attach(bus)          # subscribes; publishes SUPERVISOR_DAEMON_START
        ...
        await journal.aclose()       # after the last event: commits everything
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        path: str,
        reset: JournalReset | None = None,
        retention: RetentionPolicy = NO_RETENTION,
        batch_size: int = 256,
        flush_interval: float = 0.05,
        max_pending: int = 100_000,
        max_block: float = 0.1,
        retention_interval: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        """Use :meth:`open` or :meth:`from_settings`; this takes an open connection."""
        self.path = path
        self.reset = reset
        self.retention = retention
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.max_block = max_block
        self.retention_interval = retention_interval
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._connection = connection
        # Rows per INSERT statement: 256, or fewer if the library allows fewer
        # parameters per statement (SQLITE_MAX_VARIABLE_NUMBER, 999 before 3.32).
        self._chunk_rows = max(
            1,
            min(
                _CHUNK_ROWS,
                connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(COLUMNS),
            ),
        )
        self._catch_up_rows = max(batch_size, min(batch_size * 8, self._chunk_rows))
        # The last batch left events behind (its size is a power of two): they are due.
        self._remainder_due = False
        row = connection.execute(
            "SELECT serial, wall_time FROM events ORDER BY serial DESC LIMIT 1"
        ).fetchone()
        self._stored_serial: int | None = None if row is None else int(row[0])
        self._stored_wall_time: float | None = None if row is None else float(row[1])
        # Shared with the writer thread, under _cond.
        self._cond = threading.Condition()
        self._pending: deque[Event] = deque()
        # The batch the writer holds (taken from _pending, not yet committed): its
        # size and the monotonic time of its first event (for the lag).
        # Batches taken from _pending and not committed yet, oldest first: their size
        # and the monotonic time of their first event (for the lag).
        self._in_flight: deque[tuple[int, float]] = deque()
        # Whether the writer holds the oldest in-flight batch (for its error path).
        self._holding = False
        self._encoded: queue.Queue[_Encoded] = queue.Queue(maxsize=_ENCODED_AHEAD)
        self._encoder: threading.Thread | None = None
        self._accepted_serial: int | None = self._stored_serial
        self._committed_serial: int | None = self._stored_serial
        self._flush_waiters: list[tuple[int, concurrent.futures.Future[None]]] = []
        # How many buffered events make _on_event wake the writer: 1 while it waits
        # for work, batch_size while it waits for a full batch, _NEVER while it works.
        self._wake_at: float = _NEVER
        self._retention_waiters: list[concurrent.futures.Future[int]] = []
        # The encoder handed the waiting retention requests to the writer.
        self._retention_sent = False
        self._closing = False
        self._overflowing = False
        self._written = self._batches = self._backpressure_waits = 0
        self._overflowed = self._write_errors = self._lost = self._retention_deleted = 0
        self._errors = 0
        self._failed_attempts = 0  # of the current failure episode; 0 while writes work
        self._dead: BaseException | None = None
        self._next_retention = time.monotonic()
        self._thread: threading.Thread | None = None
        self._subscription: Subscription | None = None
        self._closed = False

    # ---------------------------------------------------------------- construction

    @classmethod
    def open(cls, path: str, *, private_directory: bool = False, **options: object) -> Journal:
        """Open (or create) the journal at ``path``; blocking, call it at start-up.

        An unusable file (or an empty one: its history is gone) is moved aside
        (``journal.reset`` says where and why) and a fresh journal is created. The
        files are ours and 0600 (``exporters.journal.files``); with
        ``private_directory`` the directory is made (or checked) 0700 and ours too.
        ``options`` are the keyword arguments of the constructor (``retention``,
        ``batch_size``, ...).

        Raises:
            UnsafeJournalError: a file or directory is a link or another user's.
            OSError, sqlite3.Error: the directory or file cannot be written at all.
        """
        directory = os.path.dirname(os.path.abspath(path))
        if private_directory:
            os.makedirs(os.path.dirname(directory), exist_ok=True)
            files.ensure_private_directory(directory)
        else:
            os.makedirs(directory, exist_ok=True)
        reset: JournalReset | None = None
        # Checked before SQLite touches anything: it would follow a link.
        existed = files.check_all(path)
        reason = _unusable_reason(path) if existed else None
        if reason is not None:
            tag = "newer" if "newer" in reason else "empty" if "empty" in reason else "corrupt"
            moved_to = _move_aside(path, tag)
            reset = JournalReset(moved_to=moved_to, reason=reason)
            logger.warning(
                "journal %s is unusable (%s); moved it to %s and started a fresh one",
                path,
                reason,
                moved_to,
            )
        files.claim_all(path)
        return cls(_connect(path), path=path, reset=reset, **options)  # type: ignore[arg-type]

    @classmethod
    def from_settings(cls, settings: JournalSettings, **options: object) -> Journal:
        """:meth:`open` with ``[exporter:journal]`` settings."""
        return cls.open(
            settings.path,
            retention=settings.retention,
            batch_size=settings.batch_size,
            flush_interval=settings.flush_interval,
            private_directory=settings.private_directory,
            **options,
        )

    # ---------------------------------------------------------------- serials

    def last_serial(self) -> int | None:
        """The newest serial journaled or accepted (None for an empty journal)."""
        with self._cond:
            return self._accepted_serial

    def next_serial(self) -> int:
        """The serial the daemon's bus should start at (``first_serial=``)."""
        last = self.last_serial()
        return 0 if last is None else last + 1

    def committed_serial(self) -> int | None:
        """The newest serial known to be durable on disk."""
        with self._cond:
            return self._committed_serial

    # ---------------------------------------------------------------- bus side

    def attach(self, bus: EventBus, *, announce: bool = True) -> Event | None:
        """Start the writer and subscribe to every event of ``bus``.

        With ``announce`` it publishes ``SUPERVISOR_DAEMON_START`` (and returns it),
        so call it before anything else publishes. The type is registered on
        ``bus.registry`` if it is not there yet.

        Raises:
            JournalError: already attached or closed, or the bus would reuse
                serials the journal holds.
        """
        if self._closed or self._subscription is not None:
            raise JournalError(f"journal {self.path} is already attached or closed")
        register_journal_types(bus.registry)
        next_serial = bus.snapshot().next_serial
        last = self.last_serial()
        if last is not None and next_serial <= last:
            raise JournalError(
                f"the bus starts at serial {next_serial} but journal {self.path} already "
                f"holds serial {last}: build the bus with first_serial=journal.next_serial()"
            )
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._encoder = threading.Thread(
            target=self._run_encoder, name="journal-encoder", daemon=True
        )
        self._thread.start()
        self._encoder.start()
        self._subscription = bus.subscribe(self._on_event, name=SUBSCRIBER_NAME)
        if not announce:
            return None
        return bus.publish(
            SupervisorDaemonStart(
                pid=os.getpid(),
                version=__version__,
                previous_serial=self._stored_serial,
                previous_wall_time=self._stored_wall_time,
                journal_reset=None if self.reset is None else self.reset.moved_to,
                journal_reset_reason=None if self.reset is None else self.reset.reason,
            )
        )

    def _on_event(self, event: Event) -> None:
        # Runs inline in EventBus.publish, on the loop: keep it to an append. No lock
        # on the way (a deque's append is atomic): the writer is woken only when it
        # waits for what is there now (``_wake_at``), and the full-buffer path below
        # takes the lock.
        pending = self._pending
        if len(pending) >= self.max_pending or self._overflowing:
            self._on_event_behind(event)
            return
        pending.append(event)
        self._accepted_serial = event.serial
        # Read after the append; the writer sets it before it looks at the buffer, so
        # one of the two sees the other (no wake-up is lost).
        if len(pending) >= self._wake_at:
            self._wake_writer()

    def _wake_writer(self) -> None:
        with self._cond:
            self._wake_at = _NEVER  # once: the writer sets it again before waiting
            self._cond.notify_all()

    def _on_event_behind(self, event: Event) -> None:
        """``_on_event`` when the buffer is full: backpressure, then overflow."""
        with self._cond:
            if len(self._pending) >= self.max_pending and not self._overflowing:
                self._backpressure_waits += 1
                self._cond.notify_all()
                if not self._cond.wait_for(
                    lambda: len(self._pending) < self.max_pending, timeout=self.max_block
                ):
                    self._overflowing = True
                    logger.warning(
                        "journal %s: the writer is behind by %d events; buffering beyond "
                        "the limit (nothing is dropped)",
                        self.path,
                        len(self._pending),
                    )
            if self._overflowing:
                if len(self._pending) < self.max_pending // 2:
                    self._overflowing = False
                else:
                    self._overflowed += 1
            self._pending.append(event)
            self._accepted_serial = event.serial
            self._cond.notify_all()

    # ---------------------------------------------------------------- async API

    async def flush(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - see Raises
        """Wait until every event accepted so far is committed.

        Raises:
            JournalStalled: not committed within ``timeout`` seconds (the events stay
                pending and are written once the disk allows).
            JournalError: not attached, closing, or the writer thread has ended.
        """
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._cond:
            target = self._accepted_serial
            if target is None or (
                self._committed_serial is not None and self._committed_serial >= target
            ):
                return
            if self._dead is not None:
                raise JournalError(f"journal {self.path}: the writer has stopped ({self._dead!r})")
            if self._thread is None or self._closing:
                raise JournalError(f"journal {self.path} is not attached, nothing commits")
            self._flush_waiters.append((target, future))
            self._cond.notify_all()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.wrap_future(future)
        except TimeoutError:
            raise JournalStalled(
                f"journal {self.path}: events up to serial {target} not committed within "
                f"{timeout:g}s ({self.snapshot().write_errors} failed writes so far)"
            ) from None

    async def enforce_retention(self) -> int:
        """Apply the retention policy now; returns how many events were deleted."""
        if self._thread is None:
            return await asyncio.to_thread(self._apply_retention)
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        with self._cond:
            if self._closing:
                raise JournalError(f"journal {self.path} is closing")
            self._retention_waiters.append(future)
            self._cond.notify_all()
        return await asyncio.wrap_future(future)

    async def aclose(self) -> None:
        """Unsubscribe, commit everything pending, stop the writer and close the file."""
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Blocking :meth:`aclose` (for tests and shutdown paths without a loop)."""
        if self._closed:
            return
        if self._subscription is not None:
            self._subscription.close()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._encoder is not None:
            self._encoder.join()
        if self._thread is not None:
            self._thread.join()
        self._closed = True
        self._connection.close()

    def snapshot(self) -> JournalStats:
        """The journal's counters, frozen."""
        with self._cond:
            oldest = self._in_flight[0][1] if self._in_flight else None
            if oldest is None and self._pending:
                oldest = self._pending[0].monotonic_time
            lag = 0.0 if oldest is None else max(0.0, self._clock.monotonic() - oldest)
            return JournalStats(
                uncommitted=len(self._pending) + sum(size for size, _ in self._in_flight),
                lag_seconds=lag,
                path=self.path,
                committed_serial=self._committed_serial,
                pending=len(self._pending),
                written=self._written,
                batches=self._batches,
                backpressure_waits=self._backpressure_waits,
                overflowed=self._overflowed,
                write_errors=self._write_errors,
                lost=self._lost,
                retention_deleted=self._retention_deleted,
                errors=self._errors,
            )

    # ---------------------------------------------------------------- writer thread

    def _take_batch(self) -> tuple[list[Event], bool, bool]:
        """Wait for work; returns (batch, closing, retention requested)."""
        with self._cond:
            # _wake_at is set before each look at the buffer (see _on_event).
            while True:
                self._wake_at = 1
                # Not for flush waiters alone: with nothing pending, what they wait
                # for is with the writer already (looping here would only spin).
                if self._pending or self._closing:
                    break
                if self._retention_waiters and not self._retention_sent:
                    break
                self._cond.wait(timeout=self.retention_interval)
                if self.retention.enabled and not self._pending:
                    self._wake_at = _NEVER
                    return [], self._closing, True
            deadline = time.monotonic() + self.flush_interval
            while True:
                self._wake_at = self.batch_size
                if len(self._pending) >= self.batch_size or self._remainder_due:
                    break
                if self._closing or self._flush_waiters:
                    break
                if self._retention_waiters and not self._retention_sent:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(timeout=remaining)
            self._wake_at = _NEVER
            # Take more than a batch when behind: fewer, larger transactions catch up
            # (up to 8 batches, or what one INSERT statement holds if that is fewer).
            count = min(len(self._pending), self._catch_up_rows)
            # A power of two: one INSERT statement per batch has one of a dozen shapes.
            # Any count would give sqlite3's statement cache up to 128 prepared
            # INSERTs of up to 1,820 rows (tens of MiB at a 2,000-program launch); the
            # rest is taken at once by the next round (``_remainder_due``).
            if count:
                count = 1 << (count.bit_length() - 1)
            self._remainder_due = count < len(self._pending)
            batch = [self._pending.popleft() for _ in range(count)]
            if batch:
                self._in_flight.append((len(batch), batch[0].monotonic_time))
            self._cond.notify_all()  # room for a callback waiting on backpressure
            # A retention request goes to the writer once; it clears the flag when it
            # takes the waiters.
            retention_asked = bool(self._retention_waiters) and not self._retention_sent
            self._retention_sent = self._retention_sent or retention_asked
            return batch, self._closing, retention_asked

    def _run(self) -> None:
        try:
            self._loop_forever()
        except BaseException as error:  # the last resort: say so, fail the waiters
            self._stopped(error, "writer")
            raise

    def _stopped(self, error: BaseException, thread: str) -> None:
        logger.critical(
            "journal %s: the %s thread stopped; events are no longer journaled",
            self.path,
            thread,
            exc_info=True,
        )
        with self._cond:
            self._dead = error
            self._errors += 1
            waiters, self._flush_waiters = self._flush_waiters, []
        for _target, future in waiters:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(JournalError(f"journal {self.path}: writer stopped"))

    def _run_encoder(self) -> None:
        try:
            self._encode_forever()
        except BaseException as error:
            self._stopped(error, "encoder")
            # The writer must not wait for batches that will never come.
            self._encoded.put(_Encoded([], [], closing=True, retention_asked=False, last=True))
            raise

    def _encode_forever(self) -> None:
        """The encoder: take a batch, encode it, hand it to the writer; until closed."""
        while True:
            try:
                batch, closing, retention_asked = self._take_batch()
            except Exception:  # noqa: BLE001 - logged with its traceback (_unexpected)
                self._unexpected("encoder")
                continue
            try:
                rows = self._encode(batch) if batch else []
            except Exception:  # noqa: BLE001 - logged with its traceback (_unexpected)
                # The batch it held is not written (counted in errors), so it no
                # longer makes the journal look behind.
                with self._cond:
                    self._in_flight.pop()
                self._unexpected("encoder")
                continue
            with self._cond:
                last = closing and not self._pending
            self._encoded.put(_Encoded(batch, rows, closing, retention_asked, last))
            if last:
                return

    def _unexpected(self, thread: str) -> None:
        # A bug, or an error no handler expected: never a silent death.
        with self._cond:
            self._errors += 1
        logger.exception("journal %s: unexpected error in the %s; continuing", self.path, thread)
        time.sleep(_RETRY_DELAYS[-1])

    def _loop_forever(self) -> None:
        while True:
            try:
                if self._step():
                    return
            except Exception:  # noqa: BLE001 - logged with its traceback (_unexpected)
                # The batch it held is not retried (counted in errors), so it no
                # longer makes the journal look behind.
                with self._cond:
                    if self._holding:
                        self._in_flight.popleft()
                        self._holding = False
                self._unexpected("writer")

    def _step(self) -> bool:
        """One round of the writer; True when the journal is closed and drained."""
        encoded = self._encoded.get()
        if encoded.batch:
            self._holding = True
            self._write(encoded.batch, encoded.rows, closing=encoded.closing)
        retention_asked = encoded.retention_asked
        now = time.monotonic()
        if retention_asked or (self.retention.enabled and now >= self._next_retention):
            self._next_retention = now + self.retention_interval
            deleted = self._apply_retention_logged()
            with self._cond:
                waiters, self._retention_waiters = self._retention_waiters, []
                self._retention_sent = False
            for waiter in waiters:
                _settle(waiter, deleted)
        if encoded.last:
            with self._cond:
                self._resolve_flushes(final=True)
            return True
        return False

    def _resolve_flushes(self, *, final: bool = False) -> None:
        # Called with _cond held.
        remaining: list[tuple[int, concurrent.futures.Future[None]]] = []
        for target, future in self._flush_waiters:
            committed = self._committed_serial
            if final or (committed is not None and committed >= target):
                _settle(future, None)
            else:
                remaining.append((target, future))
        self._flush_waiters = remaining

    def _encode(self, batch: list[Event]) -> list[tuple[int, Row]]:
        """``(serial, row)`` of each event; one that cannot be encoded is left out, counted."""
        rows: list[tuple[int, Row]] = []
        for event in batch:
            try:
                rows.append((event.serial, event_row(event)))
            except Exception:  # noqa: BLE001 - any encoder failure costs this event only (logged)
                self._drop(event.serial, "cannot be encoded")
        return rows

    def _drop(self, serial: int, why: str) -> None:
        with self._cond:
            self._lost += 1
            self._errors += 1
        logger.error("journal %s: event %d %s; left out", self.path, serial, why, exc_info=True)

    def _write(self, batch: list[Event], rows: list[tuple[int, Row]], *, closing: bool) -> None:
        attempt = 0
        stored = 0
        while rows:
            try:
                stored = self._commit(rows)
                break
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    self._connection.execute("ROLLBACK")
                attempt += 1
                with self._cond:
                    self._write_errors += 1
                    self._errors += 1
                    self._failed_attempts += 1
                    closing = closing or self._closing
                if closing and attempt >= len(_RETRY_DELAYS):
                    with self._cond:
                        self._lost += len(rows)
                        self._in_flight.popleft()
                        self._holding = False
                    logger.error(
                        "journal %s: giving up on %d events (serials %d-%d) at close: %s",
                        self.path,
                        len(rows),
                        rows[0][0],
                        rows[-1][0],
                        error,
                    )
                    return
                delay = _RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS)) - 1]
                logger.error(
                    "journal %s: writing %d events failed (%s); retrying in %.2fs",
                    self.path,
                    len(rows),
                    error,
                    delay,
                )
                time.sleep(delay)
        with self._cond:
            self._in_flight.popleft()
            self._holding = False
            self._committed_serial = batch[-1].serial
            self._written += stored
            self._batches += 1
            failed, self._failed_attempts = self._failed_attempts, 0
            pending = len(self._pending)
            self._resolve_flushes()
        if failed:
            logger.warning(
                "journal %s: writing resumed after %d failed attempts (%d events still pending)",
                self.path,
                failed,
                pending,
            )

    def _commit(self, rows: list[tuple[int, Row]]) -> int:
        """Insert ``rows`` in one transaction; returns how many were stored.

        A row SQLite refuses for what it holds (an integer beyond 64 bits, a value it
        cannot bind) is left out and counted; the others are committed. Errors of the
        file itself (``OperationalError``: disk full, I/O; a corrupt database) are
        raised for the caller to retry.
        """
        try:
            self._insert([row for _serial, row in rows])
        except sqlite3.Error as error:
            if _transient(error):
                raise
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")
        except (OverflowError, ValueError, TypeError):
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")
        else:
            return len(rows)
        # One by one, to find the rows that cannot be stored.
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        stored = 0
        for serial, row in rows:
            try:
                connection.execute(INSERT_SQL.replace("INSERT", "INSERT OR IGNORE", 1), row)
                stored += 1
            except sqlite3.Error as error:
                if _transient(error):
                    raise
                self._drop(serial, "cannot be stored")
            except (OverflowError, ValueError, TypeError):
                self._drop(serial, "cannot be stored")
        connection.execute("COMMIT")
        return stored

    def _insert(self, rows: list[Row]) -> None:
        connection = self._connection
        if len(rows) <= self._chunk_rows:
            # One statement is its own transaction (atomic, and durable with
            # synchronous=FULL): no BEGIN and COMMIT, each of which would hand the GIL
            # to the event loop and wait up to the switch interval to get it back.
            try:
                connection.execute(
                    insert_rows_sql(len(rows)), list(itertools.chain.from_iterable(rows))
                )
            except sqlite3.IntegrityError:
                logger.exception("journal %s: duplicate serials in a batch", self.path)
                connection.execute(
                    insert_rows_sql(len(rows), or_ignore=True),
                    list(itertools.chain.from_iterable(rows)),
                )
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            self._insert_chunks(rows, or_ignore=False)
        except sqlite3.IntegrityError:
            # A serial already journaled: attach() prevents it, so this is a bug
            # elsewhere; keep the first record of each serial and say so. (A failed
            # statement is undone alone: the chunks before it stay in the transaction.)
            logger.exception("journal %s: duplicate serials in a batch", self.path)
            self._insert_chunks(rows, or_ignore=True)
        connection.execute("COMMIT")

    def _insert_chunks(self, rows: list[Row], *, or_ignore: bool) -> None:
        """Insert ``rows`` a chunk per statement (``rows.insert_rows_sql``).

        Chunks are ``_chunk_rows`` rows, then halves of it down to 1 for the rest,
        so a few statements of a few shapes (kept in sqlite3's statement cache)
        insert any batch.
        """
        execute = self._connection.execute
        chunk = self._chunk_rows
        start, total = 0, len(rows)
        while start < total:
            while chunk > total - start:
                chunk //= 2
            end = start + chunk
            execute(
                insert_rows_sql(chunk, or_ignore=or_ignore),
                list(itertools.chain.from_iterable(rows[start:end])),
            )
            start = end

    def _apply_retention_logged(self) -> int:
        try:
            return self._apply_retention()
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")
            with self._cond:
                self._errors += 1
            logger.error("journal %s: retention pass failed: %s", self.path, error)
            return 0

    def _apply_retention(self) -> int:
        """Delete what the policy says is too old or too much; returns the count."""
        policy = self.retention
        if not policy.enabled:
            return 0
        connection = self._connection
        deleted = 0
        newest = "(SELECT MAX(serial) FROM events)"
        cutoff = policy.age_cutoff(self._clock.wall())
        if cutoff is not None:
            cursor = connection.execute(
                f"DELETE FROM events WHERE wall_time < ? AND serial < {newest}", (cutoff,)
            )
            deleted += max(cursor.rowcount, 0)
        if policy.max_bytes is not None:
            page_size = int(connection.execute("PRAGMA page_size").fetchone()[0])
            # The estimate assumes pages free up in proportion to rows; the indexes'
            # half-full pages may not, so measure again and trim more (a few passes).
            for _ in range(_SIZE_PASSES):
                pages = int(connection.execute("PRAGMA page_count").fetchone()[0])
                free = int(connection.execute("PRAGMA freelist_count").fetchone()[0])
                rows = int(connection.execute("SELECT COUNT(*) FROM events").fetchone()[0])
                used = (pages - free) * page_size
                excess = policy.excess_rows(used_bytes=used, row_count=rows)
                if not excess:
                    break
                cursor = connection.execute(
                    "DELETE FROM events WHERE serial IN "
                    "(SELECT serial FROM events ORDER BY serial LIMIT ?)",
                    (excess,),
                )
                deleted += max(cursor.rowcount, 0)
        if deleted:
            connection.execute("PRAGMA incremental_vacuum")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            with self._cond:
                self._retention_deleted += deleted
        return deleted
