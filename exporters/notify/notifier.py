"""The notifier on a live bus: planner -> outbox -> channels, with retries.

Rules of this file:
- The bus side is synchronous and cheap: each event goes through the pure planner;
  the rare notification it yields is committed to the outbox at once (so a SIGKILL
  right after the event cannot lose it) and a ``NOTIFICATION_QUEUED`` event is
  published per target. Nothing else happens on the publisher's stack.
- One worker task delivers: per target strictly in order (the outbox's oldest row
  first), targets side by side. A failed attempt is retried after
  ``retry_initial * 2**(attempts - 1)`` seconds, at most ``retry_max``; a permanent
  refusal, or a row older than ``give_up_after``, is dropped. Every outcome is an
  event (SENT, FAILED, DROPPED: the metric counts those) and a log line, with every
  configured secret scrubbed out.
- The worker never raises: an unexpected error is logged with its traceback and
  the row is retried like any other failure (a notifier bug must not stop superd).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from exporters.notify.channels import Channel, DeliveryError
from exporters.notify.events import (
    NotificationDropped,
    NotificationFailed,
    NotificationQueued,
    NotificationSent,
    register_notify_types,
)
from exporters.notify.model import Notification
from exporters.notify.outbox import Outbox, OutboxRow, target_hash
from exporters.notify.planner import EVENT_TYPES, NotificationPlanner, PlannerSettings
from exporters.notify.settings import NotifySettings, scrub
from exporters.storms.events import register_storm_types
from supervisor_core.bus import EventBus, Subscription
from supervisor_core.clock import Clock, SystemClock
from supervisor_core.events import Event, EventData

__all__ = ["SUBSCRIBER_NAME", "Notifier"]

logger = logging.getLogger(__name__)

SUBSCRIBER_NAME = "notify"


class Notifier:
    """Everything ``[exporter:notify]`` does, on one bus (see the module rules).

    Example::

        notifier = Notifier(settings, Outbox.open(settings.outbox), channels)
        notifier.install(bus)
        worker = task_group.create_task(notifier.run())
        ...
        await notifier.finish(grace=2.0); worker.cancel()
    """

    def __init__(
        self,
        settings: NotifySettings,
        outbox: Outbox,
        channels: Sequence[Channel],
        *,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.channels = {target_hash(c.key): c for c in channels}
        self.planner = NotificationPlanner(
            PlannerSettings(
                topics=settings.topics,
                min_interval=settings.unexpected_exit_min_interval,
                host=settings.host,
                stderr_lines=settings.stderr_lines,
            )
        )
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._bus: EventBus | None = None
        self._subscription: Subscription | None = None
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._unsaved: list[Notification] = []

    # ------------------------------------------------------------------ bus side

    def install(self, bus: EventBus) -> None:
        """Register the types it reads and publishes on ``bus``, and subscribe."""
        register_storm_types(bus.registry)  # published by the storms extension
        register_notify_types(bus.registry)
        self._bus = bus
        self._subscription = bus.subscribe(self._on_event, name=SUBSCRIBER_NAME, types=EVENT_TYPES)

    def _on_event(self, event: Event) -> None:
        for notification in self.planner.feed(event):
            self._enqueue(notification)
        self._schedule_batch()

    def _publish(self, data: EventData) -> None:
        if self._bus is not None:
            self._bus.publish(data)

    def _enqueue(self, notification: Notification) -> None:
        targets = [(c.channel, c.key) for c in self.channels.values()]
        try:
            self.outbox.add(notification, targets, now=self._clock.wall())
        except sqlite3.Error as error:
            # Kept in memory and saved again by the worker; lost only if superd dies first.
            logger.error(
                "notify: cannot write %s to the outbox (%s); retrying", notification.id, error
            )
            self._unsaved.append(notification)
        else:
            for channel in self.channels.values():
                self._publish(NotificationQueued(**self._fields(notification, channel, attempts=0)))
        self._wake.set()

    def _schedule_batch(self) -> None:
        deadline = self.planner.next_deadline()
        if deadline is None or self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # fed outside a loop (a replay): advance() is the caller's
            return
        self._timer = loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        for notification in self.planner.advance(self._clock.monotonic(), self._clock.wall()):
            self._enqueue(notification)
        self._schedule_batch()

    @staticmethod
    def _fields(notification: Notification, channel: Channel, *, attempts: int) -> dict[str, Any]:
        return {
            "notification_id": notification.id,
            "kind": notification.kind.value,
            "channel": channel.channel,
            "target": channel.target,
            "groupname": notification.group,
            "processname": notification.name,
            "attempts": attempts,
        }

    # ------------------------------------------------------------------ worker

    async def run(self) -> None:
        """Deliver until cancelled (start it in the daemon's task group)."""
        try:
            self._drop_orphans()
        except sqlite3.Error as error:  # the outbox is still usable for new rows
            logger.error("notify: cannot check the outbox for orphaned rows (%s)", error)
        while True:
            delay = await self.deliver_due()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def deliver_due(self) -> float | None:
        """Try every due head row once; seconds until the next one is due (None: idle)."""
        self._save_unsaved()
        try:
            heads = self.outbox.heads()
        except sqlite3.Error as error:
            logger.error("notify: cannot read the outbox (%s); trying again in 5s", error)
            return 5.0
        now = self._clock.wall()
        due = [row for row in heads if row.next_attempt <= now and row.target in self.channels]
        if due:
            async with asyncio.TaskGroup() as group:
                for row in due:
                    group.create_task(self._attempt(row))
            return 0.0  # the next rows of those targets may be due now
        waits = [row.next_attempt - now for row in heads if row.target in self.channels]
        return max(0.0, min(waits)) if waits else None

    async def finish(self, *, grace: float) -> None:
        """Shutting down: queue the waiting batch, then deliver for at most ``grace`` s."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for notification in self.planner.drain(self._clock.monotonic(), self._clock.wall()):
            self._enqueue(notification)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                while (delay := await self.deliver_due()) == 0.0:
                    continue
                del delay
        pending = self.outbox.pending()
        if pending:
            logger.warning(
                "notify: %d notification(s) still in the outbox %s; the next start sends them",
                pending,
                self.outbox.path,
            )

    def close(self) -> None:
        """Unsubscribe and cancel the batch timer (idempotent)."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _save_unsaved(self) -> None:
        unsaved, self._unsaved = self._unsaved, []
        for notification in unsaved:
            self._enqueue(notification)

    def _drop_orphans(self) -> None:
        for row in self.outbox.orphans(set(self.channels)):
            logger.error(
                "notify: dropping %s %s: its %s target is no longer configured",
                row.notification.kind.value,
                row.notification.id,
                row.channel,
            )
            self.outbox.delete(row.row_id)
            self._publish(
                NotificationDropped(
                    notification_id=row.notification.id,
                    kind=row.notification.kind.value,
                    channel=row.channel,
                    target="(no longer configured)",
                    groupname=row.notification.group,
                    processname=row.notification.name,
                    attempts=row.attempts,
                    reason="target no longer configured",
                )
            )

    async def _attempt(self, row: OutboxRow) -> None:
        channel = self.channels[row.target]
        notification = row.notification
        attempts = row.attempts + 1
        fields = self._fields(notification, channel, attempts=attempts)
        permanent = False
        try:
            await channel.send(notification)
        except DeliveryError as error:
            reason = scrub(str(error), self.settings.secrets)
            permanent = error.permanent
        except Exception:  # a bug in a channel: logged in full, retried like a failure
            logger.exception(
                "notify: %s to %s failed unexpectedly", notification.id, channel.target
            )
            reason = "internal error (see the log)"
        else:
            self._settle(row.row_id)
            logger.info(
                "notify: %s %s sent to %s %s",
                notification.kind.value,
                notification.id,
                channel.channel,
                channel.target,
            )
            self._publish(NotificationSent(**fields))
            return
        age = self._clock.wall() - row.created
        if permanent or age >= self.settings.give_up_after:
            why = reason if permanent else f"undelivered after {age:.0f}s: {reason}"
            self._settle(row.row_id)
            logger.error(
                "notify: dropped %s %s for %s %s: %s",
                notification.kind.value,
                notification.id,
                channel.channel,
                channel.target,
                why,
            )
            self._publish(NotificationDropped(**fields, reason=why))
            return
        delay = min(self.settings.retry_max, self.settings.retry_initial * 2 ** (attempts - 1))
        try:
            self.outbox.retry_later(
                row.row_id, attempts=attempts, at=self._clock.wall() + delay, error=reason
            )
        except sqlite3.Error as error:
            logger.error("notify: cannot update the outbox (%s)", error)
        logger.warning(
            "notify: %s %s to %s %s failed (attempt %d): %s; retrying in %.1fs",
            notification.kind.value,
            notification.id,
            channel.channel,
            channel.target,
            attempts,
            reason,
            delay,
        )
        self._publish(NotificationFailed(**fields, reason=reason, retry_in=delay))

    def _settle(self, row_id: int) -> None:
        try:
            self.outbox.delete(row_id)
        except sqlite3.Error as error:
            logger.error("notify: cannot remove delivered row %d (%s)", row_id, error)
