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
parsing through the core's ``ExtensionReader``: one ``ConfigError`` listing every bad
key as ``file:line: [exporter:storms] key: reason: 'value'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exporters.storms.detector import StormSettings
from supervisor_core.config.converters import boolean, integer_at_least, positive_seconds
from supervisor_core.config.model import Config, ExtensionSection
from supervisor_core.config.reader import ExtensionReader

SECTION = "exporter:storms"


@dataclass(frozen=True, slots=True, kw_only=True)
class StormExporterSettings:
    """The whole section: the detector's thresholds plus the extension's own keys."""

    enabled: bool = True
    detector: StormSettings = field(default_factory=StormSettings)
    history: int = 1000


def settings_from_section(section: ExtensionSection) -> StormExporterSettings:
    """``[exporter:storms]`` -> settings (``ExtensionSection(name=SECTION)`` when absent).

    Raises:
        ConfigError: every unknown key and bad value, each with its ``file:line``.
    """
    reader = ExtensionReader(section)
    defaults = StormExporterSettings()
    detector = defaults.detector
    settings = StormExporterSettings(
        enabled=reader.get("enabled", defaults.enabled, boolean),
        detector=StormSettings(
            burst=reader.get("burst", detector.burst, integer_at_least(1)),
            window=reader.get("window", detector.window, positive_seconds),
            short_run=reader.get("short_run", detector.short_run, positive_seconds),
            group_burst=reader.get("group_burst", detector.group_burst, integer_at_least(0)),
            host_burst=reader.get("host_burst", detector.host_burst, integer_at_least(0)),
        ),
        history=reader.get("history", defaults.history, integer_at_least(0)),
    )
    reader.check()
    return settings


def settings_from_config(config: Config) -> StormExporterSettings:
    """``[exporter:storms]`` of a loaded config (defaults when absent)."""
    return settings_from_section(config.extension_section_or_empty(SECTION))
