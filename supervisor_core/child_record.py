"""The record of superd's live children on disk, so a killed superd's orphans can be found.

Rules of this file:
- A child is identified by ``(pid, starttime, boot id)``: ``starttime`` is field 22
  of ``/proc/PID/stat`` (clock ticks since boot), fixed for the life of a process, and
  the boot id (``/proc/sys/kernel/random/boot_id``) changes at every boot. A pid the
  kernel recycled for another process has another start time, so it is never taken
  for a child of ours.
- The file is rewritten whole and in place (``RecordWriter``: one ``pwrite``), mode
  0600, never through a symlink, and never fsynced: it only matters within one boot,
  and within one boot the page cache outlives any crash of superd (kill -9, OOM);
  after a power loss the boot id differs and every entry is void anyway.
- Reading trusts only a regular file owned by superd's own user (or root): its
  pids are signalled, so a file another user could write would let them choose
  which processes superd kills.
- This module does file and ``/proc`` I/O only; when to write is ``survivors``'s.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ChildEntry",
    "ChildRecordError",
    "ProcessIdentity",
    "Record",
    "RecordWriter",
    "boot_id",
    "encode_entry",
    "encode_record",
    "process_identity",
    "read_record",
    "read_stat",
]

_FORMAT = "superd-children/1"
_BOOT_ID = "/proc/sys/kernel/random/boot_id"
# A record of a thousand children is about 100 KiB; anything much larger is not ours.
_MAX_SIZE = 16 * 1024 * 1024


class ChildRecordError(Exception):
    """The record exists but cannot be trusted or read; the message says why."""


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """What tells one process from any other that ever had its pid (this boot)."""

    pid: int
    starttime: int  # /proc/PID/stat field 22: clock ticks after boot


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildEntry:
    """One child superd spawned: who it is, for which program, and when (wall time)."""

    pid: int
    starttime: int
    group: str
    name: str
    spawned_at: float

    @property
    def identity(self) -> ProcessIdentity:
        """The entry's ``(pid, starttime)``."""
        return ProcessIdentity(self.pid, self.starttime)


def boot_id() -> str:
    """This boot's id ("" where /proc does not tell it: then no entry ever matches)."""
    try:
        with open(_BOOT_ID, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def read_stat(pid: int) -> bytes | None:
    """``/proc/PID/stat`` (None when there is no such process).

    Read with ``os.open``/``os.read``: a buffered file object costs three times as
    much, and this runs once per spawn.
    """
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)


def process_identity(pid: int) -> ProcessIdentity | None:
    """``pid``'s identity now, or None when no live process has it.

    A zombie (state ``Z``/``X``: exited, not yet reaped by its new parent) counts as
    gone: it runs nothing and holds no port.
    """
    data = read_stat(pid)
    if data is None:
        return None
    # Field 2 (the command name) is in parentheses and may hold spaces or ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        state, starttime = fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None
    if state in (b"Z", b"X", b"x"):
        return None
    return ProcessIdentity(pid, starttime)


def encode_entry(entry: ChildEntry) -> bytes:
    """One entry's JSON, encoded once when the child is added (a write only joins them)."""
    names = _encoded_names(entry.group, entry.name)
    return f"[{entry.pid},{entry.starttime},{names},{entry.spawned_at:.3f}]".encode()


@functools.lru_cache(maxsize=4096)
def _encoded_names(group: str, name: str) -> str:
    # A program is spawned again and again in a crash storm: quote its names once.
    return f"{json.dumps(group)},{json.dumps(name)}"


