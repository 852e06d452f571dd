"""`fist-and-ball evaluate --decoder SPEC RECORDING --out DIR` and the within-1 metric."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from cli_process import run_cli

from bridge.signal.metrics import within_one
from bridge.sim.foreign_patients import Placement, write_recording
from tests.tracking_cases import SEEDS, later_session, twin_fit

SEED = SEEDS[0]


def test_within_one_counts_grades_within_one_of_the_truth() -> None:
    truth = np.array([0.0, 2.0, 4.0, 8.0, np.nan, 3.0])
    pred = np.array([1.0, 3.5, 4.2, 6.0, 1.0, np.inf])
    mask = np.ones(6, dtype=bool)
    # finite pairs: |1|, |1.5|, |0.2|, |2| -> 2 of 4 within 1
    assert within_one(pred, truth, mask) == 0.5
    assert np.isnan(within_one(pred, truth, np.zeros(6, dtype=bool)))


def test_evaluate_with_a_track_spec_writes_within1(tmp_path: Path) -> None:
    fit = twin_fit(SEED)
    assert fit.twin is not None
    twin = fit.twin.save(tmp_path / "twin.json")
    s = later_session(SEED, Placement(shift_mm=5.0, turn_deg=10.0))
    rec = write_recording(s, tmp_path / "later.csv")
    out = tmp_path / "eval"
    run = run_cli("evaluate", "--decoder", f"track:{twin}", str(rec), "--out", str(out))
    assert run.returncode == 0, run.stderr
    table = json.loads((out / "table2.json").read_text())
    assert table["recording"] == str(rec) and table["decoders"] == [f"track:{twin}"]
    (res,) = table["results"]
    assert set(res["movements"]) == {"wrist", "fingers", "thumb"}
    for row in (*res["movements"].values(), res["overall"]):
        assert 0.95 <= row["within1"] <= 1.0
        assert row["grade_truth"]["mae"] < 0.5
    assert res["overall"]["type_acc_moving"] > 0.99


def test_evaluate_form_errors_are_one_line(tmp_path: Path) -> None:
    for args, needle in (
        (["evaluate", "--decoder", "track:/nope.json", str(tmp_path / "x.csv")], "not found"),
        (["evaluate", str(tmp_path)], "MODEL_DIR RECORDING"),
        (["evaluate", "--decoder", "bogus:x", __file__], ""),
    ):
        run = run_cli(*args)
        assert run.returncode == 2, (args, run.stderr)
        assert needle in run.stderr and "Traceback" not in run.stderr
