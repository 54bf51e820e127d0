"""superd's children as the daemon's record knows them, and processes watched by pidfd.

Rules of this file:
- :class:`ChildRegistry` keeps the live children and writes them to the record
  (``child_record``) ``FLUSH_DELAY`` after a change, at most once per delay, so a
  crash storm costs one small write per 50 ms, not one per spawn. A new child's
  start time is read from ``/proc`` at that write, not at the spawn: while a child
  is still in ``execve`` the read can block for milliseconds (measured: median
  22 us, p99 4 ms, in a storm), which the spawn path must not pay, and a child that
  dies within the delay is never read at all. Entries leave when the child has
  exited (its exit callback), never earlier.
- :class:`RecordingSpawner` wraps the real spawner: every spawn is recorded, and the
  first spawn of a program a survivor is adopted for returns the survivor
  (:class:`AdoptedChild`) instead of forking. ``process.py`` is not touched: an
  adopted survivor goes through the ordinary STARTING -> RUNNING steps.
- Processes that are not our children are watched through a pidfd on the loop
  (``os.pidfd_open`` + ``loop.add_reader``: :class:`PidfdWatch`, and for an adopted
  survivor ``spawn.ExitNotifier``, which ``PopenChild`` shares), never polled; they
  are signalled through the pidfd (or ``killpg`` for the ``*asgroup`` options: the
  survivor leads its group, and a live leader keeps the group id from being reused).
- A recorded process is opened by :func:`open_pidfd` only when it is alive with the
  recorded start time, checked again once its pidfd is open (a pidfd pins the
  process, so nothing can be recycled after that check).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping

from supervisor_core.child_record import (
    ChildEntry,
    ChildRecordError,
    RecordWriter,
    boot_id,
    encode_entry,
    process_identity,
    read_stat,
)
from supervisor_core.spawn import (
    ChildHandle,
    ExitNotifier,
    ExitStatus,
    Spawner,
    SpawnRequest,
    decode_wait_status,
)

__all__ = [
    "UNKNOWN_EXIT_STATUS",
    "AdoptedChild",
    "ChildRegistry",
    "PidfdWatch",
    "RecordingSpawner",
    "open_pidfd",
    "record_path",
]

logger = logging.getLogger(__name__)

UNKNOWN_EXIT_STATUS = 255
"""The exit status reported for an adopted survivor whose real status could not be
read: it is not our child, so its status goes to its new parent (init)."""


FLUSH_DELAY = 0.05
"""Seconds between a change and the record's write: the children spawned in the last
``FLUSH_DELAY`` before superd is killed may be missing from the record."""


def record_path(pidfile: str) -> str:
    """Where the children of the superd that writes ``pidfile`` are recorded."""
    return f"{pidfile}.children"


# --------------------------------------------------------------------------- watching


def open_pidfd(entry: ChildEntry) -> int | None:
    """A pidfd on the process ``entry`` names, or None if that process is gone."""
    identity = process_identity(entry.pid)
    if identity is None or identity.starttime != entry.starttime:
        return None
    try:
        pidfd = os.pidfd_open(entry.pid)
    except OSError:
        return None
    # The pid may have died and been reused between the check and the open: check
    # again, now that the pidfd pins whatever process it opened.
    identity = process_identity(entry.pid)
    if identity is None or identity.starttime != entry.starttime:
        os.close(pidfd)
        return None
    return pidfd


def _zombie_status(entry: ChildEntry) -> ExitStatus | None:
    """The wait status a dead survivor left in ``/proc/PID/stat`` (field 52).

    Readable only while it is a zombie that its new parent has not reaped yet.
    """
    data = read_stat(entry.pid)
    if data is None:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        state, starttime, status = fields[0], int(fields[19]), int(fields[49])
    except (IndexError, ValueError):
        return None
    if state != b"Z" or starttime != entry.starttime:
        return None
    return decode_wait_status(status)


class PidfdWatch:
    """Calls ``on_gone`` once, on the loop, when the process behind ``pidfd`` ends."""

    def __init__(
        self, pidfd: int, loop: asyncio.AbstractEventLoop, on_gone: Callable[[], None]
    ) -> None:
        self._pidfd: int | None = pidfd
        self._loop = loop
        self._on_gone = on_gone
        self.gone = False
        loop.add_reader(pidfd, self._readable)

    @property
    def pidfd(self) -> int | None:
        """The pidfd while it is watched."""
        return self._pidfd

    def _readable(self) -> None:
        # A pidfd is readable once the process has terminated (pidfd_open(2)).
        self.gone = True
        on_gone = self._on_gone
        self.close()
        on_gone()

    def close(self) -> None:
        """Stop watching and close the pidfd (idempotent)."""
        pidfd, self._pidfd = self._pidfd, None
        if pidfd is not None:
            self._loop.remove_reader(pidfd)
            os.close(pidfd)


# --------------------------------------------------------------------------- registry


class ChildRegistry:
    """superd's live children, mirrored to the record at ``path``.

    Example::

        registry = ChildRegistry(record_path(pidfile))
        registry.track(child, group="web", name="web")  # written at the next loop turn
        registry.close()  # at exit: the file goes if no child is left

    Args:
        path: the record file.
        boot: this boot's id (``child_record.boot_id()``).
        wall: wall-clock time, for the entries' ``spawned_at``.
        delay: seconds from a change to the write (0: the next loop turn).
    """

    def __init__(
        self,
        path: str,
        *,
        boot: str | None = None,
        wall: Callable[[], float] = time.time,
        delay: float = FLUSH_DELAY,
    ) -> None:
        self.path = path
        self.boot = boot_id() if boot is None else boot
        self._wall = wall
        self._delay = delay
        # pid -> (entry, its JSON): encoded once, so a write of N children only joins.
        self._entries: dict[int, tuple[ChildEntry, bytes]] = {}
        # Children spawned since the last write: pid -> (group, name, spawned_at).
        self._pending: dict[int, tuple[str, str, float]] = {}
        self._flush_handle: asyncio.Handle | asyncio.TimerHandle | None = None
        # Opened at the first write: a start that fails (another superd holds the
        # socket) must leave that superd's record alone.
        self._writer: RecordWriter | None = None
        self._disabled = False  # the file cannot be trusted: never written
        self._failing = False
        self._watches: list[PidfdWatch] = []
        self.writes = 0
        """Record writes so far (one per ``delay`` at most)."""

    def entries(self) -> tuple[ChildEntry, ...]:
        """The children recorded now, in the order they were added."""
        return tuple(entry for entry, _ in self._entries.values())

    def track(self, child: ChildHandle, *, group: str, name: str) -> None:
        """Record a child just spawned (at the next write); its exit removes it again."""
        pid = child.pid
        self._pending[pid] = (group, name, self._wall())
        self._schedule()
        child.add_exit_callback(lambda _status: self.discard(pid))

    def add(self, entry: ChildEntry) -> None:
        """Record ``entry`` (written at the next loop turn)."""
        self._entries[entry.pid] = (entry, encode_entry(entry))
        self._schedule()

    def discard(self, pid: int) -> None:
        """Forget the child ``pid`` (it exited)."""
        if self._pending.pop(pid, None) is not None:
            return  # never written: nothing to change
        if self._entries.pop(pid, None) is not None:
            self._schedule()

    def watch(self, entry: ChildEntry, pidfd: int, on_gone: Callable[[], None]) -> None:
        """Keep ``entry`` (a survivor left running) until its pidfd says it is gone."""
        self.add(entry)

        def gone() -> None:
            self.discard(entry.pid)
            on_gone()

        self._watches.append(PidfdWatch(pidfd, asyncio.get_running_loop(), gone))

    def _schedule(self) -> None:
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()  # no loop (a test, or the exit path): write now
            return
        if self._delay > 0:
            self._flush_handle = loop.call_later(self._delay, self.flush)
        else:
            self._flush_handle = loop.call_soon(self.flush)

    def _resolve_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for pid, (group, name, spawned_at) in pending.items():
            identity = process_identity(pid)
            if identity is None:
                continue  # exited (a zombie not yet reaped): nothing could survive
            entry = ChildEntry(
                pid=pid, starttime=identity.starttime, group=group, name=name, spawned_at=spawned_at
            )
            self._entries[pid] = (entry, encode_entry(entry))

    def flush(self) -> None:
        """Write the record now; a failure is logged (once per episode), never raised."""
        handle, self._flush_handle = self._flush_handle, None
        if handle is not None:
            handle.cancel()  # when called directly (close) rather than by the timer
        self._resolve_pending()
        if self._disabled:
            return
        try:
            if self._writer is None:
                self._writer = RecordWriter(self.path)
            self._writer.write(self.boot, [encoded for _, encoded in self._entries.values()])
        except ChildRecordError as error:
            self._disabled = True
            logger.error(
                "children record not kept: %s (survivors of this run would not be found "
                "after a crash)",
                error,
            )
            return
        except OSError as error:
            if not self._failing:
                logger.error(
                    "cannot write the children record %s: %s (survivors of this run "
                    "would not be found after a crash)",
                    self.path,
                    error.strerror or error,
                )
            self._failing = True
            return
        self.writes += 1
        if self._failing:
            logger.warning("children record %s written again", self.path)
            self._failing = False

    def close(self) -> None:
        """At exit: stop watching; remove the record when no child is left, else write it."""
        for watch in self._watches:
            watch.close()
        self._watches.clear()
        if self._flush_handle is not None or self._entries or self._pending:
            self.flush()  # the last changes (children left in UNKNOWN stay recorded)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close(remove=not self._entries)


# --------------------------------------------------------------------------- adopted child


class AdoptedChild(ExitNotifier):
    """A survivor taken on as a program's process: a ``ChildHandle`` that is not our child.

    It has no pipes (its output went to the killed superd's pipes: its next write
    gets EPIPE, or SIGPIPE kills it), so nothing is logged and stdin is closed. Its
    exit is seen through the pidfd; the status is the one the zombie shows in
    ``/proc`` when we are quicker than its new parent, else :data:`UNKNOWN_EXIT_STATUS`.
    """

    def __init__(self, entry: ChildEntry, pidfd: int, loop: asyncio.AbstractEventLoop) -> None:
        self.entry = entry
        super().__init__(pidfd, loop)

    def __repr__(self) -> str:
        return f"<AdoptedChild pid={self.entry.pid} status={self._status}>"

    @property
    def pid(self) -> int:
        """The survivor's pid (its process group id too)."""
        return self.entry.pid

    def take_output(self) -> tuple[int | None, int | None]:
        """No pipes: ``(None, None)``."""
        return None, None

    def _collect_exit(self) -> ExitStatus:
        status = _zombie_status(self.entry)
        if status is None:
            try:
                # A survivor can be our child only when superd is its subreaper.
                pid, raw = os.waitpid(self.entry.pid, os.WNOHANG)
            except ChildProcessError:
                pid, raw = 0, 0
            if pid == self.entry.pid:
                status = decode_wait_status(raw)
        if status is None:
            status = ExitStatus(
                returncode=UNKNOWN_EXIT_STATUS, exitcode=UNKNOWN_EXIT_STATUS, signal=None
            )
        return status

    def send_signal(self, sig: int, *, to_group: bool = False) -> None:
        """Send ``sig`` through the pidfd, or with ``to_group`` to its process group."""
        pidfd = self._pidfd
        if self._status is not None or pidfd is None:
            raise ProcessLookupError(errno.ESRCH, f"process {self.pid} has already exited")
        if to_group:
            try:
                os.killpg(self.pid, sig)
                return
            except ProcessLookupError:
                pass  # it left the group it led (setsid, setpgid): signal it alone
        signal.pidfd_send_signal(pidfd, sig)

    def write_stdin(self, data: bytes) -> None:
        """Its stdin was the killed superd's pipe: always closed."""
        raise BrokenPipeError(errno.EPIPE, "an adopted process has no stdin")

    async def wait_stdin_drained(self) -> None:
        """Nothing is ever queued."""

    def close_stdin(self) -> None:
        """Nothing to close."""

    def close(self) -> None:
        """Stop watching (does not signal it)."""
        self._close_pidfd()


