"""Delivery channels: a webhook (aiohttp) and a mail relay (smtplib in a thread).

Rules of this file:
- A channel sends one notification or raises ``DeliveryError``; ``permanent`` says a
  retry cannot help (a 4xx refusal of the body, a refused recipient). Every other
  failure (connection refused, timeout, 5xx, 429) is worth a retry.
- Error text never holds a secret: a webhook error names the redacted target, and
  the caller scrubs every configured secret from the text again before it is logged
  or published (``settings.scrub``).
- SMTP runs ``smtplib`` through ``asyncio.to_thread``: the standard library's client
  is complete (STARTTLS, AUTH, dot-stuffing) and a notification is rare, so a
  thread per mail costs nothing and adds no dependency.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from typing import Protocol

import aiohttp

from exporters.notify.events import SMTP, WEBHOOK
from exporters.notify.model import Notification
from exporters.notify.render import json_body, mail_message, slack_body, webhook_headers
from exporters.notify.settings import SmtpSettings, WebhookFormat, WebhookTarget

__all__ = ["Channel", "DeliveryError", "SmtpChannel", "WebhookChannel"]


class DeliveryError(Exception):
    """One attempt failed; ``permanent``: retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Channel(Protocol):
    """One delivery target."""

    @property
    def channel(self) -> str:
        """``webhook`` or ``smtp`` (the metric's ``channel`` label)."""
        ...

    @property
    def target(self) -> str:
        """What logs show (no secret)."""
        ...

    @property
    def key(self) -> str:
        """Identifies the target's outbox rows across restarts."""
        ...

    async def send(self, notification: Notification) -> None:
        """Deliver or raise ``DeliveryError``."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class WebhookChannel:
    """POST to one URL: our JSON, or Slack's ``{"text": ...}``."""

    channel = WEBHOOK

    def __init__(self, settings: WebhookTarget, *, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def target(self) -> str:
        return self.settings.target

    @property
    def key(self) -> str:
        return self.settings.key

    async def send(self, notification: Notification) -> None:
        if self.settings.format == WebhookFormat.SLACK:
            body = slack_body(notification)
        else:
            body = json_body(notification)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.post(
                self.settings.url,
                data=body,
                headers=webhook_headers(notification, "application/json; charset=utf-8"),
                allow_redirects=False,
            ) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            raise DeliveryError(f"{self.target}: no answer within {self.timeout:g}s") from None
        except aiohttp.ClientError as error:
            # aiohttp's messages name host and port, never the path; scrubbed again later.
            raise DeliveryError(f"{self.target}: {type(error).__name__}: {error}") from None
        if 200 <= status < 300:
            return
        permanent = 400 <= status < 500 and status not in (408, 425, 429)
        raise DeliveryError(f"{self.target}: HTTP {status}", permanent=permanent)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class SmtpChannel:
    """One mail per notification to every ``mail_to`` through one relay."""

    channel = SMTP

    def __init__(self, settings: SmtpSettings, *, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout

    @property
    def target(self) -> str:
        return self.settings.target

    @property
    def key(self) -> str:
        return self.settings.key

    async def send(self, notification: Notification) -> None:
        await asyncio.to_thread(self._send_blocking, notification)

    def _send_blocking(self, notification: Notification) -> None:
        settings = self.settings
        message = mail_message(notification, mail_from=settings.mail_from, mail_to=settings.mail_to)
        try:
            with smtplib.SMTP(settings.host, settings.port, timeout=self.timeout) as client:
                if settings.starttls:
                    client.starttls(context=ssl.create_default_context())
                if settings.user is not None:
                    client.login(settings.user, settings.password or "")
                refused = client.send_message(
                    message, from_addr=settings.mail_from, to_addrs=list(settings.mail_to)
                )
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(
                f"{self.target}: every recipient refused ({len(error.recipients)})",
                permanent=True,
            ) from None
        except smtplib.SMTPSenderRefused as error:
            raise DeliveryError(
                f"{self.target}: sender refused: {error.smtp_code}",
                permanent=error.smtp_code >= 500,
            ) from None
        except smtplib.SMTPAuthenticationError as error:
            # Not permanent: the operator fixes the password and restarts superd,
            # and the outbox still holds the mail.
            raise DeliveryError(
                f"{self.target}: authentication failed ({error.smtp_code})"
            ) from None
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(
                f"{self.target}: SMTP {error.smtp_code}", permanent=error.smtp_code >= 500
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"{self.target}: {type(error).__name__}: {error}") from None
        if refused:
            # Some recipients took it: resending would duplicate theirs. Say who did not.
            raise DeliveryError(
                f"{self.target}: {len(refused)} of {len(settings.mail_to)} recipients refused",
                permanent=True,
            )

    async def aclose(self) -> None:
        return None
