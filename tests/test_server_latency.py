"""The latency percentile tracker behind `status.latency_ms`."""

from __future__ import annotations

import math

import numpy as np

from bridge.server.latency import LatencyTracker, span_percentiles


def test_window_percentiles_are_exact_and_total_is_close() -> None:
    rng = np.random.default_rng(1)
    tracker = LatencyTracker()
    a = rng.exponential(0.0003, 5000)
    b = rng.exponential(0.0010, 3000)
    for v in a.tolist():
        tracker.record(v)
    sa = tracker.snapshot()
    for v in b.tolist():
        tracker.record(v)
    sb = tracker.snapshot()
    # nearest-rank percentiles of each window, in ms
    assert sa.n == 5000 and sb.n == 3000
    assert sa.p50 is not None and sa.p99 is not None and sb.max is not None
    assert math.isclose(sa.p50, np.sort(a)[2499] * 1e3)
    assert math.isclose(sa.p99, np.sort(a)[4949] * 1e3)
    assert math.isclose(sb.max, b.max() * 1e3)
    # whole run from the histogram: within its ~2.3% bucket resolution
    both = np.concatenate([a, b])
    total = tracker.total()
    assert total.n == 8000
    assert total.p50 is not None and total.p99 is not None and total.max is not None
    for q, got in ((50, total.p50), (99, total.p99)):
        assert got is not None
        want = np.percentile(both, q) * 1e3
        assert abs(got - want) / want < 0.05, (q, got, want)
    assert math.isclose(total.max, both.max() * 1e3)


def test_empty_window_and_tiny_values() -> None:
    tracker = LatencyTracker()
    empty = tracker.snapshot()
    assert empty.n == 0 and empty.p50 is None and tracker.total().n == 0
    for v in (0.0, 1e-9, 5e-7):
        tracker.record(v)
    s = tracker.snapshot()
    assert s.n == 3 and s.max == 5e-7 * 1e3
    assert tracker.total().p99 is not None
    assert s.to_dict() == {"p50": 0.0, "p99": 0.0005, "max": 0.0005, "n": 3}


def test_two_histogram_readings_give_the_span_between_them() -> None:
    """What a bench or monitor does with `latency_ms_total.hist`: a start-up second of
    slow grades before the first reading must not show in the span after it."""
    rng = np.random.default_rng(2)
    tracker = LatencyTracker()
    startup = rng.uniform(0.002, 0.020, 2000)  # 2-20 ms: a slow first second
    steady = rng.exponential(0.0003, 8000)
    for v in startup.tolist():
        tracker.record(v)
    tracker.snapshot()
    before = tracker.total().hist
    for v in steady.tolist():
        tracker.record(v)
    tracker.snapshot()
    after = tracker.total().hist
    n, (p50, p99) = span_percentiles(before, after, (50, 99))
    assert n == 8000
    assert p50 is not None and p99 is not None
    for q, got in ((50, p50), (99, p99)):
        want = np.percentile(steady, q) * 1e3
        assert abs(got - want) / want < 0.05, (q, got, want)
    # the whole run's p99 is the start-up's, which the span leaves out
    whole = tracker.total().p99
    assert whole is not None and whole > 5 * p99
    assert sum(c for _, c in after) == 10000
    assert span_percentiles(after, after, (99,)) == (0, [None])
