"""Time as the core sees it: an ``Instant`` (monotonic + wall) and the ``Clock`` seam.

Rules of this file:
- Durations and deadlines are always computed on the monotonic clock; wall time is
  recorded only for reporting (getProcessInfo, event timestamps). supervisord uses
  ``time.time()`` for both and then has to repair clock rollbacks; we do not.
- ``Clock`` is deliberately minimal (read the two clocks). Scheduling timers is the
  runtime's job (``loop.call_at`` on the monotonic clock); the fake clock in
  ``supervisor_core.testing`` adds a timer wheel for tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Instant:
    """One moment, read from both clocks at once.

    ``monotonic`` is ``time.monotonic()`` seconds (compare and subtract these);
    ``wall`` is ``time.time()`` seconds since the epoch (show these to people).
    """

    monotonic: float
    wall: float


@runtime_checkable
class Clock(Protocol):
    """Where the core reads the time. Inject one; never call ``time`` directly."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (``time.monotonic`` semantics)."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch (``time.time`` semantics)."""
        ...

    def now(self) -> Instant:
        """Both clocks read together."""
        ...


class SystemClock:
    """The real clocks: ``time.monotonic()`` and ``time.time()``."""

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def wall(self) -> float:
        """``time.time()``."""
        return time.time()

    def now(self) -> Instant:
        """Both clocks, read back to back."""
        return Instant(time.monotonic(), time.time())
