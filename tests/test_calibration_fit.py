"""Calibration fit on synthetic phase recordings, refusals, and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bridge.cues import CalibrationRefused, PhaseRecording, guided_phases
from bridge.decoders.factory import open_decoder
from bridge.decoders.qg_bank import QGBank
from bridge.decoders.qg_calibration import Calibration, CalibrationError
from bridge.decoders.qg_fit import FitOptions, fit_calibration
from bridge.values.sample import Sample
from bridge.values.source_info import SourceInfo

RATE = 40.0


def synth(
    gains: dict[str, list[float]],
    base: list[float],
    noise: float = 0.3,
    repeats: int = 2,
    hold_s: float = 2.0,
    limit_ut: float | None = None,
    dead: int | None = None,
    seed: int = 0,
) -> list[PhaseRecording]:
    """Phase recordings where sensor i's |B| = base[i] + gains[gesture][i] * level."""
    rng = np.random.default_rng(seed)
    n = len(base)
    dirs = rng.normal(size=(n, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    m = int(hold_s * RATE)
    recs = []
    for ph in guided_phases(tuple(gains), repeats):
        level = 1.0 if ph.kind == "flexion" else 0.0
        mag = np.array(base) + np.array(gains[ph.gesture]) * level
        field = mag[None, :, None] * dirs[None, :, :] + rng.normal(0, noise, (m, n, 3))
        if limit_ut is not None:
            field = np.clip(field, -limit_ut, limit_ut)
        if dead is not None:
            field[:, dead, :] = np.nan
        recs.append(PhaseRecording(ph, field, np.zeros(m, dtype=bool)))
    return recs


INFO = SourceInfo(n_sensors=3, rate_hz=RATE, layout="myo3", full_scale_gauss=16.0, source="x")


def test_chooses_the_moving_sensor_and_its_direction() -> None:
    recs = synth({"fingers": [3.0, -40.0, 10.0]}, [200.0, 300.0, 150.0])
    # the paper's QG: one sensor's own |B| (a band fits sensor pairs by default)
    cal = fit_calibration(recs, INFO, FitOptions(spacing="linear", reference="none"))
    p = cal.gestures["fingers"]
    assert p.sensor_index == 1
    assert p.direction == -1
    assert p.extension_ut == pytest.approx(300.0, abs=0.5)
    assert p.flexion_ut == pytest.approx(260.0, abs=0.5)
    t = p.thresholds_ut
    assert np.allclose(np.diff(t), -5.0, atol=0.2)
    assert 0.2 < p.noise_ut_rms < 0.5  # |B| noise ~ per-axis noise
    assert 0 < p.hysteresis_ut < 0.5 * 5.0
    assert cal.layout == "myo3" and cal.n_sensors == 3


def test_dipole_spacing_follows_an_inverse_cube_curve() -> None:
    """Default spacing: |B| ** (-1/3) is linear in level, so thresholds bunch where the
    field changes slowly; both directions give ordered thresholds inside the anchors."""
    for gain in (-40.0, 40.0):
        recs = synth({"fingers": [0.0, gain, 0.0]}, [200.0, 300.0, 150.0])
        p = fit_calibration(recs, INFO).gestures["fingers"]
        t = np.asarray(p.thresholds_ut)
        u = t ** (-1 / 3)
        assert np.allclose(np.diff(u), np.diff(u).mean(), rtol=1e-9)
        lo, hi = sorted((p.extension_ut, p.flexion_ut))
        assert lo < t.min() and t.max() < hi
        steps = np.abs(np.diff(t))
        assert steps[-1] > steps[0] if gain > 0 else steps[-1] < steps[0]


def test_bank_gets_distinct_sensors_and_avoids_crosstalk() -> None:
    # Sensor 0 moves a lot with both gestures; sensor 2 only with wrist.
    recs = synth(
        {"fingers": [40.0, 30.0, 0.0], "wrist": [40.0, 0.0, 35.0]},
        [200.0, 300.0, 150.0],
    )
    cal = fit_calibration(recs, SourceInfo(n_sensors=3, layout="myo3"))
    assert cal.gestures["fingers"].sensor_index == 1
    assert cal.gestures["wrist"].sensor_index == 2


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"gains": {"fingers": [0.5, 0.8, 0.3]}}, "range too small"),
        ({"gains": {"fingers": [0.0, 8.0, 0.0]}, "noise": 1.5}, "range too small"),
        ({"gains": {"fingers": [0.0, 40.0, 0.0]}, "dead": 1}, "range too small"),
    ],
)
def test_refuses_flat_or_noisy_range(kwargs: dict, pattern: str) -> None:
    recs = synth(base=[200.0, 300.0, 150.0], **kwargs)
    with pytest.raises(CalibrationRefused, match=pattern) as exc:
        fit_calibration(recs, INFO)
    assert exc.value.advice  # says what to do
    assert exc.value.gesture == "fingers"


