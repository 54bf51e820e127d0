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

from supervisor_core.http.faults import Faults, RpcFault
from supervisor_core.logs import files
from supervisor_core.logs.files import TailResult

__all__ = [
    "TailResult",
    "read_log",
    "read_named_log",
    "tail_log",
    "tail_named_log",
    "xml_safe_text",
]

# Characters outside XML 1.0's Char production.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe_text(data: bytes) -> str:
    """Decode log bytes as UTF-8 and replace what XML 1.0 cannot represent with U+FFFD."""
    return _XML_INVALID.sub("\ufffd", data.decode("utf-8", errors="replace"))


def read_log(path: str, offset: int, length: int) -> bytes:
    """``readLog`` semantics (see :func:`supervisor_core.logs.files.read_log`) as RPC faults.

    Raises:
        RpcFault: BAD_ARGUMENTS for an invalid offset/length pair, FAILED when the
            file cannot be read, NO_FILE when it does not exist.
    """
    try:
        return files.read_log(path, offset, length)
    except files.LogReadError as error:
        raise RpcFault(Faults[error.fault], path if error.fault == "NO_FILE" else None) from None


def tail_log(path: str, offset: int, length: int) -> TailResult:
    """``tailProcess*Log`` semantics; see :func:`supervisor_core.logs.files.tail_log`.

    Raises:
        RpcFault: BAD_ARGUMENTS for an offset or length no file offset can hold.
    """
    try:
        return files.tail_log(path, offset, length)
    except files.LogReadError as error:
        raise RpcFault(Faults[error.fault]) from None


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
