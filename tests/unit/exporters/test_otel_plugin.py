"""[exporter:otel] settings, the otel entry point's factory and the extension's wiring."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from exporters.otel.plugin import OtelFactory
from exporters.otel.settings import (
    OtelSettings,
    parse_endpoint,
    settings_from_config,
    settings_from_section,
)
from supervisor_core.config import parse
from supervisor_core.config.errors import ConfigError
from supervisor_core.config.model import Config, ExtensionSection, Origin
from supervisor_core.extensions import ExtensionFactory, discover_extensions
from tests.peers import require_module

BASE = "[supervisord]\nidentifier = box1\n\n[program:web]\ncommand = /bin/cat -n\nuser = nobody\n"


def load(tmp_path: Path, section: str = "") -> Config:
    return parse(BASE + section, str(tmp_path / "supervisord.conf"))


def otel_settings(values: dict[str, str]) -> OtelSettings:
    return settings_from_section(ExtensionSection(name="exporter:otel", values=values))


def no_sdk() -> ModuleType:
    raise ModuleNotFoundError("No module named 'opentelemetry'", name="opentelemetry")


def test_defaults() -> None:
    """An empty section: enabled, SDK endpoint/headers/timeout, superd, 60 s quiet."""
    settings = otel_settings({})
    assert settings == OtelSettings()
    assert settings.service_name == "superd"
    assert settings.endpoint is None
    assert settings.episode_quiet == 60.0
    assert not settings.command_line
    assert settings.stderr_tail


def test_every_key() -> None:
    """Every key parses: durations, headers as KEY=value pairs, booleans."""
    settings = otel_settings(
        {
            "enabled": "false",
            "endpoint": "https://collector.example:4318",
            "service_name": " fleet-superd ",
            "headers": 'Authorization="Bearer a,b",X-Scope-OrgID=ops',
            "timeout": "2500ms",
            "episode_quiet": "5m",
            "command_line": "true",
            "stderr_tail": "no",
        }
    )
    assert settings.enabled is False
    assert settings.endpoint == "https://collector.example:4318/v1/traces"
    assert settings.service_name == "fleet-superd"
    assert dict(settings.headers) == {"Authorization": "Bearer a,b", "X-Scope-OrgID": "ops"}
    assert settings.timeout == 2.5
    assert settings.episode_quiet == 300.0
    assert settings.command_line is True
    assert settings.stderr_tail is False


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
        ("http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/traces"),
        ("http://tempo:4318/otlp/v1/traces", "http://tempo:4318/otlp/v1/traces"),
    ],
)
def test_endpoint_gets_the_traces_path_only_when_it_has_none(text: str, url: str) -> None:
    """A bare base URL gets /v1/traces; a URL with a path is used as written."""
    assert parse_endpoint(text) == url


def test_bad_values_are_all_reported_with_file_and_line(tmp_path: Path) -> None:
    """Each bad key is one problem naming file:line, section, key and value."""
    config = load(
        tmp_path,
        "\n[exporter:otel]\nendpoint = grpc://x:4317\ntimeout = 0\n"
        "episode_quiet = soon\nservice_name =\nheaders = a b\ncolour = blue\n"
        "endpoint2 = http://:99999\n",
    )
    with pytest.raises(ConfigError) as caught:
        settings_from_config(config)
    text = str(caught.value)
    path = str(tmp_path / "supervisord.conf")
    assert (
        f"{path}:9: [exporter:otel] endpoint: not an http:// or https:// URL: 'grpc://x:4317'"
        in text
    )
    assert f"{path}:10: [exporter:otel] timeout: must be more than 0 seconds: '0'" in text
    assert f"{path}:11: [exporter:otel] episode_quiet: not a duration" in text
    assert f"{path}:12: [exporter:otel] service_name: must not be empty" in text
    assert f"{path}:13: [exporter:otel] headers: not KEY=value pairs" in text
    assert f"{path}:14: [exporter:otel] colour: unknown option: 'blue'" in text
    assert len(caught.value.problems) == 7


@pytest.mark.parametrize(
    ("text", "reason"),
    [("http://:4318", "URL has no host"), ("http://h:99999", "URL has a bad port")],
)
def test_endpoint_problems(text: str, reason: str) -> None:
    """A URL without a host or with a port out of range is refused."""
    with pytest.raises(ValueError, match=reason):
        parse_endpoint(text)


def test_problems_without_origins_fall_back_to_the_section_origin() -> None:
    """A section built in code still names a place."""
    with pytest.raises(ConfigError) as caught:
        settings_from_section(
            ExtensionSection(name="exporter:otel", values={"nope": "1"}, origin=Origin("x.conf", 3))
        )
    assert str(caught.value) == "x.conf:3: [exporter:otel] nope: unknown option: '1'"


def test_the_entry_point_is_installed() -> None:
    """superd discovers the factory as entry point ``otel``."""
    factories = {f.name: f for f in discover_extensions()}
    assert isinstance(factories["otel"], OtelFactory)
    assert isinstance(OtelFactory(), ExtensionFactory)


def test_off_without_the_section_even_without_the_sdk(tmp_path: Path) -> None:
    """No [exporter:otel]: check passes and open builds nothing, SDK or not."""
    factory = OtelFactory(load_sdk=no_sdk)
    config = load(tmp_path)
    factory.check(config)
    assert factory.open(config) is None
    assert settings_from_config(config) is None


def test_the_section_without_the_sdk_is_a_clear_config_error(tmp_path: Path) -> None:
    """With the section but no SDK, check and open name the section's file:line and the fix."""
    factory = OtelFactory(load_sdk=no_sdk)
    config = load(tmp_path, "\n[exporter:otel]\nendpoint = http://127.0.0.1:4318\n")
    for attempt in (factory.check, factory.open):
        with pytest.raises(ConfigError) as caught:
            attempt(config)
        (problem,) = caught.value.problems
        assert problem.origin == Origin(str(tmp_path / "supervisord.conf"), 8)
        assert "OpenTelemetry packages are not installed (opentelemetry)" in str(problem)
        assert "supervisor-core[otel]" in str(problem)


