"""``[exporter:otel]``: where superd sends its spans, and when an episode's root ends.

The exporter is off unless the section exists (it needs a collector to send to)::

    [exporter:otel]
    endpoint = http://127.0.0.1:4318/v1/traces   ; OTLP/HTTP; a bare host:port URL gets /v1/traces
    service_name = superd                        ; resource service.name
    headers = Authorization="Bearer s3cret",X-Scope-OrgID=ops
    timeout = 10s                                ; per export request
    episode_quiet = 60s                          ; resting this long ends an episode's root span
    command_line = false                         ; true: record process.command_line
    stderr_tail = true                           ; false: leave the run's stderr tail out
    enabled = true                               ; false: keep the section, send nothing

Unset ``endpoint``, ``headers`` and ``timeout`` fall back to the SDK's
``OTEL_EXPORTER_OTLP_TRACES_*`` / ``OTEL_EXPORTER_OTLP_*`` environment variables, then
to its defaults. Pure parsing through the core's ``ExtensionReader``, no OpenTelemetry
import: one ``ConfigError`` lists every bad key as
``file:line: [exporter:otel] key: reason: 'value'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

from supervisor_core.config.converters import boolean, dict_of_key_value_pairs, positive_seconds
from supervisor_core.config.model import Config, ExtensionSection
from supervisor_core.config.reader import ExtensionReader

SECTION = "exporter:otel"
TRACES_PATH = "/v1/traces"
DEFAULT_SERVICE_NAME = "superd"
DEFAULT_EPISODE_QUIET = 60.0


def _no_headers() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class OtelSettings:
    """What ``[exporter:otel]`` asks for.

    ``endpoint``, ``timeout`` None and empty ``headers``: left to the SDK (environment
    variables, then its defaults). ``episode_quiet``: seconds a process must stay
    RUNNING (or EXITED without a new start) before the root span of its restart
    episode is ended and exported; which episode a run belongs to is the event's.
    """

    enabled: bool = True
    endpoint: str | None = None
    service_name: str = DEFAULT_SERVICE_NAME
    headers: Mapping[str, str] = field(default_factory=_no_headers)
    timeout: float | None = None
    episode_quiet: float = DEFAULT_EPISODE_QUIET
    command_line: bool = False
    stderr_tail: bool = True


def parse_endpoint(text: str) -> str:
    """An ``http(s)://`` URL; a URL without a path gets ``/v1/traces``. Raises ValueError."""
    stripped = text.strip()
    parts = urlsplit(stripped)
    if parts.scheme not in ("http", "https"):
        raise ValueError("not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("URL has no host")
    try:
        parts.port  # noqa: B018 -- urlsplit only checks the port when asked
    except ValueError:
        raise ValueError("URL has a bad port") from None
    if parts.path in ("", "/"):
        parts = parts._replace(path=TRACES_PATH)
    return urlunsplit(parts)


def parse_headers(text: str) -> Mapping[str, str]:
    """``key=value`` pairs separated by commas (quotes for spaces or commas)."""
    if not text.strip():
        return _no_headers()
    return MappingProxyType(dict_of_key_value_pairs(text))


def parse_service_name(text: str) -> str:
    """A non-empty name."""
    name = text.strip()
    if not name:
        raise ValueError("must not be empty")
    return name


def settings_from_section(section: ExtensionSection) -> OtelSettings:
    """The settings of a present ``[exporter:otel]`` section.

    Raises:
        ConfigError: every unknown key and bad value, each with its ``file:line``.
    """
    reader = ExtensionReader(section)
    defaults = OtelSettings()
    settings = OtelSettings(
        enabled=reader.get("enabled", defaults.enabled, boolean),
        endpoint=reader.get("endpoint", defaults.endpoint, parse_endpoint),
        service_name=reader.get("service_name", defaults.service_name, parse_service_name),
        headers=reader.get("headers", defaults.headers, parse_headers),
        timeout=reader.get("timeout", defaults.timeout, positive_seconds),
        episode_quiet=reader.get("episode_quiet", defaults.episode_quiet, positive_seconds),
        command_line=reader.get("command_line", defaults.command_line, boolean),
        stderr_tail=reader.get("stderr_tail", defaults.stderr_tail, boolean),
    )
    reader.check()
    return settings


def settings_from_config(config: Config) -> OtelSettings | None:
    """``[exporter:otel]`` of a loaded config; None when the section is absent (off)."""
    section = config.extension_section(SECTION)
    if section is None:
        return None
    return settings_from_section(section)
