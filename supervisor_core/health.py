"""Daemon-wide counts of failures that were handled rather than raised.

Rules of this file:
- Nothing is lost silently (DESIGN.md): a child-log write that fails with ENOSPC,
  a journal transaction that cannot commit, is survived, logged and *counted* here,
  and the metrics exporter shows the counts (``supervisor_log_write_errors_total``,
  ``supervisor_journal_errors_total``).
- One :class:`FaultCounters` per daemon run, made by ``runner.run_daemon`` and
  handed to the parts that fail (the log capture of every process, each extension
  through ``Extension.report_faults``) and to the ones that show the counts. It
  outlives daemon generations, so counters never go back.
- Two ways in: ``add`` for code that sees each failure (log capture, on the loop),
  ``register`` for a part that keeps its own monotonic count (the journal's writer
  thread): its callable is read at ``snapshot()`` time. Either way a count only grows.
- Beside the counters, health gauges (how far behind a part is: the journal's lag)
  are registered the same way and read at ``gauges()`` time; they may go down.
- The same counters carry the count of what superd does on its own behind the
  programs' backs and shows nowhere else: the orphans it reaped (``orphans``: not
  process events), so the extensions that show failures show it too.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from types import MappingProxyType

FaultKey = tuple[str, str]
"""``(counter name, label value)``, e.g. ``("log_write_errors", "stderr")``."""

LOG_WRITE_ERRORS = "log_write_errors"
JOURNAL_ERRORS = "journal_errors"
JOURNAL_LAG_SECONDS = "journal_lag_seconds"
JOURNAL_PENDING_EVENTS = "journal_pending_events"
ORPHANS_REAPED = "orphans_reaped"


class FaultCounters:
    """Monotonic counters of handled failures, by name and one label value.

    Example::

        faults = FaultCounters()
        faults.add(LOG_WRITE_ERRORS, "stdout")
        faults.register(JOURNAL_ERRORS, lambda: journal.snapshot().errors)
        faults.snapshot()  # {("log_write_errors", "stdout"): 1, ("journal_errors", ""): 0}
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[FaultKey] = Counter()
        self._sources: dict[FaultKey, Callable[[], int]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def add(self, name: str, label: str = "", count: int = 1) -> None:
        """Count ``count`` more failures of ``name`` (with ``label``)."""
        if count < 0:
            raise ValueError(f"fault counter {name!r}: count must be >= 0, not {count}")
        with self._lock:
            self._counts[(name, label)] += count

    def declare(self, name: str, *labels: str) -> None:
        """Show ``name`` (for each of ``labels``) at 0 before its first failure."""
        with self._lock:
            for label in labels or ("",):
                self._counts[(name, label)] += 0

    def register(self, name: str, source: Callable[[], int], label: str = "") -> None:
        """Read ``name`` from ``source()`` (a monotonic count kept elsewhere) at snapshot time.

        A second registration of the same key replaces the first.
        """
        with self._lock:
            self._sources[(name, label)] = source

    def snapshot(self) -> Mapping[FaultKey, int]:
        """Every counter now: the added ones plus the registered sources."""
        with self._lock:
            counts = dict(self._counts)
            sources = dict(self._sources)
        for key, source in sources.items():
            counts[key] = counts.get(key, 0) + source()
        return MappingProxyType(counts)

    def register_gauge(self, name: str, source: Callable[[], float]) -> None:
        """Read the health gauge ``name`` from ``source()`` at ``gauges()`` time.

        A second registration of the same name replaces the first.
        """
        with self._lock:
            self._gauges[name] = source

    def gauges(self) -> Mapping[str, float]:
        """Every registered health gauge now."""
        with self._lock:
            sources = dict(self._gauges)
        return MappingProxyType({name: source() for name, source in sources.items()})