def test_refuses_saturated_sensor() -> None:
    # The moving sensor sits at full scale: every usable sensor is clipped or flat.
    recs = synth({"fingers": [0.0, 600.0, 0.0]}, [200.0, 1500.0, 150.0], limit_ut=1600.0)
    with pytest.raises(CalibrationRefused) as exc:
        fit_calibration(recs, INFO)
    report = " ".join(str(exc.value).split())
    assert "range too small" in report
    # The table explains why sensor 1 was left out.
    recs_ok = synth({"fingers": [0.0, 600.0, 30.0]}, [200.0, 1500.0, 150.0], limit_ut=1600.0)
    cal = fit_calibration(recs_ok, INFO)
    assert cal.gestures["fingers"].sensor_index == 2
    assert cal.report["fingers"][1]["problem"].startswith("saturated")


def test_refuses_when_every_sensor_is_dead() -> None:
    recs = synth({"fingers": [0.0, 40.0, 0.0]}, [200.0, 300.0, 150.0])
    for r in recs:
        r.field_ut[:] = np.nan
    with pytest.raises(CalibrationRefused, match=r"no usable sensor.*dead"):
        fit_calibration(recs, INFO)


def test_partial_bank_lists_refused_gestures() -> None:
    recs = synth({"fingers": [0.0, 40.0, 0.0], "thumb": [0.0, 0.0, 0.4]}, [200.0, 300.0, 150.0])
    with pytest.raises(CalibrationRefused):
        fit_calibration(recs, INFO)
    cal = fit_calibration(recs, INFO, partial=True)
    assert list(cal.gestures) == ["fingers"]
    assert "thumb" in cal.refused


def test_hysteresis_options() -> None:
    recs = synth({"fingers": [0.0, 40.0, 0.0]}, [200.0, 300.0, 150.0])
    assert fit_calibration(recs, INFO, FitOptions(hysteresis_ut=0.7)).gestures[
        "fingers"
    ].hysteresis_ut == pytest.approx(0.7)
    cal = fit_calibration(recs, INFO, FitOptions(hysteresis_step=0.2))
    assert cal.gestures["fingers"].hysteresis_ut == pytest.approx(1.0, rel=0.05)
    with pytest.raises(CalibrationRefused, match="hysteresis"):
        fit_calibration(recs, INFO, FitOptions(hysteresis_step=0.6))


def test_json_round_trip_decodes_identically(tmp_path: Path) -> None:
    recs = synth({"fingers": [0.0, 40.0, 0.0], "wrist": [25.0, 0.0, 0.0]}, [200.0, 300.0, 150.0])
    cal = fit_calibration(recs, INFO)
    path = cal.save(tmp_path / "cal.json")
    d = json.loads(path.read_text())
    assert d["schema"] == "fist-and-ball/qg-calibration" and d["version"] == 1
    g = d["gestures"]["fingers"]
    for key in (
        "sensor_index",
        "direction",
        "anchors_ut",
        "thresholds_ut",
        "hidden_weights",
        "hidden_biases",
        "output_weights",
        "noise_ut_rms",
        "hysteresis_ut",
    ):
        assert key in g
    assert g["output_weights"] == [1] * 8
    assert g["reference_index"] != g["sensor_index"]  # a band reads a sensor pair
    back = Calibration.load(path, INFO)
    assert back.to_dict() == cal.to_dict()
    assert back.gestures["fingers"].reference_index == cal.gestures["fingers"].reference_index
    a, b = QGBank(cal), QGBank(back)
    rng = np.random.default_rng(3)
    for k in range(200):
        f = rng.normal(0, 1, (3, 3)) + np.array(
            [[200.0, 0, 0], [300.0 - k * 0.2, 0, 0], [150.0, 0, 0]]
        )
        s = Sample.from_field(k, 0.0, 0.0, f)
        assert a.decode(s) == b.decode(s)


