"""The Fist & Ball game rules: ball, catch zone, holding, scoring, session time. No bpy.

The caller steps the game with explicit times and the latest decoded hand state:

    game = Game("medium", minutes=4, seed=7)
    view = game.start(t0)
    view = game.step(t, grade, closure, gesture)   # as often as it likes, 1 Hz .. 1 kHz
    game.pause(t, "disconnected"); game.resume(t); game.stop(t)
    game.summary()  # the paper's Table-3 quantities and more

Rules (docs/game.md has the reasoning): the ball's height h (0..1) sets a target grade
8*h. The hand is in the catch zone while |grade - target| <= tolerance. Staying in the
zone for `dwell_s` catches the ball; while holding, every second in the zone scores;
leaving the zone for more than `grace_s` drops it. An up-and-down cycle in which the ball
was neither caught nor held in the zone is a miss.

Score = multiplier * (POINTS_PER_HELD_S * held seconds + CATCH_BONUS * catches).

Level `auto` changes the ball speed during the session (core/adaptive.py); its summary
carries the rule and the speed over time in `adaptive`.
"""

from __future__ import annotations

from typing import Any

from .adaptive import AdaptiveSpeed
from .ball import BallPath
from .leds import leds_lit
from .levels import (
    BALL_SPEED_UNIT,
    MAX_GRADE,
    LevelSpec,
    check_minutes,
    get_level,
    is_adaptive,
)
from .session_clock import SessionClock
from .view import GameView

POINTS_PER_HELD_S = 10.0
"""Points per second the ball is held in the catch zone (before the level multiplier)."""
CATCH_BONUS = 5.0
"""Points per catch (before the level multiplier)."""
MAX_SUBSTEP_S = 1.0 / 30.0
"""Longer gaps between steps are evaluated in pieces this long (last input held), so a
slow caller still sees the ball pass through the zone."""

_EPS = 1e-9


