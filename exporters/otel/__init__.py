"""OpenTelemetry exporter: one span per run of a process, one trace per restart episode.

- ``exporters.otel.settings``: ``[exporter:otel]`` parsing (no OpenTelemetry import).
- ``exporters.otel.spans``: ``SpanBuilder``, bus events -> spans, provider injected.
- ``exporters.otel.extension``: ``OtelExtension`` (SDK provider, batch, OTLP/HTTP).
- ``exporters.otel.plugin``: ``OtelFactory``, the ``otel`` entry point superd loads.

This package's ``__init__`` imports nothing from OpenTelemetry, so the entry point
loads on a host without the ``otel`` extra. docs/otel.md describes the spans.
"""
