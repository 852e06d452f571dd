"""The auto level: the adaptive speed rule, its bounds, determinism and its score log."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from fist_and_ball.core.adaptive import STEP, TARGET_HOLD_SHARE, WINDOW_S, AdaptiveSpeed
from fist_and_ball.core.game import Game
from fist_and_ball.core.levels import AUTO_SPEED_BOUNDS, MEDIUM, get_level
from fist_and_ball.core.quick_play import play_autopilot_session
from fist_and_ball.core.score_log import ScoreLog
from fist_and_ball.core.score_reader import read_session

LO, HI = AUTO_SPEED_BOUNDS


def feed(rule: AdaptiveSpeed, share: float, windows: int) -> list[float]:
    """Play `windows` evaluation windows at a fixed hold share; return the speeds after each."""
    speeds, played, held, dt = [], 0.0, 0.0, 0.5
    for _ in range(windows):
        for _ in range(int(rule.window_s / dt)):
            played += dt
            held += share * dt
            rule.update(played, held, dt)
        speeds.append(rule.speed)
    return speeds


def test_auto_is_a_level_starting_at_medium_speed() -> None:
    spec = get_level("auto")
    assert spec.name == "auto" and spec.ball_speed == pytest.approx(MEDIUM.ball_speed)
    assert get_level("easy").ball_speed > LO and get_level("hard").ball_speed < HI


@pytest.mark.parametrize(
    ("share", "direction"),
    [
        (TARGET_HOLD_SHARE[1] + 0.1, 1),
        (TARGET_HOLD_SHARE[0] - 0.1, -1),
        (sum(TARGET_HOLD_SHARE) / 2, 0),
    ],
)
def test_rule_moves_the_speed_toward_the_band(share: float, direction: int) -> None:
    rule = AdaptiveSpeed(MEDIUM.ball_speed)
    speeds = feed(rule, share, 1)
    expected = MEDIUM.ball_speed * STEP**direction
    assert speeds[0] == pytest.approx(expected)
    assert len(rule.track) == (1 if direction == 0 else 2)
    if direction:
        assert rule.track[-1][0] == pytest.approx(WINDOW_S)


@pytest.mark.parametrize(("share", "bound"), [(1.0, HI), (0.0, LO)])
def test_speed_never_leaves_the_bounds(share: float, bound: float) -> None:
    rule = AdaptiveSpeed(MEDIUM.ball_speed)
    speeds = feed(rule, share, 40)
    assert speeds[-1] == pytest.approx(bound)
    assert all(LO - 1e-9 <= s <= HI + 1e-9 for s in speeds)


def test_a_hand_that_never_closes_slows_the_game_to_the_lower_bound() -> None:
    game = Game("auto", 6, seed=1)
    game.start(0.0)
    t = 0.0
    while not game.finished:
        t += 0.1
        game.step(t, 0, 0.0, "fingers")
    s = game.summary()
    speeds = [p[1] for p in s["adaptive"]["speed_track"]]
    assert speeds[-1] == pytest.approx(LO) and min(speeds) >= LO - 1e-9
    assert s["ball_speed"] < MEDIUM.ball_speed  # the time-weighted mean


def test_novices_get_a_slower_ball_experts_a_faster_one() -> None:
    novice = play_autopilot_session("auto", 6, skill="novice", seed=3, rate_hz=30)
    expert = play_autopilot_session("auto", 6, skill="expert", seed=3, rate_hz=30)
    start = MEDIUM.ball_speed
    assert (
        novice["adaptive"]["speed_track"][-1][1] < start < expert["adaptive"]["speed_track"][-1][1]
    )
    # the slower ball lets the novice hold more than at the fixed medium speed
    fixed = play_autopilot_session("medium", 6, skill="novice", seed=3, rate_hz=30)
    assert novice["held_fraction"] > fixed["held_fraction"] + 0.1
    # and the ball really moved faster for the expert (measured, not nominal)
    assert expert["ball_speed_measured"] > novice["ball_speed_measured"] * 1.5


def test_auto_sessions_are_deterministic() -> None:
    a = play_autopilot_session("auto", 2, skill="average", seed=5, rate_hz=30)
    b = play_autopilot_session("auto", 2, skill="average", seed=5, rate_hz=30)
    assert a["adaptive"] == b["adaptive"] and a["score"] == b["score"]


def test_fixed_levels_have_no_adaptive_block() -> None:
    s = play_autopilot_session("hard", 2, skill="average", seed=5, rate_hz=30)
    assert "adaptive" not in s


def test_score_log_carries_the_speed_track_and_a_ball_speed_column(tmp_path: Path) -> None:
    log = ScoreLog.open(
        tmp_path, patient="P01", level="auto", minutes=4, decoder="qg", source="sim"
    )
    summary = play_autopilot_session("auto", 4, skill="expert", seed=2, rate_hz=30, log=log)
    record = read_session(log.json_path)
    assert record.status == "complete", record.problems
    written = record.summary
    assert written["level"] == "auto"
    ad = written["adaptive"]
    assert ad["target_hold_share"] == list(TARGET_HOLD_SHARE)
    assert ad["speed_bounds"] == list(AUTO_SPEED_BOUNDS) and "hold share" in ad["rule"]
    track = ad["speed_track"]
    assert track[0] == [0.0, pytest.approx(MEDIUM.ball_speed, abs=1e-4)]
    assert track[-1][0] == pytest.approx(240.0) and len(track) >= 3
    assert ad == summary["adaptive"]
    with open(tmp_path / written["timeline"], newline="") as f:
        rows = list(csv.DictReader(f))
    column = [float(r["ball_speed"]) for r in rows]
    assert column[0] == pytest.approx(MEDIUM.ball_speed, abs=1e-4)
    assert column[-1] == pytest.approx(track[-1][1], abs=1e-4)
    assert len({round(v, 4) for v in column}) == len({p[1] for p in track})
