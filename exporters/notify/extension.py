"""The notify extension itself: channels, notifier and outbox on a running superd.

Imported by ``NotifyFactory.open`` only when ``[exporter:notify]`` enables it, so a
superd without notifications never loads the delivery code (``smtplib``, ``email``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from exporters.notify.channels import Channel, SmtpChannel, WebhookChannel
from exporters.notify.events import register_notify_types
from exporters.notify.notifier import Notifier
from exporters.notify.outbox import Outbox
from exporters.notify.settings import NotifySettings
from supervisor_core.bus import EventBus
from supervisor_core.extensions import Extension

__all__ = ["SHUTDOWN_GRACE", "NotifyExtension", "build_channels"]

SHUTDOWN_GRACE = 5.0
"""Seconds a shutting-down superd keeps delivering before it leaves the rest queued."""


def build_channels(settings: NotifySettings) -> list[Channel]:
    """One channel per webhook URL, plus one for the SMTP relay."""
    channels: list[Channel] = [
        WebhookChannel(hook, timeout=settings.timeout) for hook in settings.webhooks
    ]
    if settings.smtp is not None:
        channels.append(SmtpChannel(settings.smtp, timeout=settings.timeout))
    return channels


class NotifyExtension(Extension):
    """Storm, fatal and unexpected-exit notifications by webhook and mail."""

    name = "notify"

    def __init__(self, settings: NotifySettings, outbox: Outbox) -> None:
        self.settings = settings
        self.outbox = outbox
        self.channels = build_channels(settings)
        self.notifier = Notifier(settings, outbox, self.channels)

    def install(self, bus: EventBus) -> None:
        register_notify_types(bus.registry)
        self.notifier.install(bus)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        # The worker catches its own errors (notifier rules), so this group only
        # ever ends by our cancel and never cancels the daemon.
        async with asyncio.TaskGroup() as group:
            worker = group.create_task(self.notifier.run(), name="notify-worker")
            try:
                yield
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
                await self.notifier.finish(grace=SHUTDOWN_GRACE)

    async def aclose(self) -> None:
        self.notifier.close()
        for channel in self.channels:
            await channel.aclose()
        self.outbox.close()
