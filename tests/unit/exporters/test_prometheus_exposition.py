"""CachingEncoder: byte-identical to client_python's encoders, scrape after scrape.

The collector is fed scripted histories (``test_prometheus.World``); between scrapes
some processes change and some do not, so both the reused lines of unchanged
samples and the freshly formatted ones are compared with a full encoder run.
"""

from __future__ import annotations

from functools import partial

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector

from exporters.prometheus import TreeSample
from exporters.prometheus.exposition import CachingEncoder, PartedMetric
from supervisor_core.lifecycle import ProcessState
from tests.unit.exporters.test_prometheus import World, config, process_info, run_until_running

ENCODERS = (
    generate_latest,
    partial(generate_openmetrics, escaping="underscores", version="1.0.0"),
)


def _world() -> World:
    w = World()
    w.snapshots.extra.append(
        process_info('we"ird\\name\nx', "odd group", ProcessState.FATAL, start=1.5)
    )
    return w


def test_every_scrape_equals_the_encoder_output() -> None:
    """Scrapes with no change, a state change and a new psutil sample match byte for byte."""
    w = _world()
    first = w.harness(config("web"))
    second = w.harness(config("db"))
    run_until_running(w, first)
    run_until_running(w, second)
    w.sampler.samples[first.record.pid] = TreeSample(
        cpu_user=1.0, cpu_system=0.5, rss=1000, open_fds=None, threads=2, processes=1
    )
    encoders = [CachingEncoder(encoder) for encoder in ENCODERS]
    for step in range(4):
        if step == 2:
            second.stop()
            second.exit(-15)
        if step == 3:
            w.sampler.samples[first.record.pid] = TreeSample(
                cpu_user=2.0, cpu_system=0.5, rss=2000, open_fds=7, threads=2, processes=1
            )
        for cached, encoder in zip(encoders, ENCODERS, strict=True):
            assert cached.render(w.registry) == encoder(w.registry)


def _parted(registry: CollectorRegistry) -> dict[str, PartedMetric]:
    return {m.name: m for m in registry.collect() if isinstance(m, PartedMetric)}


def test_a_quiet_fleet_gives_the_same_family_objects() -> None:
    """With no event and equal samples, a scrape's per-process families are the previous ones."""
    w = _world()
    run_until_running(w, w.harness(config("quiet")))
    first, second = _parted(w.registry), _parted(w.registry)
    assert "supervisor_process_state" in first
    assert "supervisor_process_cpu_seconds" in first
    assert all(second[name] is first[name] for name in first)


def test_only_a_changed_process_gets_new_tokens() -> None:
    """A process with an event gets new parts; a quiet one keeps the same token objects."""
    w = _world()
    quiet = w.harness(config("quiet"))
    busy = w.harness(config("busy"))
    run_until_running(w, quiet)
    run_until_running(w, busy)

    def tokens() -> dict[str, object]:
        state = _parted(w.registry)["supervisor_process_state"]
        return {getattr(token, "name"): token for token in state.tokens}  # noqa: B009

    before = tokens()
    busy.stop()
    busy.exit(-15)
    after = tokens()
    assert after["quiet"] is before["quiet"]
    assert after["busy"] is not before["busy"]


def test_a_quiet_scrape_formats_no_process_sample() -> None:
    """The second scrape of an unchanged fleet hands the encoder no per-process sample."""
    w = _world()
    run_until_running(w, w.harness(config("web")))
    formatted: list[str] = []

    def counting(registry: Collector) -> bytes:
        formatted.extend(s.name for m in registry.collect() for s in m.samples)
        return generate_latest(registry)

    cached = CachingEncoder(counting)
    first = cached.render(w.registry)
    assert any(name.startswith("supervisor_process_") for name in formatted)
    formatted.clear()
    assert cached.render(w.registry) == first
    assert not [name for name in formatted if name.startswith("supervisor_process_")]


class _Moved(Collector):
    """A counter with a ``_created`` sample, which the classic format moves to its own block."""

    def collect(self) -> list[Metric]:
        family = CounterMetricFamily("jobs", "Jobs.", labels=["kind"], created=12.0)
        family.add_metric(["a"], 3.0, created=12.0)
        return [family]


def test_families_the_classic_format_reorders_are_rendered_whole() -> None:
    """_created samples and client_python's own metrics still come out as the encoder's."""
    registry = CollectorRegistry()
    registry.register(_Moved())
    Counter("requests", "Requests.", registry=registry).inc()
    Gauge("temperature", "Temp.\nwith a newline", ["room"], registry=registry).labels(
        'k"itchen'
    ).set(3)
    for encoder in ENCODERS:
        cached = CachingEncoder(encoder)
        assert cached.render(registry) == encoder(registry)
        assert cached.render(registry) == encoder(registry)


def test_an_unchanged_family_is_the_same_segment() -> None:
    """render_segments hands out an unchanged family's text as the same bytes object."""
    w = _world()
    quiet = w.harness(config("quiet"))
    busy = w.harness(config("busy"))
    run_until_running(w, quiet)
    run_until_running(w, busy)
    for encoder in ENCODERS:
        cached = CachingEncoder(encoder)
        first = cached.render_segments(w.registry)
        second = cached.render_segments(w.registry)
        assert b"".join(second) == encoder(w.registry)
        reused = [segment for segment in second if any(segment is old for old in first)]
        assert any(b"supervisor_process_state{" in segment for segment in reused)
        w.sampler.samples[busy.record.pid] = TreeSample(
            cpu_user=3.0, cpu_system=0.5, rss=10, open_fds=1, threads=1, processes=1
        )
        third = cached.render_segments(w.registry)
        assert b"".join(third) == encoder(w.registry)
        state = [segment for segment in third if b"supervisor_process_state{" in segment]
        assert len(state) == 1
        assert any(segment is state[0] for segment in second)  # lifecycle did not change
        del w.sampler.samples[busy.record.pid]
