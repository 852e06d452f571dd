"""The re-don check for magnet tracking on foreign socket patients, both ways: a socket
re-donned 5 mm / 10 deg away gets its pose found and handed to the tracker; one turned
45 deg, or a field the twin cannot explain, is refused."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

from bridge.decoders.qg_fit import fit_calibration
from bridge.redon.check import check_qg, check_track
from bridge.redon.routine import RedonRoutine, RoutineRecording
from bridge.redon.session_feed import routine_samples
from bridge.sim.foreign_patients import (
    ForeignPatient,
    Placement,
    Session,
    cued_session,
    draw_patient,
)
from bridge.tracking.twin import Twin
from bridge.tracking.twin_fit import CuedData, fit_twin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from tracking_compare import _info, qg_holds  # noqa: E402

TRACK_SEEDS = (0, 1)


def _routine(
    patient: ForeignPatient, placement: Placement, movements: tuple[str, ...]
) -> RoutineRecording:
    day = cued_session(patient, placement, repetitions=1, session_seed=7)
    routine = RedonRoutine(movements)
    for s in routine_samples(day, movements):
        routine.feed(s)
    assert routine.done
    return routine.recording()


@functools.cache
def _fitting(seed: int) -> Session:
    return cued_session(draw_patient(seed), repetitions=3)


@functools.cache
def _twin(seed: int) -> Twin:
    fitting = _fitting(seed)
    fit = fit_twin([CuedData(fitting.field_ut, fitting.gesture, fitting.sensors_mm)])
    assert fit.twin is not None, fit.refused
    return fit.twin


@pytest.mark.parametrize("seed", TRACK_SEEDS)
def test_track_finds_the_pose_of_a_redonned_socket_and_refuses_45_degrees(seed: int) -> None:
    patient = draw_patient(seed)
    twin = _twin(seed)
    ok = check_track(_routine(patient, Placement(5.0, 10.0), twin.movements), twin, "track:t")
    assert ok.verdict == "adapted", ok.reasons
    assert ok.pose is not None and ok.pose_result is not None
    assert ok.pose.shift_mm == pytest.approx(5.0, abs=1.0)
    assert ok.pose.turn_deg == pytest.approx(10.0, abs=2.0)
    msg = ok.to_message()
    assert msg["state"] == "adapted" and set(msg["pose"]) == {"shift_mm", "turn_deg"}
    bad = check_track(_routine(patient, Placement(0.0, 45.0), twin.movements), twin)
    assert bad.verdict == "refused" and bad.pose_result is None
    assert any("deg" in r for r in bad.reasons)


def test_track_refuses_a_field_the_twin_does_not_explain() -> None:
    patient = draw_patient(0)
    twin = _twin(0)
    rec = _routine(patient, Placement(), twin.movements)
    # a magnet held at one sensor during the movements: a field no pose can explain
    field = rec.field_ut.copy()
    moving = rec.step != "rest"
    field[moving, 0, :] += 80.0
    noisy = RoutineRecording(**{**rec.__dict__, "field_ut": field})
    result = check_track(noisy, twin)
    assert result.verdict == "refused"
    assert any("explains the field" in r for r in result.reasons)


def test_qg_with_a_twin_takes_its_range_from_the_pose_and_reports_it() -> None:
    patient = draw_patient(0)
    fitting = _fitting(0)
    holds = [h for h in qg_holds(fitting) if h.phase.gesture == "fingers"]
    cal = fit_calibration(holds, _info(fitting))
    rec = _routine(patient, Placement(5.0, 10.0), ("fingers",))
    plain = check_qg(rec, cal)
    with_twin = check_qg(rec, cal, twin=_twin(0))
    assert plain.verdict == with_twin.verdict == "adapted"
    assert plain.pose is None and with_twin.pose is not None
    assert with_twin.pose.turn_deg == pytest.approx(10.0, abs=2.0)
    scale = with_twin.details["fingers"]["twin_scale"]
    measured = with_twin.details["fingers"]["range_ratio"]
    assert scale == pytest.approx(measured, rel=0.15)  # the twin agrees with the routine
    assert with_twin.calibration is not None and plain.calibration is not None
    a = with_twin.calibration.gestures["fingers"]
    b = plain.calibration.gestures["fingers"]
    assert a.flexion_ut != b.flexion_ut  # the twin's range was used, not the measured one
