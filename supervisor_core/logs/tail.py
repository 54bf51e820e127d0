"""The last few KiB a child wrote on one channel, for the stderr tail of exit events.

Rules of this file:
- Per read, not per line: ``TailBuffer.feed`` appends the chunk to one bounded
  ``bytearray`` and trims its head; lines are only split when an exit asks for them
  (``last_lines``), so a chatty child pays one bounded copy per read.
- Pure bookkeeping: no I/O, no clock.
"""

from __future__ import annotations

# Bytes kept per channel: 20 lines of a Python traceback fit with room to spare, and
# a thousand processes cost 16 MiB at most.
TAIL_BYTES = 16 * 1024
# A line longer than this is cut (one endless line must not fill an event).
MAX_LINE_CHARS = 4096


class TailBuffer:
    """The last ``limit`` bytes fed since the last ``clear()``.

    Example::

        tail = TailBuffer()
        tail.feed(b"starting\\nTraceback ...\\nValueError: boom\\n")
        last_lines(tail.data(), 2, truncated=tail.truncated)
        # ('Traceback ...', 'ValueError: boom')
    """

    __slots__ = ("_data", "limit", "truncated")

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self.limit = limit
        self._data = bytearray()
        self.truncated = False
        """Whether older bytes were dropped (the first line kept may be a fragment)."""

    def feed(self, chunk: bytes | memoryview) -> None:
        """Append a chunk (any split), keeping only the last ``limit`` bytes."""
        if len(chunk) >= self.limit:
            self._data[:] = chunk[-self.limit :]
            self.truncated = True
            return
        self._data += chunk
        excess = len(self._data) - self.limit
        if excess > 0:
            del self._data[:excess]
            self.truncated = True

    def data(self) -> bytes:
        """What is kept, oldest byte first."""
        return bytes(self._data)

    def clear(self) -> None:
        """Forget everything (a new run starts)."""
        self._data.clear()
        self.truncated = False


def last_lines(data: bytes, lines: int, *, truncated: bool = False) -> tuple[str, ...]:
    """The last ``lines`` lines of ``data`` as text, oldest first.

    An unterminated last line counts; ``\\r`` line ends are dropped; undecodable
    bytes are replaced. With ``truncated`` the first line is a fragment of a longer
    one and is left out (unless it is all there is).
    """
    if lines <= 0 or not data:
        return ()
    pieces = data.split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()
    if truncated and len(pieces) > 1:
        pieces = pieces[1:]
    return tuple(
        piece.rstrip(b"\r").decode("utf-8", errors="replace")[:MAX_LINE_CHARS]
        for piece in pieces[-lines:]
    )
