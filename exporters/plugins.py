"""The shipped exporters as superd extensions (entry points of ``supervisor_core.extensions``).

Each factory parses its own section (``[exporter:prometheus]``, ``[exporter:journal]``)
and builds an :class:`~supervisor_core.extensions.Extension` that superd drives; see
``supervisor_core/extensions.py`` for the lifecycle. All are on by default: a superd
is observable without a line of new configuration.

The storm detector (``[exporter:storms]``) and the Prometheus exporter are separate
extensions: the detector publishes STORM events on the bus, and the Prometheus
extension derives ``supervisor_process_restart_storm`` from those events
(``exporters.storms.ActiveStorms``), so neither looks the other up.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry

from exporters.events_http import EventsEndpoint
from exporters.journal import Journal, register_journal_types
from exporters.journal import settings_from_config as journal_settings_from_config
from exporters.notify.counts import NotificationCounts
from exporters.notify.events import register_notify_types
from exporters.prometheus import PrometheusExporter, settings_from_config
from exporters.prometheus.http import metrics_routes, serving_metrics
from exporters.prometheus.settings import PrometheusSettings
from exporters.storms import (
    ActiveStorms,
    StormExporterSettings,
    StormMonitor,
    register_storm_types,
)
from exporters.storms import settings_from_config as storm_settings_from_config
from supervisor_core.bus import EventBus
from supervisor_core.config.model import Config
from supervisor_core.control import SupervisorControl
from supervisor_core.events import EventTypeRegistry
from supervisor_core.extensions import DaemonView, Extension
from supervisor_core.health import (
    JOURNAL_ERRORS,
    JOURNAL_LAG_SECONDS,
    JOURNAL_PENDING_EVENTS,
    FaultCounters,
)
from supervisor_core.rpc_timings import RpcTimings

logger = logging.getLogger(__name__)


class PrometheusExtension(Extension):
    """``/metrics`` on the control plane (same auth), plus ``listen=`` without auth."""

    name = "prometheus"

    def __init__(self, settings: PrometheusSettings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.exporter: PrometheusExporter | None = None
        self.storms: ActiveStorms | None = None
        self.faults: FaultCounters | None = None
        self.notifications: NotificationCounts | None = None
        self.rpc_timings: RpcTimings | None = None

    def report_faults(self, faults: FaultCounters) -> None:
        # Shown, not added to: the log and journal failure counters (and gauges).
        self.faults = faults

    def report_rpc_timings(self, timings: RpcTimings) -> None:
        self.rpc_timings = timings

    def install(self, bus: EventBus) -> None:
        # The storm gauge follows the STORM events the storm extension publishes, the
        # notification counter the NOTIFICATION events of the notify extension.
        self.storms = ActiveStorms.install(bus)
        register_notify_types(bus.registry)
        self.notifications = NotificationCounts.install(bus)
        self.exporter = PrometheusExporter.install(
            bus=bus,
            registry=self.registry,
            storms=self.storms,
            faults=self.faults.snapshot if self.faults is not None else None,
            health_gauges=self.faults.gauges if self.faults is not None else None,
            notifications=self.notifications,
            rpc_durations=self.rpc_timings.snapshot if self.rpc_timings is not None else None,
        )

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return metrics_routes(self.registry)

    def attach(self, control: DaemonView) -> None:
        if self.exporter is not None:
            self.exporter.attach(control, log_bytes=control.output_bytes)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        if self.settings.listen is None:
            yield
            return
        async with serving_metrics(self.registry, self.settings.listen) as (host, port):
            logger.info("serving /metrics without auth on %s:%s", host, port)
            yield

    async def aclose(self) -> None:
        if self.exporter is not None:
            self.exporter.close()
            self.exporter = None
        if self.storms is not None:
            self.storms.close()
            self.storms = None
        if self.notifications is not None:
            self.notifications.close()
            self.notifications = None


class PrometheusFactory:
    """Entry point ``prometheus``."""

    name = "prometheus"

    def register_event_types(self, registry: EventTypeRegistry) -> None:
        # The storm gauge subscribes to the storm types (published by ``storms``), the
        # notification counter to the notify extension's.
        register_storm_types(registry)
        register_notify_types(registry)

    def check(self, config: Config) -> None:
        settings_from_config(config)

    def open(self, config: Config) -> Extension | None:
        return PrometheusExtension(settings_from_config(config))


class JournalExtension(Extension):
    """The SQLite journal (lossless subscriber) and ``/events`` over it."""

    name = "journal"

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.endpoint: EventsEndpoint | None = None

    def first_serial(self) -> int | None:
        # The bus continues where the journal ends, so serials never repeat across runs.
        return self.journal.next_serial()

    def report_faults(self, faults: FaultCounters) -> None:
        # The writer thread keeps its own count; read it at scrape time.
        faults.register(JOURNAL_ERRORS, lambda: self.journal.snapshot().errors)
        faults.register_gauge(JOURNAL_LAG_SECONDS, lambda: self.journal.snapshot().lag_seconds)
        faults.register_gauge(
            JOURNAL_PENDING_EVENTS, lambda: float(self.journal.snapshot().uncommitted)
        )

    def install(self, bus: EventBus) -> None:
        self.journal.attach(bus)
        self.endpoint = EventsEndpoint(self.journal, bus)

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return self.endpoint.routes() if self.endpoint is not None else ()

    def attach(self, control: SupervisorControl) -> None:
        if self.endpoint is not None:
            self.endpoint.resume()

    def detach(self) -> None:
        # Live SSE streams would otherwise hold the listeners open at a restart.
        if self.endpoint is not None:
            self.endpoint.close()

    async def aclose(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
        await self.journal.aclose()


class JournalFactory:
    """Entry point ``journal``."""

    name = "journal"

    def register_event_types(self, registry: EventTypeRegistry) -> None:
        register_journal_types(registry)

    def check(self, config: Config) -> None:
        journal_settings_from_config(config)

    def open(self, config: Config) -> Extension | None:
        settings = journal_settings_from_config(config)
        for note in settings.notes:
            logger.warning("journal: %s", note)
        if not settings.enabled:
            return None
        journal = Journal.from_settings(settings)
        if journal.reset is not None:
            logger.warning(
                "journal: %s was unusable (%s); moved it to %s and started a fresh one",
                settings.path,
                journal.reset.reason,
                journal.reset.moved_to,
            )
        logger.info("journal: %s (next serial %d)", settings.path, journal.next_serial())
        return JournalExtension(journal)


class StormExtension(Extension):
    """The restart-storm detector on the bus (STORM events) and ``/storms``."""

    name = "storms"

    def __init__(self, settings: StormExporterSettings) -> None:
        self.monitor = StormMonitor(settings)

    def install(self, bus: EventBus) -> None:
        self.monitor.install(bus)

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return self.monitor.routes()

    async def aclose(self) -> None:
        self.monitor.close()


class StormFactory:
    """Entry point ``storms``."""

    name = "storms"

    def register_event_types(self, registry: EventTypeRegistry) -> None:
        register_storm_types(registry)

    def check(self, config: Config) -> None:
        storm_settings_from_config(config)

    def open(self, config: Config) -> Extension | None:
        settings = storm_settings_from_config(config)
        if not settings.enabled:
            return None
        return StormExtension(settings)


__all__ = [
    "JournalExtension",
    "JournalFactory",
    "PrometheusExtension",
    "PrometheusFactory",
    "StormExtension",
    "StormFactory",
]