def test_band_reads_a_sensor_pair_that_a_uniform_field_cannot_move() -> None:
    """A band's QG reads its sensor minus a reference sensor: a uniform field (the arm
    turning in the Earth's field) leaves its grade alone, while the paper's single-sensor
    QG, calibrated on the same holds, is thrown several grades."""
    recs = synth({"fingers": [3.0, -40.0, 10.0]}, [200.0, 300.0, 150.0])
    pair = fit_calibration(recs, INFO, FitOptions(adapt=False))
    paper = fit_calibration(recs, INFO, FitOptions(adapt=False, reference="none"))
    p = pair.gestures["fingers"]
    assert p.sensor_index == 1 and p.reference_index in (0, 2)
    assert paper.gestures["fingers"].reference_index is None
    assert pair.method["input"] == "sensor minus reference sensor"
    assert any(r["sensor"] == f"1-{p.reference_index}" for r in pair.report["fingers"])
    dirs = np.random.default_rng(0).normal(size=(3, 3))  # synth's sensor directions
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    rest = np.array([200.0, 300.0, 150.0])[:, None] * dirs
    half = np.array([201.5, 280.0, 155.0])[:, None] * dirs  # half closed: grade 4
    uniform = -20.0 * dirs[1]  # along sensor 1's field: |B1| falls 20 uT, half the range
    for bank_cal, moved in ((pair, False), (paper, True)):
        bank = QGBank(bank_cal)
        quiet = bank.decode(Sample.from_field(0, 0.0, 0.0, half)).grade
        assert quiet == 4
        assert bank.decode(Sample.from_field(1, 0.0, 0.0, rest)).grade == 0
        shifted = bank.decode(Sample.from_field(2, 0.0, 0.0, rest + uniform)).grade
        assert (shifted >= 3) == moved, (bank_cal.method["input"], shifted)


def test_reference_mode_auto_uses_pairs_only_without_the_environment_stage() -> None:
    three = synth({"fingers": [0.0, 40.0, 0.0]}, [200.0, 300.0, 150.0])
    six = synth({"fingers": [0.0, 40.0, 0.0, 5.0, 0.0, 3.0]}, [200.0, 300.0, 150.0] * 2)
    info6 = SourceInfo(n_sensors=6, rate_hz=RATE, full_scale_gauss=16.0, source="x")
    assert fit_calibration(three, INFO).gestures["fingers"].reference_index is not None
    # six sensors: the environment-rejection stage takes uniform fields out instead
    assert fit_calibration(six, info6).gestures["fingers"].reference_index is None
    forced = fit_calibration(six, info6, FitOptions(reference="pair")).gestures["fingers"]
    assert forced.sensor_index == 1 and forced.reference_index is not None
    with pytest.raises(ValueError, match="reference must be one of"):
        fit_calibration(three, INFO, FitOptions(reference="both"))


@pytest.mark.parametrize(("reference", "needle"), [(1, "another sensor"), (7, "uses sensor 7")])
def test_a_bad_reference_sensor_in_a_file_is_refused(
    tmp_path: Path, reference: int, needle: str
) -> None:
    recs = synth({"fingers": [0.0, 40.0, 0.0]}, [200.0, 300.0, 150.0])
    d = fit_calibration(recs, INFO).to_dict()
    d["gestures"]["fingers"]["reference_index"] = reference  # sensor_index is 1
    (tmp_path / "c.json").write_text(json.dumps(d))
    with pytest.raises(CalibrationError, match=needle):
        Calibration.load(tmp_path / "c.json")


