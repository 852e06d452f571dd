"""Per-sensor |B| -> bar height 0..1 for the developer decoder view (no bpy).

The bridge's `kmg` messages carry raw magnitudes in uT. Sensors sit at very different
baselines (100 .. 1000 uT on the simulated socket) and move by a few tens of uT, so
each sensor gets its own running range. The range decays towards the current value
(time constant `decay_s`), so a band that shifts on the arm (every baseline jumps)
does not freeze the bars at one end: after a few `decay_s` they span the new range.
Dead sensors (None, NaN, inf, junk) give NaN, which the decoder view draws as empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

RING_RADIUS_MM = 40.0
"""Sensors without positions from the bridge are drawn evenly on a ring this size."""
MAX_SENSORS = 32


def _finite(value: Any) -> float | None:
    """The value as a finite float, or None (dead sensor, junk)."""
    if isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


class KmgNormalizer:
    """Running, decaying min/max per sensor; `update` maps magnitudes to 0..1."""

    def __init__(self, *, decay_s: float = 8.0, min_span_ut: float = 4.0) -> None:
        """`decay_s`: time constant with which each sensor's range shrinks towards its
        current value. `min_span_ut`: the smallest range a bar is scaled to, so
        sensor noise on a still arm does not fill the bar."""
        if not decay_s > 0.0:
            raise ValueError(f"decay_s must be > 0, got {decay_s}")
        if not min_span_ut > 0.0:
            raise ValueError(f"min_span_ut must be > 0, got {min_span_ut}")
        self.decay_s = float(decay_s)
        self.min_span = float(min_span_ut)
        self._lo: list[float | None] = []
        self._hi: list[float | None] = []
        self._t: float | None = None
        self.updates = 0

    def reset(self) -> None:
        """Forget every range (a new bridge, another band)."""
        self._lo, self._hi, self._t = [], [], None

    @property
    def ranges(self) -> list[tuple[float, float] | None]:
        """Each sensor's current (low, high) in uT, None for a sensor never seen alive."""
        return [
            None if lo is None or hi is None else (lo, hi)
            for lo, hi in zip(self._lo, self._hi, strict=True)
        ]

    def update(self, magnitudes: Sequence[Any], now: float) -> list[float]:
        """Take one sample (uT per sensor) at time `now` (s); return bar heights 0..1,
        NaN for dead sensors. A change in the number of sensors starts afresh."""
        n = min(len(magnitudes), MAX_SENSORS)
        if n != len(self._lo):
            self._lo, self._hi, self._t = [None] * n, [None] * n, None
        t = _finite(now)
        dt = 0.0 if t is None or self._t is None else max(0.0, t - self._t)
        if t is not None:
            self._t = t
        # Share of the gap to the current value each bound closes in dt.
        pull = 1.0 - math.exp(-dt / self.decay_s)
        out: list[float] = []
        for i in range(n):
            v = _finite(magnitudes[i])
            if v is None:
                out.append(math.nan)
                continue
            lo, hi = self._lo[i], self._hi[i]
            if lo is None or hi is None:
                lo = hi = v
            else:
                lo += (v - lo) * pull if v > lo else 0.0
                hi += (v - hi) * pull if v < hi else 0.0
                lo, hi = min(lo, v), max(hi, v)
            self._lo[i], self._hi[i] = lo, hi
            span = max(hi - lo, self.min_span)
            # Centre a range narrower than min_span so a quiet sensor sits mid-bar.
            base = lo - (span - (hi - lo)) / 2.0
            x = (v - base) / span
            out.append(0.0 if x < 0.0 else 1.0 if x > 1.0 else x)
        self.updates += 1
        return out


def ring_positions(n: int, radius_mm: float = RING_RADIUS_MM) -> list[tuple[float, float, float]]:
    """`n` sensors evenly around the forearm (forearm frame, mm), sensor 0 volar (+z)."""
    out = []
    for i in range(max(0, int(n))):
        a = 2.0 * math.pi * i / n
        out.append((0.0, round(radius_mm * math.sin(a), 6), round(radius_mm * math.cos(a), 6)))
    return out


def sensor_positions(hello: Mapping[str, Any] | None, n: int) -> list[tuple[float, float, float]]:
    """Where to draw `n` sensors: the bridge's `hello["positions_mm"]` (n x 3, mm, the
    simulator's forearm frame) when it is present and usable, else a 40 mm ring."""
    raw = hello.get("positions_mm") if isinstance(hello, Mapping) else None
    if isinstance(raw, list) and len(raw) == n:
        pts: list[tuple[float, float, float]] = []
        for p in raw:
            if not isinstance(p, list | tuple) or len(p) != 3:
                break
            xyz = [_finite(c) for c in p]
            if any(c is None for c in xyz):
                break
            pts.append((float(xyz[0]), float(xyz[1]), float(xyz[2])))  # type: ignore[arg-type]
        else:
            if n > 0:
                return pts
    return ring_positions(n)
