"""Give the C heap's free pages back to the kernel once a burst of work is over.

Rules of this file:
- Why: a burst (launching 2,000 programs, a crash storm, a getAllProcessInfo answer of
  megabytes) leaves glibc's main heap holding megabytes of freed chunks that a later
  small allocation above them keeps glibc from shrinking on its own: measured at
  2,000 programs, 83-93 MiB RSS of which 3-12 MiB was free heap, and
  ``malloc_trim(0)`` brought it back to the live 80.7 MiB every time.
- When: on TICK_5 (the daemon's own 5-second clock), and only when glibc reports at
  least ``threshold`` free bytes in its heaps (``mallinfo2``) *and* the resident set
  grew by ``threshold`` since the last trim (``/proc/self/statm``). Trimmed pages stay
  free chunks to glibc, so the free count alone would trim on every tick; the
  resident set says whether pages were dirtied again. An idle daemon pays a few
  microseconds per tick and never a trim; a trim (about a millisecond for tens of
  MiB) only follows real churn.
- Anything but glibc (musl, no ``malloc_trim``): :func:`load` answers None and nothing
  is installed; the daemon behaves exactly as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from supervisor_core.bus import EventBus, Subscription
from supervisor_core.events import Event

logger = logging.getLogger(__name__)

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

#: Free bytes in glibc's heaps from which a tick trims (below: not worth a trim).
DEFAULT_THRESHOLD = 1 << 20


class _MallInfo2(ctypes.Structure):
    # glibc >= 2.33 ``struct mallinfo2``: ten size_t fields.
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


@dataclass(frozen=True, slots=True)
class GlibcHeap:
    """glibc's ``mallinfo2`` and ``malloc_trim`` (see :func:`load`)."""

    free_bytes: Callable[[], int]
    """Bytes in free chunks of every arena (``fordblks``)."""

    trim: Callable[[], bool]
    """``malloc_trim(0)``: True when memory was given back to the kernel."""


def load() -> GlibcHeap | None:
    """glibc's heap functions, or None when this libc has no ``mallinfo2``/``malloc_trim``."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        mallinfo2 = libc.mallinfo2
        malloc_trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    mallinfo2.argtypes = []
    malloc_trim.restype = ctypes.c_int
    malloc_trim.argtypes = [ctypes.c_size_t]

    def free_bytes() -> int:
        return int(mallinfo2().fordblks)

    def trim() -> bool:
        return bool(malloc_trim(0))

    return GlibcHeap(free_bytes=free_bytes, trim=trim)


def resident_bytes() -> int:
    """This process' resident set size (``/proc/self/statm``), 0 when unreadable."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            fields = statm.read().split()
    except OSError:
        return 0
    return int(fields[1]) * _PAGE_SIZE


class HeapTrimmer:
    """Trims the C heap on TICK_5 when it holds at least ``threshold`` free bytes."""

    def __init__(
        self,
        heap: GlibcHeap,
        threshold: int = DEFAULT_THRESHOLD,
        resident: Callable[[], int] | None = None,
    ) -> None:
        self._heap = heap
        self._threshold = threshold
        self._resident = resident if resident is not None else resident_bytes
        self._floor = 0  # the resident set right after the last trim
        self._subscription: Subscription | None = None
        self.trims = 0
        """Trims done so far (for tests and debugging)."""

    @classmethod
    def install(
        cls,
        bus: EventBus,
        heap: GlibcHeap | None = None,
        threshold: int = DEFAULT_THRESHOLD,
        resident: Callable[[], int] | None = None,
    ) -> HeapTrimmer | None:
        """Subscribe a trimmer to ``bus``; None when the libc cannot trim (not glibc)."""
        if heap is None:
            heap = load()
        if heap is None:
            logger.debug("no glibc malloc_trim: the heap is not trimmed")
            return None
        trimmer = cls(heap, threshold, resident)
        trimmer._subscription = bus.subscribe(trimmer.on_tick, name="heap", types=("TICK_5",))
        return trimmer

    def on_tick(self, _event: Event) -> None:
        """Trim when enough is free (see the module's rules)."""
        if self._heap.free_bytes() < self._threshold:
            return
        if self._resident() < self._floor + self._threshold:
            return  # nothing dirtied since the last trim: the free pages are already gone
        self._heap.trim()
        self.trims += 1
        self._floor = self._resident()

    def close(self) -> None:
        """Stop trimming."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
