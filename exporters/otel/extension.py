"""The OTel exporter as a superd extension: the SDK provider, OTLP/HTTP and the bus.

This module imports the OpenTelemetry SDK; ``exporters.otel.plugin`` imports it only
when ``[exporter:otel]`` asks for it, so superd without the ``otel`` extra still runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.semconv._incubating.attributes import host_attributes
from opentelemetry.semconv.attributes import service_attributes

from exporters.otel.settings import OtelSettings
from exporters.otel.spans import SpanBuilder
from supervisor_core import __version__
from supervisor_core.bus import EventBus, Subscription
from supervisor_core.config.model import Config, GroupConfig, ProcessConfig
from supervisor_core.control import ControlError, SupervisorControl
from supervisor_core.extensions import Extension

logger = logging.getLogger(__name__)

ATTR_IDENTIFIER = "supervisor.identifier"


def build_resource(settings: OtelSettings, *, identifier: str, hostname: str) -> Resource:
    """service.name (``service_name=``), service.version, host.name, superd's identifier.

    ``Resource.create`` also merges ``OTEL_RESOURCE_ATTRIBUTES`` (ours win) and the
    SDK's ``telemetry.sdk.*`` attributes.
    """
    return Resource.create(
        {
            service_attributes.SERVICE_NAME: settings.service_name,
            service_attributes.SERVICE_VERSION: __version__,
            host_attributes.HOST_NAME: hostname,
            ATTR_IDENTIFIER: identifier,
        }
    )


def build_span_exporter(settings: OtelSettings) -> OTLPSpanExporter:
    """The OTLP/HTTP (protobuf) exporter for ``settings``; unset keys: the SDK's env/defaults."""
    return OTLPSpanExporter(
        endpoint=settings.endpoint,
        headers=dict(settings.headers) if settings.headers else None,
        timeout=settings.timeout,
    )


def build_provider(resource: Resource, exporter: SpanExporter) -> TracerProvider:
    """A provider of our own (never the global one) batching spans to ``exporter``."""
    # shutdown_on_exit=False: aclose() shuts it down; no atexit hook in a library.
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class _ConfigIndex:
    """Process configs by (group, name), from the daemon's current config or the first one."""

    def __init__(self, groups: Sequence[GroupConfig]) -> None:
        self._groups: Sequence[GroupConfig] = ()
        self._index: dict[tuple[str, str], ProcessConfig] = {}
        self.control: SupervisorControl | None = None
        self._load(groups)

    def _load(self, groups: Sequence[GroupConfig]) -> None:
        self._groups = groups
        self._index = {(p.group_name, p.name): p for g in groups for p in g.processes}

    def describe(self, groupname: str, processname: str) -> ProcessConfig | None:
        if self.control is not None:
            try:
                groups = self.control.config_groups()
            except ControlError:  # shutting down: the last config known will do
                groups = self._groups
            if groups is not self._groups:  # a reload replaced the config
                self._load(groups)
        return self._index.get((groupname, processname))


class OtelExtension(Extension):
    """Spans for every run and restart episode, sent over OTLP/HTTP.

    Example (what superd does with it)::

        ext = OtelExtension(settings, provider, config=config)
        ext.install(bus)
        ...
        await ext.aclose()   # ends open spans, flushes the batch, stops the exporter
    """

    name = "otel"

    def __init__(self, settings: OtelSettings, provider: TracerProvider, *, config: Config) -> None:
        self.settings = settings
        self.provider = provider
        self._configs = _ConfigIndex(config.groups)
        self.builder = SpanBuilder(
            provider,
            episode_quiet=settings.episode_quiet,
            describe=self._configs.describe,
            command_line=settings.command_line,
            stderr_tail=settings.stderr_tail,
            parent_pid=os.getpid(),
        )
        self._subscription: Subscription | None = None

    @classmethod
    def from_config(cls, settings: OtelSettings, config: Config) -> OtelExtension:
        """The extension with the OTLP/HTTP exporter ``settings`` describe."""
        resource = build_resource(
            settings, identifier=config.supervisord.identifier, hostname=socket.gethostname()
        )
        provider = build_provider(resource, build_span_exporter(settings))
        return cls(settings, provider, config=config)

    def install(self, bus: EventBus) -> None:
        # Inline and lossless: building a span is cheap, and the batch processor's
        # queue (not the bus) is where a slow collector makes spans wait or drop.
        self._subscription = bus.subscribe(self.builder.observe, name="otel")

    def attach(self, control: SupervisorControl) -> None:
        self._configs.control = control

    def detach(self) -> None:
        self._configs.control = None

    async def aclose(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        self.builder.close()
        # shutdown() flushes the batch and may wait up to the export timeout.
        await asyncio.to_thread(self.provider.shutdown)


__all__ = [
    "OtelExtension",
    "build_provider",
    "build_resource",
    "build_span_exporter",
]
