"""Write exactly N bytes of 100-byte text lines to stdout, in 64 KiB blocks, then exit 0.

Usage: ``python bench/writer.py BYTES``. The log-throughput scenario runs it under the
daemon (stdout captured to a log file) and, as a baseline, piped into ``cat``.
"""

from __future__ import annotations

import os
import sys

LINE = b"x" * 99 + b"\n"
BLOCK = LINE * 655  # 65,500 bytes: just under a 64 KiB pipe buffer


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd``, resuming after partial writes."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def main(argv: list[str]) -> int:
    """Write ``argv[1]`` bytes to fd 1."""
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: writer.py BYTES", file=sys.stderr)
        return 2
    remaining = int(argv[1])
    while remaining > 0:
        chunk = BLOCK if remaining >= len(BLOCK) else BLOCK[:remaining]
        write_all(1, chunk)
        remaining -= len(chunk)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
