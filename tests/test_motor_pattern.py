"""The hand's own motor, measured in a clinic and played by the twin's synthesis.

Foreign patients (bridge/sim/foreign_patients.py) record a hand sweep
(bridge/sim/motor_sweep.py); `fit_motor_pattern` decodes it against a twin fitted on the
patient's cued recording. The simulator's motor (truth) is read here only to score.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bridge.recording import read_recording
from bridge.sim.foreign_patients import Placement, _motor_field, cued_session, draw_patient
from bridge.sim.motor_sweep import HAND_CLOSURE_COLUMN, motor_sweep_recording, sweep_schedule
from bridge.tracking.twin import Twin
from bridge.tracking.twin_fit import CuedData, fit_twin
from bridge.training.motor_pattern import MotorPattern, dipole_gain, fit_motor_pattern
from bridge.training.twin_sessions import (
    SynthConfig,
    _dipole_field,
    commanded_hand,
    forearm_axis,
    socket_pose,
    synthesise,
)
from fist_and_ball_app.main import main as cli_main

SEEDS = (1, 4)


@pytest.fixture(scope="module")
def patients(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Twin, Path, Path]]:
    """Per seed: (twin fitted on its cued recording, that recording, its hand sweep)."""
    from bridge.sim.foreign_patients import write_recording

    out = {}
    for seed in SEEDS:
        folder = tmp_path_factory.mktemp(f"motor{seed}")
        patient = draw_patient(seed)
        fitting = cued_session(patient, repetitions=3)
        rec = write_recording(fitting, folder / "fitting.csv")
        fit = fit_twin([CuedData(fitting.field_ut, fitting.gesture, fitting.sensors_mm)])
        assert fit.twin is not None, fit.refused
        fit.twin.save(folder / "twin.json")
        out[seed] = (fit.twin, rec, motor_sweep_recording(patient, folder / "motor.csv"))
    return out


def test_the_sweep_steps_through_every_pose_and_back() -> None:
    closure = sweep_schedule(42.7)
    assert closure[0] == 0.0 and closure[-1] == 0.0 and closure.max() == 1.0
    assert 50.0 < closure.size / 42.7 < 75.0  # about a minute
    # never faster than the slowest joint can follow (0.4 closures/s)
    assert np.abs(np.diff(closure)).max() * 42.7 <= 0.4
    held = np.unique(closure[1:][np.diff(closure) == 0])
    assert np.allclose(held, np.linspace(0.0, 1.0, 33))


def test_the_recording_carries_the_commanded_closure(
    patients: dict[int, tuple[Twin, Path, Path]],
) -> None:
    rec = read_recording(patients[SEEDS[0]][2])
    assert set(rec.gesture) == {"rest"}
    assert np.allclose(rec.extra[HAND_CLOSURE_COLUMN], sweep_schedule(42.7), atol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_fitted_motor_reproduces_the_real_one(
    patients: dict[int, tuple[Twin, Path, Path]], seed: int
) -> None:
    twin, _rec, sweep = patients[seed]
    pattern = fit_motor_pattern(sweep, twin)
    truth = draw_patient(seed).motor
    assert np.linalg.norm(pattern.position_mm - truth.position_mm) < 5.0
    c = np.linspace(0.0, 1.0, 101)
    real = _motor_field(draw_patient(seed), Placement(motor=True), c, np.zeros_like(c))
    played = _dipole_field(twin.sensors_mm, pattern.position_mm, pattern.moment(c))
    # within 10% of the motor's own field at every pose in between the measured ones
    assert np.sqrt(np.mean((played - real) ** 2)) < 0.1 * np.sqrt(np.mean(real**2))
    assert pattern.residual_ut < 2.0
    assert pattern.summary()["recording_sha256"] == pattern.source_sha256 != ""


def test_a_recording_without_the_closure_is_refused(
    patients: dict[int, tuple[Twin, Path, Path]],
) -> None:
    twin, fitting, _sweep = patients[SEEDS[0]]
    with pytest.raises(ValueError, match="no hand_closure column"):
        fit_motor_pattern(fitting, twin)
    other = patients[SEEDS[1]][0]
    if other.n_sensors != twin.n_sensors:
        with pytest.raises(ValueError, match="sensors"):
            fit_motor_pattern(patients[SEEDS[1]][2], twin)


def test_between_poses_a_turning_moment_keeps_its_size() -> None:
    pattern = MotorPattern(
        position_mm=np.zeros(3),
        closures=np.array([0.0, 0.5, 1.0]),
        moments_am2=np.array([[0.0, 0.1, 0.0], [0.0, 0.0, 0.1], [0.0, -0.1, 0.0]]),
        residual_ut=0.0,
    )
    m = pattern.moment(np.array([0.0, 0.25, 0.5, 0.75, 1.0]))
    assert np.allclose(m[[0, 2, 4]], pattern.moments_am2)
    assert np.allclose(np.linalg.norm(m, axis=1), 0.1)  # a straight line would shrink it
    assert np.allclose(m[1], [0.0, 0.1 / np.sqrt(2), 0.1 / np.sqrt(2)])


def test_dipole_gain_is_the_point_dipole_field() -> None:
    sensors = np.array([[30.0, 10.0, 0.0], [0.0, 0.0, 20.0]])
    pos = np.array([100.0, 5.0, -3.0])
    moment = np.array([[0.02, -0.05, 0.07]])
    assert np.allclose(dipole_gain(sensors, pos) @ moment[0], _dipole_field(sensors, pos, moment))


def _pattern(twin: Twin) -> MotorPattern:
    axis, centre = forearm_axis(twin.sensors_mm)
    ahead = float(((twin.sensors_mm - centre) @ axis).max()) + 70.0
    turns = np.linspace(0.0, 3.0 * np.pi, 17)
    return MotorPattern(
        position_mm=centre + ahead * axis,
        closures=np.linspace(0.0, 1.0, 17),
        moments_am2=0.09 * np.stack([np.zeros(17), np.cos(turns), np.sin(turns)], axis=1),
        residual_ut=0.0,
    )


def test_the_synthesis_plays_the_measured_motor_at_the_hands_pose(
    patients: dict[int, tuple[Twin, Path, Path]],
) -> None:
    twin = patients[SEEDS[0]][0]
    pattern = _pattern(twin)
    silent = replace(pattern, moments_am2=np.zeros_like(pattern.moments_am2))
    cfg = SynthConfig(
        sessions=6,
        seed=3,
        motor_share_measured=1.0,
        measured_motor_share=1.0,
        measured_motor_with_arm=0.0,
        measured_motor_jitter_mm=0.0,
        measured_motor_scale=(1.0, 1.0),
        motor_coil_share=(0.0, 0.0),
    )
    kw: dict[str, Any] = {"earth_ut": 45.0, "rate_hz": 42.7}
    on = synthesise(twin, cfg, motor=pattern, **kw)
    off = synthesise(twin, cfg, motor=silent, **kw)
    assert on.summary["measured_motor_sessions"] == 6
    assert on.summary["measured_motor"]["poses"] == 17
    for s, place in enumerate(on.placements):
        rows = on.session == s
        levels = np.zeros((int(rows.sum()), twin.n_tags))
        for j, g in enumerate(twin.movements):
            levels[on.cue[rows] == g, j] = on.level[rows][on.cue[rows] == g]
        limits = np.asarray(place["motor"]["hand_speed_per_s"]) / on.summary["rate_hz"]
        closure, _ = commanded_hand(on.displacement_mm[rows] / twin.stroke_mm, limits)
        expect = _dipole_field(twin.sensors_mm, pattern.position_mm, pattern.moment(closure))
        # up to the device's quantisation and noise (the same draws in both)
        assert np.abs(on.field_ut[rows] - off.field_ut[rows] - expect).max() < 0.2
        assert np.abs(expect).max() > 5.0


def test_a_measured_motor_can_move_with_the_arm(
    patients: dict[int, tuple[Twin, Path, Path]],
) -> None:
    twin = patients[SEEDS[0]][0]
    pattern = _pattern(twin)
    axis, centre = forearm_axis(twin.sensors_mm)
    cfg = SynthConfig(
        sessions=8,
        seed=2,
        motor_share_measured=1.0,
        measured_motor_jitter_mm=0.0,
        measured_motor_with_arm=1.0,
    )
    syn = synthesise(twin, cfg, earth_ut=45.0, rate_hz=42.7, motor=pattern)
    measured = [p for p in syn.placements if p["motor"].get("measured")]
    assert 0 < len(measured) < 8  # a third of the motor sessions keep the drawn prior
    for place in measured:
        pose = socket_pose(axis, centre, place["shift_mm"], place["turn_deg"])
        moved = Rotation.from_rotvec(pose[:3]).apply(pattern.position_mm) + pose[3:]
        assert np.allclose(place["motor"]["position_mm"], moved, atol=0.01)
        assert place["motor"]["with_arm"] is True


def test_no_measured_motor_leaves_the_synthesis_as_it_was(
    patients: dict[int, tuple[Twin, Path, Path]],
) -> None:
    twin = patients[SEEDS[0]][0]
    a = synthesise(twin, SynthConfig(sessions=5), earth_ut=45.0, rate_hz=42.7)
    b = synthesise(
        twin,
        SynthConfig(sessions=5, measured_motor_share=0.9, motor_share_measured=0.1),
        earth_ut=45.0,
        rate_hz=42.7,
    )
    assert np.array_equal(a.field_ut, b.field_ut) and a.placements == b.placements
    assert a.summary["measured_motor_sessions"] == 0 and "measured_motor" not in a.summary


def test_train_records_the_measured_motor(
    patients: dict[int, tuple[Twin, Path, Path]], tmp_path: Path
) -> None:
    _twin, rec, sweep = patients[SEEDS[0]]
    twin_file = rec.parent / "twin.json"
    base = ["train", str(rec), "--twin", str(twin_file), "--epochs", "1", "--synth-sessions", "4"]
    assert cli_main([*base, "--out", str(tmp_path / "m"), "--motor-recording", str(sweep)]) == 0
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["synthesis"]["measured_motor"]["recording"] == "motor.csv"
    assert meta["synthesis"]["config"]["measured_motor_share"] == pytest.approx(2 / 3)
    # one line and exit code 2 for a missing file, a recording without the closure, no twin
    gone = [*base, "--out", str(tmp_path / "x"), "--motor-recording", str(tmp_path / "no.csv")]
    assert cli_main(gone) == 2
    assert cli_main([*base, "--out", str(tmp_path / "y"), "--motor-recording", str(rec)]) == 2
    no_twin = ["train", str(rec), "--out", str(tmp_path / "z"), "--motor-recording", str(sweep)]
    assert cli_main(no_twin) == 2
    assert not (tmp_path / "y").exists() or not (tmp_path / "y" / "model.json").exists()


def test_with_a_measured_motor_its_own_share_of_sessions_carries_a_motor(
    patients: dict[int, tuple[Twin, Path, Path]],
) -> None:
    twin = patients[SEEDS[0]][0]
    kw: dict[str, Any] = {"earth_ut": 45.0, "rate_hz": 42.7, "motor": _pattern(twin)}
    none = synthesise(
        twin, SynthConfig(sessions=6, motor_share=1.0, motor_share_measured=0.0), **kw
    )
    assert none.summary["motor_sessions"] == 0
    cfg = SynthConfig(
        sessions=6, motor_share=0.0, motor_share_measured=1.0, measured_motor_share=1.0
    )
    every = synthesise(twin, cfg, **kw)
    assert every.summary["measured_motor_sessions"] == 6
