"""Per-process ring buffers of the last lines a child wrote on stderr.

Pure bookkeeping (no I/O, no clock): bytes in, the last ``lines`` lines out. The
journal stores ``tail(group, name)`` with the event of an unexpected exit, so a
post-mortem sees what the process said before it died.
"""

from __future__ import annotations

from collections import deque

# A line longer than this is cut (a child writing one endless line must not make the
# journal hold megabytes per process).
MAX_LINE_BYTES = 4096


class _Ring:
    __slots__ = ("lines", "partial")

    def __init__(self, size: int) -> None:
        self.lines: deque[bytes] = deque(maxlen=size)
        self.partial = b""


class StderrTails:
    """The last ``lines`` lines of stderr of every process, keyed by (group, name).

    Example::

        tails = StderrTails(lines=20)
        tails.feed("web", "web", b"Traceback...\\nValueError: boom\\n")
        tails.tail("web", "web")  # ('Traceback...', 'ValueError: boom')
    """

    def __init__(self, *, lines: int = 20) -> None:
        if lines < 0:
            raise ValueError(f"stderr lines must be >= 0, not {lines}")
        self.lines = lines
        self._rings: dict[tuple[str, str], _Ring] = {}

    def feed(self, groupname: str, processname: str, data: bytes) -> None:
        """Add a chunk of stderr output (any split: lines may span chunks)."""
        if self.lines == 0 or not data:
            return
        key = (groupname, processname)
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = _Ring(self.lines)
        pieces = (ring.partial + data).split(b"\n")
        ring.partial = pieces.pop()[:MAX_LINE_BYTES]
        # Only the last ``lines`` complete lines can survive: skip the rest early.
        for piece in pieces[-self.lines :]:
            ring.lines.append(piece[:MAX_LINE_BYTES])

    def tail(self, groupname: str, processname: str) -> tuple[str, ...]:
        """The last lines (an unterminated last line included), oldest first."""
        ring = self._rings.get((groupname, processname))
        if ring is None:
            return ()
        lines = list(ring.lines)
        if ring.partial:
            lines.append(ring.partial)
        return tuple(
            line.rstrip(b"\r").decode("utf-8", errors="replace") for line in lines[-self.lines :]
        )

    def reset(self, groupname: str, processname: str) -> None:
        """Forget a process's output (a new run starts, or the process is removed)."""
        self._rings.pop((groupname, processname), None)

    def forget_group(self, groupname: str) -> None:
        """Forget every process of a removed group."""
        for key in [k for k in self._rings if k[0] == groupname]:
            del self._rings[key]
