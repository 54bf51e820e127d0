"""How a notification looks at each channel: our JSON, Slack text, a mail. Pure.

Rules of this file:
- Nothing a program controls (its name, its output) can add a header, a recipient
  or a Slack mention. Webhook headers are fixed here and never take a program's
  text; JSON is escaped by ``json.dumps``; Slack's control characters (``&``, ``<``,
  ``>``) are escaped so ``<!channel>`` or ``<https://x|click>`` in output stays text;
  a mail subject loses every control character (CR/LF included) and the body is a
  text/plain MIME part that ``smtplib`` dot-stuffs, so output cannot end the DATA.
- Bodies are bounded: each quoted stderr line is cut at ``MAX_LINE`` characters.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from exporters.notify.model import Notification, notification_json, rfc3339
from supervisor_core import __version__

__all__ = [
    "MAX_LINE",
    "clean_line",
    "json_body",
    "mail_message",
    "mail_subject",
    "slack_body",
    "webhook_headers",
]

MAX_LINE = 500
_TITLES = {
    "storm_begin": "restart storm began",
    "storm_end": "restart storm ended",
    "fatal": "FATAL",
    "unexpected_exit": "unexpected exit",
}


def clean_line(text: str, limit: int = MAX_LINE) -> str:
    """``text`` on one line: control characters become spaces; cut at ``limit``."""
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _tail(notification: Notification) -> list[str]:
    tail = notification.details.get("stderr_tail")
    if not isinstance(tail, list):
        return []
    return [clean_line(str(line)) for line in tail]


def json_body(notification: Notification) -> bytes:
    """The webhook's JSON body (``format = json``)."""
    return json.dumps(notification_json(notification), ensure_ascii=False).encode("utf-8")


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn gives &, < and > meaning (links, @channel); these three escapes
    # are the ones its documentation asks for.
    # Backtick fences in program text must not open or close a code block.
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("```", "'''")


def slack_body(notification: Notification) -> bytes:
    """``{"text": ...}`` for a Slack-compatible incoming webhook (``format = slack``)."""
    title = _TITLES[notification.kind.value]
    lines = [
        f"*[{_slack_escape(clean_line(notification.host))}] {title}*",
        _slack_escape(clean_line(notification.summary, 2000)),
    ]
    tail = _tail(notification)
    if tail:
        quoted = "\n".join(_slack_escape(line) for line in tail)
        lines.append(f"```\n{quoted}\n```")
    lines.append(f"_{rfc3339(notification.time)} · id {_slack_escape(notification.id)}_")
    return json.dumps({"text": "\n".join(lines)}, ensure_ascii=False).encode("utf-8")


def webhook_headers(notification: Notification, content_type: str) -> dict[str, str]:
    """Fixed headers; only the notification id (ours, no program text) varies."""
    return {
        "Content-Type": content_type,
        "User-Agent": f"superd/{__version__}",
        "Idempotency-Key": clean_line(notification.id, 200),
    }


def mail_subject(notification: Notification) -> str:
    """One line, no control characters: ``[superd web-1] restart storm began: web``."""
    return clean_line(f"[superd {notification.host}] {notification.summary}", 200)


def mail_message(
    notification: Notification, *, mail_from: str, mail_to: tuple[str, ...]
) -> EmailMessage:
    """The mail for ``notification``: text/plain, UTF-8, a stable ``Message-ID``."""
    message = EmailMessage(policy=SMTP)
    message["From"] = mail_from
    message["To"] = ", ".join(mail_to)
    message["Subject"] = mail_subject(notification)
    message["Date"] = formatdate(notification.time, usegmt=True)
    # The id is ours (host/kind/serial-ms): the same notification re-sent after a
    # crash has the same Message-ID, so a mail system can drop the duplicate.
    domain = "".join(c for c in notification.host if c.isalnum() or c in ".-") or "superd"
    local = "".join(c if c.isalnum() or c in ".-_" else "." for c in notification.id)
    message["Message-ID"] = f"<{local}@{domain}>"
    message["X-Superd-Kind"] = notification.kind.value
    details = json.dumps(notification.details, indent=2, ensure_ascii=False)
    body = [
        notification.summary,
        "",
        f"kind:    {notification.kind.value}",
        f"host:    {notification.host}",
        f"process: {notification.group}:{notification.name}"
        if notification.name
        else f"group:   {notification.group}",
        f"time:    {rfc3339(notification.time)}",
        f"serials: {', '.join(str(s) for s in notification.serials)}",
        f"id:      {notification.id}",
    ]
    tail = _tail(notification)
    if tail:
        body += ["", "last stderr lines:", *(f"  {line}" for line in tail)]
    body += ["", "details:", details, ""]
    message.set_content("\n".join(clean_line(line, 10_000) for line in "\n".join(body).split("\n")))
    return message
