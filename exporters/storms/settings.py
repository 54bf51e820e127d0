"""``[exporter:storms]``: the restart-storm detector's thresholds.

Keys (all optional; defaults shown)::

    [exporter:storms]
    enabled = true        ; false: no detection, no storm events, gauge stays 0
    burst = 5             ; automatic restarts of one process ...
    window = 60s          ; ... within this sliding window begin a storm; RUNNING
                          ; for this long ends it
    short_run = 10s       ; a restart after an expected exit counts only when that
                          ; run was shorter
    group_burst = 2       ; processes of one group in a storm at once: group storm (0: off)
    host_burst = 5        ; processes in a storm at once: host storm (0: off)
    history = 1000        ; ended storms /storms remembers (since superd started)

Durations take ``ms``, ``s``, ``m``, ``h``, ``d`` suffixes or plain seconds. Pure
parsing: one ``ConfigError`` listing every bad key as ``file:line: [exporter:storms]
key: reason: 'value'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exporters.journal.settings import parse_duration
from exporters.storms.detector import StormSettings
from supervisor_core.config.converters import boolean
from supervisor_core.config.errors import ConfigError, Problem
from supervisor_core.config.model import Config, Origin

SECTION = "exporter:storms"


@dataclass(frozen=True, slots=True, kw_only=True)
class StormExporterSettings:
    """The whole section: the detector's thresholds plus the extension's own keys."""

    enabled: bool = True
    detector: StormSettings = field(default_factory=StormSettings)
    history: int = 1000


def _seconds(text: str) -> float:
    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        value = parse_duration(stripped)
    if value <= 0:
        raise ValueError("must be more than 0 seconds")
    return value


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
    origins: Mapping[str, Origin] | None = None,
    origin: Origin | None = None,
) -> StormExporterSettings:
    """``[exporter:storms]`` keys -> settings (``values={}`` for an absent section).

    Raises:
        ConfigError: every unknown key and bad value, each with its ``file:line``.
    """
    problems: list[Problem] = []
    fallback = origin or Origin("<config>", 0)
    defaults = StormSettings()
    counts: dict[str, int] = {}
    seconds: dict[str, float] = {}
    enabled = True
    history = 1000
    for key, raw in values.items():
        try:
            if key == "enabled":
                enabled = boolean(raw)
            elif key == "burst":
                counts[key] = _count(raw, 1)
            elif key in ("group_burst", "host_burst"):
                counts[key] = _count(raw, 0)
            elif key in ("window", "short_run"):
                seconds[key] = _seconds(raw)
            elif key == "history":
                history = _count(raw, 0)
            else:
                raise ValueError("unknown option")
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
    detector = StormSettings(
        burst=counts.get("burst", defaults.burst),
        window=seconds.get("window", defaults.window),
        short_run=seconds.get("short_run", defaults.short_run),
        group_burst=counts.get("group_burst", defaults.group_burst),
        host_burst=counts.get("host_burst", defaults.host_burst),
    )
    return StormExporterSettings(enabled=enabled, detector=detector, history=history)


def settings_from_config(config: Config) -> StormExporterSettings:
    """``[exporter:storms]`` of a loaded config (defaults when absent)."""
    section = config.extension_section(SECTION)
    if section is None:
        return StormExporterSettings()
    return parse_settings(section.values, origins=section.origins, origin=section.origin)
