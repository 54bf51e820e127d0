"""The extension seam: discovery through entry points, checks, and the bus's first serial."""

from __future__ import annotations

import pytest

from supervisor_core.config import parse
from supervisor_core.config.errors import ConfigError, Problem
from supervisor_core.config.model import Config, Origin
from supervisor_core.events import EventTypeRegistry
from supervisor_core.extensions import (
    Extension,
    ExtensionFactory,
    check_extensions,
    discover_extensions,
    first_serial,
    installed_event_types,
)

CONFIG = "[supervisord]\n[program:a]\ncommand = /bin/true\n"


class Failing:
    """A factory whose check reports one problem."""

    def __init__(self, name: str, line: int) -> None:
        self.name = name
        self.line = line

    def register_event_types(self, registry: EventTypeRegistry) -> None:
        pass

    def check(self, config: Config) -> None:
        raise ConfigError(
            [Problem(origin=Origin(config.path, self.line), section=None, reason=self.name)]
        )

    def open(self, config: Config) -> Extension | None:
        return None


class Holding(Extension):
    """An extension that holds history up to ``serial``."""

    def __init__(self, serial: int | None) -> None:
        self.serial = serial

    def first_serial(self) -> int | None:
        return self.serial


def test_shipped_exporters_are_discovered() -> None:
    """The installed distribution registers the shipped exporter factories, sorted by name."""
    factories = discover_extensions()
    assert [f.name for f in factories] == ["journal", "notify", "otel", "prometheus", "storms"]
    assert all(isinstance(f, ExtensionFactory) for f in factories)


def test_checks_are_collected_into_one_error() -> None:
    """Every factory is checked; all problems come back in one ConfigError."""
    config = parse(CONFIG, "/etc/x.conf")
    with pytest.raises(ConfigError) as info:
        check_extensions([Failing("one", 3), Failing("two", 7)], config)
    assert [str(p) for p in info.value.problems] == ["/etc/x.conf:3: one", "/etc/x.conf:7: two"]


def test_default_sections_pass_the_shipped_checks() -> None:
    """A plain supervisord.conf needs no exporter section."""
    check_extensions(discover_extensions(), parse(CONFIG, "/etc/x.conf"))


def test_first_serial_is_the_highest_asked_for() -> None:
    """The bus starts where the extension with the most history ends (0 without any)."""
    assert first_serial([]) == 0
    assert first_serial([Holding(None), Holding(41), Holding(7)]) == 41


def test_installed_event_types_are_the_core_plus_each_factory_s() -> None:
    """The daemon's registry: supervisord's types and those of the installed extensions."""
    registry = installed_event_types()
    core = EventTypeRegistry.with_core_types()
    assert set(registry.names()) - set(core.names()) == {
        "SUPERVISOR_DAEMON_START",
        "STORM",
        "PROCESS_STORM_BEGIN",
        "PROCESS_STORM_END",
        "GROUP_STORM_BEGIN",
        "GROUP_STORM_END",
        "HOST_STORM_BEGIN",
        "HOST_STORM_END",
        "NOTIFICATION",
        "NOTIFICATION_QUEUED",
        "NOTIFICATION_SENT",
        "NOTIFICATION_FAILED",
        "NOTIFICATION_DROPPED",
    }
    assert registry.is_listener_opt_in("HOST_STORM_END")
    assert registry.is_listener_opt_in("NOTIFICATION_SENT")
    assert installed_event_types([Failing("quiet", 1)]).names() == core.names()
    assert installed_event_types() is not registry  # a fresh one per daemon
