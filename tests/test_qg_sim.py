"""QG on the real simulator: automatic calibration, then a scripted session's accuracy.

What is counted: every sample of a scripted session (the paper's protocol: 3 s lead
rest, then 10 repetitions of flex ramp / hold / extend ramp / settle / rest for the
listed movements) whose cue is `fingers` or `rest`. A sample is correct when the QG
grade is within 1 of the simulator's ground truth (8 x the fingers tag's true
displacement; at rest 8 x the largest tag displacement). Calibration and use run with
different seeds (different patient noise, tremor and arm heading in the room), and
the band shift is applied in the use session only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from bridge.decoders.qg_bank import QGBank
from bridge.decoders.qg_calibration import Calibration
from bridge.decoders.qg_fit import FitOptions, fit_calibration
from bridge.decoders.qg_input import channel_magnitudes
from bridge.evaluation import run_decoder_evaluation
from bridge.sim.calibration_run import record_guided_calibration
from bridge.sim.config import SimConfig
from bridge.sim.foreign_patients import Placement, cued_session, draw_patient, write_recording
from bridge.sim.layouts import get_layout
from bridge.sim.simulator import Simulator
from bridge.values.sample import GESTURES, Sample

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from tracking_compare import _info, qg_holds


def session_accuracy(cal: Calibration, cfg: SimConfig) -> tuple[float, int]:
    """Fraction of fingers/rest-cued samples with |grade - grade_true| <= 1, and their count."""
    blk = Simulator(cfg).generate_all()
    bank = QGBank(cal)
    grades = np.empty(len(blk))
    for k in range(len(blk)):
        s = Sample.from_field(
            int(blk.seq[k]), float(blk.t_s[k]), 0.0, blk.field_ut[k], bool(blk.saturated[k])
        )
        grades[k] = bank.decode(s).grade
    cue = np.asarray(GESTURES)[blk.gesture]
    counted = (cue == "fingers") | (cue == "rest")
    ok = np.abs(grades - blk.grade_true) <= 1.0
    return float(ok[counted].mean()), int(counted.sum())


@pytest.fixture(scope="module", params=["myo3", "socket16"])
def calibrated(request: pytest.FixtureRequest) -> tuple[str, Calibration]:
    layout = request.param
    return layout, fit_calibration(
        *record_guided_calibration(SimConfig(layout=layout, seed=1), ("fingers",))
    )


def test_calibration_picks_a_sensor_that_moves_with_the_fingers(
    calibrated: tuple[str, Calibration],
) -> None:
    layout, cal = calibrated
    p = cal.gestures["fingers"]
    assert cal.layout == layout and cal.n_sensors == get_layout(layout).n_sensors
    rows = cal.report["fingers"]
    # The chosen sensor has the largest range of all sensors (only one gesture recorded;
    # a band's report also lists the sensor pairs its QG may read).
    rows = [r for r in rows if isinstance(r["sensor"], int)]
    assert rows[p.sensor_index]["range_ut"] == max(r["range_ut"] for r in rows)
    assert p.grade_step_ut > 10 * p.noise_ut_rms
    if layout == "myo3":
        assert p.sensor_index == get_layout("myo3").qg_sensor  # the paper's middle sensor


@pytest.mark.parametrize("shift_mm", [0.0, 5.0])
def test_grades_match_ground_truth(calibrated: tuple[str, Calibration], shift_mm: float) -> None:
    """THE acceptance test: >= 95% within +-1 grade, also with the band moved 5 mm."""
    layout, cal = calibrated
    use = SimConfig(layout=layout, seed=7, gestures=("fingers",), shift_mm=shift_mm)
    acc, n = session_accuracy(cal, use)
    assert n > 2000
    assert acc >= 0.95, f"{layout} shift {shift_mm} mm: {acc:.3f} within +-1 grade"


def test_all_movements_session_counts_fingers_and_rest(
    calibrated: tuple[str, Calibration],
) -> None:
    """Wrist and thumb blocks in between (not counted) must not derail the fingers QG."""
    layout, cal = calibrated
    use = SimConfig(layout=layout, seed=11, shift_mm=5.0, repetitions=6)
    acc, _ = session_accuracy(cal, use)
    assert acc >= 0.95, f"{layout}: {acc:.3f}"


def test_without_compensation_a_moved_band_fails() -> None:
    """The control: the same physics without the gain stage really does break at 5 mm,
    so the acceptance test above measures the compensation, not an easy signal."""
    recs, info = record_guided_calibration(SimConfig(layout="myo3", seed=1))
    cal = fit_calibration(recs, info, FitOptions(adapt=False))
    use = SimConfig(layout="myo3", seed=7, gestures=("fingers",), repetitions=4, shift_mm=5.0)
    acc, _ = session_accuracy(cal, use)
    assert acc < 0.6


def test_calibration_refuses_a_silent_tag() -> None:
    """Remanence near zero: no sensor sees the tag move; the refusal says why."""
    from bridge.cues import CalibrationRefused

    cfg = SimConfig(layout="myo3", seed=2, remanence_t=0.0005)
    recs, info = record_guided_calibration(cfg, hold_s=2.0)
    with pytest.raises(CalibrationRefused, match="range too small") as exc:
        fit_calibration(recs, info)
    assert "band" in exc.value.advice


def test_bank_of_three_gestures_on_socket16() -> None:
    recs, info = record_guided_calibration(
        SimConfig(layout="socket16", seed=3), ("fingers", "wrist", "thumb")
    )
    cal = fit_calibration(recs, info, partial=True)
    sensors = [p.sensor_index for p in cal.gestures.values()]
    assert len(set(sensors)) == len(sensors)  # each gesture on its own sensor
    assert {"fingers", "wrist"} <= set(cal.gestures)
    bank = QGBank(cal)
    sim = Simulator(SimConfig(layout="socket16", seed=4, cue_script="intent"))
    sim.set_intent("rest", 0.0)
    for f in sim.generate(20):
        bank.decode(sim.to_sample(f, 0.0))
    sim.set_intent("wrist", 1.0)
    for f in sim.generate(60):
        bank.decode(sim.to_sample(f, 0.0))
    both = bank.simultaneous
    assert both["wrist"].grade >= 7
    assert both["fingers"].grade <= 1


# ---- the sensor-pair input on foreign band patients -------------------------------------
WANDER_SEEDS = (1, 16)
"""Foreign band patients whose single-sensor QG misses at -5 mm through the arm's wander
in the Earth's field (docs/robustness.md: 4.6 % and 39.7 % within-1, session 19)."""


