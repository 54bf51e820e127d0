"""Prometheus exporter: bus events (+ psutil samples) -> metrics on ``/metrics``.

The pieces, one job each: ``catalogue`` (names, types, labels: the public API),
``aggregate`` (pure counters fed by bus events), ``sampling`` (psutil reads of a
process tree), ``collector`` (renders everything at scrape time), ``http`` (the
``/metrics`` route and the optional own listener), ``settings``
(``[exporter:prometheus]``). ``PrometheusExporter`` wires them to one bus and one
injected registry.

Example (what ``superd`` does)::

    registry = CollectorRegistry()
    exporter = PrometheusExporter.install(bus=bus, registry=registry)
    exporter.attach(daemon, log_bytes=daemon.output_bytes)  # each daemon generation
    app = make_app(daemon, auth=auth, extra_routes=metrics_routes(registry))
    settings = settings_from_config(config)
    if settings.listen is not None:
        async with serving_metrics(registry, settings.listen):
            ...
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, PlatformCollector
from prometheus_client.registry import Collector

from exporters.prometheus.aggregate import ProcessMetricsAggregate, ProcessStats
from exporters.prometheus.catalogue import CATALOGUE, MetricSpec
from exporters.prometheus.collector import (
    FaultSource,
    HealthGaugeSource,
    LogBytesSource,
    NotificationSource,
    ProcessSnapshots,
    RpcDurationSource,
    StormSource,
    SupervisorCollector,
)
from exporters.prometheus.daemon_process import DaemonProcessCollector
from exporters.prometheus.http import (
    METRICS_PATH,
    MetricsListenerError,
    make_metrics_app,
    metrics_handler,
    metrics_routes,
    serving_metrics,
)
from exporters.prometheus.sampling import Sampler, TreeSample, sample_tree, sample_trees
from exporters.prometheus.settings import (
    ListenAddress,
    PrometheusSettings,
    settings_from_config,
    settings_from_section,
)
from supervisor_core import __version__
from supervisor_core.bus import EventBus, Subscription

SUBSCRIBER_NAME = "prometheus"


@dataclass(slots=True, kw_only=True)
class PrometheusExporter:
    """The exporter installed on one bus and one registry; ``close()`` undoes it."""

    registry: CollectorRegistry
    aggregate: ProcessMetricsAggregate
    collector: SupervisorCollector
    subscription: Subscription
    daemon_collectors: tuple[Collector, ...] = ()

    @classmethod
    def install(
        cls,
        *,
        bus: EventBus,
        registry: CollectorRegistry,
        control: ProcessSnapshots | None = None,
        version: str = __version__,
        log_bytes: LogBytesSource | None = None,
        storms: StormSource | None = None,
        notifications: NotificationSource | None = None,
        sampler: Sampler | None = None,
        daemon_metrics: bool = True,
        faults: FaultSource | None = None,
        health_gauges: HealthGaugeSource | None = None,
        rpc_durations: RpcDurationSource | None = None,
    ) -> PrometheusExporter:
        """Subscribe to ``bus`` and register the collectors on ``registry``.

        Install it before any process starts so the counters see every event.

        Args:
            bus: the daemon's event bus.
            registry: a ``CollectorRegistry()`` the caller made (never the global one).
            control: the daemon's read-only snapshots (``groups()``); None renders
                the processes the events have named so far.
            version: the ``version`` label of ``supervisor_info``.
            log_bytes: bytes captured per ``(group, name)`` and stream, read at
                scrape time; None leaves ``supervisor_process_log_bytes_total`` out.
            storms: the ``(group, name)`` pairs in a restart storm now; None: none.
            notifications: notifications per ``(channel, outcome)``; None leaves
                ``supervisor_notifications_total`` out.
            sampler: samples one process tree (tests inject a fake); None: psutil.
            daemon_metrics: also register the ``process_*`` metrics of superd itself
                (``DaemonProcessCollector``) and client_python's ``python_info``.
            faults: the daemon's handled-failure counters (``FaultCounters.snapshot``)
                for ``supervisor_log_write_errors_total`` and
                ``supervisor_journal_errors_total``; None leaves them out.
            health_gauges: the daemon's health gauges (``FaultCounters.gauges``) for
                ``supervisor_journal_lag_seconds`` and
                ``supervisor_journal_pending_events``; None leaves them out.
            rpc_durations: XML-RPC call durations (``RpcTimings.snapshot``) for
                ``supervisor_rpc_request_duration_seconds``; None leaves it out.
        """
        aggregate = ProcessMetricsAggregate()
        collector = SupervisorCollector(
            aggregate,
            groups=control.groups if control is not None else None,
            bus=bus.snapshot,
            version=version,
            sampler=sampler,
            log_bytes=log_bytes,
            storms=storms,
            faults=faults,
            health_gauges=health_gauges,
            notifications=notifications,
            rpc_durations=rpc_durations,
        )
        registry.register(collector)
        daemon: tuple[Collector, ...] = ()
        if daemon_metrics:
            own = DaemonProcessCollector()
            registry.register(own)
            daemon = (own, PlatformCollector(registry=registry))
        subscription = bus.subscribe(
            aggregate.observe, name=SUBSCRIBER_NAME, types=ProcessMetricsAggregate.EVENT_TYPES
        )
        return cls(
            registry=registry,
            aggregate=aggregate,
            collector=collector,
            subscription=subscription,
            daemon_collectors=daemon,
        )

    def attach(
        self, control: ProcessSnapshots | None, *, log_bytes: LogBytesSource | None = None
    ) -> None:
        """Render the processes of ``control`` (and their ``log_bytes``) from now on.

        For a daemon that replaces its supervisor on restart while keeping the bus
        (``DaemonRun(on_generation=exporter.attach)``): the counters carry on. superd
        passes its generation's ``output_bytes`` as ``log_bytes`` (``exporters.plugins``);
        None leaves ``supervisor_process_log_bytes_total`` out.
        """
        self.collector.set_groups(control.groups if control is not None else None)
        self.collector.set_log_bytes(log_bytes)

    def close(self) -> None:
        """Unsubscribe from the bus and unregister every collector (idempotent)."""
        self.subscription.close()
        for collector in (self.collector, *self.daemon_collectors):
            try:
                self.registry.unregister(collector)
            except KeyError:
                continue  # already unregistered

    def routes(self) -> list[web.RouteDef]:
        """``GET /metrics`` over this exporter's registry (for ``make_app(extra_routes=)``)."""
        return metrics_routes(self.registry)


__all__ = [
    "CATALOGUE",
    "METRICS_PATH",
    "ListenAddress",
    "MetricSpec",
    "MetricsListenerError",
    "ProcessMetricsAggregate",
    "ProcessSnapshots",
    "ProcessStats",
    "PrometheusExporter",
    "PrometheusSettings",
    "Sampler",
    "SupervisorCollector",
    "TreeSample",
    "make_metrics_app",
    "metrics_handler",
    "metrics_routes",
    "sample_tree",
    "sample_trees",
    "serving_metrics",
    "settings_from_config",
    "settings_from_section",
]
