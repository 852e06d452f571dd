"""QG network math: thresholds <-> weights, direction, level, hysteresis, dead sensor."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bridge.decoders.qg import (
    N_HIDDEN,
    QG,
    Adaptation,
    QGParams,
    grade_to_degrees,
    level_to_degrees,
    network_from_thresholds,
    thresholds_from_anchors,
    thresholds_from_network,
)


def make(ext: float, flex: float, noise: float = 0.3, hyst: float = 0.0) -> QG:
    return QG(QGParams.from_anchors("fingers", 0, ext, flex, noise, hyst))


def test_thresholds_round_trip_through_network() -> None:
    t = thresholds_from_anchors(40.0, 80.0)
    assert t == pytest.approx([42.5 + 5 * k for k in range(8)])
    for direction in (1, -1):
        w, b = network_from_thresholds(t, direction)
        assert all(np.sign(x) == direction for x in w)
        assert thresholds_from_network(w, b) == pytest.approx(t)


def test_rising_field_grades_and_level() -> None:
    q = make(40.0, 80.0)
    # The centre of grade g sits at level g/8, i.e. |B| = 40 + 5 g.
    for g in range(9):
        assert q.grade_of(40.0 + 5.0 * g) == g
    grade, level, _ = q.step(60.0)
    assert (grade, level) == (4, pytest.approx(0.5))
    assert q.grade_of(10.0) == 0 and q.grade_of(200.0) == 8


def test_falling_field_direction() -> None:
    """The field falls as the muscle flexes: weights are negative, grade still rises."""
    q = make(80.0, 40.0)
    assert q.params.direction == -1
    assert all(w < 0 for w in q.params.hidden_weights)
    grades = [q.grade_of(x) for x in np.linspace(85.0, 35.0, 51)]
    assert grades[0] == 0 and grades[-1] == 8
    assert all(b >= a for a, b in itertools.pairwise(grades))
    assert q.step(60.0)[1] == pytest.approx(0.5)


def test_output_weights_are_summed() -> None:
    p = QGParams.from_anchors("fingers", 0, 0.0, 80.0, 0.3)
    p.output_weights = [2, 0, 1, 1, 1, 1, 1, 1]
    q = QG(p)
    assert q.grade_of(7.0) == 2  # first unit only, weight 2
    assert q.grade_of(17.0) == 2  # second unit weight 0
    assert q.grade_of(79.0) == 8


def test_edited_network_is_validated() -> None:
    p = QGParams.from_anchors("fingers", 0, 0.0, 80.0, 0.3)
    p.hidden_biases[3], p.hidden_biases[4] = p.hidden_biases[4], p.hidden_biases[3]
    with pytest.raises(ValueError, match="strictly ordered"):
        QG(p)
    p = QGParams.from_anchors("fingers", 0, 0.0, 80.0, 0.3)
    p.hidden_weights[0] = -1.0
    with pytest.raises(ValueError, match="sign of direction"):
        QG(p)
    p = QGParams.from_anchors("fingers", 0, 0.0, 80.0, 0.3)
    p.output_weights = [1.5] * N_HIDDEN  # type: ignore[list-item]
    with pytest.raises(ValueError, match="integers"):
        QG(p)


def test_scaled_weights_give_the_same_thresholds() -> None:
    """Any positive scale of (w, b) is the same unit: the paper's 'weights scale the input'."""
    p = QGParams.from_anchors("fingers", 0, 40.0, 80.0, 0.3)
    p.hidden_weights = [w * 0.2 for w in p.hidden_weights]
    p.hidden_biases = [b * 0.2 for b in p.hidden_biases]
    q = QG(p)
    assert [q.grade_of(40.0 + 5.0 * g) for g in range(9)] == list(range(9))


def _flips(grades: list[int]) -> int:
    return sum(1 for a, b in itertools.pairwise(grades) if a != b)