class Game:
    """One session of Fist & Ball, deterministic for a given seed and input sequence."""

    def __init__(
        self,
        level: str | LevelSpec,
        minutes: int,
        seed: int = 0,
        *,
        required_gesture: str | None = None,
    ) -> None:
        """`level`: easy | medium | hard (or a LevelSpec); `minutes`: 2, 4 or 6.
        `required_gesture`: if set, only samples decoded as this gesture can match the
        ball (None: any gesture, as with QG where the gesture is switched by hand)."""
        self.spec: LevelSpec = get_level(level)
        self.minutes: int = check_minutes(minutes)
        self.seed: int = int(seed)
        self.duration_s: float = 60.0 * self.minutes
        self.required_gesture = required_gesture
        self._ball = BallPath(self.spec, self.seed)
        self._adaptive = AdaptiveSpeed(self.spec.ball_speed) if is_adaptive(self.spec) else None
        self._clock = SessionClock()
        self._finished = False
        self._completed = False
        self._end_reason = ""
        # latest input
        self._grade = 0
        self._closure = 0.0
        self._gesture = "fingers"
        self._connected = True
        # state
        self._height = 0.0
        self._in_zone = False
        self._holding = False
        self._zone_s = 0.0
        self._out_s = 0.0
        self._cycle_held = False
        # tallies
        self._played = 0.0
        self._held_s = 0.0
        self._catches = 0
        self._drops = 0
        self._misses = 0
        self._travel = 0.0
        self._score = 0.0
        self._steps = 0
        self._t = 0.0

    # -- control ----------------------------------------------------------------------
    def start(self, t: float) -> GameView:
        """Start the session at caller time t."""
        if self._clock.started:
            raise RuntimeError("the game is already started")
        self._clock.start(t)
        self._t = float(t)
        self._height, _ = self._ball.advance(0.0)
        self._in_zone = self._zone_test()
        return self.view()

    def step(
        self,
        t: float,
        grade: int,
        closure: float,
        gesture: str,
        *,
        connected: bool = True,
    ) -> GameView:
        """Advance to caller time t with the hand's latest decoded state (grade 0..8,
        closure 0..1, gesture); return the view.

        The inputs are taken to hold from the previous step to t. Steps before `start`
        start the game at t; steps after the end change nothing.
        """
        try:
            g = int(grade)
            lv = float(closure)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(
                f"grade must be an integer 0..8 and closure a number; got "
                f"grade={grade!r}, closure={closure!r}"
            ) from None
        if not self._clock.started:
            self.start(t)
        self._connected = bool(connected)
        if self._finished:
            return self.view()
        self._steps += 1
        self._run(t)  # the previous input held until now
        self._grade = MAX_GRADE if g > MAX_GRADE else 0 if g < 0 else g
        self._closure = 1.0 if lv > 1.0 else 0.0 if not lv > 0.0 else lv
        self._gesture = str(gesture)
        self._in_zone = self._zone_test()
        return self.view()

    def pause(self, t: float, reason: str = "user") -> GameView:
        """Freeze play time and the ball at t (e.g. on user request or bridge loss)."""
        if self._clock.started and not self._finished:
            self._run(t)
            if not self._finished:  # the session may have ended before t: nothing to pause
                self._clock.pause(t, str(reason))
        return self.view()

    def resume(self, t: float) -> GameView:
        """Let play continue from t; the paused interval does not count."""
        if self._clock.started and not self._finished:
            self._clock.resume(t)
        return self.view()

    def stop(self, t: float, reason: str = "stopped") -> GameView:
        """End the session early at t (completed=False)."""
        if not self._clock.started:
            self._clock.start(t)
        if not self._finished:
            self._run(t)
            if not self._finished:
                self._finish(completed=False, reason=str(reason))
        return self.view()

    # -- the rules --------------------------------------------------------------------
    def _zone_test(self) -> bool:
        if self.required_gesture is not None and self._gesture != self.required_gesture:
            return False
        d = self._grade - MAX_GRADE * self._height
        return -self.spec.tolerance - _EPS <= d <= self.spec.tolerance + _EPS

    def _run(self, t: float) -> None:
        """Advance the clock to t and play the elapsed play time with the last input."""
        self._t = max(self._t, float(t))
        dt = self._clock.advance(t)
        if dt <= 0.0:
            return
        remaining = self.duration_s - self._played
        ends = dt >= remaining - _EPS
        if ends:
            dt = remaining
        while dt > _EPS:
            h = dt if dt <= MAX_SUBSTEP_S else MAX_SUBSTEP_S
            self._tick(h)
            dt -= h
        if ends:
            self._played = self.duration_s
            self._finish(completed=True, reason="completed")

    def _tick(self, h: float) -> None:
        spec = self.spec
        self._played += h
        height, cycles = self._ball.advance(self._played)
        self._travel += abs(height - self._height)
        self._height = height
        self._in_zone = inside = self._zone_test()
        if self._holding:
            if inside:
                self._out_s = 0.0
                self._cycle_held = True
                self._held_s += h
                self._score += spec.multiplier * POINTS_PER_HELD_S * h
            else:
                self._out_s += h
                if self._out_s > spec.grace_s + _EPS:
                    self._holding = False
                    self._drops += 1
                    self._zone_s = 0.0
        elif inside:
            self._zone_s += h
            if self._zone_s >= spec.dwell_s - _EPS:
                self._holding = True
                self._catches += 1
                self._score += spec.multiplier * CATCH_BONUS
                self._out_s = 0.0
                self._cycle_held = True
        else:
            self._zone_s = 0.0
        if self._adaptive is not None:
            speed = self._adaptive.update(self._played, self._held_s, h)
            if speed is not None:
                self._ball.period_s = 2.0 * MAX_GRADE / speed
        # A cycle counts as caught if the ball was caught or held in the zone during it
        # (a hold only carried over from the last cycle inside its grace does not count).
        for _ in range(cycles):
            if not self._cycle_held:
                self._misses += 1
            self._cycle_held = False

    def _finish(self, completed: bool, reason: str) -> None:
        self._finished = True
        self._completed = completed
        self._end_reason = reason
        if self._clock.paused:
            self._clock.resume(self._clock.t_last)

    # -- state ------------------------------------------------------------------------
    def view(self) -> GameView:
        """The current snapshot for the scene."""
        return GameView(
            grade=self._grade,
            closure=self._closure,
            gesture=self._gesture,
            ball_height=self._height,
            leds_lit=leds_lit(self._grade, self._connected),
            holding=self._holding,
            in_catch_zone=self._in_zone,
            score=self._score,
            time_left_s=self.duration_s - self._played,
            paused=self._clock.paused,
            connected=self._connected,
        )

    def row(self) -> dict[str, Any]:
        """The current state as a timeline row for the score log (contract 4)."""
        return {
            "t": self._t,
            "t_play": self._played,
            "ball_height": self._height,
            "target_grade": MAX_GRADE * self._height,
            "grade": self._grade,
            "level": self._closure,  # contract 4's timeline column keeps the name `level`
            "gesture": self._gesture,
            "holding": self._holding,
            "in_zone": self._in_zone,
            "score": self._score,
            "held_s": self._held_s,
            "catches": self._catches,
            "drops": self._drops,
            "misses": self._misses,
            "up_down_movements": self._ball.cycles_completed,
            "paused": self._clock.paused,
            "connected": self._connected,
            "ball_speed": self.ball_speed,
        }

    def summary(self) -> dict[str, Any]:
        """The session's results: the paper's Table 3 (mode, ball speed, up-and-down
        movements, time held, final score) plus catches, misses, drops and context."""
        played = self._played
        summary: dict[str, Any] = {
            "level": self.spec.name,
            "mode": self.spec.name,
            "minutes": self.minutes,
            "planned_s": self.duration_s,
            "duration_s": round(played, 3),
            "seed": self.seed,
            "completed": self._completed,
            "end_reason": self._end_reason or ("running" if self._clock.started else "not started"),
            "ball_speed": round(self.spec.ball_speed, 4),
            "ball_speed_unit": BALL_SPEED_UNIT,
            "ball_speed_measured": round(MAX_GRADE * self._travel / played, 4) if played else 0.0,
            "up_down_movements": self._ball.cycles_completed,
            "held_s": round(self._held_s, 3),
            "held_fraction": round(self._held_s / played, 4) if played else 0.0,
            "catches": self._catches,
            "misses": self._misses,
            "drops": self._drops,
            "score": round(self._score, 2),
            "pauses": len(self._clock.pauses),
            "paused_s": round(self._clock.paused_s, 3),
            "pause_reasons": [p.reason for p in self._clock.pauses],
            "steps": self._steps,
            "required_gesture": self.required_gesture,
            "rules": {
                **self.spec.as_dict(),
                "points_per_held_s": POINTS_PER_HELD_S,
                "catch_bonus": CATCH_BONUS,
            },
        }
        if self._adaptive is not None:
            summary["ball_speed"] = round(self._adaptive.mean_speed(played), 4)
            summary["adaptive"] = self._adaptive.as_dict(played)
        return summary

    @property
    def ball_speed(self) -> float:
        """Nominal ball speed now, grade/s (changes during an auto session)."""
        if self._adaptive is not None:
            return self._adaptive.speed
        return self.spec.ball_speed

    @property
    def started(self) -> bool:
        return self._clock.started

    @property
    def finished(self) -> bool:
        """True once the planned time is played or the session was stopped."""
        return self._finished

    @property
    def completed(self) -> bool:
        """True only if the full planned time was played."""
        return self._completed

    @property
    def paused(self) -> bool:
        return self._clock.paused

    @property
    def played_s(self) -> float:
        """Play time so far (pauses excluded)."""
        return self._played

    @property
    def time_left_s(self) -> float:
        return self.duration_s - self._played

    @property
    def ball_height(self) -> float:
        return self._height

    @property
    def target_grade(self) -> float:
        """The closure the ball asks for, 0..8 (continuous)."""
        return MAX_GRADE * self._height

    @property
    def holding(self) -> bool:
        return self._holding

    @property
    def in_zone(self) -> bool:
        return self._in_zone

    @property
    def held_s(self) -> float:
        return self._held_s

    @property
    def catches(self) -> int:
        return self._catches

    @property
    def drops(self) -> int:
        return self._drops

    @property
    def misses(self) -> int:
        return self._misses

    @property
    def up_down_movements(self) -> int:
        return self._ball.cycles_completed

    @property
    def score(self) -> float:
        return self._score
