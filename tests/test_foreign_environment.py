"""The foreign patients' magnetic environment (issue 14, item 3): a passing steel object,
motors tied to the commanded hand pose, a sweeping Earth heading and tags that tilt as
they slide. Each effect is checked against the physics it models, the quiet default
against the sessions of the code before these effects existed, and the tracker against
the effects over three foreign patients."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest

from bridge.sim.foreign_patients import (
    HAND_SPEED_PER_S,
    LSB_UT,
    ForeignPatient,
    Placement,
    Session,
    commanded_closure,
    cued_session,
    intended_grades,
    steel_path,
)
from bridge.sim.simulator import Simulator
from bridge.sim.url import parse_sim_url
from bridge.tracking.tracker import Tracker
from tests.tracking_cases import patient as draw_patient  # cached: redraws are slow
from tests.tracking_cases import twin_fit

SEEDS = (2, 5, 11)


def _session(p: ForeignPatient, placement: Placement) -> Session:
    """A day-of-use session (cached: the quiet one is the reference of many tests)."""
    return _cached_session(p.seed, placement)


@cache
def _cached_session(seed: int, placement: Placement) -> Session:
    return cued_session(
        draw_patient(seed), placement, repetitions=1, full_flexions=False, session_seed=3
    )


# ---- the quiet default ----------------------------------------------------------------


def test_default_placement_is_the_session_before_the_environment_effects() -> None:
    """Integer sensor codes of a session computed with the code before issue 14's
    environment (commit 78fed69): the new fields at their defaults change nothing."""
    s = _session(draw_patient(5), Placement())
    codes = np.rint(s.field_ut / LSB_UT).astype(np.int64)
    weights = np.arange(codes.size).reshape(codes.shape) % 9973
    assert codes.shape == (1005, 16, 3)
    assert int(codes.sum()) == -34488018
    assert int(np.abs(codes).sum()) == 163711040
    assert int((codes * weights).sum()) == -167971975079


def test_explicit_defaults_and_effects_off_give_identical_sessions() -> None:
    p = draw_patient(2)
    quiet = _session(p, Placement())
    spelled = Placement(
        steel_cm=None,
        heading_sweep_deg=0.0,
        tag_rotation_deg=0.0,
        motor=False,
        motor_model="hand",
    )
    again = cued_session(p, spelled, repetitions=1, full_flexions=False, session_seed=3)
    assert np.array_equal(again.field_ut, quiet.field_ut)  # computed afresh, not cached
    # an effect touches only its own samples: the steel object outside its passes
    steel = Placement(steel_cm=5.0)
    s = _session(p, steel)
    active = steel_path(p, steel, s.t_s, 3).active
    assert active.any() and not active.all()
    assert np.array_equal(s.field_ut[~active], quiet.field_ut[~active])
    assert s.displacement_mm.tobytes() == quiet.displacement_mm.tobytes()
    assert s.grade_true.tobytes() == quiet.grade_true.tobytes()


@pytest.mark.parametrize(
    "bad",
    [
        {"steel_cm": 1.0},  # the object's surface would touch the sensor
        {"steel_cm": float("nan")},
        {"steel_speed_m_s": 0.0},
        {"steel_period_s": 3.0},  # shorter than one 2 m pass at 0.5 m/s
        {"heading_period_s": 0.0},
        {"tag_rotation_deg": 120.0},
        {"motor_model": "stalled"},
    ],
)
def test_bad_environment_values_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
        Placement(**bad)


# ---- steel object -----------------------------------------------------------------------


def _steel_change(p: ForeignPatient, placement: Placement) -> tuple[np.ndarray, int, int]:
    """Peak |change| (uT) per sensor from the object, its nearest and farthest sensor."""
    s = _session(p, placement)
    quiet = _session(p, Placement())
    change = np.linalg.norm(s.field_ut - quiet.field_ut, axis=2).max(axis=0)
    k = steel_path(p, placement, s.t_s, 3).nearest_sensor
    far = int(np.argmax(np.linalg.norm(p.sensors_mm - p.sensors_mm[k], axis=1)))
    return change, k, far


@pytest.mark.parametrize("seed", SEEDS)
def test_steel_at_5_cm_disturbs_the_nearest_sensor_most(seed: int) -> None:
    p = draw_patient(seed)
    change, k, far = _steel_change(p, Placement(steel_cm=5.0))
    assert int(np.argmax(change)) == k
    assert change[k] > 3.0  # uT: well above the noise (0.3-0.6 uT RMS)
    assert change[k] > 10 * change[far]  # 5 cm vs ~15 cm away: (1/3)^3 ~ 1/27


@pytest.mark.parametrize("seed", SEEDS)
def test_permanent_moment_falls_off_as_inverse_cube(seed: int) -> None:
    """Remanence only (a 1 mm sphere induces nothing measurable): twice as far, 1/8."""
    p = draw_patient(seed)
    only_remanence = {"steel_radius_mm": 1.0, "steel_remanence_am2": 0.05}
    near, k, _ = _steel_change(p, Placement(steel_cm=5.0, **only_remanence))
    far, _, _ = _steel_change(p, Placement(steel_cm=10.0, **only_remanence))
    assert 6.0 < near[k] / far[k] < 10.0


@pytest.mark.parametrize("seed", SEEDS)
def test_soft_iron_is_magnetised_by_the_local_field(seed: int) -> None:
    """No remanence: the field is the induced moment alone, ~ radius^3 (volume)."""
    p = draw_patient(seed)
    small, k, _ = _steel_change(p, Placement(steel_cm=8.0, steel_remanence_am2=0.0))
    big, _, _ = _steel_change(
        p, Placement(steel_cm=8.0, steel_radius_mm=40.0, steel_remanence_am2=0.0)
    )
    assert small[k] > 0.5  # Earth (25-65 uT) and the tags (~100 uT there) magnetise it
    assert 5.0 < big[k] / small[k] < 10.0  # 2^3 = 8, within the 1 LSB rounding


def test_steel_passes_a_few_times_at_the_given_speed() -> None:
    p = draw_patient(2)
    t = np.arange(0.0, 65.0, 1e-3)  # a 65 s session, sampled finely for the geometry
    placement = Placement(steel_cm=5.0, steel_speed_m_s=1.0, steel_period_s=20.0)
    path = steel_path(p, placement, t, 0)
    starts = np.flatnonzero(np.diff(path.active.astype(int)) == 1)
    assert 2 <= len(starts) <= 4
    assert path.active.sum() * 1e-3 == pytest.approx(2.0 * (len(starts) + path.active[0]), abs=0.01)
    step = np.linalg.norm(np.diff(path.position_mm[path.active], axis=0), axis=1)
    assert np.median(step) == pytest.approx(1.0, rel=1e-6)  # 1 m/s = 1 mm per ms
    where = path.position_mm[path.active]
    gaps = np.linalg.norm(where[:, None, :] - p.sensors_mm[None, :, :], axis=2)
    assert gaps.min() == pytest.approx(50.0, abs=0.01)  # closest approach to any sensor
    assert int(np.argmin(gaps.min(axis=0))) == path.nearest_sensor


# ---- motors and the commanded hand pose -------------------------------------------------


def test_commanded_pose_follows_the_intent_at_the_hand_speed_limit() -> None:
    rate = 50.0
    target = np.zeros((200, 3))
    target[10:, :] = 1.0  # a sudden full closure of all three
    pose = commanded_closure(target, rate)
    step = np.diff(pose, axis=0)
    assert np.allclose(step.max(axis=0), HAND_SPEED_PER_S / rate)
    assert np.allclose(pose[-1], 1.0)  # 2.5 s at the slowest (wrist, 40 %/s)
    # the wrist takes 1 / 0.4 = 2.5 s: 125 samples
    assert int(np.argmax(pose[:, 1] >= 1.0)) - 10 == pytest.approx(125, abs=1)


@pytest.mark.parametrize("seed", SEEDS)
def test_motor_field_changes_only_while_the_hand_moves(seed: int) -> None:
    p = draw_patient(seed)
    quiet = _session(p, Placement())
    s = _session(p, Placement(motor=True))
    motor = s.field_ut - quiet.field_ut  # same noise: the motor's field, +-1 LSB rounding
    grades = intended_grades(s.displacement_mm / p.strokes_mm)
    pose = commanded_closure(grades / 8.0, p.rate_hz)
    moving = np.abs(np.diff(pose, axis=0, prepend=pose[:1])).max(axis=1) > 0
    level = pose.max(axis=1)
    held = [level == v for v in np.unique(level[~moving])]
    held = [h & ~moving for h in held if (h & ~moving).sum() >= 10]
    assert len(held) >= 3  # open and at least two closed poses held
    assert sum(h.sum() for h in held) > 200 and moving.sum() > 50
    for h in held:  # constant while the hand holds a pose, whichever
        assert np.ptp(motor[h], axis=0).max() <= 2.5 * LSB_UT
    assert np.ptp(motor[moving], axis=0).max() > 1.0  # uT: it turns while the hand moves


def test_motor_models_differ_in_what_drives_them() -> None:
    p = draw_patient(2)
    quiet = _session(p, Placement())
    hand = _session(p, Placement(motor=True)).field_ut - quiet.field_ut
    muscle = _session(p, Placement(motor=True, motor_model="activation")).field_ut - quiet.field_ut
    assert np.abs(hand - muscle).max() > 1.0  # slew-limited pose + winding current vs activation
    assert np.abs(hand[:20] - muscle[:20]).max() <= 2.5 * LSB_UT  # same while everything rests


# ---- Earth heading sweep -----------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_heading_sweep_rotates_the_uniform_part(seed: int) -> None:
    p = draw_patient(seed)
    quiet = _session(p, Placement())
    swept = Placement(heading_sweep_deg=90.0, heading_period_s=20.0)
    s = _session(p, swept)
    d = s.field_ut - quiet.field_ut
    # uniform: every sensor sees the same change (to the rounding)
    assert np.ptp(d, axis=1).max() <= 2.5 * LSB_UT
    change = np.linalg.norm(d.mean(axis=1), axis=1)
    earth = float(np.linalg.norm(p.earth_ut))
    # a rotation: never more than the chord of the largest turn, and most of it reached
    assert change.max() <= 2 * earth * math.sin(math.radians(45.0)) + 0.1
    across = np.linalg.norm(p.earth_ut[:2])  # the part across the turning (z) axis
    assert change.max() > 0.9 * across * math.sqrt(2)
    # back at the fixed heading each half period
    half = np.rint(np.arange(1, 3) * 10.0 * p.rate_hz).astype(int)
    assert change[half].max() < 0.05 * across + 2 * LSB_UT


def test_heading_sweep_is_around_the_fixed_heading() -> None:
    p = draw_patient(2)
    turned = _session(p, Placement(earth_heading_deg=90.0))
    both = _session(p, Placement(earth_heading_deg=90.0, heading_sweep_deg=45.0))
    assert np.abs(both.field_ut[0] - turned.field_ut[0]).max() <= 2 * LSB_UT  # sin(0) = 0
    assert np.abs(both.field_ut - turned.field_ut).max() > 5.0


# ---- tag rotation --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_tag_rotation_changes_the_field_at_full_stroke_not_at_rest(seed: int) -> None:
    p = draw_patient(seed)
    quiet = cued_session(p, Placement(), repetitions=1)
    s = cued_session(p, Placement(tag_rotation_deg=10.0), repetitions=1)
    level = s.displacement_mm / p.strokes_mm
    at_rest = (s.displacement_mm == 0.0).all(axis=1)
    full = level.max(axis=1) > 0.95
    assert at_rest.sum() > 50 and full.sum() > 50
    assert np.array_equal(s.field_ut[at_rest], quiet.field_ut[at_rest])
    change = np.abs(s.field_ut - quiet.field_ut)
    assert change[full].max() > 10.0  # 10 deg of a ~100-1000 uT tag field
    # larger tilt, larger change
    more = cued_session(p, Placement(tag_rotation_deg=20.0), repetitions=1)
    assert np.abs(more.field_ut - quiet.field_ut)[full].max() > 1.5 * change[full].max()


# ---- the tracker in this environment -----------------------------------------------------


def _track(seed: int, placement: Placement) -> tuple[Session, dict[str, np.ndarray]]:
    fit = twin_fit(seed)
    assert fit.twin is not None, fit.refused
    s = cued_session(
        draw_patient(seed), placement, repetitions=1, full_flexions=False, session_seed=9
    )
    tracker = Tracker(fit.twin, rate_hz=s.rate_hz)
    est = [tracker.decode(f) for f in s.field_ut]
    return s, {
        "ready": np.array([e.ready for e in est]),
        "grade": np.array([e.grade for e in est], dtype=float),
        "gesture": np.array([e.gesture for e in est]),
        "confidence": np.array([e.confidence for e in est]),
        "residual": np.array([e.residual_ut for e in est]),
    }


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_tracker_decodes_with_motors_and_a_sweeping_heading(seed: int) -> None:
    s, r = _track(seed, Placement(motor=True, heading_sweep_deg=90.0, heading_period_s=20.0))
    cue = np.array(s.gesture)
    typed = r["ready"] & (cue != "rest") & (s.grade_true >= 1)
    assert (r["gesture"][typed] == cue[typed]).mean() >= 0.97
    err = np.abs(r["grade"] - s.grade_true)[r["ready"]]
    assert err.mean() <= 0.35
    assert np.percentile(r["confidence"][r["ready"]], 5) > 0.8


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_tracker_reports_a_steel_object_at_5_cm(seed: int) -> None:
    """The default object (a 260 g soft-iron lump, 0.005 A m^2) raises the residual while
    it passes; a strongly magnetised one (0.05 A m^2, a magnetised tool) also lowers the
    confidence. Grades stay usable and confidence comes back after the pass."""
    placement = Placement(steel_cm=5.0)
    s, r = _track(seed, placement)
    p = draw_patient(seed)
    path = steel_path(p, placement, s.t_s, 9)
    gap = np.linalg.norm(path.position_mm - p.sensors_mm[path.nearest_sensor], axis=1)
    near = r["ready"] & path.active & (gap < 80.0)
    away = r["ready"] & ~path.active
    assert near.sum() >= 5
    # measured 1.5-2.7x on these patients; confidence stays 1 (docs/environment.md)
    assert r["residual"][near].max() > 1.2 * np.percentile(r["residual"][away], 95)

    strong = Placement(steel_cm=5.0, steel_remanence_am2=0.05)
    s, r = _track(seed, strong)
    assert r["confidence"][near].min() < 0.7
    assert np.median(r["confidence"][away]) > 0.95
    err = np.abs(r["grade"] - s.grade_true)
    assert err[near].mean() <= 1.0


# ---- the project's own simulator: the near steel object as a disturbance ------------------


def _sim_change(url: str) -> tuple[np.ndarray, np.ndarray, Simulator]:
    """|change| (m, n) uT from the steel object over 60 s at 10 Hz, and its positions."""
    cfg = parse_sim_url(url).config()
    sim = Simulator(cfg)
    with_steel = sim.generate_block(600).field_ut
    calm = Simulator(cfg.replace(disturbances=False)).generate_block(600).field_ut
    return np.linalg.norm(with_steel - calm, axis=2), calm, sim


@pytest.mark.parametrize("layout", ["socket16", "myo3"])
def test_sim_url_steel_disturbance_follows_the_dipole_law(layout: str) -> None:
    base = f"sim:{layout}?rate=10&noise=0&seed=4&disturbances=steel"
    near, _, sim = _sim_change(base + "&steel_cm=5")
    far, _, _ = _sim_change(base + "&steel_cm=10")
    t = np.arange(600) / 10.0
    pos, active = sim.environment.steel_position_mm(t)
    k = int(np.argmin(np.linalg.norm(sim.positions_mm - pos[active][:, None], axis=2).min(0)))
    assert int(np.argmax(near.max(axis=0))) == k
    assert near[:, k].max() > 3.0  # uT
    assert 5.0 < near[:, k].max() / far[:, k].max() < 10.0  # ~(10/5)^3, induced + remanent
    assert np.array_equal(near[~active], np.zeros_like(near[~active]))  # nothing else moved
    assert 1 <= np.count_nonzero(np.diff(active.astype(int)) == 1) + active[0] <= 3


def test_sim_url_steel_options_are_checked() -> None:
    cfg = parse_sim_url("sim:socket16?disturbances=mains,steel&steel_cm=4").config()
    assert cfg.disturbance_kinds == ("mains", "steel") and cfg.steel_cm == 4.0
    assert "steel" not in parse_sim_url("sim:socket16?disturbances=1").config().disturbance_kinds
    with pytest.raises(ValueError, match="steel_cm"):
        parse_sim_url("sim:socket16?disturbances=steel&steel_cm=1").config()
