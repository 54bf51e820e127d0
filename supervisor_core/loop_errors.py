"""The daemon's asyncio exception handler: every kind of error logged, none flooding the log.

Rules of this file:
- asyncio reports errors nobody awaits through the loop's exception handler. One
  of them repeats without bound: at the fd limit, ``socket.accept()`` fails with
  EMFILE on every listener, up to ``backlog`` times per loop step (CPython's
  ``_accept_connection`` keeps looping after the error), each with a traceback: a
  probe at ``ulimit -n 300`` wrote 129,078 of them (49 MB in 31 s), rotating the
  main log's history away.
- So each kind of report (message, exception type, errno) is logged at most once
  per ``interval``; the next report after a quiet interval says how many were
  left out. Resource exhaustion (EMFILE, ENFILE, ENOBUFS, ENOMEM) is one line with
  no traceback: the traceback says nothing the errno does not.
- Everything else goes on to the default handler (with its traceback), rate
  limited the same way.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 10.0
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# Distinct kinds remembered at once; the oldest is forgotten beyond this.
_MAX_KINDS = 256

_Kind = tuple[str, str, int | None]


@dataclass(slots=True)
class _Seen:
    logged_at: float
    suppressed: int = 0


class RateLimitedExceptionHandler:
    """A loop exception handler that logs each kind of report at most once per interval.

    Example::

        restore = RateLimitedExceptionHandler().install(asyncio.get_running_loop())
        try:
            ...
        finally:
            restore()
    """

    def __init__(
        self, *, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._seen: OrderedDict[_Kind, _Seen] = OrderedDict()
        self.suppressed_total = 0
        """Reports left out so far (for tests and diagnostics)."""

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Handle one report (the signature of ``loop.set_exception_handler``)."""
        message = str(context.get("message", "unhandled exception in the event loop"))
        error = context.get("exception")
        kind: _Kind = (
            message,
            type(error).__name__,
            error.errno if isinstance(error, OSError) else None,
        )
        now = self._clock()
        seen = self._seen.get(kind)
        if seen is not None and now - seen.logged_at < self.interval:
            seen.suppressed += 1
            self.suppressed_total += 1
            return
        left_out = seen.suppressed if seen is not None else 0
        self._seen[kind] = _Seen(logged_at=now)
        self._seen.move_to_end(kind)
        while len(self._seen) > _MAX_KINDS:
            self._seen.popitem(last=False)
        if left_out:
            message += f" ({left_out} more like it in the last {self.interval:g}s were not logged)"
        if isinstance(error, OSError) and error.errno in _RESOURCE_ERRNOS:
            logger.error("%s: %s", message, error)
            return
        loop.default_exception_handler({**context, "message": message})

    def install(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Install on ``loop``; returns the function that puts the previous handler back."""
        previous = loop.get_exception_handler()
        loop.set_exception_handler(self)

        def restore() -> None:
            loop.set_exception_handler(previous)

        return restore
