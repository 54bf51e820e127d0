"""Write exactly N bytes of 100-byte text lines, in blocks of B bytes, then exit 0.

Usage: ``python bench/writer.py BYTES [BLOCK] [--interleave]``. ``BLOCK`` (default
65,500: just under a 64 KiB pipe buffer, what a program writing lines through a 64 KiB
stdio buffer does) is the size of every ``write()``; 100 means one line per call. With
``--interleave`` the blocks alternate between stdout and stderr (BYTES in total). The
log-throughput scenario runs it under the daemon (output captured to log files) and,
as a baseline, piped into ``cat``.
"""

from __future__ import annotations

import os
import sys

LINE = b"x" * 99 + b"\n"
DEFAULT_BLOCK = 65_500


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd``, resuming after partial writes."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def block_of(size: int) -> bytes:
    """``size`` bytes cut from a run of 100-byte lines."""
    return (LINE * (size // len(LINE) + 1))[:size]


def main(argv: list[str]) -> int:
    """Write ``argv[1]`` bytes to fd 1 (and fd 2 with ``--interleave``)."""
    interleave = "--interleave" in argv
    args = [arg for arg in argv[1:] if arg != "--interleave"]
    if not 1 <= len(args) <= 2 or not all(arg.isdigit() for arg in args):
        print("usage: writer.py BYTES [BLOCK] [--interleave]", file=sys.stderr)
        return 2
    remaining = int(args[0])
    size = int(args[1]) if len(args) == 2 else DEFAULT_BLOCK
    if size < 1:
        print("writer.py: BLOCK must be at least 1", file=sys.stderr)
        return 2
    block = memoryview(block_of(size))
    fds = (1, 2) if interleave else (1,)
    turn = 0
    while remaining > 0:
        chunk = block if remaining >= size else block[:remaining]
        write_all(fds[turn % len(fds)], chunk)
        turn += 1
        remaining -= len(chunk)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
