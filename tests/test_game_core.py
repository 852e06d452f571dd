"""Rules of the Fist & Ball core: catch, hold, drop, miss, score, time, levels, LEDs."""

from __future__ import annotations

import dataclasses
import math

import pytest

from fist_and_ball.core import game as game_mod
from fist_and_ball.core.ball import LEAD_IN_S, BallPath
from fist_and_ball.core.game import CATCH_BONUS, POINTS_PER_HELD_S, Game
from fist_and_ball.core.leds import led_bar, led_states, leds_lit
from fist_and_ball.core.levels import (
    EASY,
    HARD,
    LEVELS,
    MEDIUM,
    LevelSpec,
    check_minutes,
    get_level,
)
from fist_and_ball.core.view import N_LEDS

# A plain, predictable level: no jitter, no pauses, full 0..1 travel, 10 s cycles.
PLAIN = LevelSpec(
    name="plain",
    period_s=10.0,
    tolerance=1.0,
    dwell_s=0.5,
    grace_s=0.5,
    multiplier=2.0,
    period_jitter=0.0,
    pause_prob=0.0,
    pause_min_s=0.0,
    pause_max_s=0.0,
    top_min=1.0,
    bottom_max=0.0,
)
RATE = 100.0


def plain_height(t_play: float) -> float:
    """The PLAIN level's ball height, worked out by hand."""
    if t_play <= LEAD_IN_S:
        return 0.0
    u = ((t_play - LEAD_IN_S) % 10.0) / 5.0  # 0..2 over one cycle
    u = u if u <= 1.0 else 2.0 - u
    return 0.5 * (1.0 - math.cos(math.pi * u))


def run(game: Game, t_from: float, t_to: float, hand, rate: float = RATE) -> None:
    """Step the game from t_from (exclusive) to t_to with grade = hand(game)."""
    k0 = round(t_from * rate)
    k1 = round(t_to * rate)
    for k in range(k0 + 1, k1 + 1):
        game.step(k / rate, hand(game), 0.5, "fingers")


def tracker(game: Game) -> int:
    """A perfect hand: the grade nearest the ball's target."""
    return round(game.target_grade)


def test_ball_path_matches_the_plain_formula():
    path = BallPath(PLAIN, seed=3)
    for t in (0.0, 0.5, 1.0, 2.3, 6.0, 8.7, 11.0, 17.5, 59.9):
        h, _ = path.advance(t)
        assert h == pytest.approx(plain_height(t), abs=1e-9)
    assert path.cycles_completed == 5  # cycles end at 11, 21, 31, 41, 51 s


def test_seed_changes_the_ball_path_and_same_seed_repeats_it():
    a, b, c = BallPath(HARD, 1), BallPath(HARD, 1), BallPath(HARD, 2)
    ts = [0.25 * k for k in range(400)]
    ha = [a.height_at(t) for t in ts]
    assert ha == [b.height_at(t) for t in ts]
    assert ha != [c.height_at(t) for t in ts]
    assert all(0.0 <= h <= 1.0 for h in ha)


def test_catch_needs_dwell():
    g = Game(PLAIN, 2)
    g.start(0.0)
    run(g, 0.0, 0.45, tracker)
    assert g.in_zone and not g.holding and g.catches == 0
    run(g, 0.45, 0.55, tracker)
    assert g.holding and g.catches == 1


def test_leaving_the_zone_before_dwell_resets_it():
    g = Game(PLAIN, 2)
    g.start(0.0)
    run(g, 0.0, 0.3, tracker)  # 0.3 s in the zone (ball at the bottom: grade 0)
    run(g, 0.3, 0.4, lambda _g: 8)  # out
    run(g, 0.4, 0.8, tracker)  # 0.4 s in again: still short of 0.5 s
    assert not g.holding and g.catches == 0
    run(g, 0.8, 1.0, tracker)
    assert g.holding and g.catches == 1


def test_holding_accumulates_held_time_and_score():
    g = Game(PLAIN, 2)
    g.start(0.0)
    run(g, 0.0, 30.0, tracker)
    # Everything after the dwell is held, to within one step.
    assert g.held_s == pytest.approx(30.0 - PLAIN.dwell_s, abs=2.0 / RATE)
    assert g.catches == 1 and g.drops == 0 and g.misses == 0
    assert g.view().holding


