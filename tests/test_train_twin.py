"""Twin-trained MCNN-TG: sessions synthesised from a fitted twin, `train --twin`.

One foreign patient (bridge/sim/foreign_patients.py) is recorded once; its twin is fitted
on that recording (no ground truth). The simulator's truth is used here only to score.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from bridge.sim.foreign_patients import (
    Placement,
    Session,
    cued_session,
    draw_patient,
    write_recording,
)
from bridge.tracking.socket_pose import pose_geometry
from bridge.tracking.twin import Twin
from bridge.tracking.twin_fit import CuedData, fit_twin
from bridge.training.twin_sessions import (
    LSB_UT,
    SynthConfig,
    commanded_hand,
    earth_magnitude_ut,
    forearm_axis,
    socket_pose,
    synthesise,
)
from fist_and_ball_app.main import main as cli_main

PATIENT = 3


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Session, Path, Path, Twin]:
    """(fitting session, its recording, the twin file, the twin) of one foreign patient."""
    folder = tmp_path_factory.mktemp("twin-train")
    fitting = cued_session(draw_patient(PATIENT), repetitions=3)
    rec = write_recording(fitting, folder / "fitting.csv")
    fit = fit_twin([CuedData(fitting.field_ut, fitting.gesture, fitting.sensors_mm)])
    assert fit.twin is not None, fit.refused
    return fitting, rec, fit.twin.save(folder / "twin.json"), fit.twin


def test_synthesis_is_deterministic_per_seed(fitted: tuple[Session, Path, Path, Twin]) -> None:
    twin = fitted[3]
    a = synthesise(twin, SynthConfig(sessions=4, seed=5), earth_ut=50.0, rate_hz=42.7)
    b = synthesise(twin, SynthConfig(sessions=4, seed=5), earth_ut=50.0, rate_hz=42.7)
    c = synthesise(twin, SynthConfig(sessions=4, seed=6), earth_ut=50.0, rate_hz=42.7)
    assert np.array_equal(a.field_ut, b.field_ut)
    assert np.array_equal(a.level, b.level) and a.placements == b.placements
    assert a.field_ut.shape != c.field_ut.shape or not np.allclose(a.field_ut, c.field_ut)
    assert a.placements != c.placements


def test_labels_follow_the_synthesised_displacements(
    fitted: tuple[Session, Path, Path, Twin],
) -> None:
    twin = fitted[3]
    syn = synthesise(twin, SynthConfig(sessions=6, seed=1), earth_ut=40.0, rate_hz=42.7)
    own = {g: j for j, g in enumerate(twin.movements)}
    for g, j in own.items():
        rows = syn.cue == g
        assert rows.sum() > 100
        # the level is the cued movement's own tag, as a share of its stroke
        assert np.allclose(syn.level[rows], syn.displacement_mm[rows, j] / twin.stroke_mm[j])
        moving = rows & (syn.level * 8 >= 0.5)
        assert (syn.gesture[moving] == g).all()
        assert (syn.gesture[rows & ~moving] == "rest").all()
        # coupling: the other tags move as the twin says they do
        ratio = syn.displacement_mm[moving] / syn.displacement_mm[moving, j : j + 1]
        expect = twin.coupling[twin.movements.index(g)] * twin.stroke_mm / twin.stroke_mm[j]
        assert np.allclose(ratio, np.clip(expect, 0, None), atol=1e-9)
    rest = syn.cue == "rest"
    assert (syn.displacement_mm[rest] == 0).all() and (syn.level[rest] == 0).all()
    assert (syn.gesture[rest] == "rest").all()


def test_shapes_and_ranges_as_documented(fitted: tuple[Session, Path, Path, Twin]) -> None:
    twin = fitted[3]
    cfg = SynthConfig(sessions=30, seed=2, motor_share=0.5)
    syn = synthesise(twin, cfg, earth_ut=45.0, rate_hz=42.7)
    m = len(syn)
    assert syn.field_ut.shape == (m, twin.n_sensors, 3)
    assert syn.displacement_mm.shape == (m, twin.n_tags)
    assert set(np.unique(syn.session)) == set(range(30))
    # the device's quantisation and range
    steps = syn.field_ut / LSB_UT
    assert np.allclose(steps, np.round(steps), atol=1e-6)
    assert np.abs(syn.field_ut).max() <= cfg.full_scale_ut
    assert (syn.level >= 0).all() and (syn.level <= 1).all()
    assert ((syn.displacement_mm >= 0) & (syn.displacement_mm <= twin.stroke_mm + 1e-9)).all()
    shifts = np.array([p["shift_mm"] for p in syn.placements])
    turns = np.array([p["turn_deg"] for p in syn.placements])
    assert np.abs(shifts).max() <= 7.0 and np.abs(turns).max() <= 15.0
    assert shifts.min() < -2 and shifts.max() > 2 and turns.min() < -5 and turns.max() > 5
    earth = np.linalg.norm([p["earth_ut"] for p in syn.placements], axis=1)
    assert (earth >= 0.8 * 45.0 - 1e-6).all() and (earth <= 1.25 * 45.0 + 1e-6).all()
    motors = sum("motor" in p for p in syn.placements)
    assert 5 <= motors <= 25
    s = syn.summary
    assert s["sessions"] == 30 and s["samples"] == m and s["motor_sessions"] == motors
    assert s["config"]["seed"] == 2


def test_background_near_the_measured_one_or_anywhere(
    fitted: tuple[Session, Path, Path, Twin],
) -> None:
    twin = fitted[3]
    measured = np.array([30.0, -20.0, 10.0])
    near = SynthConfig(sessions=12, seed=3, earth_near_share=1.0, earth_near_deg=25.0)
    syn = synthesise(twin, near, earth_ut=measured, rate_hz=42.7)
    unit = measured / np.linalg.norm(measured)
    for p in syn.placements:
        e = np.asarray(p["earth_ut"])
        assert np.degrees(np.arccos(e @ unit / np.linalg.norm(e))) <= 25.0 + 1e-3
    anywhere = synthesise(
        twin,
        SynthConfig(sessions=40, seed=3, earth_near_share=0.0),
        earth_ut=measured,
        rate_hz=42.7,
    )
    angles = [
        np.degrees(np.arccos(np.asarray(p["earth_ut"]) @ unit / np.linalg.norm(p["earth_ut"])))
        for p in anywhere.placements
    ]
    assert max(angles) > 90.0
    # an eighth of the recording's rate by default (many short sessions)
    assert anywhere.summary["rate_hz"] == pytest.approx(42.7 / 8)


def test_socket_pose_moves_the_twin_as_a_socket_moves(
    fitted: tuple[Session, Path, Path, Twin],
) -> None:
    twin = fitted[3]
    axis, centre = forearm_axis(twin.sensors_mm)
    assert abs(axis[0]) > 0.999  # the foreign sockets' rings are about x
    slid = pose_geometry(twin, socket_pose(axis, centre, 5.0, 0.0))
    assert np.allclose(slid.rest_mm, twin.rest_mm - 5.0 * axis)
    turned = pose_geometry(twin, socket_pose(axis, centre, 0.0, 10.0))
    radial = np.linalg.norm(np.cross(twin.rest_mm - centre, axis), axis=1)
    radial_turned = np.linalg.norm(np.cross(turned.rest_mm - centre, axis), axis=1)
    assert np.allclose(radial, radial_turned)  # a turn keeps each tag's depth
    assert not np.allclose(turned.rest_mm, twin.rest_mm)


def test_the_hand_follows_whole_grades_at_its_slew_limit() -> None:
    # fingers jump to full closure, the wrist to 0.3 (whole grades: 2/8), thumb stays
    levels = np.zeros((40, 3))
    levels[5:, 0] = 1.0
    levels[5:, 1] = 0.3
    limit = np.array([0.1, 0.05, 0.2])
    closure, speed = commanded_hand(levels, limit)
    assert closure[:5].max() == 0.0 and speed[:5].max() == 0.0
    # the most closed joint ramps at the fingers' limit, never faster, and stops at 1
    assert np.allclose(np.diff(closure[4:15]), 0.1)
    assert closure[-1] == pytest.approx(1.0) and closure.max() <= 1.0 + 1e-12
    assert speed[6] == pytest.approx(1.0) and speed[-1] == 0.0
    wrist_only = commanded_hand(levels[:, 1:2], limit[1:2])[0]
    assert wrist_only[-1] == pytest.approx(0.25)  # commanded in whole grades
    assert np.allclose(np.diff(wrist_only[4:9]), 0.05)


def test_the_motor_follows_the_hand_by_default(fitted: tuple[Session, Path, Path, Twin]) -> None:
    twin = fitted[3]
    cfg = SynthConfig(sessions=8, seed=4, motor_share=1.0)
    assert cfg.motor_follows == "hand"
    syn = synthesise(twin, cfg, earth_ut=40.0, rate_hz=42.7)
    for p in syn.placements:
        m = p["motor"]
        assert m["follows"] == "hand" and 0.0 <= m["coil_share"] <= 0.5
        assert all(0.3 <= v <= 1.5 for v in m["hand_speed_per_s"])
    assert syn.summary["config"]["hand_speed_per_s"] == [0.3, 1.5]
    old = synthesise(
        twin,
        SynthConfig(sessions=2, motor_share=1.0, motor_follows="activation"),
        earth_ut=40.0,
        rate_hz=42.7,
    )
    assert "hand_speed_per_s" not in old.placements[0]["motor"]
    with pytest.raises(ValueError, match="motor_follows"):
        SynthConfig(motor_follows="muscle")
    with pytest.raises(ValueError, match="hand_speed_per_s"):
        SynthConfig(hand_speed_per_s=(0.0, 1.0))


def test_background_magnitude_is_measured_from_the_recording(
    fitted: tuple[Session, Path, Path, Twin],
) -> None:
    fitting, _, _, twin = fitted
    est = earth_magnitude_ut(twin, fitting.field_ut, fitting.gesture)
    truth = float(np.linalg.norm(draw_patient(PATIENT).earth_ut))  # scoring only
    assert abs(est - truth) < 0.1 * truth


def test_cli_refuses_a_twin_for_other_sensors(
    fitted: tuple[Session, Path, Path, Twin], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    _, rec, twin_path, _ = fitted
    d = json.loads(twin_path.read_text())
    d["sensors_mm"] = d["sensors_mm"][:-1]
    bad = tmp_path / "short.json"
    bad.write_text(json.dumps(d))
    out = tmp_path / "m"
    args = ["train", str(rec), "--out", str(out), "--epochs", "1", "--twin", str(bad)]
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("fist-and-ball train: error: twin")
    assert "sensors" in err[-1] and not (out / "model.json").exists()
    missing = ["train", str(rec), "--out", str(out), "--twin", str(tmp_path / "none.json")]
    assert cli_main(missing) == 2
    assert "not found" in capsys.readouterr().err
    d = json.loads(twin_path.read_text())
    d["tags"][0]["stroke_mm"] = -1.0  # a twin the bridge refuses to load
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(d))
    assert cli_main(["train", str(rec), "--out", str(out), "--twin", str(broken)]) == 2
    assert "stroke_mm" in capsys.readouterr().err


def _type_accuracy(model: Path, session: Session) -> float:
    """Type accuracy where the movement is under way (true grade >= 1): scoring only."""
    from bridge.decoders.mcnn import McnnDecoder

    names, _, _ = McnnDecoder.load(model).decode_batch(np.linalg.norm(session.field_ut, axis=2))
    cue = np.asarray(session.gesture, dtype=object)
    moving = (cue != "rest") & (session.grade_true >= 1.0)
    return float(np.mean(names[moving] == cue[moving]))


def test_twin_training_survives_a_re_donned_socket(
    fitted: tuple[Session, Path, Path, Twin], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    _, rec, twin_path, _ = fitted
    base = ["train", str(rec), "--epochs", "12", "--batch", "512", "--cosine", "--seed", "1"]
    assert cli_main([*base, "--out", str(tmp_path / "plain")]) == 0
    synth = ["--twin", str(twin_path), "--synth-sessions", "64"]
    assert cli_main([*base, "--out", str(tmp_path / "twin"), *synth]) == 0
    err = capsys.readouterr().err
    assert "synthesised" in err  # progress on stderr
    meta = json.loads((tmp_path / "twin" / "model.json").read_text())
    s = meta["synthesis"]
    assert s["twin_sha256"] == hashlib.sha256(twin_path.read_bytes()).hexdigest()
    assert s["sessions"] == 64 and s["config"]["seed"] == 1
    assert meta["training"]["synthesised_samples"] == s["samples"] > 5000
    assert "synthesis" not in json.loads((tmp_path / "plain" / "model.json").read_text())

    patient = draw_patient(PATIENT)
    later = cued_session(
        patient,
        Placement(shift_mm=5.0, turn_deg=10.0, motor=True),
        repetitions=2,
        full_flexions=False,
        session_seed=1,
    )
    plain = _type_accuracy(tmp_path / "plain", later)
    twin = _type_accuracy(tmp_path / "twin", later)
    assert twin > plain + 0.2, (plain, twin)


def test_standardised_input_is_recorded_and_decoded_alike(
    fitted: tuple[Session, Path, Path, Twin], tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    from bridge.decoders.mcnn import McnnDecoder
    from bridge.values.sample import Sample

    fitting, rec, twin_path, _ = fitted
    out = tmp_path / "std"
    args = ["train", str(rec), "--out", str(out), "--epochs", "2", "--twin", str(twin_path)]
    args += ["--synth-sessions", "4", "--normalisation", "standard_per_channel"]
    assert cli_main(args) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["normalisation"] == "standard_per_channel"
    params = meta["normalisation_params"]
    assert len(params["mean"]) == len(params["std"]) == fitting.sensors_mm.shape[0]
    dec = McnnDecoder.load(out)
    mags = np.linalg.norm(fitting.field_ut[::50], axis=2)
    names, level, _ = dec.decode_batch(mags)
    for i in range(mags.shape[0]):
        d = dec.decode(Sample.from_field(i, 0.0, 0.0, fitting.field_ut[i * 50], False, "", 0.0))
        assert d.level == pytest.approx(level[i], abs=1e-5)
        assert d.gesture == names[i] or d.gesture == "rest"
    # a bundle whose constants are missing is refused in one line
    del meta["normalisation_params"]
    (out / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="normalisation_params"):
        McnnDecoder.load(out)
