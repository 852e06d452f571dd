"""The re-don check's core on independently simulated (foreign) patients, both ways:
a placement the decoder can handle is accepted or adapted, one that breaks it refused.

QG is calibrated the documented way (the calibration fit on the holds of a same-placement
cued session, as bench/tracking_compare.py does), the routine runs on the re-donned day
(a one-repetition cued session replayed as the routine's samples) and a later day's
session is decoded with the adapted calibration and scored against the truth."""

from __future__ import annotations

import dataclasses
import functools
import sys
from pathlib import Path

import numpy as np
import pytest

from bridge.decoders.qg_bank import QGBank
from bridge.decoders.qg_calibration import Calibration
from bridge.decoders.qg_fit import FitOptions, fit_calibration
from bridge.evaluation import run_decoder_evaluation
from bridge.redon.check import check_qg
from bridge.redon.live import apply_result
from bridge.redon.routine import RedonRoutine, RoutineRecording, RoutineTiming
from bridge.redon.session_feed import routine_samples
from bridge.sim.foreign_patients import (
    ForeignPatient,
    Placement,
    cued_session,
    draw_patient,
    write_recording,
)
from bridge.values.sample import Sample

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from tracking_compare import _info, qg_holds  # noqa: E402

QG_SEEDS = (0, 2, 3)


def _routine(patient: ForeignPatient, placement: Placement, movements: tuple[str, ...]):
    day = cued_session(patient, placement, repetitions=1, session_seed=7)
    routine = RedonRoutine(movements)
    for s in routine_samples(day, movements):
        routine.feed(s)
    assert routine.done
    return routine.recording()


@functools.cache
def _qg_calibration(seed: int, reference: str = "auto") -> Calibration:
    """The fingers calibration; `reference="none"` the paper's single-sensor QG."""
    patient = draw_patient(seed, kind="band")
    fitting = cued_session(patient, repetitions=3)
    holds = [h for h in qg_holds(fitting) if h.phase.gesture == "fingers"]
    return fit_calibration(holds, _info(fitting), FitOptions(reference=reference))


def _fingers_within1(patient: ForeignPatient, placement: Placement, cal: Calibration, tmp: Path):
    later = cued_session(patient, placement, repetitions=3, full_flexions=False, session_seed=11)
    rec = write_recording(later, tmp / "later.csv")
    path = cal.save(tmp / "cal.json")
    res = run_decoder_evaluation([f"qg:{path}"], rec)["results"][0]
    return res["movements"]["fingers"]["within1"]


# ---- the routine --------------------------------------------------------------------
def _flat(seq: int, t: float, n: int = 3) -> Sample:
    return Sample.from_field(seq, t, 0.0, np.full((n, 3), 10.0))


def test_routine_steps_progress_and_end_follow_the_injected_clock() -> None:
    timing = RoutineTiming(rest_s=2.0, flex_s=1.0, hold_s=1.0, relax_s=1.0)
    r = RedonRoutine(("fingers", "thumb"), timing)
    assert r.total_s == pytest.approx(8.0)
    seen, last_progress = [], -1.0
    for k in range(0, 100):
        # the sample clock says 0.1 s steps; the injected clock runs twice as fast
        st = r.feed(_flat(k, 0.1 * k), now=0.2 * k)
        assert st.progress >= last_progress
        last_progress = st.progress
        if not seen or seen[-1] != (st.step, st.phase):
            seen.append((st.step, st.phase))
        if st.done:
            break
    assert st.done and st.progress == 1.0 and st.remaining_s == 0.0
    assert k == 40  # 8 s at 0.2 s per sample: the injected clock counts, not t_device
    assert seen[:7] == [
        ("rest", "rest"),
        ("fingers", "flex"),
        ("fingers", "hold"),
        ("fingers", "relax"),
        ("thumb", "flex"),
        ("thumb", "hold"),
        ("thumb", "relax"),
    ]
    rec = r.recording()
    assert len(rec.t_s) == 40 and set(rec.step) == {"rest", "fingers", "thumb"}
    assert (rec.step[rec.settled_rest()] == "rest").all()
    # fed after the end: nothing more is kept
    r.feed(_flat(999, 100.0))
    assert len(r.recording().t_s) == 40


def test_routine_refuses_a_changing_sensor_count_and_no_samples() -> None:
    r = RedonRoutine(("fingers",))
    with pytest.raises(ValueError, match="no samples"):
        r.recording()
    r.feed(_flat(0, 0.0, n=3))
    with pytest.raises(ValueError, match="sensor count changed"):
        r.feed(_flat(1, 0.1, n=4))


def test_session_feed_gives_the_routine_length_and_one_flexion_per_step() -> None:
    patient = draw_patient(0, kind="band")
    rec: RoutineRecording = _routine(patient, Placement(), ("fingers", "wrist", "thumb"))
    assert 20.0 <= rec.t_s[-1] <= 30.0
    m = rec.magnitudes
    rest = np.median(m[rec.settled_rest()], axis=0)
    for g in ("fingers", "wrist", "thumb"):
        assert np.abs(m[rec.movement(g)] - rest).max() > 5.0  # the tag moved in its step


