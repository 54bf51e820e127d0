"""How long XML-RPC calls take, per method and outcome: a fixed-bucket histogram.

Rules of this file:
- One :class:`RpcTimings` per daemon run (made by ``runner.run_daemon``), so counts
  never go back across a HUP; the control plane's ``/RPC2`` handler observes every
  call, and an extension (the Prometheus exporter) reads ``snapshot()`` at scrape time.
  The core never imports the exporter: this is the seam (like ``health.FaultCounters``).
- The ``method`` label set is bounded: only names given to ``declare_methods`` (the
  method table) are kept; anything else a client sends counts as ``"unknown"``. A
  series exists only for a (method, outcome) pair that has been called, so an idle
  daemon exports none and a busy one at most ``2 x (methods + 1)``.
- ``observe`` runs on the event loop for every call: a dict lookup, a bisect, two
  additions; no allocation once a pair has its slot. ``snapshot`` may run on another
  thread: it copies each slot (one C-level list copy under the GIL) and derives the
  count from the copied buckets, so a snapshot is always a consistent histogram.
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

UNKNOWN_METHOD = "unknown"
"""The ``method`` label of a call naming no published method."""

# From a cached getAllProcessInfo (well under a millisecond) to a startProcess that
# waits out startsecs or a stopProcess that waits out stopwaitsecs.
RPC_DURATION_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


class RpcOutcome(enum.StrEnum):
    """How a call ended: a result, or a fault (or an error answered with HTTP 500)."""

    OK = "ok"
    FAULT = "fault"


@dataclass(frozen=True, slots=True, kw_only=True)
class RpcDurations:
    """One (method, outcome) histogram at one moment.

    ``counts`` are per bucket (not cumulative), one per bound of ``bounds`` plus the
    last for ``+Inf``; ``total`` is the sum of the observed seconds.
    """

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float

    @property
    def count(self) -> int:
        """How many calls were observed."""
        return sum(self.counts)


class RpcTimings:
    """Durations of XML-RPC calls by ``(method, outcome)`` with fixed buckets.

    Example::

        timings = RpcTimings()
        timings.declare_methods(["supervisor.getState"])
        timings.observe("supervisor.getState", RpcOutcome.OK, 0.0004)
        timings.observe("no.such", RpcOutcome.FAULT, 0.0002)  # counted as "unknown"
        timings.snapshot()[("supervisor.getState", "ok")].count  # 1
    """

    def __init__(self, bounds: tuple[float, ...] = RPC_DURATION_BUCKETS) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError(f"RPC duration buckets must increase strictly: {bounds!r}")
        self.bounds = bounds
        self._known: frozenset[str] = frozenset()
        # outcome -> method -> [count per bucket..., count over the last bound].
        self._counts: dict[RpcOutcome, dict[str, list[int]]] = {o: {} for o in RpcOutcome}
        self._totals: dict[RpcOutcome, dict[str, float]] = {o: {} for o in RpcOutcome}

    def declare_methods(self, methods: Iterable[str]) -> None:
        """Keep ``methods`` as ``method`` label values (the published method table)."""
        self._known = self._known | frozenset(methods)

    def observe(self, method: str, outcome: RpcOutcome, seconds: float) -> None:
        """Count one call of ``method`` that ended with ``outcome`` after ``seconds``."""
        counts = self._counts[outcome].get(method)
        if counts is None:
            if method not in self._known:
                method = UNKNOWN_METHOD
            counts = self._counts[outcome].get(method)
            if counts is None:
                counts = self._counts[outcome][method] = [0] * (len(self.bounds) + 1)
                self._totals[outcome][method] = 0.0
        counts[bisect_left(self.bounds, seconds)] += 1
        self._totals[outcome][method] += seconds

    def snapshot(self) -> Mapping[tuple[str, str], RpcDurations]:
        """Every observed ``(method, outcome)`` pair's histogram now."""
        result: dict[tuple[str, str], RpcDurations] = {}
        for outcome in RpcOutcome:
            totals = self._totals[outcome]
            # list() of the dict items: a call that adds a pair meanwhile cannot break it.
            for method, counts in list(self._counts[outcome].items()):
                result[(method, outcome.value)] = RpcDurations(
                    bounds=self.bounds, counts=tuple(counts), total=totals.get(method, 0.0)
                )
        return MappingProxyType(result)
