"""A virtual patient that plays Fist & Ball: a policy from what it sees to what it intends.

`Autopilot.intent(t, view)` returns the gesture and hand closure (0..1) the virtual
patient is trying to make. It knows nothing of the bridge or Blender: the caller feeds
the intent into the simulator (`Simulator.set_intent`) so the grade comes back through
the real chain (magnets -> sensors -> decoder), or, for quick runs and tests, through
`SimplePlant`, a first-order lag plus quantisation to grades.

Skill (0..1, or `novice` / `average` / `expert`) sets how a human-like player differs
from a perfect one: reaction delay (it sees the ball late), prediction (how much of its
own lag it compensates by extrapolating the ball), aim noise (slow wander of the
closure it aims at), lapses (moments of lost attention when the hand freezes) and reach
(the strongest closure it can make).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, replace

from .levels import MAX_GRADE
from .view import GameView

SKILLS: dict[str, float] = {"novice": 0.15, "average": 0.5, "expert": 0.9}
"""Named skills and their value on the 0..1 scale."""


@dataclass(frozen=True, slots=True)
class SkillProfile:
    """The behaviour behind one skill value (all derived from `skill`)."""

    skill: float
    reaction_s: float
    """Visual-motor delay: the ball is seen as it was this long ago."""
    prediction: float
    """Fraction of the total lag (reaction + hand) compensated by extrapolating the ball."""
    aim_noise: float
    """Standard deviation of the aim error, in closure units (1 = open to fist)."""
    noise_tau_s: float
    """Correlation time of the aim error (a slow wander, not jitter)."""
    lapse_rate_hz: float
    """Mean lapses of attention per second."""
    lapse_min_s: float
    lapse_max_s: float
    reach: float
    """Strongest closure the player can make (1 = full fist)."""

    @staticmethod
    def from_skill(skill: float) -> SkillProfile:
        """Interpolate a profile between a struggling beginner (0) and a perfect player (1)."""
        s = min(max(float(skill), 0.0), 1.0)
        return SkillProfile(
            skill=s,
            reaction_s=0.45 - 0.30 * s,
            prediction=s,
            aim_noise=0.03 + 0.07 * (1.0 - s),
            noise_tau_s=0.6,
            lapse_rate_hz=0.08 * (1.0 - s),
            lapse_min_s=0.5,
            lapse_max_s=0.5 + 2.0 * (1.0 - s),
            reach=0.80 + 0.20 * s,
        )


def resolve_skill(skill: str | float) -> float:
    """Turn `novice` / `average` / `expert` or a number 0..1 into a skill value."""
    if isinstance(skill, str):
        key = skill.strip().lower()
        if key in SKILLS:
            return SKILLS[key]
        try:
            value = float(key)
        except ValueError:
            raise ValueError(
                f"unknown skill {skill!r}: use {', '.join(SKILLS)} or a number 0..1"
            ) from None
    elif isinstance(skill, bool) or not isinstance(skill, int | float):
        raise ValueError(f"skill must be {', '.join(SKILLS)} or a number 0..1; got {skill!r}")
    else:
        value = float(skill)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"skill must be between 0 and 1; got {value}")
    return value


class Autopilot:
    """A seeded virtual patient that watches the ball and tries to catch and keep it."""

    def __init__(
        self,
        skill: str | float,
        seed: int = 0,
        *,
        gesture: str = "fingers",
        hand_lag_s: float = 0.15,
        reaction_s: float | None = None,
    ) -> None:
        """`hand_lag_s` is the player's idea of how slowly the hand follows its intent
        (what prediction compensates); it matches `SimplePlant`'s default.
        `reaction_s` overrides the skill's reaction delay, e.g. 0 when the intent drives
        the simulator, whose virtual patient already adds its own reaction delay."""
        profile = SkillProfile.from_skill(resolve_skill(skill))
        if reaction_s is not None:
            if not 0.0 <= reaction_s <= 2.0:
                raise ValueError(f"reaction delay must be 0..2 s; got {reaction_s}")
            profile = replace(profile, reaction_s=float(reaction_s))
        self.profile = profile
        self.gesture = gesture
        self.hand_lag_s = hand_lag_s
        self._rng = random.Random(f"autopilot:{seed}")
        # Observations (time, height); entries before index _lo are forgotten.
        self._ts: list[float] = []
        self._hs: list[float] = []
        self._lo = 0
        self._t_last: float | None = None
        self._noise = 0.0
        self._lapse_until = -math.inf
        self._intent = 0.0

    def _perceived(self, t: float) -> float:
        """Ball height as seen at time t (linear between observations, clamped at ends)."""
        ts, hs, lo = self._ts, self._hs, self._lo
        i = bisect_right(ts, t, lo) - 1
        if i < lo:
            return hs[lo]
        if i + 1 == len(ts):
            return hs[i]
        t0, t1 = ts[i], ts[i + 1]
        return hs[i] + (hs[i + 1] - hs[i]) * (t - t0) / (t1 - t0)

    def _remember(self, t: float, h: float, keep_from: float) -> None:
        """Store an observation; forget those older than `keep_from` (but one)."""
        ts, hs = self._ts, self._hs
        if not ts or t > ts[-1]:
            ts.append(t)
            hs.append(h)
        lo = self._lo
        while lo + 2 < len(ts) and ts[lo + 1] < keep_from:
            lo += 1
        if lo > 256 and lo > len(ts) // 2:  # compact now and then, not every call
            del ts[:lo], hs[:lo]
            lo = 0
        self._lo = lo

    def intent(self, t: float, view_or_height: GameView | float) -> tuple[str, float]:
        """The gesture and closure 0..1 the player intends at time t, given what it
        sees now (a GameView or just the ball height 0..1)."""
        h = (
            view_or_height.ball_height
            if isinstance(view_or_height, GameView)
            else float(view_or_height)
        )
        p = self.profile
        dt = 0.0 if self._t_last is None or t <= self._t_last else t - self._t_last
        self._t_last = t if self._t_last is None else max(t, self._t_last)
        # Keep just enough history for the delayed view and the velocity estimate.
        self._remember(t, h, keep_from=t - p.reaction_s - 0.3)

        # Slowly wandering aim error (Ornstein-Uhlenbeck), advanced by the real dt.
        if dt > 0.0:
            a = math.exp(-dt / p.noise_tau_s)
            self._noise = a * self._noise + p.aim_noise * math.sqrt(1.0 - a * a) * (
                self._rng.gauss(0.0, 1.0)
            )
            # Lapses of attention start at random (Poisson) and freeze the hand.
            if t >= self._lapse_until and self._rng.random() < 1.0 - math.exp(
                -p.lapse_rate_hz * dt
            ):
                self._lapse_until = t + self._rng.uniform(p.lapse_min_s, p.lapse_max_s)
        if t < self._lapse_until:
            return self.gesture, self._intent

        t_seen = t - p.reaction_s
        seen_now = self._perceived(t_seen)
        window = 0.15
        velocity = (seen_now - self._perceived(t_seen - window)) / window
        lead = p.prediction * (p.reaction_s + self.hand_lag_s)
        aim = seen_now + velocity * lead + self._noise
        aim = min(max(aim, 0.0), p.reach)
        self._intent = aim
        return self.gesture, aim


class SimplePlant:
    """A stand-in for the whole hand + sensor + decoder chain: the hand closure follows
    the intent through a first-order lag, and the grade is the closure rounded to 0..8."""

    def __init__(self, tau_s: float = 0.15) -> None:
        if not tau_s > 0.0:
            raise ValueError(f"the plant's time constant must be > 0 s; got {tau_s}")
        self.tau_s = float(tau_s)
        self._t: float | None = None
        self.closure = 0.0

    def step(self, t: float, intent_closure: float) -> tuple[int, float]:
        """Advance to time t towards `intent_closure` (0..1); return (grade, closure)."""
        target = min(max(float(intent_closure), 0.0), 1.0)
        if self._t is not None and t > self._t:
            lag = 1.0 - math.exp(-(t - self._t) / self.tau_s)
            self.closure += (target - self.closure) * lag
        if self._t is None or t > self._t:
            self._t = t
        return round(MAX_GRADE * self.closure), self.closure
