"""The journal's files are private and trusted; its failures are counted, never hang (issue 19)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporters.journal import Journal, UnsafeJournalError, open_journal
from exporters.journal.files import private_directory_name
from exporters.journal.settings import SECTION, settings_from_section
from exporters.journal.store import JournalStalled
from supervisor_core.bus import EventBus
from supervisor_core.clock import SystemClock
from supervisor_core.config.model import ExtensionSection
from supervisor_core.events import Tick5
from tests.full_disk import fill, small_tmpfs
from tests.peers import require_root

pytestmark = pytest.mark.integration

OTHER_UID = 65534  # nobody
DEADLINE = 20.0


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def root() -> None:
    require_root("to create another user's file")


async def test_journal_and_wal_files_are_created_0600(tmp_path: Path, open_umask: None) -> None:
    """Under umask 000 the database, its -wal and its -shm are all 0600."""
    path = tmp_path / "j.db"
    journal = Journal.open(str(path))
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    journal.attach(bus)
    bus.publish(Tick5(when=1))
    await journal.flush()
    for name in ("j.db", "j.db-wal", "j.db-shm"):
        assert mode(tmp_path / name) == 0o600, name
    await journal.aclose()
    with open_journal(str(path)) as reader:
        assert [r.type for r in reader.events()][-1] == "TICK_5"


def test_an_older_world_readable_journal_is_tightened(tmp_path: Path) -> None:
    """A journal left 0644 by an older superd is 0600 once opened, history kept."""
    path = tmp_path / "j.db"
    Journal.open(str(path)).close()
    os.chmod(path, 0o644)
    journal = Journal.open(str(path))
    assert mode(path) == 0o600
    assert journal.reset is None
    journal.close()


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_a_symlink_is_never_followed(tmp_path: Path, suffix: str) -> None:
    """A link planted at the journal's name (or its -wal/-shm) is refused by name, and
    the file it points to is left untouched."""
    target = tmp_path / "precious"
    target.write_bytes(b"root's file\n")
    path = tmp_path / "j.db"
    os.symlink(target, f"{path}{suffix}")
    with pytest.raises(UnsafeJournalError, match=rf"j\.db{suffix} is a symbolic link"):
        Journal.open(str(path))
    assert target.read_bytes() == b"root's file\n"


@pytest.mark.parametrize("suffix", ["", "-wal"])
def test_another_users_file_is_refused(tmp_path: Path, root: None, suffix: str) -> None:
    """A journal (or -wal) pre-created by another user is refused with its owner's uid."""
    path = tmp_path / "j.db"
    planted = Path(f"{path}{suffix}")
    planted.write_bytes(b"")
    os.chown(planted, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafeJournalError, match=rf"owned by uid {OTHER_UID}"):
        Journal.open(str(path))
    assert planted.read_bytes() == b""
    assert not (tmp_path / "j.db-shm").exists()


def test_default_location_in_a_world_writable_directory_is_private(tmp_path: Path) -> None:
    """With a world-writable childlogdir the default journal lives in a 0700 directory
    of its own; one planted by someone else is refused."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    settings = settings_from_section(
        ExtensionSection(name=SECTION), childlogdir=str(shared), here="/"
    )
    assert settings.private_directory
    assert settings.path == str(shared / private_directory_name() / "superd-journal.sqlite3")
    Journal.from_settings(settings).close()
    assert mode(shared / private_directory_name()) == 0o700
    assert mode(settings.path) == 0o600
    # A directory that is not world-writable keeps the plain default.
    assert settings_from_section(
        ExtensionSection(name=SECTION), childlogdir=str(tmp_path), here="/"
    ).path == str(tmp_path / "superd-journal.sqlite3")


def test_a_planted_private_directory_is_refused(tmp_path: Path, root: None) -> None:
    """The private directory, when someone else made it first, is refused."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    planted = shared / private_directory_name()
    planted.mkdir()
    os.chown(planted, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafeJournalError, match=r"journal directory .* owned by uid"):
        Journal.from_settings(
            settings_from_section(ExtensionSection(name=SECTION), childlogdir=str(shared), here="/")
        )


async def test_an_empty_journal_says_that_serials_restart(tmp_path: Path) -> None:
    """A 0-byte journal is moved aside and SUPERVISOR_DAEMON_START says why serials
    restart at 0."""
    path = tmp_path / "j.db"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    journal = Journal.open(str(path))
    assert journal.reset is not None
    assert "empty (0 bytes)" in journal.reset.reason
    assert mode(journal.reset.moved_to) == 0o644  # moved, not rewritten
    bus = EventBus(SystemClock(), first_serial=journal.next_serial())
    start = journal.attach(bus)
    assert start is not None
    assert start.data.journal_reset == journal.reset.moved_to  # type: ignore[attr-defined]
    assert "serials restart at 0" in start.data.journal_reset_reason  # type: ignore[attr-defined]
    await journal.aclose()


async def test_a_full_disk_stalls_flush_with_a_timeout_and_counts_then_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On a full tmpfs flush(timeout) raises JournalStalled instead of hanging, every
    failed commit counts in errors and is logged; once space is freed the pending
    events are committed, nothing lost, and a "resumed" line is logged."""
    with small_tmpfs(tmp_path / "disk") as disk:
        journal = Journal.open(str(disk / "j.db"), batch_size=50)
        bus = EventBus(SystemClock(), first_serial=journal.next_serial())
        journal.attach(bus)
        await journal.flush(timeout=DEADLINE)
        filler = fill(disk)
        for i in range(2000):
            bus.publish(Tick5(when=i))
        with pytest.raises(JournalStalled):
            await journal.flush(timeout=0.5)
        stats = journal.snapshot()
        assert stats.errors >= 1
        assert stats.errors == stats.write_errors
        assert "writing" in caplog.text
        assert "failed" in caplog.text
        filler.unlink()
        await journal.flush(timeout=DEADLINE)
        assert "writing resumed after" in caplog.text
        await journal.aclose()
        with open_journal(str(disk / "j.db")) as reader:
            kept = [r.serial for r in reader.events()]
        assert kept == list(range(kept[0], kept[0] + 2001))
        assert journal.snapshot().lost == 0


async def test_an_unstorable_serial_is_counted_and_the_writer_lives_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A serial beyond SQLite's 64-bit integers (OverflowError) costs that event only:
    it is logged and counted, the rest of the batch commits and flush() returns."""
    journal = Journal.open(str(tmp_path / "j.db"))
    bus = EventBus(SystemClock(), first_serial=2**63 - 3)
    journal.attach(bus)  # SUPERVISOR_DAEMON_START at 2**63 - 3
    bus.publish(Tick5(when=1))  # 2**63 - 2
    bus.publish(Tick5(when=2))  # 2**63 - 1: the last one SQLite can hold
    bus.publish(Tick5(when=3))  # 2**63: cannot be stored
    await journal.flush(timeout=DEADLINE)
    stats = journal.snapshot()
    assert (stats.errors, stats.lost, stats.written) == (1, 1, 3)
    assert f"event {2**63} cannot be stored; left out" in caplog.text
    bus.publish(Tick5(when=4))
    await journal.flush(timeout=DEADLINE)  # the writer is still there
    assert journal.snapshot().lost == 2
    await journal.aclose()
    with open_journal(str(tmp_path / "j.db")) as reader:
        assert [r.serial for r in reader.events()] == [2**63 - 3, 2**63 - 2, 2**63 - 1]
