"""Control metrics (fist_and_ball/report/metrics.py) against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fist_and_ball.core.quick_play import play_autopilot_session
from fist_and_ball.core.score_log import TIMELINE_COLUMNS, ScoreLog
from fist_and_ball.core.score_reader import read_session, read_timeline
from fist_and_ball.report.metrics import (
    MetricsError,
    arrays_from_timeline,
    compute_metrics,
    find_trials,
    segment_moves,
)

# A hand-made timeline at 10 Hz. Columns: t_play, target_grade, grade, in_zone, holding.
# One paused row (marked P) sits between rows 11 and 12 with a wild grade: it must be
# ignored. Row numbers below are those without the paused row.
#
#  row  t    target grade zone hold   note
ROWS: list[tuple[float, int, int, int, int] | str] = [
    (0.0, 0, 2, 0, 0),  # 0   lead-in, hand too closed (error +2)
    (0.1, 0, 2, 0, 0),  # 1
    (0.2, 0, 2, 0, 0),  # 2   rise 1 leaves here
    (0.3, 1, 3, 0, 0),  # 3
    (0.4, 2, 3, 1, 0),  # 4   first in zone: time to zone 0.4 s
    (0.5, 3, 3, 1, 0),  # 5
    (0.6, 4, 4, 1, 1),  # 6   catch: time to catch 0.6 s
    (0.7, 5, 6, 1, 1),  # 7   rise 1 reaches 5 (reference grade 5)
    (0.8, 5, 7, 0, 1),  # 8   peak 7: overshoot 2 grades
    (0.9, 5, 5, 1, 1),  # 9   fall 1 leaves here
    (1.0, 4, 4, 1, 1),  # 10
    (1.1, 3, 3, 1, 1),  # 11
    "P",
    (1.2, 2, 2, 1, 1),  # 12
    (1.3, 1, 1, 1, 1),  # 13  fall 1 ends at 1: cycle 1 ends; grade never below 1
    (1.4, 1, 1, 1, 0),  # 14  drop
    (1.5, 1, 1, 1, 0),  # 15  rise 2 leaves here
    (1.6, 3, 2, 1, 0),  # 16
    (1.7, 5, 4, 1, 1),  # 17  re-catch: 0.3 s after the drop
    (1.8, 8, 7, 1, 1),  # 18  rise 2 reaches 8 (end of range: censored)
    (1.9, 8, 8, 1, 1),  # 19  fall 2 leaves here
    (2.0, 4, 5, 1, 1),  # 20
    (2.1, 0, 1, 1, 1),  # 21  fall 2 ends at 0 (censored): cycle 2 ends
    (2.2, 0, 0, 1, 1),  # 22  (cycle 3 has just begun, carried, no catch: not counted)
]


def write_hand_timeline(path: Path) -> Path:
    lines = [",".join(TIMELINE_COLUMNS)]
    for row in ROWS:
        cells: dict[str, float]
        if isinstance(row, str):  # the paused row
            cells = dict(t=1.15, t_play=1.1, target_grade=3, grade=8, in_zone=0, holding=1)
            paused = 1
        else:
            tp, target, grade, zone, hold = row
            cells = dict(t=tp, t_play=tp, target_grade=target, grade=grade, in_zone=zone)
            cells["holding"] = hold
            paused = 0
        values = {
            **cells,
            "ball_height": cells["target_grade"] / 8,
            "level": cells["grade"] / 8,
            "gesture": "fingers",
            "score": 0,
            "held_s": 0,
            "catches": 0,
            "drops": 0,
            "misses": 0,
            "up_down_movements": 0,
            "paused": paused,
            "connected": 1,
            "ball_speed": 2.67,
        }
        lines.append(",".join(str(values[c]) for c in TIMELINE_COLUMNS))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def hand(tmp_path):
    return read_timeline(write_hand_timeline(tmp_path / "hand_timeline.csv"))


def test_moves_and_trials_of_the_hand_timeline(hand):
    a = arrays_from_timeline(hand)
    assert len(a) == 23  # the paused row is gone
    moves = segment_moves(a.target)
    assert [(m.i0, m.i1, m.direction) for m in moves] == [
        (2, 7, 1),
        (9, 13, -1),
        (15, 18, 1),
        (19, 21, -1),
    ]
    trials = find_trials(a, moves)
    assert [(t.b0, t.b1, t.complete, t.carried) for t in trials] == [
        (0, 13, True, False),
        (13, 21, True, True),
        (21, 22, False, True),
    ]


def test_metrics_match_hand_computed_values(hand):
    m = compute_metrics(hand)
    assert m.play_s == pytest.approx(2.3)  # 23 rows x 0.1 s (last row: the median step)
    # Trials: cycle 1 caught, cycle 2 carried, cycle 3 unfinished and not caught.
    assert (m.trials, m.trials_carried, m.trials_caught, m.trials_missed) == (2, 1, 1, 0)
    assert m.time_to_zone_median_s == pytest.approx(0.4)
    assert m.time_to_catch_median_s == pytest.approx(0.6)
    assert m.time_to_catch_mean_s == pytest.approx(0.6)
    assert m.recatch_median_s == pytest.approx(0.3) and m.recatches == 1
    # Hold: 14 rows; errors 0,1,2,0,0,0,0,0 | -1,-1,0,1,1,0 -> mean 3/14,
    # variance 9/14 - (3/14)^2 = 117/196.
    assert m.hold_s == pytest.approx(1.4)
    assert m.hold_bias == pytest.approx(3 / 14)
    assert m.hold_sd == pytest.approx(math.sqrt(117 / 196))
    # Overshoot: rise 1 -> 2 grades, fall 1 -> 0; rise 2 / fall 2 end at 8 / 0: censored.
    assert m.overshoot_moves == 2
    assert m.overshoot_mean == pytest.approx(1.0) and m.overshoot_max == pytest.approx(2.0)
    # Tracking error over all 23 rows: squares sum 27, |e| sum 17, e sum 11.
    assert m.rms_error == pytest.approx(math.sqrt(27 / 23))
    assert m.mae == pytest.approx(17 / 23)
    assert m.bias == pytest.approx(11 / 23)
    # Path efficiency: net 3+4+7+8 over travelled 7+4+7+8.
    assert m.path_efficiency == pytest.approx(22 / 26) and m.path_moves == 4
    assert m.in_zone_fraction == pytest.approx(18 / 23)
    assert m.tracking_lag_s is None  # under 10 s of play
    assert m.grade_seconds == pytest.approx([0.1, 0.4, 0.5, 0.4, 0.3, 0.2, 0.1, 0.2, 0.1])


def test_no_catch_and_no_hold_are_undefined_not_zero(tmp_path):
    # The hand stays open while the ball makes one full cycle 0 -> 6 -> 2, then rests.
    targets = [0, 0, 2, 4, 6, 6, 4, 2, 2, 2]
    lines = ["t,t_play,target_grade,grade,in_zone,holding,paused,connected"]
    for k, tg in enumerate(targets):
        zone = int(abs(tg) <= 1)
        lines.append(f"{k * 0.1:.1f},{k * 0.1:.1f},{tg},0,{zone},0,0,1")
    path = tmp_path / "open_timeline.csv"
    path.write_text("\n".join(lines) + "\n")
    m = compute_metrics(read_timeline(path))
    assert (m.trials, m.trials_caught, m.trials_missed) == (1, 0, 1)
    assert m.time_to_catch_median_s is None and m.time_to_catch_mean_s is None
    assert m.time_to_zone_median_s == pytest.approx(0.0)
    assert m.hold_sd is None and m.hold_bias is None and m.hold_s == 0.0
    assert m.recatch_median_s is None and m.recatches == 0
    # Rise to 6 never reached (grade 0): overshoot 0; fall to 2 never approached from
    # above: left out. No move ends in the zone with any grade change.
    assert m.overshoot_moves == 1 and m.overshoot_mean == 0.0
    assert m.path_efficiency is None and m.path_moves == 0


def test_timeline_without_play_time_uses_t_minus_pauses(tmp_path):
    # A GameView-style log (no t_play, no counters): t runs on during the pause.
    lines = ["t,target_grade,grade,holding,in_zone,paused,connected"]
    rows = [(0.0, 0), (0.5, 0), (1.0, 1), (5.0, 1), (9.0, 1), (9.5, 0), (10.0, 0)]
    for t, paused in rows:
        lines.append(f"{t},2,3,1,1,{paused},1")
    path = tmp_path / "view_timeline.csv"
    path.write_text("\n".join(lines) + "\n")
    m = compute_metrics(read_timeline(path))
    # Played rows: 0.0, 0.5, 9.5, 10.0 -> play times 0, 0.5, 1.0, 1.5 (+ last step 0.5).
    assert m.play_s == pytest.approx(2.0)
    assert m.rms_error == pytest.approx(1.0) and m.hold_sd == pytest.approx(0.0)


def test_unusable_timelines_raise_a_clear_error(tmp_path):
    empty = tmp_path / "empty_timeline.csv"
    empty.write_text(",".join(TIMELINE_COLUMNS) + "\n")
    with pytest.raises(MetricsError, match="no rows"):
        compute_metrics(read_timeline(empty))
    foreign = tmp_path / "foreign_timeline.csv"
    foreign.write_text("t,x\n0,1\n")
    with pytest.raises(MetricsError, match="target_grade"):
        compute_metrics(read_timeline(foreign))


def _session(tmp_path: Path, level: str, skill: str, seed: int) -> tuple[dict, Path]:
    log = ScoreLog.open(
        tmp_path,
        patient=skill,
        level=level,
        minutes=2,
        decoder="autopilot",
        source="test",
        session_id=f"{level}-{skill}-{seed}",
    )
    summary = play_autopilot_session(level, 2, skill=skill, seed=seed, log=log)
    return summary, log.json_path


@pytest.mark.parametrize(("level", "seed"), [("easy", 3), ("medium", 1), ("hard", 2)])
def test_cycles_found_from_the_target_match_the_game_count(tmp_path, level, seed):
    summary, path = _session(tmp_path, level, "average", seed)
    a = arrays_from_timeline(read_session(path).timeline())
    trials = find_trials(a, segment_moves(a.target))
    assert sum(t.complete for t in trials) == summary["up_down_movements"]


def test_better_control_gives_better_metrics(tmp_path):
    got = {}
    for skill in ("novice", "expert"):
        _, path = _session(tmp_path, "medium", skill, 5)
        got[skill] = compute_metrics(read_session(path).timeline())
    novice, expert = got["novice"], got["expert"]
    assert expert.rms_error is not None and novice.rms_error is not None
    assert expert.rms_error < novice.rms_error
    assert expert.hold_sd is not None and novice.hold_sd is not None
    assert expert.hold_sd < novice.hold_sd
    assert expert.tracking_lag_s is not None and novice.tracking_lag_s is not None
    assert expert.tracking_lag_s < novice.tracking_lag_s
    assert expert.in_zone_fraction is not None and novice.in_zone_fraction is not None
    assert expert.in_zone_fraction > novice.in_zone_fraction
