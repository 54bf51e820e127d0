"""Entry point ``otel`` of ``supervisor_core.extensions``: off unless ``[exporter:otel]`` exists.

This module never imports OpenTelemetry itself: without the ``otel`` extra a config
with no ``[exporter:otel]`` runs as before, and one with the section is refused with
a ``ConfigError`` naming the section's ``file:line`` and the missing package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

from exporters.otel.settings import SECTION, OtelSettings, settings_from_section
from supervisor_core.config.errors import ConfigError, Problem
from supervisor_core.config.model import Config, ExtensionSection, Origin
from supervisor_core.events import EventTypeRegistry
from supervisor_core.extensions import Extension

SDK_MODULE = "exporters.otel.extension"
INSTALL_HINT = "pip install 'supervisor-core[otel]'"


def _import_sdk() -> ModuleType:
    return importlib.import_module(SDK_MODULE)


class OtelFactory:
    """Entry point ``otel``: spans of runs and restart episodes over OTLP/HTTP.

    ``load_sdk`` imports the module that needs the SDK (tests pass one that raises
    ``ImportError`` to stand for a host without the ``otel`` extra).
    """

    name = "otel"

    def __init__(self, load_sdk: Callable[[], ModuleType] = _import_sdk) -> None:
        self._load_sdk = load_sdk

    def register_event_types(self, registry: EventTypeRegistry) -> None:
        """Spans are made of supervisord's types; nothing to add."""

    def _settings(self, config: Config) -> tuple[ExtensionSection, OtelSettings] | None:
        section = config.extension_section(SECTION)
        if section is None:
            return None
        return section, settings_from_section(section)

    def _sdk(self, section: ExtensionSection) -> ModuleType:
        try:
            return self._load_sdk()
        except ImportError as error:
            missing = error.name or "opentelemetry"
            raise ConfigError(
                [
                    Problem(
                        origin=section.origin or Origin("<config>", 0),
                        section=SECTION,
                        reason=(
                            f"the OpenTelemetry packages are not installed ({missing}); "
                            f"install them with {INSTALL_HINT}, or remove the section"
                        ),
                    )
                ]
            ) from error

    def check(self, config: Config) -> None:
        """Validate ``[exporter:otel]`` and that the SDK is importable when it is on."""
        found = self._settings(config)
        if found is not None and found[1].enabled:
            self._sdk(found[0])

    def open(self, config: Config) -> Extension | None:
        """The extension, or None without the section (or with ``enabled = false``)."""
        found = self._settings(config)
        if found is None or not found[1].enabled:
            return None
        section, settings = found
        module = self._sdk(section)
        extension: Extension = module.OtelExtension.from_config(settings, config)
        return extension


__all__ = ["OtelFactory"]