def test_enabled_false_needs_no_sdk(tmp_path: Path) -> None:
    """``enabled = false`` keeps the section and turns the exporter off, SDK or not."""
    factory = OtelFactory(load_sdk=no_sdk)
    config = load(tmp_path, "\n[exporter:otel]\nenabled = false\n")
    factory.check(config)
    assert factory.open(config) is None


def test_bad_settings_are_reported_by_check(tmp_path: Path) -> None:
    """check() raises the settings' ConfigError before looking for the SDK."""
    factory = OtelFactory(load_sdk=no_sdk)
    with pytest.raises(ConfigError, match="timeout: must be more than 0"):
        factory.check(load(tmp_path, "\n[exporter:otel]\ntimeout = -1\n"))


# --------------------------------------------------------------------------- the extension


def sdk_rig(config: Config) -> tuple[Any, Any]:
    """An OtelExtension on a provider exporting to memory, and that exporter."""
    require_module("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from exporters.otel.extension import OtelExtension

    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    extension = OtelExtension(OtelSettings(), provider, config=config)
    return extension, exporter


class FakeControl:
    """Only what the extension reads from the daemon: the current group configs."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def config_groups(self) -> object:
        return self.config.groups


async def test_extension_builds_spans_from_bus_events_with_the_programs_config(
    tmp_path: Path,
) -> None:
    """Installed on a bus, the extension turns a run into spans with the config's process.*."""
    import os

    from supervisor_core.bus import EventBus
    from supervisor_core.testing import FakeClock, RuntimeRig

    config = load(tmp_path)
    extension, exporter = sdk_rig(config)
    clock = FakeClock()
    bus = EventBus(clock)
    extension.install(bus)
    (process,) = config.processes()
    harness = RuntimeRig(process, clock=clock, bus=bus)
    harness.start()
    clock.jump_to_next_deadline()
    # A reload changes the command: runs that start afterwards describe the new one.
    reloaded = parse(BASE.replace("/bin/cat -n", "/usr/bin/tac"), config.path)
    extension.attach(FakeControl(reloaded))
    harness.stop()
    harness.exit(0)
    harness.start()
    extension.detach()
    await extension.aclose()

    runs = sorted(
        (s for s in exporter.get_finished_spans() if s.name == "run web"),
        key=lambda s: s.start_time,
    )
    assert [r.attributes["process.executable.name"] for r in runs] == ["cat", "tac"]
    assert runs[0].attributes["process.owner"] == "nobody"
    assert runs[0].attributes["process.parent_pid"] == os.getpid()
    # aclose ended the open second run and stopped listening to the bus.
    assert runs[1].attributes["supervisor.run.outcome"] == "open"
    assert bus.snapshot().subscribers == ()


def test_from_config_builds_a_resource_and_an_otlp_batch_provider(tmp_path: Path) -> None:
    """service.name, host.name and superd's identifier describe the resource."""
    require_module("opentelemetry.sdk")
    import asyncio
    import socket

    from exporters.otel.extension import OtelExtension, build_span_exporter

    config = load(
        tmp_path, "\n[exporter:otel]\nservice_name = edge\nendpoint = http://127.0.0.1:9\n"
    )
    settings = settings_from_config(config)
    assert settings is not None
    extension = OtelExtension.from_config(settings, config)
    attributes = extension.provider.resource.attributes
    assert attributes["service.name"] == "edge"
    assert attributes["host.name"] == socket.gethostname()
    assert attributes["supervisor.identifier"] == "box1"
    assert attributes["telemetry.sdk.name"] == "opentelemetry"
    asyncio.run(extension.aclose())  # nothing to flush: returns at once
    build_span_exporter(OtelSettings(headers={"a": "b"}, timeout=3.0)).shutdown()
