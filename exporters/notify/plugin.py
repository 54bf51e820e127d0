"""Entry point ``notify`` of ``supervisor_core.extensions``: off unless ``[exporter:notify]``.

The extension's lifecycle (``supervisor_core.extensions``): ``open`` opens the outbox
file (after daemonizing), ``install`` subscribes the notifier, ``serving`` runs the
delivery worker for the whole daemon run (so notifications queued by the last
events of a shutdown still get ``SHUTDOWN_GRACE`` seconds to go out), ``aclose``
closes the outbox. What is still queued then is sent by the next start.

The extension and its delivery code (``exporters.notify.extension``: aiohttp client
sessions, ``smtplib``, the outbox) are imported only when a configuration enables
notifications: a superd without ``[exporter:notify]`` does not load them.
"""

from __future__ import annotations

import logging

from exporters.notify.events import register_notify_types
from exporters.notify.settings import settings_from_config
from supervisor_core.config.model import Config
from supervisor_core.events import EventTypeRegistry
from supervisor_core.extensions import Extension

__all__ = ["NotifyFactory"]

logger = logging.getLogger(__name__)


class NotifyFactory:
    """Entry point ``notify``."""

    name = "notify"

    def register_event_types(self, registry: EventTypeRegistry) -> None:
        register_notify_types(registry)

    def check(self, config: Config) -> None:
        settings_from_config(config)

    def open(self, config: Config) -> Extension | None:
        settings = settings_from_config(config)
        if settings is None or not settings.enabled:
            return None
        # Here, not at module level: only a configuration with notifications pays for it.
        from exporters.notify.extension import NotifyExtension
        from exporters.notify.outbox import Outbox

        outbox = Outbox.open(settings.outbox)
        channels = [h.target for h in settings.webhooks]
        if settings.smtp is not None:
            channels.append(f"smtp {settings.smtp.target}")
        logger.info(
            "notify: %s about %s (outbox %s, %d pending)",
            ", ".join(channels),
            ", ".join(sorted(t.value for t in settings.topics)),
            settings.outbox,
            outbox.pending(),
        )
        return NotifyExtension(settings, outbox)
