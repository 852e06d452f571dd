"""Difficulty levels and session lengths of Fist & Ball (the paper's easy / medium / hard).

The paper only says the level "affects the pace of the moving ball"; the catch tolerance,
dwell, grace, ball variations and score multiplier are this project's interpretation
(docs/game.md has the table and the reasoning).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Re-exported: the game core names the grade range through this module.
from ..protocol_v1 import MAX_GRADE as MAX_GRADE
from ..protocol_v1 import N_GRADES as N_GRADES

SESSION_MINUTES: tuple[int, ...] = (2, 4, 6)
"""The only session lengths the paper's game offers."""

BALL_SPEED_UNIT = "grade/s"
"""Unit of `ball_speed`: mean speed of the ball's target closure while it moves."""


@dataclass(frozen=True, slots=True)
class LevelSpec:
    """Everything a difficulty level changes.

    The ball makes one up-and-down cycle per `period_s` (each cycle's period is varied by
    +-`period_jitter` as a fraction). `tolerance` is the catch zone: the hand matches the
    ball while |grade - target_grade| <= tolerance. `dwell_s` is how long the hand must
    stay in the zone to catch; `grace_s` is how long it may leave the zone while holding
    before the ball drops. At each turning point the ball pauses with probability
    `pause_prob` for `pause_min_s`..`pause_max_s`. Each cycle's top is drawn from
    `top_min`..1 and its bottom from 0..`bottom_max` (heights 0..1 of the track), so the
    patient also has to hold partial closures.
    """

    name: str
    period_s: float
    tolerance: float
    dwell_s: float
    grace_s: float
    multiplier: float
    period_jitter: float
    pause_prob: float
    pause_min_s: float
    pause_max_s: float
    top_min: float
    bottom_max: float

    @property
    def ball_speed(self) -> float:
        """Nominal mean ball speed in grades per second while moving (full 0..8..0 cycle)."""
        return 2.0 * MAX_GRADE / self.period_s

    @property
    def cycles_per_minute(self) -> float:
        """Nominal up-and-down cycles per minute, ignoring pauses and range variation."""
        return 60.0 / self.period_s

    def as_dict(self) -> dict[str, float | str]:
        """The level's parameters for the score log."""
        return {
            "name": self.name,
            "period_s": self.period_s,
            "ball_speed": round(self.ball_speed, 4),
            "tolerance": self.tolerance,
            "dwell_s": self.dwell_s,
            "grace_s": self.grace_s,
            "multiplier": self.multiplier,
            "period_jitter": self.period_jitter,
            "pause_prob": self.pause_prob,
            "pause_min_s": self.pause_min_s,
            "pause_max_s": self.pause_max_s,
            "top_min": self.top_min,
            "bottom_max": self.bottom_max,
        }


EASY = LevelSpec(
    name="easy",
    period_s=10.0,
    tolerance=1.5,
    dwell_s=0.30,
    grace_s=0.80,
    multiplier=1.0,
    period_jitter=0.10,
    pause_prob=0.5,
    pause_min_s=0.5,
    pause_max_s=1.5,
    top_min=1.0,
    bottom_max=0.0,
)
MEDIUM = LevelSpec(
    name="medium",
    period_s=6.0,
    tolerance=0.8,
    dwell_s=0.40,
    grace_s=0.50,
    multiplier=1.1,
    period_jitter=0.15,
    pause_prob=0.35,
    pause_min_s=0.3,
    pause_max_s=1.0,
    top_min=0.75,
    bottom_max=0.15,
)
HARD = LevelSpec(
    name="hard",
    period_s=4.0,
    tolerance=0.5,
    dwell_s=0.50,
    grace_s=0.30,
    multiplier=1.25,
    period_jitter=0.20,
    pause_prob=0.25,
    pause_min_s=0.2,
    pause_max_s=0.8,
    top_min=0.6,
    bottom_max=0.25,
)

LEVELS: dict[str, LevelSpec] = {spec.name: spec for spec in (EASY, MEDIUM, HARD)}
"""Levels by name, easiest first."""

AUTO = replace(MEDIUM, name="auto")
"""The adaptive level: medium's catch zone and ball variations; the ball speed starts at
medium's and is then set by the adaptive rule (core/adaptive.py) within
`AUTO_SPEED_BOUNDS`."""

AUTO_SPEED_BOUNDS: tuple[float, float] = (1.2, 4.8)
"""Slowest and fastest nominal ball speed of the auto level, grade/s (periods 13.3 s and
3.3 s: a little beyond easy's 1.6 and hard's 4.0 on either side)."""

PLAYABLE_LEVELS: tuple[str, ...] = (*LEVELS, AUTO.name)
"""Every level a session can be started with: the fixed ones and `auto`."""

_ALIASES = {
    "simple": "easy",
    "moderate": "medium",
    "intermediate": "medium",
    "advanced": "hard",
}


def get_level(level: str | LevelSpec) -> LevelSpec:
    """Return the level spec for a name (`easy`, `medium`, `hard`, `auto`; the paper's
    `simple`, `moderate`/`intermediate`, `advanced` are accepted too) or pass a spec
    through."""
    if isinstance(level, LevelSpec):
        return level
    names = ", ".join(PLAYABLE_LEVELS)
    if not isinstance(level, str):
        raise ValueError(f"level must be one of {names}; got {level!r}")
    key = level.strip().lower()
    key = _ALIASES.get(key, key)
    if key == AUTO.name:
        return AUTO
    try:
        return LEVELS[key]
    except KeyError:
        raise ValueError(f"unknown level {level!r}: choose one of {names}") from None


def is_adaptive(spec: LevelSpec) -> bool:
    """True for the auto level, whose ball speed follows the adaptive rule."""
    return spec.name == AUTO.name


def check_minutes(minutes: object) -> int:
    """Return the session length in minutes if it is 2, 4 or 6, else raise ValueError."""
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise ValueError(f"session length must be 2, 4 or 6 minutes; got {minutes!r}")
    if minutes not in SESSION_MINUTES:
        raise ValueError(
            f"session length must be 2, 4 or 6 minutes (as in the paper's game); got {minutes!r}"
        )
    return int(minutes)
