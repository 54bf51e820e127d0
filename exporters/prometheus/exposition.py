"""Rendering a registry with client_python's encoders, reusing the lines of unchanged samples.

Rules of this file:
- The text is client_python's, byte for byte: every line is produced by the encoder
  ``choose_encoder`` picked (classic text or OpenMetrics), never formatted here. What
  is cached is the line it produced for a ``Sample`` *object*: the collector hands
  out the same objects for a process that did not change (see ``collector``), and
  a scrape formats only the new ones, in one encoder call per metric family.
- A sample is one line in both formats (label values escape their newlines). The
  cache is only used when the encoder's output for the new samples has exactly one
  line per sample in their order; a family with samples the classic format moves to
  a block of its own (``_created``, ``_gsum``, ``_gcount``) or any other surprise is
  rendered whole by the encoder, uncached.
- The cache holds the samples of the previous scrape only (and the samples
  themselves, so an ``id`` cannot be reused while it is cached).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

__all__ = ["CachingEncoder", "Encoder"]

Encoder = Callable[[Collector], bytes]
"""client_python's ``generate_latest`` (either format), as ``choose_encoder`` returns it."""

# Samples the classic text format renders in a block after the family's own lines.
_MOVED_SUFFIXES = ("_created", "_gsum", "_gcount")


class _Metrics(Collector):
    """A collector yielding the given metric families (to feed an encoder)."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = tuple(metrics)

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics)


def _split(text: str) -> tuple[str, list[str]]:
    """(header lines, sample lines) of one family's rendering (trailer removed)."""
    lines = text.splitlines(keepends=True)
    index = 0
    while index < len(lines) and lines[index].startswith("#"):
        index += 1
    return "".join(lines[:index]), lines[index:]


class CachingEncoder:
    """Renders a registry with ``encoder``, formatting only samples not seen last time.

    Example::

        encoder, content_type = choose_encoder(accept)
        body = CachingEncoder(encoder).render(registry)   # keep the instance per format
    """

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self._trailer = encoder(_Metrics(())).decode("utf-8")  # "# EOF\n" for OpenMetrics
        self._lines: dict[int, tuple[Sample, str]] = {}
        self._headers: dict[tuple[str, str, str, str], str] = {}

    def _render(self, metrics: Iterable[Metric]) -> str:
        text = self._encoder(_Metrics(metrics)).decode("utf-8")
        if self._trailer and text.endswith(self._trailer):
            text = text[: -len(self._trailer)]
        return text

    def render(self, registry: Collector) -> bytes:
        """The registry's exposition, as ``encoder(registry)`` would give it."""
        previous = self._lines
        current: dict[int, tuple[Sample, str]] = {}
        output: list[str] = []
        for metric in registry.collect():
            output.extend(self._family(metric, previous, current))
        self._lines = current
        output.append(self._trailer)
        return "".join(output).encode("utf-8")

    def _family(
        self,
        metric: Metric,
        previous: dict[int, tuple[Sample, str]],
        current: dict[int, tuple[Sample, str]],
    ) -> list[str]:
        samples = metric.samples
        if any(sample.name.endswith(_MOVED_SUFFIXES) for sample in samples):
            return [self._render((metric,))]
        lines: list[str | None] = []
        missing: list[Sample] = []
        for sample in samples:
            hit = previous.get(id(sample))
            if hit is not None and hit[0] is sample:
                lines.append(hit[1])
                current[id(sample)] = hit
            else:
                lines.append(None)
                missing.append(sample)
        header_key = (metric.name, metric.type, metric.documentation, metric.unit)
        header = self._headers.get(header_key)
        if missing or header is None:
            probe = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            probe.samples = missing
            header, fresh = _split(self._render((probe,)))
            if len(fresh) != len(missing):
                return [self._render((metric,))]  # not one line per sample: no cache
            self._headers[header_key] = header
            fresh_lines = iter(fresh)
            for index, sample in enumerate(samples):
                if lines[index] is None:
                    line = next(fresh_lines)
                    lines[index] = line
                    current[id(sample)] = (sample, line)
        return [header, *(line for line in lines if line is not None)]
