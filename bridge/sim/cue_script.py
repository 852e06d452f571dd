"""What the virtual patient is asked to do, as a function of time (the cue).

A cue script answers `cue(t) -> (gesture index, target level)`; gesture indices follow
bridge.values.sample.GESTURES (0 = rest, 1 = fingers, 2 = wrist, 3 = thumb), levels are 0..1
(0 = fully extended/open, 1 = fully flexed/closed). The cue is what the patient was
asked at time t; the patient model adds the reaction delay and the muscle dynamics,
and the recording's `gesture` column is the cue.

- `scripted_cue_script`: the paper's recording session. For each movement, at least ten
  repetitions at a steady pace: flex (smooth ramp, ~2 s), hold (~1 s), extend (~2 s),
  settle (0.8 s at level 0, still labelled with the movement so that rest-labelled
  samples are really at rest despite the reaction delay and lag), then rest (~2 s,
  labelled `rest`). Phase lengths vary +-10% per repetition (seeded).
- `calibration_cue_script`: guided calibration per movement: rest, slow full flexion and
  a long hold, slow full extension and a long hold, three times.
- `IntentCueScript`: driven from outside with `set(t, gesture, level)` (game autopilot,
  calibration UIs); the level changes in a step and the patient's dynamics smooth it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from bridge.sim.tags import MOVEMENTS
from bridge.values.sample import GESTURES

REST = 0


def gesture_index(name: str) -> int:
    """Index of a contract-2 gesture name; ValueError naming the valid ones otherwise."""
    try:
        return GESTURES.index(name)
    except ValueError:
        raise ValueError(f"unknown gesture {name!r}; choose one of {', '.join(GESTURES)}") from None


class CueScript(ABC):
    """A cue schedule."""

    duration_s: float = math.inf
    """End of the schedule; infinite for open-ended (intent) scripts."""

    @abstractmethod
    def cue(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cued gesture index (m,) int and target level (m,) float at times `t` (m,)."""


@dataclass(frozen=True, slots=True)
class RepetitionTiming:
    """Phase lengths (s) of one repetition; `jitter` is the +- fraction drawn per phase."""

    flex_s: float = 2.0
    hold_s: float = 1.0
    extend_s: float = 2.0
    settle_s: float = 0.8
    rest_s: float = 2.0
    lead_s: float = 3.0
    block_gap_s: float = 2.0
    jitter: float = 0.1

    @property
    def labelled_s(self) -> float:
        """Mean time per repetition that carries the movement's label."""
        return self.flex_s + self.hold_s + self.extend_s + self.settle_s


CALIBRATION_TIMING = RepetitionTiming(
    flex_s=1.5, hold_s=3.0, extend_s=1.5, settle_s=3.0, rest_s=1.0, lead_s=3.0, jitter=0.0
)


class TimedCueScript(CueScript):
    """A fixed list of segments; each ramps smoothly (raised cosine) from one level to another."""

    def __init__(self, segments: list[tuple[float, float, int, float, float]], loop: bool = False):
        if not segments:
            raise ValueError("a scripted cue script needs at least one segment")
        arr = np.array(segments, dtype=np.float64)
        self.t0 = arr[:, 0]
        self.t1 = arr[:, 1]
        self.gesture = arr[:, 2].astype(np.int64)
        self.level0 = arr[:, 3]
        self.level1 = arr[:, 4]
        self.duration_s = float(self.t1[-1])
        self.loop = loop

    def cue(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, dtype=np.float64)
        tt = np.mod(t, self.duration_s) if self.loop else t
        i = np.clip(np.searchsorted(self.t0, tt, side="right") - 1, 0, len(self.t0) - 1)
        span = np.maximum(self.t1[i] - self.t0[i], 1e-9)
        frac = np.clip((tt - self.t0[i]) / span, 0.0, 1.0)
        shape = 0.5 - 0.5 * np.cos(np.pi * frac)
        level = self.level0[i] + (self.level1[i] - self.level0[i]) * shape
        gesture = self.gesture[i].copy()
        outside = (tt < 0) | (tt >= self.duration_s)
        gesture[outside] = REST
        level[outside] = 0.0
        return gesture, level

    def count(self, gesture: str) -> int:
        """Number of flexions cued for `gesture` (segments ramping up from 0)."""
        g = gesture_index(gesture)
        return int(np.sum((self.gesture == g) & (self.level1 > self.level0)))


