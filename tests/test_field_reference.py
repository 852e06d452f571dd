"""Environment rejection for QG (bridge/decoders/field_reference.py) on foreign patients.

QG is calibrated per patient the way bench/tracking_compare.py does (holds found from the
cue column and magnitudes); later sessions differ only in their surroundings (the same
session seed), so any change of the decoded grade comes from the environment.
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path

import magpylib
import numpy as np
import pytest

from bridge.decoders.factory import open_decoder
from bridge.decoders.field_reference import MIN_SENSORS, disturbance_factor
from bridge.decoders.qg_bank import QGBank
from bridge.decoders.qg_calibration import Calibration, CalibrationError
from bridge.decoders.qg_fit import fit_calibration
from bridge.evaluation import qg_predictions
from bridge.sim.foreign_patients import (
    ForeignPatient,
    Placement,
    Session,
    cued_session,
    draw_patient,
)
from bridge.values.sample import Sample
from bridge.values.source_info import SourceInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from tracking_compare import qg_holds

SEEDS = (0, 1, 2)
MIN_CONFIDENCE = 0.2
"""The hand's default min_confidence (docs/hand.md): below it a sample is no input."""


def _info(s: Session) -> SourceInfo:
    return SourceInfo(
        n_sensors=s.sensors_mm.shape[0], rate_hz=s.rate_hz, layout="foreign", source="test"
    )


@cache
def patient(seed: int, kind: str = "socket") -> ForeignPatient:
    return draw_patient(seed, kind)


@cache
def calibration(seed: int, kind: str = "socket") -> Calibration:
    fitting = cued_session(patient(seed, kind), repetitions=2)
    return fit_calibration(qg_holds(fitting), _info(fitting), partial=True)


@cache
def later(seed: int, placement: Placement, kind: str = "socket") -> Session:
    return cued_session(
        patient(seed, kind), placement, repetitions=2, full_flexions=False, session_seed=9
    )


