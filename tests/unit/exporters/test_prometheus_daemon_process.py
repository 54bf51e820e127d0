"""DaemonProcessCollector: the standard process_* metrics of this process, read cheaply."""

from __future__ import annotations

import os

import pytest
from prometheus_client import CollectorRegistry, ProcessCollector

from exporters.prometheus.daemon_process import DaemonProcessCollector

NAMES = (
    "process_cpu_seconds_total",
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_open_fds",
    "process_max_fds",
)


def _values(collector: object) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(collector)  # type: ignore[arg-type]
    return {sample.name: sample.value for metric in registry.collect() for sample in metric.samples}


def test_same_series_and_values_as_client_pythons_process_collector() -> None:
    """Every process_* series client_python serves is here, with the same value (fds: +-1)."""
    ours = _values(DaemonProcessCollector())
    theirs = _values(ProcessCollector(registry=None))
    assert set(ours) == set(theirs) == set(NAMES)
    assert ours["process_start_time_seconds"] == pytest.approx(
        theirs["process_start_time_seconds"], abs=0.02
    )
    # Listing /proc/self/fd counts the fd of that listing too; stat() does not.
    assert theirs["process_open_fds"] - 1 <= ours["process_open_fds"] <= theirs["process_open_fds"]
    assert ours["process_max_fds"] == theirs["process_max_fds"]
    assert ours["process_cpu_seconds_total"] == pytest.approx(
        theirs["process_cpu_seconds_total"], abs=0.05
    )
    assert ours["process_resident_memory_bytes"] == pytest.approx(
        theirs["process_resident_memory_bytes"], rel=0.05
    )
    assert ours["process_virtual_memory_bytes"] == pytest.approx(
        theirs["process_virtual_memory_bytes"], rel=0.05
    )


def test_open_fds_follow_the_process() -> None:
    """Opening 64 more fds raises process_open_fds by 64."""
    collector = DaemonProcessCollector()
    before = _values(collector)["process_open_fds"]
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(64)]
    try:
        assert _values(collector)["process_open_fds"] == before + 64
    finally:
        for fd in fds:
            os.close(fd)
