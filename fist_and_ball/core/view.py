"""What the scene adapters draw: a plain snapshot of the game, no bpy."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol_v1 import N_GRADES

N_LEDS = N_GRADES
"""One LED per grade (core/leds.py explains why)."""


@dataclass(slots=True)
class GameView:
    """Everything the 3D scene shows for one tick.

    `ball_height` is 0..1 along the ball's vertical track (0 = bottom). `grade` 0..8
    and `closure` 0..1 are the decoded hand closure (0 open, 8 fist); `gesture` is
    `fingers`, `wrist`, `thumb` or `rest` and selects which joints move. `leds_lit`
    is how many of the nine LEDs are on. `holding` is True while the ball is held.
    """

    grade: int = 0
    closure: float = 0.0
    gesture: str = "fingers"
    ball_height: float = 0.0
    leds_lit: int = 0
    holding: bool = False
    in_catch_zone: bool = False
    score: float = 0.0
    time_left_s: float = 0.0
    paused: bool = False
    connected: bool = True
    decoder_bars: list[float] = field(default_factory=list)
    """Per-sensor |B| normalised 0..1 for the developer decoder view (may be empty)."""
