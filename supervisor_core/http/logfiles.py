"""Reading log files for the log RPCs, with supervisord's offset/length semantics.

``read_log`` is ``readLog``/``readProcessStdoutLog`` (a negative offset reads from the
end); ``tail_log`` is ``tailProcessStdoutLog`` (returns ``[text, next offset,
overflow]``). Bytes become text at this edge: invalid UTF-8 and characters XML 1.0
cannot carry (NUL, ANSI escape, ...) become U+FFFD, so a log full of terminal
colours still travels as a well-formed XML-RPC response.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from supervisor_core.http.faults import Faults, RpcFault

# Characters outside XML 1.0's Char production.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe_text(data: bytes) -> str:
    """Decode log bytes as UTF-8 and replace what XML 1.0 cannot represent with U+FFFD."""
    return _XML_INVALID.sub("\ufffd", data.decode("utf-8", errors="replace"))


def read_log(path: str, offset: int, length: int) -> bytes:
    """Read ``length`` bytes at ``offset`` (0: to the end; negative offset: from the end).

    A negative ``offset`` reads its absolute value of bytes from the end and then
    ``length`` must be 0; a negative ``length`` is never valid.

    Raises:
        RpcFault: BAD_ARGUMENTS for an invalid offset/length pair, FAILED when the
            file cannot be read.
    """
    if offset < 0 and length != 0:
        raise RpcFault(Faults.BAD_ARGUMENTS)
    if length < 0:
        raise RpcFault(Faults.BAD_ARGUMENTS)
    try:
        with open(path, "rb") as f:
            if offset < 0:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(size + offset, 0))
                return f.read(-offset)
            f.seek(offset)
            return f.read() if length == 0 else f.read(length)
    except OSError as e:
        raise RpcFault(Faults.FAILED) from e


@dataclass(frozen=True, slots=True)
class TailResult:
    """What ``tailProcess*Log`` returns: the bytes, the next offset, and overflow."""

    data: bytes
    offset: int
    overflow: bool


def tail_log(path: str, offset: int, length: int) -> TailResult:
    """The last ``length`` bytes of the file, unless nothing was added past ``offset``.

    ``overflow`` says the file has grown beyond ``offset + length`` (the client
    missed bytes); the returned offset is always the file size, for the next call.
    When ``offset`` is already at or past the end there is nothing new to send. A
    file that cannot be read yields no data and the given offset, as in supervisord.
    """
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            overflow = size > offset + length
            if not overflow and offset >= size:
                return TailResult(b"", size, False)
            window = max(length, 0)
            f.seek(max(size - window, 0))
            return TailResult(f.read(window), size, overflow)
    except OSError:
        return TailResult(b"", offset, False)


def read_named_log(path: str | None, offset: int, length: int) -> bytes:
    """:func:`read_log` of a log that may not be configured ("" or None) or exist yet.

    Raises:
        RpcFault: NO_FILE (with the path when there is one), or as :func:`read_log`.
    """
    if not path or not os.path.exists(path):
        raise RpcFault(Faults.NO_FILE, path or None)
    return read_log(path, offset, length)


def tail_named_log(path: str | None, offset: int, length: int) -> TailResult:
    """:func:`tail_log`, or nothing at offset 0 when there is no such log (yet)."""
    if not path or not os.path.exists(path):
        return TailResult(b"", 0, False)
    return tail_log(path, offset, length)
