"""Serving a registry over HTTP: the ``/metrics`` route and the optional own listener.

Rules of this file:
- The registry is injected; the process-global ``prometheus_client.REGISTRY`` is
  never touched.
- Content negotiation is client_python's (``choose_encoder``): OpenMetrics when the
  scraper's ``Accept`` asks for it, the classic text format otherwise; gzip when
  ``Accept-Encoding`` allows it (``compression``: only the families that changed
  since the previous scrape are compressed again), else aiohttp's own compression
  (deflate) when that is allowed.
- Rendering runs on the event loop's thread (see ``collector``): it is a read of
  in-memory counters plus a few ``/proc`` reads per managed process, and only the
  samples that changed since the previous scrape are formatted (``exposition``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporters.prometheus.compression import GzipSegments, accepts_gzip
from exporters.prometheus.exposition import CachingEncoder
from exporters.prometheus.settings import SECTION, ListenAddress
from supervisor_core.http.limits import DEFAULT_LIMITS, ConnectionLimits, LimitedSite

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class MetricsListenerError(OSError):
    """The ``[exporter:prometheus]`` listener could not be bound; says which and why."""


def metrics_handler(registry: CollectorRegistry) -> Handler:
    """An aiohttp handler that renders ``registry`` for the scraper's ``Accept``.

    One ``CachingEncoder`` per negotiated format (content type) reuses the text of
    processes that did not change since that format's previous scrape, and one
    ``GzipSegments`` per format the gzip of families that did not change.
    """
    encoders: dict[str, tuple[CachingEncoder, GzipSegments]] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        cached = encoders.get(content_type)
        if cached is None:
            cached = encoders[content_type] = (CachingEncoder(encoder), GzipSegments())
        segments = cached[0].render_segments(registry)
        headers = {"Content-Type": content_type}
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=cached[1].compress(segments), headers=headers)
        response = web.Response(body=b"".join(segments), headers=headers)
        response.enable_compression()  # deflate when Accept-Encoding allows it
        return response

    return handle


def metrics_routes(registry: CollectorRegistry) -> list[web.RouteDef]:
    """``GET /metrics`` for ``make_app(..., extra_routes=metrics_routes(registry))``."""
    return [web.get(METRICS_PATH, metrics_handler(registry))]


def make_metrics_app(registry: CollectorRegistry) -> web.Application:
    """A web app serving only ``/metrics``, without auth (the own listener)."""
    app = web.Application()
    app.router.add_routes(metrics_routes(registry))
    return app


@contextlib.asynccontextmanager
async def serving_metrics(
    registry: CollectorRegistry, listen: ListenAddress, *, limits: ConnectionLimits = DEFAULT_LIMITS
) -> AsyncIterator[tuple[str, int]]:
    """Serve ``/metrics`` on ``listen`` while the block runs; yields the bound address.

    A port of 0 picks a free one (the yielded address has the real port). The port
    has no auth, so it gets the control plane's ``limits`` too: idle connections are
    closed and connections past the cap are answered 503.

    Raises:
        MetricsListenerError: the address cannot be bound (in use, bad host, ...).
    """
    runner = web.AppRunner(
        make_metrics_app(registry), access_log=None, keepalive_timeout=limits.idle_timeout
    )
    await runner.setup()
    try:
        site = LimitedSite(
            runner, host=listen.host, port=listen.port, max_connections=limits.max_connections
        )
        try:
            await site.start()
        except OSError as error:
            raise MetricsListenerError(
                error.errno, f"[{SECTION}] listen={listen}: cannot listen: {error.strerror}"
            ) from error
        bound = runner.addresses[0]  # (host, port, ...) as the socket reports it
        logger.info(
            "serving Prometheus metrics on http://%s:%s%s", bound[0], bound[1], METRICS_PATH
        )
        yield (str(bound[0]), int(bound[1]))
    finally:
        await runner.cleanup()