def test_hysteresis_stops_chatter_on_a_threshold() -> None:
    rng = np.random.default_rng(1)
    noise = 0.3
    t3 = thresholds_from_anchors(40.0, 80.0)[3]  # boundary between grades 3 and 4
    signal = t3 + rng.normal(0.0, noise, 2000)
    plain = make(40.0, 80.0, noise, 0.0)
    sticky = make(40.0, 80.0, noise, 3.0 * noise)
    g_plain = [plain.step(float(x))[0] for x in signal]
    g_sticky = [sticky.step(float(x))[0] for x in signal]
    assert _flips(g_plain) > 200  # without hysteresis it chatters
    assert _flips(g_sticky) <= 2  # with it the grade holds
    assert set(g_sticky) <= {3, 4}


def test_hysteresis_still_follows_real_movement() -> None:
    q = make(40.0, 80.0, 0.3, 1.5)
    up = [q.step(float(x))[0] for x in np.linspace(40, 80, 81)]
    down = [q.step(float(x))[0] for x in np.linspace(80, 40, 81)]
    assert up[-1] == 8 and down[-1] == 0
    assert up == sorted(up) and down == sorted(down, reverse=True)


def test_dead_sensor_holds_grade_with_zero_confidence() -> None:
    q = make(40.0, 80.0)
    g, lv, c = q.step(62.0)
    assert c > 0.5
    g2, lv2, c2 = q.step(math.nan)
    assert (g2, lv2, c2) == (g, lv, 0.0)
    assert q.step(math.nan)[0] == g
    assert q.step(79.0)[0] == 8


def test_confidence_grows_with_distance_from_threshold() -> None:
    q = make(40.0, 80.0, noise=0.5)
    t = thresholds_from_anchors(40.0, 80.0)[4]
    confs = [q.step(t + d)[2] for d in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert confs[0] == pytest.approx(0.0, abs=1e-9)
    assert all(b > a for a, b in itertools.pairwise(confs))
    assert confs[-1] > 0.99
    # Far outside the calibrated range (band moved, stray field): confidence falls to 0.
    assert q.step(40.0 - 40.0)[2] == 0.0


def test_degrees() -> None:
    assert grade_to_degrees(8) == 180.0 and grade_to_degrees(4) == 90.0
    assert level_to_degrees(0.5) == 90.0 and level_to_degrees(1.7) == 180.0


def _adaptive(ext: float, flex: float, rest: float | None = None, tare: bool = True) -> QG:
    step = abs(flex - ext) / 8
    a = Adaptation(tare=tare, track=True, margin_ut=0.5 * step)
    return QG(QGParams.from_anchors("fingers", 0, ext, flex, 0.3, 0.0, rest_ut=rest, adaptation=a))


def test_tare_rescales_a_moved_band() -> None:
    """The band moved closer: every |B| is 1.3x larger. The start-up tare at rest fixes it."""
    moved = [1.3 * (40.0 + 5.0 * g) for g in range(9)]
    q = _adaptive(40.0, 80.0)
    grades = [q.step(moved[0])[0] for _ in range(10)]  # relaxed at start
    assert grades[-1] == 0
    assert q.gain == pytest.approx(1 / 1.3)
    assert [q.step(x)[0] for x in moved] == list(range(9))
    # Without adaptation the same readings are off by several grades.
    plain = make(40.0, 80.0)
    assert plain.step(moved[0])[0] >= 2


def test_tracking_reanchors_on_a_full_movement() -> None:
    """No tare (the hand was not relaxed at start): the first full flexion re-anchors."""
    moved = [1.3 * (40.0 + 5.0 * g) for g in range(9)]
    q = _adaptive(40.0, 80.0, tare=False)
    assert q.step(moved[0])[0] >= 2  # still wrong: nothing forced the gain yet
    q.step(moved[8])  # full flexion far beyond the calibrated range pushes the gain
    assert [q.step(x)[0] for x in moved[::-1]] == list(range(8, -1, -1))
    # Inside the calibrated range the gain does not move.
    g = q.gain
    for x in moved:
        q.step(x)
    assert q.gain == pytest.approx(g)


def test_gain_is_bounded() -> None:
    q = _adaptive(40.0, 80.0, tare=False)
    q.step(1000.0)  # a magnet held next to the band
    assert q.gain == pytest.approx(0.5)
