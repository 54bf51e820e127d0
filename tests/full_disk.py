"""A small tmpfs that tests fill up: real ENOSPC for logs and the journal (needs root)."""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.peers import missing_peer, require_root


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "4m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``where`` for the block (skipped without root,
    failed under CI where the tests must run)."""
    require_root("a tmpfs to fill up")
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        missing_peer(f"cannot mount a tmpfs ({result.stderr.strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> Path:
    """Write a filler file until the file system is full; returns it (delete it to free)."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                break
    # The last partial chunk: fill the remaining bytes one page at a time.
    with open(filler, "ab", buffering=0) as handle:
        for _ in range(64):
            try:
                handle.write(b"\0" * 4096)
            except OSError:
                break
    return filler