def decode(bank: QGBank, session: Session, field: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) grade and confidence per sample, the gesture switched to the cue."""
    f = session.field_ut if field is None else field
    p = qg_predictions(bank, f, session.t_s, np.asarray(session.gesture, dtype=object))
    return np.stack([p.grade, p.confidence], axis=1)


def moved(a: np.ndarray, b: np.ndarray, session: Session) -> float:
    """Share of the cued movement samples whose grade differs by more than half a grade."""
    cued = np.array([c != "rest" for c in session.gesture])
    return float((np.abs(a[cued, 0] - b[cued, 0]) > 0.5).mean())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "surroundings",
    [Placement(heading_sweep_deg=60.0), Placement(earth_heading_deg=90.0)],
    ids=["arm turning", "heading +90 deg"],
)
def test_uniform_change_is_removed(seed: int, surroundings: Placement) -> None:
    cal = calibration(seed)
    quiet, turned = later(seed, Placement()), later(seed, surroundings)
    on_quiet = decode(QGBank(cal), quiet)
    on_turned = decode(QGBank(cal), turned)
    off_quiet = decode(QGBank(cal, reference=False), quiet)
    off_turned = decode(QGBank(cal, reference=False), turned)
    # without the stage the Earth field moves the grade; with it the grade stays
    assert moved(off_quiet, off_turned, quiet) > 0.05
    assert moved(on_quiet, on_turned, quiet) < 0.02
    assert moved(on_quiet, on_turned, quiet) < moved(off_quiet, off_turned, quiet) / 4


def _sensor_away_from_qg(cal: Calibration, sensors_mm: np.ndarray) -> int:
    """The sensor farthest from every sensor a QG reads (the most 'spare' one)."""
    used = sensors_mm[[p.sensor_index for p in cal.gestures.values()]]
    d = np.linalg.norm(sensors_mm[:, None] - used[None], axis=2).min(axis=1)
    return int(np.argmax(d))


def near_pass(session: Session, sensor: int, t0: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Field (N, n, 3) uT of a magnetised steel part (0.05 A m^2) carried past `sensor`
    4 cm outside the socket, along the ring's tangent at 0.1 m/s (20 cm in 2 s), and the
    mask of the samples when it is within 6 cm of that sensor."""
    rng = np.random.default_rng([seed, 0xD1])
    s = session.sensors_mm[sensor]
    radial = np.array([0.0, s[1], s[2]]) / math.hypot(s[1], s[2])
    tangent = np.cross([1.0, 0.0, 0.0], radial)
    along = np.clip((session.t_s - t0 - 1.0) * 100.0, -100.0, 100.0)
    pos = s + 40.0 * radial + along[:, None] * tangent
    moment = rng.standard_normal(3)
    moment *= 0.05 / np.linalg.norm(moment)
    dip = magpylib.misc.Dipole(moment=np.tile(moment, (len(pos), 1)), position=pos * 1e-3)
    b = np.asarray(magpylib.getB(dip, session.sensors_mm * 1e-3)).reshape(len(pos), -1, 3) * 1e6
    inside = (session.t_s >= t0) & (session.t_s <= t0 + 2.0)
    b[~inside] = 0.0
    close = np.linalg.norm(pos - s, axis=1) < 60.0
    return b, inside & close


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("where", ["spare sensor", "QG sensor"])
def test_near_dipole_lowers_confidence_during_the_pass_only(seed: int, where: str) -> None:
    cal = calibration(seed)
    session = later(seed, Placement())
    if where == "QG sensor":
        sensor = cal.gestures[cal.default_gesture or "fingers"].sensor_index
    else:
        sensor = _sensor_away_from_qg(cal, session.sensors_mm)
    t0 = 0.5 * float(session.t_s[-1])
    extra, close = near_pass(session, sensor, t0, seed)
    quiet = decode(QGBank(cal), session)
    passed = decode(QGBank(cal), session, session.field_ut + extra)
    assert close.sum() > 20
    # during the pass the hand would hold ...
    assert (passed[close, 1] < MIN_CONFIDENCE).mean() > 0.8
    # ... before it nothing changed, and a second after it the confidence is back
    before = session.t_s < t0
    np.testing.assert_array_equal(passed[before], quiet[before])
    after = session.t_s > t0 + 3.0
    assert (passed[after, 1] < MIN_CONFIDENCE).mean() <= (
        quiet[after, 1] < MIN_CONFIDENCE
    ).mean() + 0.01
    # the stage off: the pass is not reported
    off = decode(QGBank(cal, reference=False), session, session.field_ut + extra)
    assert (off[close, 1] < MIN_CONFIDENCE).mean() < 0.5


