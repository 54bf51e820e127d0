"""``[exporter:notify]``: where notifications go, about what, and how hard to try.

The notifier is off unless the section exists (it needs somewhere to send to)::

    [exporter:notify]
    webhook_url = https://hooks.example.com/T0/B0/XXXX   ; POST JSON; several: comma-separated
    format = json                 ; json (our body) or slack (incoming-webhook text)
    smtp_server = mail.example.com:25
    mail_from = superd@example.com
    mail_to = ops@example.com, oncall@example.com
    smtp_user = superd            ; optional, with smtp_password or smtp_password_file
    smtp_password_file = /etc/superd/smtp-password
    smtp_starttls = false
    notify_on = storm, fatal      ; also: unexpected_exit
    unexpected_exit_min_interval = 60s
    host = web-1                  ; default: the machine's host name
    outbox = notify-outbox.sqlite3   ; relative to the config file
                                  ; default: <childlogdir>/superd-notify-outbox.sqlite3
    timeout = 10s                 ; per delivery attempt
    retry_initial = 1s            ; first retry delay, doubling up to retry_max
    retry_max = 5m
    give_up_after = 1d            ; still undelivered after this: dropped (counted, logged)
    stderr_lines = 20             ; stderr lines quoted in a message (0: none)
    enabled = true

One ``ConfigError`` lists every bad key as ``file:line: [exporter:notify] key: reason:
'value'``; a secret (``smtp_password``, a webhook URL's path and query) is never
echoed in an error, a log line or a ``repr``. ``smtp_password_file`` is read here, so
a missing file is a config error at start-up, not a failed mail at 3 a.m.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from exporters.notify.model import Topic
from supervisor_core.config.converters import boolean
from supervisor_core.config.converters import duration as parse_duration
from supervisor_core.config.errors import ConfigError, Problem
from supervisor_core.config.model import Config, Origin

__all__ = [
    "DEFAULT_OUTBOX",
    "SECTION",
    "NotifySettings",
    "SmtpSettings",
    "WebhookFormat",
    "WebhookTarget",
    "parse_settings",
    "redact_url",
    "settings_from_config",
]

SECTION = "exporter:notify"
DEFAULT_OUTBOX = "superd-notify-outbox.sqlite3"
DEFAULT_TOPICS = frozenset({Topic.STORM, Topic.FATAL})
HIDDEN = "<hidden>"
_SECRET_KEYS = frozenset({"smtp_password"})
_ADDRESS_RE = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\Z")
_LIST_SPLIT = re.compile(r"[,\s]+")


class WebhookFormat:
    """The body a webhook receives: our JSON object, or Slack's ``{"text": ...}``."""

    JSON = "json"
    SLACK = "slack"
    ALL = (JSON, SLACK)


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: what may be logged of a URL (paths hold tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    rest = "/…" if parts.path not in ("", "/") or parts.query else ""
    return f"{parts.scheme}://{netloc}{rest}"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookTarget:
    """One webhook URL. ``url`` is a secret (never in a repr); ``target`` is loggable."""

    url: str = field(repr=False)
    format: str = WebhookFormat.JSON

    @property
    def target(self) -> str:
        """The redacted URL: what logs, events and errors show."""
        return redact_url(self.url)

    @property
    def key(self) -> str:
        """Which outbox rows belong to this target (stable across restarts)."""
        return f"webhook {self.url}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    """One SMTP relay and the mail's envelope. ``password`` never shows in a repr."""

    host: str
    port: int = 25
    mail_from: str
    mail_to: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False

    @property
    def target(self) -> str:
        """``host:port``: what logs and events show."""
        return f"{self.host}:{self.port}"

    @property
    def key(self) -> str:
        """Which outbox rows belong to this relay (stable across restarts)."""
        return f"smtp {self.host}:{self.port} {','.join(self.mail_to)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifySettings:
    """The whole section (see the module docstring for every key)."""

    enabled: bool = True
    webhooks: tuple[WebhookTarget, ...] = ()
    smtp: SmtpSettings | None = None
    topics: frozenset[Topic] = DEFAULT_TOPICS
    unexpected_exit_min_interval: float = 60.0
    host: str = "localhost"
    outbox: str = DEFAULT_OUTBOX
    timeout: float = 10.0
    retry_initial: float = 1.0
    retry_max: float = 300.0
    give_up_after: float = 86400.0
    stderr_lines: int = 20

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every configured secret, for scrubbing error text before it is logged."""
        found: list[str] = []
        for hook in self.webhooks:
            parts = urlsplit(hook.url)
            found.append(hook.url)
            if parts.path not in ("", "/"):
                found.append(parts.path)
            if parts.query:
                found.append(parts.query)
            if parts.password:
                found.append(parts.password)
        if self.smtp is not None and self.smtp.password:
            found.append(self.smtp.password)
        # Longest first, so a URL is replaced whole before its path is.
        return tuple(sorted(set(found), key=len, reverse=True))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``<hidden>``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, HIDDEN)
    return text


def _seconds(text: str, *, allow_zero: bool = False) -> float:
    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        value = parse_duration(stripped)
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError("must be more than 0 seconds")
    return value


def _items(text: str) -> list[str]:
    return [item for item in _LIST_SPLIT.split(text.strip()) if item]


def _webhook_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError("not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("URL has no host")
    try:
        parts.port  # noqa: B018 -- urlsplit only checks the port when asked
    except ValueError:
        raise ValueError("URL has a bad port") from None
    return text


def _server(text: str) -> tuple[str, int]:
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host, port_text = text.strip(), "25"
    host = host.strip("[]")
    if not host or any(c.isspace() for c in host):
        raise ValueError("not HOST:PORT")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError("not HOST:PORT (bad port)") from None
    if not 0 < port < 65536:
        raise ValueError("port must be 1-65535")
    return host, port


def _address(text: str) -> str:
    # No spaces, commas or angle brackets: a name cannot smuggle a header or a
    # second recipient into the envelope.
    if not _ADDRESS_RE.match(text):
        raise ValueError(f"not a mail address: {text!r}")
    return text


def _topics(text: str) -> frozenset[Topic]:
    topics: set[Topic] = set()
    for item in _items(text):
        try:
            topics.add(Topic(item.lower()))
        except ValueError:
            known = ", ".join(t.value for t in Topic)
            raise ValueError(f"unknown kind {item!r} (known: {known})") from None
    return frozenset(topics)


def _count(text: str, minimum: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("not an integer") from None
    if value < minimum:
        raise ValueError(f"must be >= {minimum}")
    return value


def parse_settings(
    values: Mapping[str, str],
    *,
    childlogdir: str,
    here: str,
    origins: Mapping[str, Origin] | None = None,
    origin: Origin | None = None,
    hostname: str | None = None,
) -> NotifySettings:
    """``[exporter:notify]`` keys -> settings.

    Raises:
        ConfigError: every unknown key, bad value and missing companion key, each
            with its ``file:line``; secrets are not quoted.
    """
    problems: list[Problem] = []
    fallback = origin or Origin("<config>", 0)

    def bad(key: str, reason: str, *, quote: bool = True) -> None:
        raw = values.get(key)
        if raw is not None and key == "webhook_url":
            raw = ", ".join(redact_url(u) for u in _items(raw))
        problems.append(
            Problem(
                origin=(origins or {}).get(key, fallback),
                section=SECTION,
                option=key,
                reason=reason,
                value=raw if quote and key not in _SECRET_KEYS else None,
            )
        )

    enabled = True
    urls: list[str] = []
    webhook_format = WebhookFormat.JSON
    smtp: dict[str, object] = {}
    password_file: str | None = None
    topics = DEFAULT_TOPICS
    durations: dict[str, float] = {}
    host = hostname if hostname is not None else socket.gethostname()
    outbox = os.path.join(childlogdir, DEFAULT_OUTBOX)
    stderr_lines = 20
    for key, raw in values.items():
        try:
            if key == "enabled":
                enabled = boolean(raw)
            elif key == "webhook_url":
                urls = [_webhook_url(u) for u in _items(raw)]
                if not urls:
                    raise ValueError("empty")
            elif key == "format":
                webhook_format = raw.strip().lower()
                if webhook_format not in WebhookFormat.ALL:
                    raise ValueError(f"must be one of {', '.join(WebhookFormat.ALL)}")
            elif key == "smtp_server":
                smtp["host"], smtp["port"] = _server(raw)
            elif key == "mail_from":
                smtp["mail_from"] = _address(raw.strip())
            elif key == "mail_to":
                recipients = tuple(_address(a) for a in _items(raw))
                if not recipients:
                    raise ValueError("empty")
                smtp["mail_to"] = recipients
            elif key == "smtp_user":
                if not raw.strip():
                    raise ValueError("empty")
                smtp["user"] = raw.strip()
            elif key == "smtp_password":
                smtp["password"] = raw.strip()
            elif key == "smtp_password_file":
                password_file = os.path.join(here, raw.strip())
                try:
                    with open(password_file, encoding="utf-8") as handle:
                        smtp["password"] = handle.read().strip()
                except OSError as error:
                    raise ValueError(f"cannot read it: {error.strerror}") from None
            elif key == "smtp_starttls":
                smtp["starttls"] = boolean(raw)
            elif key == "notify_on":
                topics = _topics(raw)
            elif key == "unexpected_exit_min_interval":
                durations[key] = _seconds(raw, allow_zero=True)
            elif key in ("timeout", "retry_initial", "retry_max", "give_up_after"):
                durations[key] = _seconds(raw)
            elif key == "host":
                host = raw.strip()
                if not host or any(not c.isprintable() or c.isspace() for c in host):
                    raise ValueError("must be a non-empty name without spaces")
            elif key == "outbox":
                if not raw.strip():
                    raise ValueError("empty path")
                outbox = os.path.normpath(os.path.join(here, raw.strip()))
            elif key == "stderr_lines":
                stderr_lines = _count(raw, 0)
            else:
                raise ValueError("unknown option")
        except ValueError as error:
            bad(key, str(error))
    if "smtp_password" in values and password_file is not None:
        bad("smtp_password_file", "give smtp_password or smtp_password_file, not both", quote=False)
    smtp_settings: SmtpSettings | None = None
    if "host" in smtp:
        missing = [k for k in ("mail_from", "mail_to") if k not in smtp and k not in values]
        problems.extend(
            Problem(
                origin=(origins or {}).get("smtp_server", fallback),
                section=SECTION,
                option=key,
                reason="required with smtp_server",
            )
            for key in missing
        )
        if not missing and not problems:
            smtp_settings = _smtp_settings(smtp)
    elif "smtp_server" not in values and any(
        k in values for k in ("mail_from", "mail_to", "smtp_user", "smtp_password")
    ):
        bad("smtp_server", "missing: mail settings are given without smtp_server", quote=False)
    if not urls and "smtp_server" not in values and "webhook_url" not in values:
        problems.append(
            Problem(
                origin=fallback,
                section=SECTION,
                reason="names no destination (give webhook_url and/or smtp_server)",
            )
        )
    if problems:
        raise ConfigError(problems)
    return NotifySettings(
        enabled=enabled,
        webhooks=tuple(WebhookTarget(url=u, format=webhook_format) for u in urls),
        smtp=smtp_settings,
        topics=topics,
        host=host,
        outbox=outbox,
        stderr_lines=stderr_lines,
        unexpected_exit_min_interval=durations.get("unexpected_exit_min_interval", 60.0),
        timeout=durations.get("timeout", 10.0),
        retry_initial=durations.get("retry_initial", 1.0),
        retry_max=durations.get("retry_max", 300.0),
        give_up_after=durations.get("give_up_after", 86400.0),
    )


def _smtp_settings(smtp: Mapping[str, object]) -> SmtpSettings:
    port, user, password = smtp["port"], smtp.get("user"), smtp.get("password")
    recipients = smtp["mail_to"]
    assert isinstance(port, int)
    assert isinstance(recipients, tuple)
    return SmtpSettings(
        host=str(smtp["host"]),
        port=port,
        mail_from=str(smtp["mail_from"]),
        mail_to=tuple(str(r) for r in recipients),
        user=str(user) if user is not None else None,
        password=str(password) if password is not None else None,
        starttls=bool(smtp.get("starttls", False)),
    )


def settings_from_config(config: Config) -> NotifySettings | None:
    """``[exporter:notify]`` of a loaded config; None when the section is absent (off)."""
    section = config.extension_section(SECTION)
    if section is None:
        return None
    return parse_settings(
        section.values,
        childlogdir=config.supervisord.childlogdir,
        here=os.path.dirname(os.path.abspath(config.path)),
        origins=section.origins,
        origin=section.origin,
    )
