"""Play a whole session with the autopilot and the simple plant, no bridge, no bpy.

The closed loop is: view -> Autopilot.intent -> SimplePlant (lag + grade rounding) ->
Game.step -> next view, on a fixed simulated clock. The headless runner's quick mode and
the tests use it; the full path replaces SimplePlant with the simulator and a decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .autopilot import Autopilot, SimplePlant
from .game import Game
from .levels import LevelSpec
from .score_log import ScoreLog
from .view import GameView


def play_autopilot_session(
    level: str | LevelSpec,
    minutes: int,
    *,
    skill: str | float,
    seed: int = 0,
    rate_hz: float = 60.0,
    plant: SimplePlant | None = None,
    log: ScoreLog | None = None,
    on_tick: Callable[[float, GameView], None] | None = None,
) -> dict[str, Any]:
    """Play one full session on a simulated clock at `rate_hz`; return `Game.summary()`.

    If `log` is given every tick is appended and the log is closed at the end.
    `on_tick(t, view)` is called after every step (progress display, real-time pacing).
    """
    if not rate_hz > 0.0:
        raise ValueError(f"rate must be > 0 Hz; got {rate_hz}")
    game = Game(level, minutes, seed)
    pilot = Autopilot(skill, seed)
    hand = plant if plant is not None else SimplePlant()
    view = game.start(0.0)
    k = 0
    while not game.finished:
        k += 1
        t = k / rate_hz
        gesture, intent = pilot.intent(t, view)
        grade, closure = hand.step(t, intent)
        view = game.step(t, grade, closure, gesture)
        if log is not None:
            log.append(t, game.row())
        if on_tick is not None:
            on_tick(t, view)
    summary = game.summary()
    if log is not None:
        log.close(summary, completed=game.completed)
    return summary
