"""Trusting the journal's files: private modes, no symlinks, only our own files.

Rules of this file:
- The journal holds stderr tails ("db password is ..."), so its database and the
  SQLite companions (``-wal``, ``-shm``) are created 0600 and an older, looser file
  is tightened to 0600. SQLite gives ``-wal``/``-shm`` the database's mode, and we
  create all three ourselves before SQLite opens them, so none is ever readable by
  others, whatever the umask.
- Never follow a symbolic link (``O_NOFOLLOW``): in a shared directory such as
  ``/tmp`` a link planted by another user would turn the file it points to (a
  root-owned one, when superd runs as root) into an SQLite database.
- Never adopt a file owned by another user: in a sticky directory anyone can
  pre-create the journal's name, read what we write and feed us events.
- The default location is not world-writable: when ``childlogdir`` is (``/tmp``,
  supervisord's default), the journal goes into a private ``superd-journal-<uid>``
  directory (0700, ours, not a link) inside it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

JOURNAL_MODE = 0o600
PRIVATE_DIRECTORY_MODE = 0o700
COMPANION_SUFFIXES = ("-wal", "-shm")


class UnsafeJournalError(PermissionError):
    """A journal path cannot be trusted; the message names the file and the reason."""


def world_writable(directory: str) -> bool:
    """Whether anyone may create files in ``directory`` (False when it cannot be read)."""
    try:
        return bool(os.stat(directory).st_mode & stat.S_IWOTH)
    except OSError:
        return False


def private_directory_name(uid: int | None = None) -> str:
    """``superd-journal-<uid>``: the journal's own directory inside a shared one."""
    return f"superd-journal-{os.geteuid() if uid is None else uid}"


def ensure_private_directory(path: str) -> None:
    """Create ``path`` 0700, or check that the existing one is ours, private, not a link.

    Raises:
        UnsafeJournalError: a link, not a directory, another user's, or open to others.
    """
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, PRIVATE_DIRECTORY_MODE)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafeJournalError(
            errno.EPERM, f"journal directory {path} is not a directory (a link?); refusing it"
        )
    _check_owner(path, info, "journal directory")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, PRIVATE_DIRECTORY_MODE)


def _check_owner(path: str, info: os.stat_result, what: str) -> None:
    uid = os.geteuid()
    if info.st_uid != uid:
        raise UnsafeJournalError(
            errno.EPERM,
            f"{what} {path} is owned by uid {info.st_uid}, not by this user (uid {uid}); "
            "refusing to use a file someone else created (move it away or set "
            "[exporter:journal] path=)",
        )


def check_existing(path: str) -> bool:
    """Whether ``path`` exists, after checking that it can be trusted (no create).

    Raises:
        UnsafeJournalError: a symbolic link, not a regular file, or another user's.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeJournalError(
            errno.ELOOP, f"journal file {path} is a symbolic link; refusing to follow it"
        )
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeJournalError(errno.EPERM, f"journal file {path} is not a regular file")
    _check_owner(path, info, "journal file")
    return True


def claim(path: str) -> None:
    """Create ``path`` 0600 (or tighten our existing one to 0600), never through a link.

    Raises:
        UnsafeJournalError: a symbolic link, not a regular file, or another user's.
        OSError: the file cannot be created (the directory is missing, read-only...).
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, JOURNAL_MODE)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeJournalError(
                errno.ELOOP, f"journal file {path} is a symbolic link; refusing to follow it"
            ) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeJournalError(errno.EPERM, f"journal file {path} is not a regular file")
        _check_owner(path, info, "journal file")
        if stat.S_IMODE(info.st_mode) != JOURNAL_MODE:
            os.fchmod(fd, JOURNAL_MODE)
    finally:
        os.close(fd)


def claim_all(path: str) -> None:
    """:func:`claim` the database and its ``-wal``/``-shm`` companions."""
    for name in (path, *(path + suffix for suffix in COMPANION_SUFFIXES)):
        claim(name)


def check_all(path: str) -> bool:
    """:func:`check_existing` for the database and its companions; whether the database exists."""
    for suffix in COMPANION_SUFFIXES:
        check_existing(path + suffix)
    return check_existing(path)
