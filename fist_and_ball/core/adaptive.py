"""The auto level's rule: adjust the ball speed to keep the hold share in a target band.

Therapy games keep a patient in the zone of challenge: hard enough to work, easy enough
to succeed. Here, after every `window_s` seconds of play the share of that window in
which the ball was held is compared with the target band: above it the ball gets
faster by `step`, below it slower, inside it stays; the speed never leaves `bounds`.
A change takes effect from the ball's next up-and-down cycle (the running one is not
bent mid-way). Pure Python and deterministic: same inputs, same speeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .levels import AUTO_SPEED_BOUNDS

TARGET_HOLD_SHARE: tuple[float, float] = (0.45, 0.70)
"""Hold share (held seconds / play seconds of a window) the rule aims for."""
WINDOW_S = 20.0
"""Play seconds between two evaluations (several up-and-down cycles at any speed)."""
STEP = 1.15
"""Speed factor of one adjustment (x STEP faster, / STEP slower)."""


@dataclass(slots=True)
class AdaptiveSpeed:
    """The ball speed of an auto session and its history (`track`: [[t_play, speed], ...])."""

    speed: float
    bounds: tuple[float, float] = AUTO_SPEED_BOUNDS
    band: tuple[float, float] = TARGET_HOLD_SHARE
    window_s: float = WINDOW_S
    step: float = STEP
    track: list[list[float]] = field(default_factory=list)
    _window_t0: float = 0.0
    _window_held0: float = 0.0
    _speed_s: float = 0.0  # integral of speed over play time, for the mean

    def __post_init__(self) -> None:
        lo, hi = self.bounds
        if not 0.0 < lo <= hi:
            raise ValueError(f"speed bounds must be 0 < min <= max; got {self.bounds}")
        if not 0.0 <= self.band[0] < self.band[1] <= 1.0:
            raise ValueError(f"target band must be 0 <= lo < hi <= 1; got {self.band}")
        if not (self.window_s > 0.0 and self.step > 1.0):
            raise ValueError("window_s must be > 0 and step > 1")
        self.speed = min(max(float(self.speed), lo), hi)
        self.track = [[0.0, round(self.speed, 4)]]

    @property
    def rule(self) -> str:
        """The rule in one line (written into the score log)."""
        lo, hi = self.band
        return (
            f"every {self.window_s:g} s of play: hold share of that window above {hi:g} -> "
            f"ball speed x{self.step:g}, below {lo:g} -> /{self.step:g}, "
            f"kept within {self.bounds[0]:g}..{self.bounds[1]:g} grade/s"
        )

    def update(self, played_s: float, held_s: float, dt: float) -> float | None:
        """Account `dt` seconds of play ending at `played_s` with `held_s` held so far;
        return the new speed when the rule changed it, else None."""
        self._speed_s += self.speed * dt
        span = played_s - self._window_t0
        if span < self.window_s - 1e-9:
            return None
        share = (held_s - self._window_held0) / span
        self._window_t0, self._window_held0 = played_s, held_s
        lo, hi = self.bounds
        if share > self.band[1]:
            new = min(self.speed * self.step, hi)
        elif share < self.band[0]:
            new = max(self.speed / self.step, lo)
        else:
            return None
        if abs(new - self.speed) < 1e-12:
            return None
        self.speed = new
        self.track.append([round(played_s, 3), round(new, 4)])
        return new

    def mean_speed(self, played_s: float) -> float:
        """Time-weighted mean nominal speed over the play so far."""
        return self._speed_s / played_s if played_s > 0.0 else self.speed

    def as_dict(self, played_s: float) -> dict[str, Any]:
        """The summary's `adaptive` object: rule, band, bounds and the speed track
        (start, one point per adjustment, end)."""
        track = [list(p) for p in self.track]
        if played_s > track[-1][0]:
            track.append([round(played_s, 3), round(self.speed, 4)])
        return {
            "rule": self.rule,
            "target_hold_share": list(self.band),
            "speed_bounds": list(self.bounds),
            "window_s": self.window_s,
            "step": self.step,
            "speed_track": track,
        }
