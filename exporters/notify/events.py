"""Notification event types: what the notifier did, on the bus like everything else.

Event types (abstract family ``NOTIFICATION``, registered ``listener_opt_in``: a
supervisord listener pool receives them only when its ``events=`` names one of them or
``NOTIFICATION``, never through ``EVENT``):

- ``NOTIFICATION_QUEUED``: a notification was written to the outbox for one channel
  target (it survives a SIGKILL of superd from this point on).
- ``NOTIFICATION_SENT``: a target accepted it.
- ``NOTIFICATION_FAILED``: one delivery attempt failed; another follows after
  ``retry_in`` seconds.
- ``NOTIFICATION_DROPPED``: superd gave up on it (a permanent refusal, or it was still
  undelivered after ``give_up_after``); ``reason`` says which.

``supervisor_notifications_total{channel,outcome}`` counts SENT, FAILED and DROPPED
(``exporters.notify.counts``). No field ever carries a secret: ``target`` is the
redacted form of a webhook URL (scheme, host and port) or the SMTP server's
``host:port``; ``reason`` has every configured secret scrubbed out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from supervisor_core.events import EventData, EventTypeRegistry

__all__ = [
    "CHANNELS",
    "SMTP",
    "WEBHOOK",
    "NotificationDropped",
    "NotificationEvent",
    "NotificationFailed",
    "NotificationQueued",
    "NotificationSent",
    "register_notify_types",
]

# Here rather than in ``channels`` (which loads aiohttp's client and smtplib): the
# Prometheus counter names these labels whether or not notifications are configured.
WEBHOOK = "webhook"
SMTP = "smtp"
CHANNELS = (WEBHOOK, SMTP)
"""The ``channel`` label values of ``supervisor_notifications_total``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationEvent(EventData):
    """Something happened to one notification at one channel target."""

    event_name: ClassVar[str] = "NOTIFICATION"

    notification_id: str
    kind: str
    channel: str
    target: str
    groupname: str = ""
    processname: str = ""
    attempts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationQueued(NotificationEvent):
    """The notification is in the outbox, waiting for delivery."""

    event_name: ClassVar[str] = "NOTIFICATION_QUEUED"


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationSent(NotificationEvent):
    """The target accepted the notification."""

    event_name: ClassVar[str] = "NOTIFICATION_SENT"


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationFailed(NotificationEvent):
    """One attempt failed; the next one follows in ``retry_in`` seconds."""

    event_name: ClassVar[str] = "NOTIFICATION_FAILED"

    reason: str = ""
    retry_in: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationDropped(NotificationEvent):
    """superd gave up on the notification (``reason`` says why); it is not retried."""

    event_name: ClassVar[str] = "NOTIFICATION_DROPPED"

    reason: str = ""


def register_notify_types(registry: EventTypeRegistry) -> None:
    """Register ``NOTIFICATION`` (abstract, listener opt-in) and its four types (idempotent)."""
    registry.register(NotificationEvent, abstract=True, listener_opt_in=True)
    registry.register(NotificationQueued, NotificationSent, NotificationFailed, NotificationDropped)
