"""Twin fit on foreign patients: positions within 1 mm, strokes within 10 %, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.sim.foreign_patients import cued_session, draw_patient
from bridge.tracking.twin import Twin, TwinError
from bridge.tracking.twin_fit import CuedData, fit_twin
from tests.tracking_cases import SEEDS, patient, twin_fit


@pytest.mark.parametrize("seed", SEEDS)
def test_fitted_tags_match_truth(seed: int) -> None:
    fit = twin_fit(seed)
    assert fit.ok, fit.refused
    assert fit.twin is not None
    truth = patient(seed)
    for j, tag in enumerate(truth.tags):
        assert fit.twin.movements[j] == tag.gesture
        assert np.linalg.norm(fit.twin.rest_mm[j] - tag.rest_mm) < 1.0
        assert abs(fit.twin.stroke_mm[j] / tag.stroke_mm - 1.0) < 0.10
        assert float(fit.twin.axis[j] @ tag.axis) > np.cos(np.radians(3.0))
    # coupling: the thumb movement drags the finger tag as the patient's does
    assert abs(fit.twin.coupling[2, 0] - truth.coupling[2, 0]) < 0.1
    assert fit.report["residual_ut_rms"] < 2 * truth.noise_ut_rms
    for tag in fit.report["tags"]:
        assert tag["rest_se_mm"] < 0.3


def test_band_of_three_is_refused_with_a_reason() -> None:
    band = draw_patient(4, kind="band")
    s = cued_session(band, repetitions=2)
    fit = fit_twin([CuedData(s.field_ut, s.gesture, s.sensors_mm)])
    assert not fit.ok and fit.twin is None
    assert any("3 sensors cannot localise 3 tags" in r for r in fit.refused)


def test_missing_movement_is_refused() -> None:
    s = cued_session(patient(5), repetitions=1)
    keep = [i for i, g in enumerate(s.gesture) if g != "thumb"]
    fit = fit_twin([CuedData(s.field_ut[keep], [s.gesture[i] for i in keep], s.sensors_mm)])
    assert not fit.ok
    assert any("'thumb'" in r for r in fit.refused)


def test_wrong_sensor_positions_are_refused() -> None:
    s = cued_session(patient(5), repetitions=2)
    wrong = s.sensors_mm * np.array([1.0, 1.25, 1.25])  # a socket that is not this one
    fit = fit_twin([CuedData(s.field_ut, s.gesture, wrong)])
    assert not fit.ok
    assert any("unexplained" in r or "determined" in r for r in fit.refused)


def test_twin_json_roundtrip_and_errors(tmp_path) -> None:
    fit = twin_fit(SEEDS[0])
    assert fit.twin is not None
    path = fit.twin.save(tmp_path / "twin.json")
    back = Twin.load(path)
    assert np.allclose(back.rest_mm, fit.twin.rest_mm)
    assert np.allclose(back.coupling, fit.twin.coupling)
    assert back.movements == fit.twin.movements
    bad = fit.twin.to_dict()
    bad["tags"][1]["stroke_mm"] = -1.0
    with pytest.raises(TwinError, match="stroke_mm"):
        Twin.from_dict(bad)
    (tmp_path / "x.json").write_text("{", encoding="utf-8")
    with pytest.raises(TwinError, match="not JSON"):
        Twin.load(tmp_path / "x.json")
