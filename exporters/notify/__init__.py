"""Notifications that reach a person: storm, fatal and unexpected-exit messages.

The pieces, one job each:

- ``settings``: ``[exporter:notify]`` (destinations, ``notify_on``, retries).
- ``model``: ``Notification`` and its JSON form (the webhook body, the outbox row).
- ``planner``: the pure rules: bus events in, notifications out (one per storm begin,
  one per storm end, one per FATAL, unexpected exits batched).
- ``render``: JSON, Slack text and mail for one notification (injection-safe).
- ``outbox``: the SQLite file that keeps notifications until a target took them.
- ``channels``: webhook (aiohttp) and SMTP (smtplib in a thread) delivery.
- ``notifier``: the planner, the outbox and the channels on a live bus, with retries.
- ``events``: ``NOTIFICATION_*`` event types; ``counts``: the Prometheus counter.
- ``plugin``: the superd extension (entry point ``notify``).

See docs/notify.md.
"""

from exporters.notify.model import Kind, Notification, Topic, notification_json
from exporters.notify.planner import NotificationPlanner, PlannerSettings
from exporters.notify.settings import NotifySettings, parse_settings, settings_from_config

__all__ = [
    "Kind",
    "Notification",
    "NotificationPlanner",
    "NotifySettings",
    "PlannerSettings",
    "Topic",
    "notification_json",
    "parse_settings",
    "settings_from_config",
]
