"""``supervisor_notifications_total{channel,outcome}``: counted from NOTIFICATION events.

The Prometheus extension installs this reducer on the bus and hands it to its
collector, the way ``ActiveStorms`` feeds the storm gauge: it reads no object of the
notify extension, only the events that extension publishes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from exporters.notify.events import (
    CHANNELS,
    NotificationDropped,
    NotificationFailed,
    NotificationSent,
    register_notify_types,
)
from supervisor_core.bus import EventBus, Subscription
from supervisor_core.events import Event

__all__ = ["OUTCOMES", "NotificationCounts"]

OUTCOMES = ("sent", "failed", "dropped")
"""The ``outcome`` label values: delivered, one attempt failed (retried), given up."""

_OUTCOME_OF = {
    NotificationSent: "sent",
    NotificationFailed: "failed",
    NotificationDropped: "dropped",
}


class NotificationCounts:
    """Counts per ``(channel, outcome)``; call it for the collector's seam."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self.subscription: Subscription | None = None

    @classmethod
    def install(cls, bus: EventBus, *, name: str = "notification-counts") -> NotificationCounts:
        """Subscribe a new reducer to the NOTIFICATION events of ``bus`` (registering them)."""
        register_notify_types(bus.registry)
        counts = cls()
        counts.subscription = bus.subscribe(
            counts.observe,
            name=name,
            types=("NOTIFICATION_SENT", "NOTIFICATION_FAILED", "NOTIFICATION_DROPPED"),
        )
        return counts

    def observe(self, event: Event) -> None:
        """Count one event (others are ignored)."""
        outcome = _OUTCOME_OF.get(type(event.data))
        if outcome is not None:
            channel = getattr(event.data, "channel", "")
            self._counts[(channel, outcome)] += 1

    def __call__(self) -> Mapping[tuple[str, str], int]:
        """Every ``(channel, outcome)`` of ``CHANNELS`` x ``OUTCOMES``, 0 when none yet."""
        counts = {(c, o): 0 for c in CHANNELS for o in OUTCOMES}
        counts.update(self._counts)
        return counts

    def close(self) -> None:
        """Unsubscribe (idempotent)."""
        if self.subscription is not None:
            self.subscription.close()
            self.subscription = None
