"""The ball's path along its vertical track: seeded, smooth, lazily generated.

Height 0..1 (0 = bottom = open hand, 1 = top = fist). Each up-and-down cycle is: rise
from the cycle's bottom to its top, an optional pause at the top, fall back to the next
cycle's bottom, an optional pause there. Moves are eased with a half cosine (slow at the
turning points, fastest in the middle), like a hand opening and closing. Time is play
time (pauses of the session excluded) and only goes forward.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass

from .levels import LevelSpec

LEAD_IN_S = 1.0
"""The ball rests at the bottom this long when the session starts (time to get ready)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of the path: from `h0` at `t0` to `h1` at `t1` (h0 == h1 for a pause).
    `ends_cycle` marks the fall that completes an up-and-down cycle."""

    t0: float
    t1: float
    h0: float
    h1: float
    ends_cycle: bool = False

    def height(self, t: float) -> float:
        """Height at time t inside this segment (half-cosine ease)."""
        if self.h0 == self.h1 or self.t1 <= self.t0:
            return self.h0
        u = (t - self.t0) / (self.t1 - self.t0)
        u = 0.0 if u < 0.0 else 1.0 if u > 1.0 else u
        return self.h0 + (self.h1 - self.h0) * 0.5 * (1.0 - math.cos(math.pi * u))


class BallPath:
    """The seeded path of one session's ball; same spec and seed -> same path."""

    def __init__(self, spec: LevelSpec, seed: int) -> None:
        self.spec = spec
        self.period_s = spec.period_s
        """Nominal period of the cycles generated from now on (the auto level changes it)."""
        self._rng = random.Random(f"ball:{seed}")
        self._segments: list[Segment] = []
        self._starts: list[float] = []
        self._cursor = 0
        self._t = 0.0
        self._cycles_done = 0
        self._bottom = 0.0  # the first cycle starts at the very bottom
        self._append(Segment(0.0, LEAD_IN_S, 0.0, 0.0))

    # -- generation -------------------------------------------------------------------
    def _append(self, seg: Segment) -> None:
        self._segments.append(seg)
        self._starts.append(seg.t0)

    def _pause(self, t0: float, h: float) -> float:
        """Maybe add a turning-point pause at height h; return its end time."""
        s = self.spec
        if s.pause_prob > 0.0 and self._rng.random() < s.pause_prob:
            d = self._rng.uniform(s.pause_min_s, s.pause_max_s)
            self._append(Segment(t0, t0 + d, h, h))
            return t0 + d
        return t0

    def _generate_cycle(self) -> None:
        s = self.spec
        rng = self._rng
        t = self._segments[-1].t1
        period = self.period_s * (1.0 + rng.uniform(-s.period_jitter, s.period_jitter))
        top = rng.uniform(s.top_min, 1.0) if s.top_min < 1.0 else 1.0
        next_bottom = rng.uniform(0.0, s.bottom_max) if s.bottom_max > 0.0 else 0.0
        rise = top - self._bottom
        fall = top - next_bottom
        # Split the period between rise and fall by distance, so the speed is even.
        t_up = period * rise / (rise + fall) if rise + fall > 0.0 else 0.5 * period
        self._append(Segment(t, t + t_up, self._bottom, top))
        t = self._pause(t + t_up, top)
        self._append(Segment(t, t + period - t_up, top, next_bottom, ends_cycle=True))
        t = self._pause(t + period - t_up, next_bottom)
        self._bottom = next_bottom

    def _ensure(self, t: float) -> None:
        while self._segments[-1].t1 <= t:
            self._generate_cycle()

    # -- queries ----------------------------------------------------------------------
    def height_at(self, t: float) -> float:
        """Height at any play time t >= 0 (does not move the cursor)."""
        t = max(t, 0.0)
        self._ensure(t)
        i = bisect_right(self._starts, t) - 1
        return self._segments[max(i, 0)].height(t)

    def advance(self, t: float) -> tuple[float, int]:
        """Move to play time t (never backwards); return (height, cycles completed now)."""
        if t < self._t:
            t = self._t
        self._t = t
        self._ensure(t)
        segs = self._segments
        i = self._cursor
        done = 0
        while segs[i].t1 <= t and i + 1 < len(segs):
            if segs[i].ends_cycle:
                done += 1
            i += 1
        self._cursor = i
        self._cycles_done += done
        return segs[i].height(t), done

    @property
    def cycles_completed(self) -> int:
        """Up-and-down cycles finished so far."""
        return self._cycles_done

    @property
    def time(self) -> float:
        """Play time the path has been advanced to."""
        return self._t