@pytest.mark.parametrize("seed", WANDER_SEEDS)
def test_band_pair_input_removes_the_arms_earth_field_wander(seed: int, tmp_path: Path) -> None:
    """A fresh calibration with the band 5 mm down the arm, a later session there: the
    relaxed hand's reading wanders by several uT with the sensor's own |B| and by well
    under one uT with the sensor-pair input, and the pair QG keeps the fingers within
    +-1 grade on >= 95 % of the samples while the paper's single-sensor QG does not."""
    patient = draw_patient(seed, kind="band")
    moved = Placement(shift_mm=-5.0)
    calib = cued_session(patient, moved, repetitions=3, session_seed=31)
    holds = [h for h in qg_holds(calib) if h.phase.gesture == "fingers"]
    later = cued_session(patient, moved, repetitions=3, full_flexions=False, session_seed=11)
    rec = write_recording(later, tmp_path / "later.csv")
    rest = np.array([c == "rest" for c in later.gesture])
    starts = np.flatnonzero(np.diff(rest.astype(int)) == 1) + 1
    within1 = {}
    wander = {}
    for reference in ("auto", "none"):
        cal = fit_calibration(holds, _info(calib), FitOptions(reference=reference))
        p = cal.gestures["fingers"]
        signal = channel_magnitudes(later.field_ut, p.sensor_index, p.reference_index)
        rests = [float(np.median(signal[a + 10 : a + 40])) for a in starts]
        wander[reference] = max(rests) - min(rests)
        path = cal.save(tmp_path / f"{reference}.json")
        res = run_decoder_evaluation([f"qg:{path}"], rec)["results"][0]
        within1[reference] = res["movements"]["fingers"]["within1"]
    assert wander["auto"] < 1.5 < 5.0 < wander["none"], wander
    assert within1["auto"] >= 0.95 > within1["none"], within1
