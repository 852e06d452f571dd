"""Latency percentiles of the bridge-added delay (sample decoded -> handed to a socket).

`record()` is called on the server's event loop for every message handed to a socket;
`snapshot()` is called about once a second from the pipeline's status thread. Both are
cheap: recording appends one float to a list (atomic under the GIL), and the snapshot
swaps the list out and sorts it once.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

# Cumulative histogram: log-spaced buckets from 1 us to 100 s, 100 per decade
# (2.3% resolution), so a long-running bridge keeps bounded memory.
_DECADES = 8
_PER_DECADE = 100
_MIN_S = 1e-6
_N_BUCKETS = _DECADES * _PER_DECADE + 2


def _bucket(x: float) -> int:
    if x <= _MIN_S:
        return 0
    i = int(math.log10(x / _MIN_S) * _PER_DECADE) + 1
    return min(i, _N_BUCKETS - 1)


def _bucket_upper(i: int) -> float:
    if i == 0:
        return _MIN_S
    return _MIN_S * 10 ** (i / _PER_DECADE)


def _percentile_sorted(values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    k = max(0, min(len(values) - 1, math.ceil(q / 100.0 * len(values)) - 1))
    return values[k]


@dataclass(slots=True)
class LatencyStats:
    """Percentiles in milliseconds over some set of samples (None when empty)."""

    n: int
    p50: float | None
    p99: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {"p50": r(self.p50), "p99": r(self.p99), "max": r(self.max), "n": self.n}


class LatencyTracker:
    """Collects latencies in seconds; reports per-window and whole-run percentiles in ms."""

    def __init__(self) -> None:
        self._window: list[float] = []
        self._hist = [0] * _N_BUCKETS
        self._total_n = 0
        self._total_max = 0.0
        self._lock = threading.Lock()  # guards the histogram between snapshot callers

    def record(self, seconds: float) -> None:
        """Add one latency (seconds). Called on the hot path: only an append."""
        self._window.append(seconds)

    def snapshot(self) -> LatencyStats:
        """Percentiles of everything recorded since the previous snapshot.

        Also folds the window into the whole-run histogram. An empty window gives
        n=0 and None percentiles.
        """
        window, self._window = self._window, []
        if not window:
            return LatencyStats(0, None, None, None)
        window.sort()
        stats = LatencyStats(
            len(window),
            _percentile_sorted(window, 50) * 1e3,
            _percentile_sorted(window, 99) * 1e3,
            window[-1] * 1e3,
        )
        with self._lock:
            hist = self._hist
            for x in window:
                hist[_bucket(x)] += 1
            self._total_n += len(window)
            self._total_max = max(self._total_max, window[-1])
        return stats

    def total(self) -> LatencyStats:
        """Whole-run percentiles from the histogram (bucket upper bounds, ~2% resolution)."""
        with self._lock:
            n = self._total_n
            if n == 0:
                return LatencyStats(0, None, None, None)
            hist = list(self._hist)
            mx = self._total_max

        def pct(q: float) -> float:
            rank = max(1, math.ceil(q / 100.0 * n))
            acc = 0
            for i, c in enumerate(hist):
                acc += c
                if acc >= rank:
                    return min(_bucket_upper(i), mx)
            return mx

        return LatencyStats(n, pct(50) * 1e3, pct(99) * 1e3, mx * 1e3)
