"""Latency percentiles of the bridge-added delay (sample decoded -> handed to a socket).

`record()` is called on the server's event loop for every message handed to a socket;
`snapshot()` is called about once a second from the pipeline's status thread. Both are
cheap: recording appends one double to an `array` (atomic under the GIL), and the
snapshot swaps it out, copies its bytes in one memcpy and selects the percentiles
without a full sort.

Why it matters: the snapshot holds the interpreter lock while it runs, and every grade
waiting for the server loop waits with it. Converting a 10k-float list, sorting it and
binning it cost 1.4-2.5 ms of CPU per second at 1000 Hz x 10 clients, which put a
1-3 ms stall into the bridge-added latency right after every status.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Cumulative histogram: log-spaced buckets from 1 us to 100 s, 100 per decade
# (2.3% resolution), so a long-running bridge keeps bounded memory.
_DECADES = 8
_PER_DECADE = 100
_MIN_S = 1e-6
_N_BUCKETS = _DECADES * _PER_DECADE + 2


def _bucket_upper(i: int) -> float:
    if i == 0:
        return _MIN_S
    return float(_MIN_S * 10 ** (i / _PER_DECADE))


# each bucket's upper bound in ms, as `status` shows it (4 significant digits): made
# once, not formatted again for every status
_UPPER_MS = tuple(float(f"{_bucket_upper(i) * 1e3:.4g}") for i in range(_N_BUCKETS))


def _rank(n: int, q: float) -> int:
    """0-based index of the nearest-rank q-th percentile among n sorted values."""
    return max(0, min(n - 1, math.ceil(q / 100.0 * n) - 1))


@dataclass(slots=True)
class LatencyStats:
    """Percentiles in milliseconds over some set of samples (None when empty)."""

    n: int
    p50: float | None
    p99: float | None
    max: float | None
    hist: tuple[tuple[float, int], ...] = ()
    """Whole-run only: the cumulative histogram, (bucket upper bound ms, count) for
    every non-empty bucket. Two of them, subtracted, give any span's percentiles."""

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {"p50": r(self.p50), "p99": r(self.p99), "max": r(self.max), "n": self.n}


class LatencyTracker:
    """Collects latencies in seconds; reports per-window and whole-run percentiles in ms."""

    def __init__(self) -> None:
        self._window = array("d")
        self._hist = np.zeros(_N_BUCKETS, dtype=np.int64)
        self._total_n = 0
        self._total_max = 0.0
        self._lock = threading.Lock()  # guards the histogram between snapshot callers

    def record(self, seconds: float) -> None:
        """Add one latency (seconds). Called on the hot path: only an append."""
        self._window.append(seconds)

    def snapshot(self) -> LatencyStats:
        """Percentiles of everything recorded since the previous snapshot.

        Also folds the window into the whole-run histogram. An empty window gives
        n=0 and None percentiles. Vectorised and sort-free: at 1000 Hz x 10 clients a
        window holds 10k values, and everything done here holds the interpreter lock
        that the grades being measured are waiting for.
        """
        window, self._window = self._window, array("d")
        if not window:
            return LatencyStats(0, None, None, None)
        # tobytes(), not the buffer protocol: a record() that still holds the old array
        # may append to it, which an exported buffer would refuse (BufferError)
        arr = np.frombuffer(window.tobytes(), dtype=np.float64)
        n = int(arr.size)
        k50, k99 = _rank(n, 50), _rank(n, 99)
        part = np.partition(arr, (k50, k99))
        mx = float(arr.max())
        stats = LatencyStats(n, float(part[k50]) * 1e3, float(part[k99]) * 1e3, mx * 1e3)
        idx = np.zeros(n, dtype=np.int64)
        pos = arr > _MIN_S
        idx[pos] = (np.log10(arr[pos] / _MIN_S) * _PER_DECADE).astype(np.int64) + 1
        np.minimum(idx, _N_BUCKETS - 1, out=idx)
        counts = np.bincount(idx, minlength=_N_BUCKETS)
        with self._lock:
            self._hist += counts
            self._total_n += n
            self._total_max = max(self._total_max, mx)
        return stats

    def total(self) -> LatencyStats:
        """Whole-run percentiles from the histogram (bucket upper bounds, ~2% resolution)."""
        with self._lock:
            n = self._total_n
            if n == 0:
                return LatencyStats(0, None, None, None)
            cum = np.cumsum(self._hist)
            mx = self._total_max

            filled = np.flatnonzero(self._hist)
            counts = self._hist[filled].tolist()

        def pct(q: float) -> float:
            i = int(np.searchsorted(cum, _rank(n, q) + 1))
            return min(_bucket_upper(i), mx)

        hist = tuple((_UPPER_MS[i], c) for i, c in zip(filled.tolist(), counts, strict=True))
        return LatencyStats(n, pct(50) * 1e3, pct(99) * 1e3, mx * 1e3, hist)


def span_percentiles(
    before: Iterable[Sequence[float]], after: Iterable[Sequence[float]], qs: Sequence[float]
) -> tuple[int, list[float | None]]:
    """Percentiles (ms, bucket upper bounds) of the latencies recorded between two
    `latency_ms_total.hist` readings of one bridge, and how many there were."""
    counts: dict[float, int] = {}
    for upper, count in after:
        counts[float(upper)] = counts.get(float(upper), 0) + int(count)
    for upper, count in before:
        counts[float(upper)] = counts.get(float(upper), 0) - int(count)
    uppers = sorted(u for u, c in counts.items() if c > 0)
    cum = np.cumsum([counts[u] for u in uppers]) if uppers else np.zeros(0, dtype=np.int64)
    n = int(cum[-1]) if cum.size else 0
    if n == 0:
        return 0, [None for _ in qs]
    return n, [uppers[int(np.searchsorted(cum, _rank(n, q) + 1))] for q in qs]