@pytest.mark.parametrize("seed", SEEDS)
def test_band_is_unchanged(seed: int) -> None:
    cal = calibration(seed, "band")
    assert cal.n_sensors < MIN_SENSORS
    assert cal.field_reference is None
    session = later(seed, Placement(heading_sweep_deg=60.0), "band")
    bank = QGBank(cal)
    assert bank.reference is None
    np.testing.assert_array_equal(
        decode(bank, session), decode(QGBank(cal, reference=False), session)
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_switch_off_restores_old_behaviour(seed: int, tmp_path: Path) -> None:
    cal = calibration(seed)
    path = cal.save(tmp_path / "qg.json")
    old = replace(cal, field_reference=None)
    session = later(seed, Placement(heading_sweep_deg=60.0))
    info = _info(session)
    off = open_decoder(f"qg:{path}?reference=off", info)
    on = open_decoder(f"qg:{path}", info)
    assert isinstance(off, QGBank) and isinstance(on, QGBank)
    assert off.reference is None and on.reference is not None
    want = decode(QGBank(old), session)
    np.testing.assert_array_equal(decode(off, session), want)
    assert moved(decode(on, session), want, session) > 0.02
    with pytest.raises(ValueError, match="reference=on or reference=off"):
        open_decoder(f"qg:{path}?reference=maybe", info)


@pytest.mark.parametrize("seed", SEEDS)
def test_socket_elsewhere_turns_the_stage_off(seed: int) -> None:
    """A re-donned socket's rest no longer matches the calibration's: the stage stands
    aside (its patterns would misfit) and the decoder works exactly as without it."""
    cal = calibration(seed)
    session = later(seed, Placement(shift_mm=5.0, turn_deg=10.0))
    bank = QGBank(cal)
    got = decode(bank, session)
    assert bank.reference is not None and bank.reference.off_reason
    assert "re-don" in bank.describe()["environment_rejection"]
    np.testing.assert_array_equal(got, decode(QGBank(cal, reference=False), session))


def test_same_placement_is_not_flagged() -> None:
    """Undisturbed sessions keep their confidence: the stage adds (almost) no holds."""
    for seed in SEEDS:
        cal = calibration(seed)
        session = later(seed, Placement())
        on = decode(QGBank(cal), session)
        off = decode(QGBank(cal, reference=False), session)
        assert (on[:, 1] < MIN_CONFIDENCE).mean() <= (off[:, 1] < MIN_CONFIDENCE).mean() + 0.01


def test_calibration_file_keeps_the_reference(tmp_path: Path) -> None:
    cal = calibration(SEEDS[0])
    assert cal.field_reference is not None
    back = Calibration.load(cal.save(tmp_path / "qg.json"))
    assert back.field_reference == cal.field_reference
    bad = cal.to_dict()
    bad["field_reference"] = {**bad["field_reference"], "rest_ut": [[1.0, 2.0]]}
    with pytest.raises(CalibrationError, match="field_reference"):
        Calibration.from_dict(bad)


def test_disturbance_factor_is_smooth_and_bounded() -> None:
    assert disturbance_factor(0.0, 10.0) == 1.0
    assert disturbance_factor(10.0, 10.0) == 0.0
    assert disturbance_factor(50.0, 10.0) == 0.0
    xs = np.linspace(0.0, 10.0, 101)
    f = np.array([disturbance_factor(x, 10.0) for x in xs])
    assert np.all(np.diff(f) <= 0.0) and abs(f[50] - 0.5) < 1e-9


def test_dead_sensor_does_not_break_the_stage() -> None:
    cal = calibration(SEEDS[0])
    session = later(SEEDS[0], Placement())
    bank = QGBank(cal)
    for i in range(len(session)):
        f = session.field_ut[i].copy()
        if i > len(session) // 2:
            f[3] = np.nan
        d = bank.decode(Sample.from_field(i, float(session.t_s[i]), 0.0, f))
        assert math.isfinite(d.confidence)


MCNN_SEEDS = (3, 5, 15)
"""Foreign sockets of 16 sensors: the shipped MCNN-TG bundle's input size."""


@pytest.mark.parametrize("seed", MCNN_SEEDS)
def test_mcnn_reports_a_near_dipole_through_its_confidence(seed: int, tmp_path: Path) -> None:
    """MCNN-TG's input stays as trained; only its confidence drops during the pass."""
    cal = calibration(seed)
    path = cal.save(tmp_path / "qg.json")
    session = later(seed, Placement())
    info = _info(session)
    sensor = _sensor_away_from_qg(cal, session.sensors_mm)
    t0 = 0.5 * float(session.t_s[-1])
    extra, close = near_pass(session, sensor, t0, seed)
    field = session.field_ut + extra
    # the shipped bundle was trained on socket16: only its input size has to match here
    info = replace(info, layout=None)

    def run(spec: str) -> np.ndarray:
        dec = open_decoder(spec, info)
        out = [
            dec.decode(Sample.from_field(i, float(session.t_s[i]), 0.0, field[i]))
            for i in range(len(session))
        ]
        return np.array([[d.level, d.confidence] for d in out])

    plain = run("mcnn:default")
    watched = run(f"mcnn:default?reference={path}")
    np.testing.assert_array_equal(watched[:, 0], plain[:, 0])  # same network output
    assert (watched[close, 1] < MIN_CONFIDENCE).mean() > 0.8
    before = session.t_s < t0
    np.testing.assert_array_equal(watched[before], plain[before])
    after = session.t_s > t0 + 3.0
    assert (watched[after, 1] < MIN_CONFIDENCE).mean() <= (
        plain[after, 1] < MIN_CONFIDENCE
    ).mean() + 0.01


def test_mcnn_reference_needs_a_socket_calibration(tmp_path: Path) -> None:
    band = calibration(SEEDS[0], "band").save(tmp_path / "band.json")
    info = SourceInfo(n_sensors=None, rate_hz=42.7, layout=None, source="test")
    with pytest.raises(ValueError, match="no field reference"):
        open_decoder(f"mcnn:default?reference={band}", info)
