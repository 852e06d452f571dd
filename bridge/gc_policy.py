"""The bridge's garbage-collector policy, and a meter of its pauses.

After startup the bridge holds about 50,000 tracked container objects it never
frees (numpy, websockets, the decoder and the simulator's tables, module dicts).
CPython's cyclic collector walks every tracked object on each full (generation 2)
collection, so those pauses grow with what was imported, not with what the bridge
does: milliseconds of CPU with the GIL held (far more wall time on a busy machine)
while the sample thread, the hand loop and the server all wait. `apply_gc_policy`
moves everything alive at startup into the permanent generation (`gc.freeze()`:
never scanned again), so a collection only walks what the session allocated
since; the collection thresholds are configurable. Reference counting still frees
almost everything at once; only cycles wait for the collector.

`GcPauseMeter` times every collection through `gc.callbacks` (a few microseconds
each) so the effect is measured, not assumed.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class GcPolicy:
    """What `apply_gc_policy` does; `GcPolicy.off()` leaves CPython's defaults."""

    freeze: bool = True
    thresholds: tuple[int, int, int] | None = None
    """`gc.set_threshold` values; None keeps the interpreter's (700, 10, 10). Measured
    under load (docs/benchmarks.md): a gen-0 threshold of 50,000 made collections
    rare but each one walked 50,000 young objects, 30-54 ms of CPU with the GIL held;
    at 700 a young collection takes well under a millisecond. Frozen startup objects
    are what makes full collections short, so the default stays."""

    @classmethod
    def off(cls) -> GcPolicy:
        return cls(freeze=False, thresholds=None)

    def __post_init__(self) -> None:
        if self.thresholds is not None and (
            len(self.thresholds) != 3 or any(t < 1 for t in self.thresholds)
        ):
            raise ValueError(f"gc thresholds must be three positive numbers: {self.thresholds}")


@dataclass(frozen=True, slots=True)
class GcSetup:
    """What `apply_gc_policy` found and did."""

    frozen: int
    """Objects in the permanent generation after the call (0 when not frozen)."""
    thresholds: tuple[int, int, int]


def apply_gc_policy(policy: GcPolicy) -> GcSetup:
    """Apply `policy` to this interpreter; call once, after startup imports and loads.

    Collects first so that startup garbage is freed rather than frozen forever.
    """
    if policy.freeze:
        gc.collect()
        gc.freeze()
    if policy.thresholds is not None:
        gc.set_threshold(*policy.thresholds)
    t0, t1, t2 = gc.get_threshold()
    return GcSetup(frozen=gc.get_freeze_count(), thresholds=(t0, t1, t2))


@dataclass(frozen=True, slots=True)
class GcPauses:
    """Collections seen and their pauses, in milliseconds."""

    collections: int
    full_collections: int
    """Generation-2 collections: the ones that walk everything not frozen."""
    p50_ms: float
    p99_ms: float
    max_ms: float
    total_ms: float
    max_cpu_ms: float = 0.0
    """The longest collection in CPU time of the collecting thread: a wall-clock pause
    much longer than this was the OS running something else, not the collector."""

    def describe(self) -> str:
        return (
            f"{self.collections} collections ({self.full_collections} full), pause "
            f"p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, max {self.max_ms:.2f} ms "
            f"(cpu {self.max_cpu_ms:.2f} ms), total {self.total_ms:.0f} ms"
        )


class GcPauseMeter:
    """Times every garbage collection of this interpreter while installed."""

    def __init__(
        self,
        clock: Any = time.perf_counter,
        cpu_clock: Any = time.thread_time,
        keep: int = 100_000,
    ) -> None:
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._cpu_start = 0.0
        self._max_cpu_ms = 0.0
        self._keep = keep
        self._start: float | None = None
        self._pauses_ms: list[float] = []
        self._full = 0
        self._count = 0
        self._max_ms = 0.0
        self._total_ms = 0.0
        self._lock = threading.Lock()

    def install(self) -> GcPauseMeter:
        gc.callbacks.append(self._on_gc)
        return self

    def uninstall(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        # The collector runs with the GIL held: only one collection at a time.
        if phase == "start":
            self._start = self._clock()
            self._cpu_start = self._cpu_clock()
            return
        if self._start is None:
            return
        ms = (self._clock() - self._start) * 1e3
        cpu_ms = (self._cpu_clock() - self._cpu_start) * 1e3
        self._start = None
        with self._lock:
            self._count += 1
            self._max_ms = max(self._max_ms, ms)
            self._max_cpu_ms = max(self._max_cpu_ms, cpu_ms)
            self._total_ms += ms
            if info.get("generation") == 2:
                self._full += 1
            if len(self._pauses_ms) < self._keep:  # bounded: percentiles of the first ones
                self._pauses_ms.append(ms)

    def pauses(self) -> GcPauses:
        """A summary of the collections so far."""
        with self._lock:
            pauses = sorted(self._pauses_ms)
            count, full, max_ms, total_ms = self._count, self._full, self._max_ms, self._total_ms
            max_cpu_ms = self._max_cpu_ms
        if not pauses:
            return GcPauses(count, full, 0.0, 0.0, 0.0, 0.0)

        def pct(q: float) -> float:
            return pauses[min(len(pauses) - 1, int(q * len(pauses)))]

        return GcPauses(count, full, pct(0.5), pct(0.99), max_ms, total_ms, max_cpu_ms)