def encode_record(boot: str, superd: ProcessIdentity | None, entries: Iterable[bytes]) -> bytes:
    """The record's bytes from encoded entries: one line of JSON (a reader ignores what
    follows the newline), naming the boot and the superd that wrote it."""
    header = {
        "format": _FORMAT,
        "boot_id": boot,
        "superd": [superd.pid, superd.starttime] if superd is not None else None,
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join((head[:-1], b',"children":[', b",".join(entries), b"]}\n"))


class RecordWriter:
    """The record file, open for the daemon's life and rewritten in place.

    One ``pwrite`` of the whole record, then ``ftruncate`` to its length: about 5 us
    on ext4, where a temporary file renamed over the record costs 100 to 400 us
    (``auto_da_alloc`` writes the data back on every replace), once per loop turn of
    a crash storm. A kill in the middle of the write can only tear a record larger
    than a page (the kernel checks for a fatal signal between pages); the reader
    then refuses it as unreadable, and says so.

    Raises:
        ChildRecordError: the file cannot be opened, or is a symlink, not a regular
            file, or owned by another user (it is never written then).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            fd = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600
            )
        except OSError as error:
            raise ChildRecordError(f"{path}: cannot open: {error.strerror or error}") from None
        try:
            _check_trusted(path, os.fstat(fd))
            os.fchmod(fd, 0o600)
        except (ChildRecordError, OSError) as error:
            os.close(fd)
            if isinstance(error, ChildRecordError):
                raise
            raise ChildRecordError(f"{path}: {error.strerror or error}") from None
        self._fd: int | None = fd
        self._size = os.fstat(fd).st_size
        self._superd = process_identity(os.getpid())

    def write(self, boot: str, entries: Iterable[bytes]) -> None:
        """Replace the record's content with ``entries`` (from :func:`encode_entry`).

        Raises:
            OSError: the write failed (disk full, ...); the caller logs it.
        """
        if self._fd is None:
            raise OSError(f"{self.path}: closed")
        data = encode_record(boot, self._superd, entries)
        written = os.pwrite(self._fd, data, 0)
        if written != len(data):
            raise OSError(f"{self.path}: short write ({written} of {len(data)} bytes)")
        if self._size != len(data):
            os.ftruncate(self._fd, len(data))
            self._size = len(data)

    def close(self, *, remove: bool) -> None:
        """Close the file; with ``remove`` also delete it (no child left: nothing to find)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        os.close(fd)
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _check_trusted(path: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise ChildRecordError(f"{path}: not a regular file")
    if info.st_uid not in (os.geteuid(), 0):
        raise ChildRecordError(f"{path}: owned by uid {info.st_uid}, not by superd's user")


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """What a record file says: the boot, the superd that wrote it, its children."""

    boot_id: str
    superd: ProcessIdentity | None
    children: tuple[ChildEntry, ...]


def read_record(path: str) -> Record | None:
    """What a previous superd left at ``path``; None without a file.

    Raises:
        ChildRecordError: the file is not a regular file owned by us (or root), is a
            symlink, too large, or not a record (the message names the path and why).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ChildRecordError(f"{path}: cannot open: {error.strerror or error}") from None
    try:
        info = os.fstat(fd)
        _check_trusted(path, info)
        if info.st_size > _MAX_SIZE:
            raise ChildRecordError(f"{path}: {info.st_size} bytes, too large for a record")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(_MAX_SIZE + 1)
    except OSError as error:
        raise ChildRecordError(f"{path}: cannot read: {error.strerror or error}") from None
    finally:
        os.close(fd)
    return _parse(path, data)


def _parse(path: str, data: bytes) -> Record:
    try:
        document = json.loads(data.partition(b"\n")[0])
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise ValueError("not a superd children record")
        boot = document["boot_id"]
        if not isinstance(boot, str):
            raise ValueError("boot_id is not text")
        superd = document.get("superd")
        writer: ProcessIdentity | None = None
        if superd is not None:
            if not (isinstance(superd, list) and len(superd) == 2 and _ints(*superd)):
                raise ValueError(f"bad superd {superd!r}")
            writer = ProcessIdentity(superd[0], superd[1])
        entries = tuple(_entry(item) for item in document["children"])
    except (ValueError, KeyError, TypeError) as error:
        raise ChildRecordError(f"{path}: unreadable record: {error}") from None
    return Record(boot_id=boot, superd=writer, children=entries)


def _ints(*values: object) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)


def _entry(item: object) -> ChildEntry:
    if not isinstance(item, list) or len(item) != 5:
        raise ValueError(f"bad entry {item!r}")
    pid, starttime, group, name, spawned_at = item
    if not (
        _ints(pid, starttime)
        and pid > 0
        and isinstance(group, str)
        and isinstance(name, str)
        and isinstance(spawned_at, int | float)
    ):
        raise ValueError(f"bad entry {item!r}")
    return ChildEntry(
        pid=pid, starttime=starttime, group=group, name=name, spawned_at=float(spawned_at)
    )
