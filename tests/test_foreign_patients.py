"""Foreign patients: random but seeded geometry, magpylib truth, placements that matter."""

from __future__ import annotations

import magpylib
import numpy as np
from scipy.spatial.transform import Rotation

from bridge.recording import read_recording
from bridge.sim.foreign_patients import (
    FULL_SCALE_UT,
    MOVEMENTS,
    Placement,
    cued_session,
    draw_patient,
    write_recording,
)
from tests.tracking_cases import fitting_session, patient


def test_same_seed_same_patient_and_seeds_differ() -> None:
    a, b, c = draw_patient(7), draw_patient(7), draw_patient(8)
    assert np.array_equal(a.sensors_mm, b.sensors_mm)
    assert all(np.array_equal(x.rest_mm, y.rest_mm) for x, y in zip(a.tags, b.tags, strict=True))
    assert not np.allclose(a.tags[0].rest_mm, c.tags[0].rest_mm)


def test_geometry_is_randomised_over_seeds() -> None:
    ps = [draw_patient(s) for s in range(12)]
    radii = {round(float(np.hypot(*p.sensors_mm[0, 1:])), 1) for p in ps}
    counts = {p.n_sensors for p in ps}
    tilts = [float(np.degrees(np.arccos(abs(t.axis[0])))) for p in ps for t in p.tags]
    assert len(radii) > 6 and len(counts) > 2
    assert max(tilts) > 8.0  # tags tilted off the forearm axis
    assert {np.sign(t.polarization_t) for p in ps for t in p.tags} == {-1.0, 1.0}
    # the thumb tag follows the fingers
    assert all(p.coupling[0, 2] > 0 for p in ps)


def test_session_field_is_magpylib_truth() -> None:
    p = patient(2)
    s = fitting_session(2)
    i = int(np.argmax(s.grade_true))
    total = np.zeros((p.n_sensors, 3))
    for j, tag in enumerate(p.tags):
        rot, _ = Rotation.align_vectors([tag.axis], [[0.0, 0.0, 1.0]])
        m = magpylib.magnet.Cylinder(
            dimension=(5e-3, 13.3e-3),
            polarization=(0, 0, tag.polarization_t),
            orientation=rot,
            position=(tag.rest_mm + s.displacement_mm[i, j] * tag.axis) * 1e-3,
        )
        total += magpylib.getB(m, p.sensors_mm * 1e-3) * 1e6
    diff = s.field_ut[i] - total
    # what is left is the uniform Earth field plus noise
    spread = diff - diff.mean(axis=0)
    assert np.abs(spread).max() < 6 * p.noise_ut_rms
    assert 25.0 <= np.linalg.norm(diff.mean(axis=0)) <= 65.0 + 3.0


def test_cued_protocol_labels_and_truth() -> None:
    s = fitting_session(2)
    assert set(s.gesture) == {"rest", *MOVEMENTS}
    assert s.grade_true.max() > 7.5  # full flexions in a fitting session
    rest = np.array([g == "rest" for g in s.gesture])
    assert s.grade_true[rest].max() < 0.5
    assert not s.saturated.any() and np.abs(s.field_ut).max() < FULL_SCALE_UT


def test_placements_change_the_field() -> None:
    p = patient(5)
    base = cued_session(p, repetitions=1)
    moved = cued_session(p, Placement(shift_mm=5.0, turn_deg=10.0), repetitions=1)
    motor = cued_session(p, Placement(motor=True), repetitions=1)
    assert np.abs(moved.field_ut[:20] - base.field_ut[:20]).max() > 50.0
    d = (motor.field_ut - base.field_ut).mean(axis=0)
    spread = np.linalg.norm(d - d.mean(axis=0), axis=1)
    assert spread.max() > 2.0  # the motor gives a gradient, not just an offset


def test_write_recording_roundtrip(tmp_path) -> None:
    s = cued_session(patient(5), repetitions=1)
    path = write_recording(s, tmp_path / "p5.csv")
    rec = read_recording(path)
    assert len(rec) == len(s)
    assert np.abs(rec.field_ut - s.field_ut).max() < 1e-3
    assert rec.gesture == s.gesture
    assert np.allclose(rec.meta["positions_mm"], s.sensors_mm)