def test_edited_thresholds_only_file_loads(tmp_path: Path) -> None:
    recs = synth({"fingers": [0.0, 40.0, 0.0]}, [200.0, 300.0, 150.0])
    d = fit_calibration(recs, INFO).to_dict()
    g = d["gestures"]["fingers"]
    del g["hidden_weights"], g["hidden_biases"]
    g["direction"], g["thresholds_ut"] = 1, [302.0 + 4 * k for k in range(8)]
    g["anchors_ut"] = {"extension": 300.0, "flexion": 334.0, "rest": None}
    (tmp_path / "c.json").write_text(json.dumps(d))
    p = Calibration.load(tmp_path / "c.json").gestures["fingers"]
    assert p.thresholds_ut == pytest.approx(g["thresholds_ut"])
    # Thresholds that contradict the weights are an error, not silently ignored.
    d2 = fit_calibration(recs, INFO).to_dict()
    d2["gestures"]["fingers"]["thresholds_ut"][0] += 3.0
    (tmp_path / "d.json").write_text(json.dumps(d2))
    with pytest.raises(CalibrationError, match="disagree"):
        Calibration.load(tmp_path / "d.json")


def test_wrong_layout_and_sensor_count(tmp_path: Path) -> None:
    recs = synth({"fingers": [0.0, 40.0, 0.0]}, [200.0, 300.0, 150.0])
    path = fit_calibration(recs, INFO).save(tmp_path / "cal.json")
    with pytest.raises(CalibrationError, match=r"3 sensors.*source has 16"):
        Calibration.load(path, SourceInfo(n_sensors=16, layout="socket16"))
    with pytest.raises(CalibrationError, match=r"layout 'myo3'.*'band3b'"):
        Calibration.load(path, SourceInfo(n_sensors=3, layout="band3b"))
    with pytest.raises(ValueError, match="source has 16"):
        open_decoder(f"qg:{path}", SourceInfo(n_sensors=16, layout="socket16"))
    # Unknown layout on a live device: only the sensor count is checked.
    assert open_decoder(f"qg:{path}", SourceInfo(n_sensors=3)).ready


def test_corrupt_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"schema": "fist-and-ball/qg-calibration", "version": 1, ')
    with pytest.raises(CalibrationError, match=r"broken\.json.*not valid JSON"):
        Calibration.load(bad)
    bad.write_text(json.dumps({"schema": "something-else"}))
    with pytest.raises(CalibrationError, match=r"broken\.json.*not a QG calibration"):
        Calibration.load(bad)
    bad.write_text(
        json.dumps(
            {
                "schema": "fist-and-ball/qg-calibration",
                "version": 1,
                "n_sensors": 3,
                "gestures": {"fingers": {"direction": 1}},
            }
        )
    )
    with pytest.raises(CalibrationError, match=r"broken\.json"):
        Calibration.load(bad)
    with pytest.raises(CalibrationError, match=r"nope\.json does not exist"):
        Calibration.load(tmp_path / "nope.json")


def test_factory_forms(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"qg:CAL\.json.*mcnn:MODEL_DIR.*linear:MODEL\.json"):
        open_decoder("svm:x", INFO)
    with pytest.raises(ValueError, match="needs a calibration"):
        open_decoder("qg", INFO)
    with pytest.raises(ValueError, match="does not exist"):
        open_decoder(f"mcnn:{tmp_path / 'none'}", INFO)
    recs = synth({"fingers": [0.0, 40.0, 0.0]}, [200.0, 300.0, 150.0])
    dec = open_decoder("qg", INFO, calibration=fit_calibration(recs, INFO))
    assert dec.name == "qg" and dec.gestures == ("fingers",)