def test_release_only_after_grace():
    g = Game(PLAIN, 2)
    g.start(0.0)
    run(g, 0.0, 0.6, tracker)
    assert g.holding
    held = g.held_s
    run(g, 0.6, 0.9, lambda _g: 8)  # 0.3 s out: within grace
    assert g.holding and g.drops == 0
    # Out of the zone earns nothing (the input holds until the next step: one step more).
    assert g.held_s == pytest.approx(held + 1.0 / RATE)
    run(g, 0.9, 1.0, tracker)
    assert g.holding and g.drops == 0
    run(g, 1.0, 1.7, lambda _g: 8)  # 0.7 s out: beyond grace
    assert not g.holding and g.drops == 1 and g.catches == 1


def test_every_cycle_without_a_hold_is_a_miss():
    g = Game(PLAIN, 2, required_gesture="fingers")
    g.start(0.0)
    for k in range(1, 120 * 20 + 1):  # the decoder says "wrist": never in the zone
        g.step(k / 20, round(g.target_grade), 0.5, "wrist")
    s = g.summary()
    assert s["up_down_movements"] == 11  # cycles end at 11, 21, ..., 111 s
    assert s["misses"] == 11 and s["catches"] == 0 and s["held_s"] == 0.0


def test_miss_counted_per_cycle_without_a_catch():
    # Track the ball only in the middle of odd cycles (1, 3, 5, ...); avoid it otherwise.
    def hand(game: Game) -> int:
        phase = (game.played_s - LEAD_IN_S) / 10.0 if game.played_s > LEAD_IN_S else 0.0
        if int(phase) % 2 == 1 and 0.2 < phase % 1.0 < 0.8:
            return tracker(game)
        return 4 if game.target_grade < 2.0 else 0

    g = Game(PLAIN, 2)
    g.start(0.0)
    run(g, 0.0, 120.0, hand)
    s = g.summary()
    assert g.finished and s["up_down_movements"] == 11
    # Cycles 0, 2, 4, 6, 8, 10 untracked -> 6 misses (the hand in them avoids the ball).
    assert s["misses"] == 6
    assert s["catches"] >= 5


def test_score_formula():
    g = Game(PLAIN, 2)
    g.start(0.0)
    run(g, 0.0, 0.6, tracker)
    run(g, 0.6, 1.5, lambda _g: 8)  # drop
    run(g, 1.5, 20.0, tracker)  # catch again and hold
    assert g.catches == 2 and g.drops == 1
    expected = PLAIN.multiplier * (POINTS_PER_HELD_S * g.held_s + CATCH_BONUS * g.catches)
    assert g.score == pytest.approx(expected)
    s = g.summary()
    assert s["score"] == pytest.approx(expected, abs=0.01)
    assert s["rules"]["points_per_held_s"] == POINTS_PER_HELD_S


def test_level_table_ordering():
    easy, medium, hard = (LEVELS[n] for n in ("easy", "medium", "hard"))
    assert list(LEVELS) == ["easy", "medium", "hard"]
    assert easy.period_s > medium.period_s > hard.period_s
    assert easy.ball_speed < medium.ball_speed < hard.ball_speed
    assert easy.tolerance > medium.tolerance > hard.tolerance
    assert easy.grace_s > medium.grace_s > hard.grace_s
    assert easy.dwell_s <= medium.dwell_s <= hard.dwell_s
    assert easy.multiplier < medium.multiplier < hard.multiplier
    assert easy.ball_speed == pytest.approx(16.0 / easy.period_s)
    # Measured: the ball really moves faster on harder levels.
    speeds = []
    for spec in (EASY, MEDIUM, HARD):
        g = Game(spec, 2, seed=5)
        g.start(0.0)
        run(g, 0.0, 120.0, lambda _g: 0, rate=30.0)
        speeds.append(g.summary()["ball_speed_measured"])
    assert speeds[0] < speeds[1] < speeds[2]


