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
from exporters.prometheus.exposition import CachingEncoder
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


def test_unchanged_processes_hand_out_the_same_sample_objects() -> None:
    """A quiet process' samples are the same objects at the next scrape; a changed one's are new."""
    w = _world()
    quiet = w.harness(config("quiet"))
    busy = w.harness(config("busy"))
    run_until_running(w, quiet)
    run_until_running(w, busy)

    def samples_of(name: str) -> list[object]:
        return [
            sample
            for metric in w.registry.collect()
            for sample in metric.samples
            if sample.labels.get("name") == name
        ]

    before_quiet, before_busy = samples_of("quiet"), samples_of("busy")
    busy.stop()
    busy.exit(-15)
    after_quiet, after_busy = samples_of("quiet"), samples_of("busy")
    assert before_quiet
    assert all(a is b for a, b in zip(before_quiet, after_quiet, strict=True))
    assert not any(a is b for a, b in zip(before_busy, after_busy, strict=False))


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
