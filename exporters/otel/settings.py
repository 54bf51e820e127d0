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
to its defaults. Pure parsing, no OpenTelemetry import: one ``ConfigError`` lists every
bad key as ``file:line: [exporter:otel] key: reason: 'value'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

from exporters.journal.settings import parse_duration
from supervisor_core.config.converters import boolean, dict_of_key_value_pairs
from supervisor_core.config.errors import ConfigError, Problem
from supervisor_core.config.model import Config, ExtensionSection, Origin

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


def parse_seconds(text: str) -> float:
    """Plain seconds or a duration (``500ms``, ``30s``, ``5m``), more than 0."""
    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        value = parse_duration(stripped)
    if not value > 0:
        raise ValueError("must be more than 0 seconds")
    return value


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


def parse_settings(
    values: Mapping[str, str],
    *,
    origins: Mapping[str, Origin] | None = None,
    origin: Origin | None = None,
) -> OtelSettings:
    """``[exporter:otel]`` keys -> settings.

    Raises:
        ConfigError: every unknown key and bad value, each with its ``file:line``.
    """
    problems: list[Problem] = []
    fallback = origin or Origin("<config>", 0)
    settings = OtelSettings()
    for key, raw in values.items():
        try:
            settings = _apply(settings, key, raw)
        except ValueError as error:
            problems.append(
                Problem(
                    origin=(origins or {}).get(key, fallback),
                    section=SECTION,
                    option=key,
                    reason=str(error),
                    value=raw,
                )
            )
    if problems:
        raise ConfigError(problems)
    return settings


def _apply(settings: OtelSettings, key: str, raw: str) -> OtelSettings:
    """``settings`` with one key applied; raises ValueError (unknown key, bad value)."""
    if key == "enabled":
        return replace(settings, enabled=boolean(raw))
    if key == "endpoint":
        return replace(settings, endpoint=parse_endpoint(raw))
    if key == "service_name":
        return replace(settings, service_name=parse_service_name(raw))
    if key == "headers":
        return replace(settings, headers=parse_headers(raw))
    if key == "timeout":
        return replace(settings, timeout=parse_seconds(raw))
    if key == "episode_quiet":
        return replace(settings, episode_quiet=parse_seconds(raw))
    if key == "command_line":
        return replace(settings, command_line=boolean(raw))
    if key == "stderr_tail":
        return replace(settings, stderr_tail=boolean(raw))
    raise ValueError("unknown option")


def settings_from_section(section: ExtensionSection) -> OtelSettings:
    """The settings of a present ``[exporter:otel]`` section."""
    return parse_settings(section.values, origins=section.origins, origin=section.origin)


def settings_from_config(config: Config) -> OtelSettings | None:
    """``[exporter:otel]`` of a loaded config; None when the section is absent (off)."""
    section = config.extension_section(SECTION)
    if section is None:
        return None
    return settings_from_section(section)