def test_bank_switch_and_simultaneous() -> None:
    recs = synth({"fingers": [0.0, 40.0, 0.0], "wrist": [0.0, 0.0, -30.0]}, [200.0, 300.0, 150.0])
    # No adaptation here: its start-up tare would take this closed fist for rest.
    bank = QGBank(fit_calibration(recs, INFO, FitOptions(adapt=False, reference="none")))
    assert bank.ready and set(bank.gestures) == {"fingers", "wrist"}
    f = np.array([[200.0, 0, 0], [340.0, 0, 0], [150.0, 0, 0]])  # fingers closed, wrist open
    s = Sample.from_field(1, 0.0, 0.0, f)
    assert bank.active_gesture == "fingers"
    out = bank.decode(s)
    assert (out.gesture, out.grade, out.sensor_index) == ("fingers", 8, 1)
    both = bank.simultaneous
    assert both["fingers"].grade == 8 and both["wrist"].grade == 0
    bank.set_gesture("wrist")
    assert bank.decode(s).gesture == "wrist"
    with pytest.raises(ValueError, match="not calibrated"):
        bank.set_gesture("thumb")
    assert not QGBank(None).ready


def test_refuses_unsteady_holds() -> None:
    recs = synth({"fingers": [0.0, 40.0, 0.0]}, [200.0, 300.0, 150.0])
    for r in recs:
        if r.phase.kind != "rest":  # the hand kept moving through each hold
            ramp = np.linspace(-30.0, 30.0, len(r.field_ut))
            r.field_ut[:, 1, :] *= (1.0 + ramp / 300.0)[:, None]
    with pytest.raises(CalibrationRefused, match="not steady"):
        fit_calibration(recs, INFO)


def test_refuses_a_rest_far_outside_the_range() -> None:
    """The patient relaxed with a tight fist far beyond 'full' flexion: cues not followed."""
    recs = synth({"fingers": [0.0, 40.0, 0.0]}, [200.0, 300.0, 150.0])
    for r in recs:
        if r.phase.kind == "rest":
            r.field_ut[:, 1, :] *= 1.5
    with pytest.raises(CalibrationRefused, match="cues were probably not followed"):
        fit_calibration(recs, INFO)


def test_bank_refuses_frames_with_another_sensor_count() -> None:
    """A device source learns its sensor count only from the first frame, after the
    calibration was checked at open: a 3-sensor calibration must not decode 16-sensor
    frames (it would read sensor 1 of the wrong device and drive the hand)."""
    recs = synth({"fingers": [0.0, 40.0, 0.0]}, [200.0, 300.0, 150.0])
    bank = QGBank(fit_calibration(recs, INFO, FitOptions(adapt=False, reference="none")))
    wrong = Sample.from_field(1, 0.0, 0.0, np.full((16, 3), 100.0))
    with pytest.raises(ValueError, match=r"calibration is for 3 sensors.*sends 16"):
        bank.decode(wrong)
    assert not bank.ready  # the hand safety layer holds while the decoder is not ready
    right = Sample.from_field(2, 0.0, 0.0, np.array([[200.0, 0, 0], [340.0, 0, 0], [150.0, 0, 0]]))
    assert bank.decode(right).grade == 8
    assert bank.ready


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["gestures"]["fingers"].__setitem__("adaptation", 5), "adaptation"),
        (lambda d: d["gestures"]["fingers"].__setitem__("anchors_ut", [1, 2]), "anchors_ut"),
        (lambda d: d.__setitem__("default_gesture", ["fingers"]), "default_gesture"),
        (lambda d: d.__setitem__("n_sensors", float("inf")), "broken"),
        (lambda d: d["gestures"]["fingers"].__setitem__("sensor_index", float("inf")), "broken"),
    ],
)
def test_hand_edited_files_of_the_wrong_type_are_calibration_errors(
    tmp_path: Path, edit: Any, needle: str
) -> None:
    """Every corrupt value is a CalibrationError naming the file, never a traceback."""
    recs = synth({"fingers": [0.0, 40.0, 0.0]}, [200.0, 300.0, 150.0])
    d = fit_calibration(recs, INFO).to_dict()
    edit(d)
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps(d))  # inf is written as Infinity, which json.loads takes
    with pytest.raises(CalibrationError, match=r"broken\.json") as info:
        Calibration.load(bad, INFO)
    assert needle in str(info.value)