def _build(
    gestures: tuple[str, ...],
    repetitions: int,
    timing: RepetitionTiming,
    rng: np.random.Generator,
    peak: float = 1.0,
) -> list[tuple[float, float, int, float, float]]:
    for movement in gestures:
        if movement not in MOVEMENTS:
            raise ValueError(f"unknown movement {movement!r}; choose from {', '.join(MOVEMENTS)}")
    if repetitions < 1:
        raise ValueError("repetitions must be >= 1")
    segs: list[tuple[float, float, int, float, float]] = []
    t = 0.0

    def add(length: float, g: int, l0: float, l1: float) -> None:
        nonlocal t
        jitter = 1.0 + timing.jitter * rng.uniform(-1.0, 1.0)
        d = max(length * jitter, 1e-3)
        segs.append((t, t + d, g, l0, l1))
        t += d

    add(timing.lead_s, REST, 0.0, 0.0)
    for bi, name in enumerate(gestures):
        g = gesture_index(name)
        if bi:
            add(timing.block_gap_s, REST, 0.0, 0.0)
        for _ in range(repetitions):
            add(timing.flex_s, g, 0.0, peak)
            add(timing.hold_s, g, peak, peak)
            add(timing.extend_s, g, peak, 0.0)
            add(timing.settle_s, g, 0.0, 0.0)
            add(timing.rest_s, REST, 0.0, 0.0)
    return segs


def repetitions_for(
    samples_per_gesture: int | None, repetitions: int, rate_hz: float, timing: RepetitionTiming
) -> int:
    """Repetitions needed so each movement gets at least `samples_per_gesture` labelled samples."""
    if samples_per_gesture is None:
        return repetitions
    # jitter can shorten phases by up to `jitter`: plan with the shortest repetition
    per_rep = timing.labelled_s * (1.0 - timing.jitter) * rate_hz
    return max(repetitions, math.ceil(samples_per_gesture / per_rep))


def scripted_cue_script(
    gestures: tuple[str, ...],
    repetitions: int,
    rate_hz: float,
    rng: np.random.Generator,
    samples_per_gesture: int | None = None,
    timing: RepetitionTiming | None = None,
    loop: bool = False,
) -> TimedCueScript:
    """The paper's session: `repetitions` (or enough for `samples_per_gesture`) per movement."""
    timing = timing or RepetitionTiming()
    reps = repetitions_for(samples_per_gesture, repetitions, rate_hz, timing)
    return TimedCueScript(_build(gestures, reps, timing, rng), loop=loop)


def calibration_cue_script(
    gestures: tuple[str, ...], rng: np.random.Generator, cycles: int = 3, loop: bool = False
) -> TimedCueScript:
    """Guided calibration: per movement, `cycles` x (full flexion + hold, full extension + hold)."""
    return TimedCueScript(_build(gestures, cycles, CALIBRATION_TIMING, rng), loop=loop)


class IntentCueScript(CueScript):
    """Open-ended: the cue is whatever `set` last said (a step), starting at rest."""

    def __init__(self) -> None:
        self._t: list[float] = []
        self._g: list[int] = []
        self._level: list[float] = []

    def set(self, t: float, gesture: str, level: float) -> None:
        """From time `t` on, cue `gesture` at `level` (clipped to 0..1; rest forces 0)."""
        g = gesture_index(gesture)
        lv = float(level)
        if not math.isfinite(lv):
            raise ValueError(f"intent level must be a finite number, got {level!r}")
        lv = 0.0 if g == REST else min(max(lv, 0.0), 1.0)
        # a later call for an earlier time replaces what followed (keeps times sorted)
        while self._t and self._t[-1] > t:
            self._t.pop()
            self._g.pop()
            self._level.pop()
        self._t.append(float(t))
        self._g.append(g)
        self._level.append(lv)

    def prune(self, before_t: float) -> None:
        """Forget events superseded before `before_t` (keeps the one in force then)."""
        k = int(np.searchsorted(np.asarray(self._t), before_t, side="right")) - 1
        if k > 0:
            del self._t[:k], self._g[:k], self._level[:k]

    def cue(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, dtype=np.float64)
        if not self._t:
            return np.zeros(t.shape, np.int64), np.zeros(t.shape)
        i = np.searchsorted(np.asarray(self._t), t, side="right") - 1
        g = np.asarray(self._g, dtype=np.int64)[np.clip(i, 0, None)]
        lv = np.asarray(self._level)[np.clip(i, 0, None)]
        before = i < 0
        g[before] = REST
        lv[before] = 0.0
        return g, lv
