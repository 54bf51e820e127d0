"""Rendering a registry with client_python's encoders, reusing the text of unchanged parts.

Rules of this file:
- The text is client_python's, byte for byte: every line is produced by the encoder
  ``choose_encoder`` picked (classic text or OpenMetrics), never formatted here.
- A ``PartedMetric`` (the collector's per-process families) comes in parts, one per
  process, each named by a *token*: the collector hands out the same token object
  while that process' samples stay the same. The encoder keeps the text of each
  token per family from the previous scrape and formats only the new tokens' samples,
  in one encoder call per family; a family whose tuple of tokens is the very same
  object as last time is reused whole. Neither side keeps ``Sample`` objects between
  scrapes: a scrape of 2,000 quiet processes builds none (they were ~100 MiB).
- A sample is one line in both formats (label values escape their newlines). The
  cache is only used when the encoder's output for the new samples has exactly one
  line per sample in their order; anything else (a sample the classic format moves
  to a block of its own: ``_created``, ``_gsum``, ``_gcount``) is rendered whole by
  the encoder, uncached. Other families (the daemon's own, other collectors') are
  rendered whole at every scrape: they are a few dozen lines.
- The cache holds the previous scrape's text of each family once, with where each
  token's lines are in it, and the tokens themselves (so an ``id`` cannot be
  reused while it is cached). ``render_segments`` hands out an unchanged family's
  text as the same ``bytes`` object, which lets ``compression`` reuse its gzip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

__all__ = ["CachingEncoder", "Encoder", "PartedMetric"]

Encoder = Callable[[Collector], bytes]
"""client_python's ``generate_latest`` (either format), as ``choose_encoder`` returns it."""

# Samples the classic text format renders in a block after the family's own lines.
_MOVED_SUFFIXES = ("_created", "_gsum", "_gcount")


class PartedMetric(Metric):
    """A metric family whose samples come in parts, one per token.

    ``build(token)`` gives a part's samples; the same token object must always give
    the same samples (the encoder reuses their text on that promise). ``samples``
    builds them all on each read, for any consumer that wants plain samples
    (``generate_latest``, tests); ``CachingEncoder`` builds only the new parts.
    """

    def __init__(
        self,
        template: Metric,
        tokens: tuple[object, ...],
        build: Callable[[object], Sequence[Sample]],
    ) -> None:
        super().__init__(template.name, template.documentation, template.type, template.unit)
        self.tokens = tokens
        self.build = build

    @property
    def samples(self) -> list[Sample]:
        """Every part's samples, in token order (built now)."""
        return [sample for token in self.tokens for sample in self.build(token)]

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        # Metric.__init__ sets an empty list; the samples are the parts'.
        if value:
            raise AttributeError("a PartedMetric's samples come from its parts")


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


@dataclass(slots=True)
class _Family:
    """What the previous scrape rendered of one parted family.

    ``text`` is the family's whole rendering (header, then every part in order);
    ``spans`` maps ``id(token)`` to the token and where its lines are in ``text``.
    """

    metric: PartedMetric
    text: bytes
    header: int  # length of the header at the start of ``text``
    spans: dict[int, tuple[object, int, int]] = field(default_factory=dict)


class CachingEncoder:
    """Renders a registry with ``encoder``, formatting only parts not seen last time.

    Example::

        encoder, content_type = choose_encoder(accept)
        body = CachingEncoder(encoder).render(registry)   # keep the instance per format
    """

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self._trailer = encoder(_Metrics(())).decode("utf-8")  # "# EOF\n" for OpenMetrics
        self._trailer_bytes = self._trailer.encode("utf-8")
        self._families: dict[str, _Family] = {}

    def _render(self, metrics: Iterable[Metric]) -> str:
        text = self._encoder(_Metrics(metrics)).decode("utf-8")
        if self._trailer and text.endswith(self._trailer):
            text = text[: -len(self._trailer)]
        return text

    def render(self, registry: Collector) -> bytes:
        """The registry's exposition, as ``encoder(registry)`` would give it."""
        return b"".join(self.render_segments(registry))

    def render_segments(self, registry: Collector) -> list[bytes]:
        """The exposition in pieces whose concatenation is ``render(registry)``.

        A parted family that did not change since the previous call is the very
        same ``bytes`` object again (``compression.GzipSegments`` relies on it).
        """
        output: list[bytes] = []
        plain: list[Metric] = []  # consecutive ordinary families, rendered in one call
        families: dict[str, _Family] = {}
        for metric in registry.collect():
            if not isinstance(metric, PartedMetric):
                plain.append(metric)
                continue
            if plain:
                output.append(self._render(plain).encode("utf-8"))
                plain = []
            output.append(self._parted(metric, families))
        if plain:
            output.append(self._render(plain).encode("utf-8"))
        self._families = families
        output.append(self._trailer_bytes)
        return output

    def _parted(self, metric: PartedMetric, families: dict[str, _Family]) -> bytes:
        before = self._families.get(metric.name)
        if before is not None and before.metric is metric:
            families[metric.name] = before  # not one process changed: the same text
            return before.text
        pieces: list[bytes | None] = []
        missing: list[tuple[int, object, list[Sample]]] = []  # (index, token, samples)
        previous = before.spans if before is not None else {}
        for token in metric.tokens:
            span = previous.get(id(token))
            if span is not None and span[0] is token:
                assert before is not None
                pieces.append(before.text[span[1] : span[2]])
            else:
                missing.append((len(pieces), token, list(metric.build(token))))
                pieces.append(None)
        if missing or before is None:
            new_samples = [sample for _, _, samples in missing for sample in samples]
            if any(sample.name.endswith(_MOVED_SUFFIXES) for sample in new_samples):
                return self._render((metric,)).encode("utf-8")  # not cached
            probe = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            probe.samples = new_samples
            header_text, lines = _split(self._render((probe,)))
            if len(lines) != len(new_samples):
                return self._render((metric,)).encode("utf-8")  # not one line per sample
            header = header_text.encode("utf-8")
            start = 0
            for index, _token, samples in missing:
                pieces[index] = "".join(lines[start : start + len(samples)]).encode("utf-8")
                start += len(samples)
        else:
            header = before.text[: before.header]
        now = _Family(metric=metric, text=b"", header=len(header))
        offset = len(header)
        for token, piece in zip(metric.tokens, pieces, strict=True):
            assert piece is not None
            now.spans[id(token)] = (token, offset, offset + len(piece))
            offset += len(piece)
        now.text = b"".join([header, *(piece for piece in pieces if piece is not None)])
        families[metric.name] = now
        return now.text
