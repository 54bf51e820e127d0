"""The record of superd's live children on disk, so a killed superd's orphans can be found.

Rules of this file:
- A child is identified by ``(pid, starttime, boot id)``: ``starttime`` is field 22
  of ``/proc/PID/stat`` (clock ticks since boot), fixed for the life of a process, and
  the boot id (``/proc/sys/kernel/random/boot_id``) changes at every boot. A pid the
  kernel recycled for another process has another start time, so it is never taken
  for a child of ours.
- The file is written whole, atomically (a temporary file renamed over it), mode
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
    "boot_id",
    "process_identity",
    "read_record",
    "remove_record",
    "write_record",
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


def process_identity(pid: int) -> ProcessIdentity | None:
    """``pid``'s identity now, or None when no live process has it.

    A zombie (state ``Z``/``X``: exited, not yet reaped by its new parent) counts as
    gone: it runs nothing and holds no port.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
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


def write_record(path: str, boot: str, entries: Iterable[ChildEntry]) -> None:
    """Replace the record at ``path`` with ``entries`` (atomically, mode 0600).

    Raises:
        OSError: the file cannot be written (the caller logs and counts it).
    """
    own = process_identity(os.getpid())
    document = {
        "format": _FORMAT,
        "boot_id": boot,
        "superd": [own.pid, own.starttime] if own is not None else None,
        "children": [
            [entry.pid, entry.starttime, entry.group, entry.name, round(entry.spawned_at, 3)]
            for entry in entries
        ],
    }
    data = json.dumps(document, separators=(",", ":")).encode()
    temporary = f"{path}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)  # a leftover, or a planted symlink: O_EXCL below refuses both
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(temporary, path)


def remove_record(path: str) -> None:
    """Remove the record (a clean exit with no child left); a missing file is fine."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


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
        if not stat.S_ISREG(info.st_mode):
            raise ChildRecordError(f"{path}: not a regular file")
        if info.st_uid not in (os.geteuid(), 0):
            raise ChildRecordError(f"{path}: owned by uid {info.st_uid}, not by superd's user")
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
        document = json.loads(data)
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
