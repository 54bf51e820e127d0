"""Pure, per-channel transformations of child output: capture mode and ANSI stripping.

Rules of this file:
- No I/O. ``ChannelFilter.feed(chunk)`` turns one read into a list of items (bytes for
  the log, capture data, finished communications); the I/O layer carries them out.
- Token handling is supervisord's ``POutputDispatcher.record_output``: look for
  ``<!--XSUPERVISOR:BEGIN-->`` (or ``END`` while capturing), log what comes before it,
  toggle the mode, continue with what follows; a tail that could be the start of the
  token is held back until the next read, so tokens split across reads are found.
  Deliberate differences: held-back bytes are released at EOF (supervisord drops them),
  and capture data keeps at most the last ``capture_maxbytes`` bytes (supervisord's
  BoundIO can exceed the bound by one write).
- Like supervisord's ``_log``, data written while capturing is still reported as
  output (it becomes PROCESS_LOG events) but goes to the capture buffer, not the file.
- ANSI stripping removes what supervisord's ``stripEscapes`` removes (``ESC [`` up to
  and including the first terminator letter), but remembers an escape that a read
  cut in half, so the rest of it is removed from the next read too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN_TOKEN = b"<!--XSUPERVISOR:BEGIN-->"
END_TOKEN = b"<!--XSUPERVISOR:END-->"

# supervisord's ANSI_TERMINATORS.
_TERMINATORS = b"HfABCDRsuJKhlpm"
_ESCAPE = re.compile(rb"\x1b\[[^" + _TERMINATORS + rb"]*([" + _TERMINATORS + rb"]|\Z)")
_TERMINATOR = re.compile(rb"[" + _TERMINATORS + rb"]")


def find_prefix_at_end(haystack: bytes, needle: bytes) -> int:
    """Length of the longest proper prefix of ``needle`` that ``haystack`` ends with."""
    length = len(needle) - 1
    while length and not haystack.endswith(needle[:length]):
        length -= 1
    return length


class AnsiStripper:
    """Removes ANSI escape sequences from a byte stream fed in arbitrary chunks."""

    __slots__ = ("_in_escape", "_pending")

    def __init__(self) -> None:
        self._in_escape = False  # inside ESC [ ... waiting for a terminator
        self._pending = b""  # a lone trailing ESC that may start a sequence

    def feed(self, data: bytes) -> bytes:
        """Strip ``data``; bytes that might belong to a cut escape are held back."""
        if self._in_escape:
            match = _TERMINATOR.search(data)
            if match is None:
                return b""
            data = data[match.end() :]
            self._in_escape = False
        if self._pending:
            data = self._pending + data
            self._pending = b""
        if b"\x1b" not in data:
            return data
        open_tail = False

        def drop(match: re.Match[bytes]) -> bytes:
            nonlocal open_tail
            if not match.group(1):
                open_tail = True
            return b""

        result = _ESCAPE.sub(drop, data)
        self._in_escape = open_tail
        if result.endswith(b"\x1b") and not open_tail:
            self._pending = b"\x1b"
            result = result[:-1]
        return result

    def finish(self) -> bytes:
        """End of stream: release a held-back lone ESC."""
        pending, self._pending = self._pending, b""
        self._in_escape = False
        return pending


@dataclass(frozen=True, slots=True)
class Output:
    """Bytes the child wrote. ``captured``: they belong to a communication, not the file."""

    data: bytes
    captured: bool = False


@dataclass(frozen=True, slots=True)
class Communication:
    """A complete ``BEGIN ... END`` block (at most ``capture_maxbytes``, the tail kept)."""

    data: bytes


Item = Output | Communication


class ChannelFilter:
    """Capture-mode token parsing plus optional ANSI stripping for one channel.

    ``capture_maxbytes`` = 0 disables capture mode (supervisord's default).
    """

    __slots__ = ("_buffer", "_capture_maxbytes", "_captured", "_capturing", "_stripper")

    def __init__(self, *, capture_maxbytes: int = 0, strip_ansi: bool = False) -> None:
        if capture_maxbytes < 0:
            raise ValueError(f"capture_maxbytes must be >= 0, not {capture_maxbytes}")
        self._capture_maxbytes = capture_maxbytes
        self._stripper = AnsiStripper() if strip_ansi else None
        self._buffer = b""
        self._capturing = False
        self._captured = bytearray()

    def feed(self, data: bytes) -> list[Item]:
        """Process one read; returns what to log and which communications finished."""
        items: list[Item] = []
        if not self._capture_maxbytes:
            self._emit(data, items)
            return items
        data = self._buffer + data
        self._buffer = b""
        while data:
            token = END_TOKEN if self._capturing else BEGIN_TOKEN
            before, found, after = data.partition(token)
            if not found:
                held = find_prefix_at_end(data, token)
                if held:
                    self._buffer = data[-held:]
                    data = data[:-held]
                self._emit(data, items)
                break
            self._emit(before, items)
            self._toggle(items)
            data = after
        return items

    def finish(self) -> list[Item]:
        """End of stream: flush held-back bytes; an unterminated capture is dropped."""
        items: list[Item] = []
        held, self._buffer = self._buffer, b""
        self._emit(held, items)
        if self._stripper is not None:
            tail = self._stripper.finish()
            if tail:
                self._route(tail, items)
        self._capturing = False
        self._captured.clear()
        return items

    def _emit(self, data: bytes, items: list[Item]) -> None:
        if self._stripper is not None:
            data = self._stripper.feed(data)
        if data:
            self._route(data, items)

    def _route(self, data: bytes, items: list[Item]) -> None:
        if self._capturing:
            self._captured += data
            excess = len(self._captured) - self._capture_maxbytes
            if excess > 0:
                del self._captured[:excess]
            items.append(Output(data, captured=True))
        else:
            items.append(Output(data))

    def _toggle(self, items: list[Item]) -> None:
        if self._capturing:
            items.append(Communication(bytes(self._captured)))
            self._captured.clear()
        self._capturing = not self._capturing