# --------------------------------------------------------------------------- spawner


class RecordingSpawner:
    """A ``Spawner`` that records every child and hands out adopted survivors.

    Args:
        inner: the spawner that forks (``PopenSpawner``).
        registry: where children are recorded.
    """

    def __init__(self, inner: Spawner, registry: ChildRegistry) -> None:
        self._inner = inner
        self.registry = registry
        self._adoptions: dict[tuple[str, str], AdoptedChild] = {}

    def check_command(
        self,
        command: str,
        *,
        environment: Mapping[str, str] | None,
        base_environment: Mapping[str, str] | None,
    ) -> None:
        """The inner spawner's check."""
        self._inner.check_command(
            command, environment=environment, base_environment=base_environment
        )

    def adopt(self, group: str, name: str, child: AdoptedChild) -> None:
        """Hand ``child`` out at the next spawn of ``group:name`` instead of forking."""
        self._adoptions[(group, name)] = child

    def cancel_adoption(self, group: str, name: str) -> AdoptedChild | None:
        """Take back an adoption that was not used (the start was refused)."""
        return self._adoptions.pop((group, name), None)

    def spawn(self, request: SpawnRequest) -> ChildHandle:
        """Fork through the inner spawner and record the child, or hand out an adoption."""
        adopted = self._adoptions.pop((request.group_name, request.name), None)
        if adopted is not None:
            return adopted
        child = self._inner.spawn(request)
        self.registry.track(child, group=request.group_name, name=request.name)
        return child