# ---- QG on a 3-sensor band ----------------------------------------------------------
@pytest.mark.parametrize("seed", QG_SEEDS)
def test_qg_band_shifted_5mm_is_adapted_and_within_one_grade(seed: int, tmp_path: Path) -> None:
    patient = draw_patient(seed, kind="band")
    cal = _qg_calibration(seed)
    shifted = Placement(shift_mm=5.0)
    result = check_qg(_routine(patient, shifted, ("fingers",)), cal, "qg:cal.json")
    assert result.verdict == "adapted", result.reasons
    assert result.calibration is not None and result.pose is None
    assert _fingers_within1(patient, shifted, result.calibration, tmp_path) >= 0.95


def test_qg_same_placement_is_accepted_unchanged() -> None:
    patient = draw_patient(0, kind="band")
    cal = _qg_calibration(0)
    result = check_qg(_routine(patient, Placement(), ("fingers",)), cal)
    assert result.verdict == "accepted", result.reasons
    assert result.calibration is not None
    assert result.calibration.gestures["fingers"] == cal.gestures["fingers"]


TURN_45_BREAKS_PAIR_QG = (2, 3)
"""Patients whose default (sensor-pair) QG fails a later day with the band turned 45 deg
(86.7 % and 38.5 % within-1); patient 0's still scores 100 % there: its pair straddles
the tag both ways round, yet the check refuses (the band has turned: sensor 2 now sees
the movement 3.5 x more than the calibrated sensor), erring on the cautious side."""


@pytest.mark.parametrize("reference", ["auto", "none"])
@pytest.mark.parametrize("seed", QG_SEEDS)
def test_qg_band_turned_45_degrees_is_refused_with_a_reason(
    seed: int, reference: str, tmp_path: Path
) -> None:
    patient = draw_patient(seed, kind="band")
    cal = _qg_calibration(seed, reference)
    assert (cal.gestures["fingers"].reference_index is None) == (reference == "none")
    turned = Placement(turn_deg=45.0)
    result = check_qg(_routine(patient, turned, ("fingers",)), cal)
    assert result.verdict == "refused"
    assert result.calibration is None
    assert "calibrate again" in result.summary and result.reasons
    # the refusal is right: the old calibration fails on that day (the paper's QG on
    # every patient, the sensor-pair QG on those listed)
    if reference == "none" or seed in TURN_45_BREAKS_PAIR_QG:
        assert _fingers_within1(patient, turned, cal, tmp_path) < 0.95


def test_qg_other_sensor_rule_compares_with_the_calibrations_own_ratio() -> None:
    """Patient 17's three-movement calibration chose the thumb's sensor for its low
    crosstalk although another sensor moved 3 x more already in the calibration: the same
    placement is accepted; without the calibration's report (no recorded ratio: the fixed
    2 x) the same routine is refused as a turned band."""
    patient = draw_patient(17, kind="band")
    fitting = cued_session(patient, repetitions=3)
    cal = fit_calibration(qg_holds(fitting), _info(fitting), partial=True)
    routine = _routine(patient, Placement(), tuple(cal.gestures))
    result = check_qg(routine, cal)
    assert result.verdict == "accepted", result.reasons
    thumb = result.details["thumb"]
    assert thumb["other_ratio"] > 2.0 and thumb["other_ratio_limit"] > thumb["other_ratio"]
    bare = check_qg(routine, dataclasses.replace(cal, report={}))
    assert bare.verdict == "refused"
    assert any("thumb" in r and "the band has turned" in r for r in bare.reasons)


def test_qg_collapsed_range_asks_to_put_the_band_back() -> None:
    """A band slid far down the arm: the range collapses, and the advice is to put the band
    back first (a fresh calibration there would see small, bent grade steps)."""
    patient = draw_patient(0, kind="band")
    cal = _qg_calibration(0)
    result = check_qg(_routine(patient, Placement(shift_mm=-15.0), ("fingers",)), cal)
    assert result.verdict == "refused", result.reasons
    assert any("squeezed" in r or "other way" in r for r in result.reasons)
    assert "put the band (or socket) back where it sat" in result.summary
    turned = check_qg(_routine(patient, Placement(turn_deg=45.0), ("fingers",)), cal)
    assert turned.verdict == "refused"


def test_apply_result_swaps_the_running_qg_only_when_adapted() -> None:
    patient = draw_patient(0, kind="band")
    cal = _qg_calibration(0)
    bank = QGBank(cal)
    same = check_qg(_routine(patient, Placement(), ("fingers",)), cal)
    assert same.verdict == "accepted" and not apply_result(bank, same)
    assert bank.calibration is cal
    shifted = check_qg(_routine(patient, Placement(shift_mm=5.0), ("fingers",)), cal)
    assert shifted.verdict == "adapted" and apply_result(bank, shifted)
    assert bank.calibration is shifted.calibration
    assert bank.active_gesture == "fingers"
    # the bank decodes with the new anchors: today's rest reads grade 0
    rest = shifted.calibration.gestures["fingers"].rest_ut
    i = shifted.calibration.gestures["fingers"].sensor_index
    field = np.zeros((cal.n_sensors, 3))
    field[i, 2] = rest
    assert bank.decode(Sample.from_field(0, 0.0, 0.0, field)).grade == 0
    refused = check_qg(_routine(patient, Placement(turn_deg=45.0), ("fingers",)), cal)
    assert not apply_result(bank, refused)
    assert bank.calibration is shifted.calibration
