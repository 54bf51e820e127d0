"""The XML-RPC duration recorder: fixed buckets, a bounded method label, per outcome."""

from __future__ import annotations

import pytest

from supervisor_core.rpc_timings import (
    RPC_DURATION_BUCKETS,
    UNKNOWN_METHOD,
    RpcOutcome,
    RpcTimings,
)

METHODS = ("supervisor.getState", "supervisor.startProcess", "system.multicall")


def timings() -> RpcTimings:
    recorder = RpcTimings()
    recorder.declare_methods(METHODS)
    return recorder


def test_nothing_is_exported_before_the_first_call() -> None:
    """An idle daemon has no RPC series at all (series appear with their first call)."""
    assert dict(timings().snapshot()) == {}


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (0.0, 0),
        (0.0004, 0),
        (0.0005, 0),  # a value on a bound belongs to that bound's bucket (le)
        (0.00051, 1),
        (0.3, RPC_DURATION_BUCKETS.index(0.5)),
        (60.0, len(RPC_DURATION_BUCKETS) - 1),
        (61.0, len(RPC_DURATION_BUCKETS)),  # +Inf
    ],
)
def test_a_call_lands_in_the_first_bucket_whose_bound_it_does_not_exceed(
    seconds: float, bucket: int
) -> None:
    """Each observation increments exactly one bucket: the first with bound >= seconds."""
    recorder = timings()
    recorder.observe("supervisor.getState", RpcOutcome.OK, seconds)
    histogram = recorder.snapshot()[("supervisor.getState", "ok")]
    expected = [0] * (len(RPC_DURATION_BUCKETS) + 1)
    expected[bucket] = 1
    assert list(histogram.counts) == expected
    assert (histogram.count, histogram.total) == (1, seconds)
    assert histogram.bounds == RPC_DURATION_BUCKETS


def test_a_method_outside_the_table_is_counted_as_unknown() -> None:
    """Names the method table does not have share the one ``unknown`` label value."""
    recorder = timings()
    recorder.observe("no.such.method", RpcOutcome.FAULT, 0.001)
    recorder.observe("x" * 10_000, RpcOutcome.FAULT, 0.002)
    recorder.observe(UNKNOWN_METHOD, RpcOutcome.FAULT, 0.003)
    snapshot = recorder.snapshot()
    assert set(snapshot) == {(UNKNOWN_METHOD, "fault")}
    assert snapshot[(UNKNOWN_METHOD, "fault")].count == 3
    assert snapshot[(UNKNOWN_METHOD, "fault")].total == pytest.approx(0.006)


def test_outcomes_and_methods_are_kept_apart_and_counts_only_grow() -> None:
    """Each (method, outcome) pair has its own histogram; a later snapshot keeps counting."""
    recorder = timings()
    recorder.observe("supervisor.startProcess", RpcOutcome.OK, 1.2)
    recorder.observe("supervisor.startProcess", RpcOutcome.FAULT, 0.001)
    first = recorder.snapshot()
    recorder.observe("supervisor.startProcess", RpcOutcome.OK, 1.5)
    second = recorder.snapshot()
    assert set(second) == {
        ("supervisor.startProcess", "ok"),
        ("supervisor.startProcess", "fault"),
    }
    assert first[("supervisor.startProcess", "ok")].count == 1  # a snapshot is frozen
    assert second[("supervisor.startProcess", "ok")].count == 2
    assert second[("supervisor.startProcess", "fault")].count == 1


def test_undeclared_methods_are_unknown_until_declared() -> None:
    """Before the method table is declared every name is ``unknown``; declaring adds names."""
    recorder = RpcTimings()
    recorder.observe("supervisor.getState", RpcOutcome.OK, 0.001)
    recorder.declare_methods(["supervisor.getState"])
    recorder.observe("supervisor.getState", RpcOutcome.OK, 0.001)
    assert {key: h.count for key, h in recorder.snapshot().items()} == {
        (UNKNOWN_METHOD, "ok"): 1,
        ("supervisor.getState", "ok"): 1,
    }


@pytest.mark.parametrize("bounds", [(), (1.0, 0.5), (0.5, 0.5)])
def test_buckets_must_increase_strictly(bounds: tuple[float, ...]) -> None:
    """Bucket bounds that are empty, unsorted or repeated are refused, naming them."""
    with pytest.raises(ValueError, match="must increase strictly"):
        RpcTimings(bounds)