def test_level_names_and_aliases():
    assert get_level("Easy") is EASY
    assert get_level("moderate") is MEDIUM
    assert get_level("advanced") is HARD
    with pytest.raises(ValueError, match="unknown level"):
        get_level("nightmare")
    with pytest.raises(ValueError):
        Game(3, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize("minutes", [2, 4, 6])
def test_allowed_session_lengths(minutes):
    g = Game("easy", minutes)
    assert g.duration_s == 60.0 * minutes
    assert check_minutes(float(minutes)) == minutes


@pytest.mark.parametrize("minutes", [0, 1, 3, 5, 2.5, 8, -2, "4", None, True])
def test_other_session_lengths_are_rejected(minutes):
    with pytest.raises(ValueError, match="2, 4 or 6"):
        Game("easy", minutes)


def test_full_session_completes_at_the_planned_time():
    g = Game("medium", 2, seed=1)
    g.start(100.0)
    run(g, 100.0, 230.0, tracker, rate=50.0)
    s = g.summary()
    assert g.finished and g.completed and s["completed"] is True
    assert s["duration_s"] == 120.0 and g.time_left_s == 0.0
    before = g.summary()
    g.step(300.0, 4, 0.5, "fingers")  # after the end: nothing changes
    after = g.summary()
    assert before["score"] == after["score"] and before["held_s"] == after["held_s"]


def test_pause_stops_time_and_ball_and_resume_continues():
    ref = Game(HARD, 2, seed=9)
    g = Game(HARD, 2, seed=9)
    ref.start(0.0)
    g.start(0.0)
    run(ref, 0.0, 5.0, tracker)
    run(g, 0.0, 5.0, tracker)
    v = g.pause(5.0, "disconnected")
    assert v.paused and g.paused
    height, left, held, score = g.ball_height, g.time_left_s, g.held_s, g.score
    run(g, 5.0, 49.99, lambda _g: 8)  # the hand does anything; nothing moves
    g.step(50.0, tracker(g), 0.5, "fingers")  # the input that holds on from the resume
    assert g.ball_height == height and g.time_left_s == left
    assert g.held_s == held and g.score == score and g.view().paused
    g.resume(50.0)
    assert not g.paused
    # After resuming, the paused game replays the reference shifted by 45 s.
    for k in range(1, 501):
        ref.step(5.0 + k / RATE, tracker(ref), 0.5, "fingers")
        g.step(50.0 + k / RATE, tracker(g), 0.5, "fingers")
        assert g.ball_height == pytest.approx(ref.ball_height, abs=1e-9)
    assert g.played_s == pytest.approx(10.0)
    assert g.held_s == pytest.approx(ref.held_s, abs=1e-6)
    s = g.summary()
    assert s["pauses"] == 1 and s["pause_reasons"] == ["disconnected"]
    assert s["paused_s"] == pytest.approx(45.0)


def test_stop_early_is_not_completed():
    g = Game("easy", 4, seed=2)
    g.start(0.0)
    run(g, 0.0, 30.0, tracker)
    g.stop(30.0)
    s = g.summary()
    assert g.finished and not g.completed
    assert s["completed"] is False and s["end_reason"] == "stopped"
    assert s["duration_s"] == pytest.approx(30.0)
    held = g.held_s
    run(g, 30.0, 40.0, tracker)
    assert g.held_s == held


def test_stop_while_paused():
    g = Game("easy", 2)
    g.start(0.0)
    run(g, 0.0, 3.0, tracker)
    g.pause(3.0, "user")
    g.stop(20.0, "therapist stopped")
    s = g.summary()
    assert s["completed"] is False and s["end_reason"] == "therapist stopped"
    assert s["duration_s"] == pytest.approx(3.0)


def _play_recorded(seed: int) -> tuple[dict, list[dict]]:
    g = Game("medium", 2, seed=seed)
    g.start(0.0)
    rows = []
    for k in range(1, 60 * 130):
        t = k / 60.0
        grade = int(4 + 4 * math.sin(0.7 * t))  # any fixed input sequence
        g.step(t, grade, grade / 8, "fingers")
        rows.append(g.row())
        if k == 3000:
            g.pause(t, "user")
        if k == 3300:
            g.resume(t)
    return g.summary(), rows


def test_deterministic_for_inputs_and_seed():
    s1, r1 = _play_recorded(11)
    s2, r2 = _play_recorded(11)
    _, r3 = _play_recorded(12)
    assert s1 == s2 and r1 == r2
    assert r1 != r3


def test_long_gaps_between_steps_are_played_in_pieces():
    """One step per 2 s with a constant grade gives the same result as 30 Hz stepping."""
    results = []
    for rate in (30.0, 0.5):
        g = Game(PLAIN, 2)
        g.start(0.0)
        g.step(0.0, 8, 1.0, "fingers")  # the fist from the start, in both runs
        run(g, 0.0, 120.0, lambda _g: 8, rate=rate)
        results.append(g.summary())
    slow, fast = results[1], results[0]
    assert fast["catches"] == slow["catches"] == 12  # once near each top (last at 116 s)
    # Equal up to float rounding of the substep boundaries.
    assert slow["held_s"] == pytest.approx(fast["held_s"], abs=0.05)
    assert slow["up_down_movements"] == fast["up_down_movements"] == 11


def test_substep_constant_is_short_enough():
    assert PLAIN.dwell_s / 5 >= game_mod.MAX_SUBSTEP_S


def test_time_going_backwards_is_ignored():
    g = Game(PLAIN, 2)
    g.start(10.0)
    run(g, 10.0, 12.0, tracker)
    played = g.played_s
    g.step(11.0, 0, 0.0, "fingers")
    assert g.played_s == played


def test_bad_inputs_give_clear_errors_and_are_clamped():
    g = Game(PLAIN, 2)
    g.start(0.0)
    with pytest.raises(ValueError, match="grade must be an integer"):
        g.step(0.1, "x", 0.5, "fingers")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grade must be an integer"):
        g.step(0.1, float("nan"), 0.5, "fingers")  # type: ignore[arg-type]
    v = g.step(0.2, 42, 7.0, "fingers")
    assert v.grade == 8 and v.closure == 1.0 and v.leds_lit == 9
    v = g.step(0.3, -3, float("nan"), "fingers")
    assert v.grade == 0 and v.closure == 0.0 and v.leds_lit == 1


def test_step_before_start_starts_the_game():
    g = Game(PLAIN, 2)
    g.step(5.0, 0, 0.0, "fingers")
    assert g.started and g.played_s == 0.0
    g.step(5.5, 0, 0.0, "fingers")
    assert g.played_s == pytest.approx(0.5)
    with pytest.raises(RuntimeError):
        g.start(6.0)


def test_view_fields():
    g = Game(PLAIN, 2)
    v = g.start(0.0)
    assert v.ball_height == 0.0 and v.time_left_s == 120.0 and not v.paused
    run(g, 0.0, 3.0, tracker)
    v = g.step(3.01, 5, 0.6, "fingers", connected=False)
    assert v.grade == 5 and v.closure == 0.6 and v.gesture == "fingers"
    assert g.row()["level"] == 0.6  # the score log's timeline column keeps its name
    assert v.leds_lit == 0 and not v.connected  # no signal: all LEDs dark
    assert v.ball_height == pytest.approx(plain_height(3.01))
    assert v.time_left_s == pytest.approx(120.0 - 3.01)
    assert v.score == g.score


@pytest.mark.parametrize("grade", range(9))
def test_led_count_from_grade(grade):
    assert leds_lit(grade) == grade + 1
    states = led_states(grade)
    assert len(states) == N_LEDS
    assert states == tuple(i <= grade for i in range(N_LEDS))
    g = Game(PLAIN, 2)
    g.start(0.0)
    assert g.step(0.1, grade, grade / 8, "fingers").leds_lit == grade + 1


def test_led_edges():
    assert leds_lit(0, connected=False) == 0
    assert leds_lit(-1) == 1 and leds_lit(12) == 9
    assert [led_bar(i) for i in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    with pytest.raises(ValueError):
        led_bar(9)


def test_level_spec_is_frozen_and_serialisable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        EASY.period_s = 1.0  # type: ignore[misc]
    d = HARD.as_dict()
    assert d["name"] == "hard" and d["ball_speed"] == pytest.approx(HARD.ball_speed, abs=1e-4)


def test_core_imports_no_bpy():
    """The game core must run anywhere: importing it must not pull in bpy."""
    import subprocess
    import sys

    modules = [
        "levels", "ball", "game", "leds", "session_clock", "autopilot",
        "score_log", "score_reader", "quick_play", "view",
    ]  # fmt: skip
    code = (
        "import sys\n"
        + "".join(f"import fist_and_ball.core.{m}\n" for m in modules)
        + "assert 'bpy' not in sys.modules, 'bpy was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pause_after_the_planned_end_finishes_and_does_not_pause():
    """A pause requested after the last second ends the session; it must not leave a
    finished game paused nor log a pause that never happened."""
    g = Game(PLAIN, 2)
    g.start(0.0)
    run(g, 0.0, 119.0, tracker)
    v = g.pause(125.0, "user")
    assert g.finished and g.completed
    assert not g.paused and not v.paused
    s = g.summary()
    assert s["pauses"] == 0 and s["pause_reasons"] == [] and s["paused_s"] == 0.0
    assert s["duration_s"] == pytest.approx(120.0)
