"""`fist-and-ball twin fit` as a subprocess: a foreign patient's cued recording -> TWIN.json
matching the simulator's truth; a 3-sensor band refused with reasons and exit code 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from cli_process import run_cli

from bridge.sim.foreign_patients import cued_session, draw_patient, write_recording
from bridge.tracking.twin import Twin
from tests.tracking_cases import SEEDS, fitting_session, patient

SEED = SEEDS[0]


def test_twin_fit_writes_a_twin_that_matches_the_patient(tmp_path: Path) -> None:
    rec = write_recording(fitting_session(SEED), tmp_path / "cued.csv")
    out = tmp_path / "twin.json"
    run = run_cli("twin", "fit", str(rec), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "%]" in run.stderr and "wrote" in run.stderr  # progress lines
    twin = Twin.load(out)
    truth = patient(SEED)
    for j, tag in enumerate(truth.tags):
        assert twin.movements[j] == tag.gesture
        assert np.linalg.norm(twin.rest_mm[j] - tag.rest_mm) < 1.0
        assert abs(twin.stroke_mm[j] - tag.stroke_mm) < 0.1 * tag.stroke_mm
        # the report prints each tag's fitted stroke
        assert f"{twin.stroke_mm[j]:9.2f}" in run.stdout
    lines = run.stdout.splitlines()
    assert lines[0].startswith("twin fit: ") and "uT RMS" in lines[0]
    assert sum(line.split()[0] in twin.movements for line in lines[2:5]) == 3


def test_twin_fit_refuses_a_three_sensor_band_with_reasons(tmp_path: Path) -> None:
    band = draw_patient(SEED, kind="band")
    rec = write_recording(cued_session(band, repetitions=2), tmp_path / "band.csv")
    out = tmp_path / "twin.json"
    run = run_cli("twin", "fit", str(rec), "--out", str(out))
    assert run.returncode == 2
    assert "twin refused:" in run.stderr and "3 sensors cannot localise 3 tags" in run.stderr
    reasons = run.stderr.split("twin refused:\n", 1)[1].splitlines()
    assert reasons and all(r.startswith("  ") and len(r) > 10 for r in reasons)  # one per line
    assert not out.exists()
    assert "Traceback" not in run.stderr


def test_twin_fit_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    for args, needle in (
        (
            ["twin", "fit", str(tmp_path / "none.csv"), "--out", str(tmp_path / "t.json")],
            "not found",
        ),
        (["twin", "fit", "x.csv", "--out", "/nonexistent-dir/t.json"], "does not exist"),
    ):
        run = run_cli(*args)
        assert run.returncode == 2, run.stderr
        assert needle in run.stderr and "Traceback" not in run.stderr
        assert run.stderr.count("\n") == 1, run.stderr


def test_guided_twin_fit_from_a_simulated_socket(tmp_path: Path) -> None:
    """`twin fit --source sim:socket16 --yes`: prompts and countdowns, the simulated
    patient follows the cues, the twin matches the simulator's tags, the session is
    saved as a cued recording."""
    from bridge.recording import read_recording
    from bridge.sim.tags import TAGS

    out = tmp_path / "twin.json"
    rec = tmp_path / "session.csv"
    run = run_cli(
        "twin", "fit", "--source", "sim:socket16", "--out", str(out), "--yes",
        "--repeats", "2", "--save-recording", str(rec),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Close your fist fully and hold" in run.stdout and "Relax" in run.stdout
    assert "  2  1  recording" in run.stdout and "done" in run.stdout
    twin = Twin.load(out)
    for j, tag in enumerate(TAGS):
        assert twin.movements[j] == tag.gesture
        assert np.linalg.norm(twin.rest_mm[j] - tag.position_mm) < 1.0, tag.gesture
        assert abs(twin.stroke_mm[j] - tag.stroke_mm) < 0.1 * tag.stroke_mm
    cues = set(read_recording(rec).gesture)
    assert {"rest", "fingers", "wrist", "thumb"} <= cues


def test_guided_twin_fit_refuses_a_band_and_bad_arguments(tmp_path: Path) -> None:
    out = tmp_path / "twin.json"
    band = run_cli("twin", "fit", "--source", "sim:myo3", "--out", str(out), "--yes")
    assert band.returncode == 2, band.stderr
    assert "cannot localise" in band.stderr and not out.exists()
    both = run_cli("twin", "fit", "x.csv", "--source", "sim:socket16", "--out", str(out))
    neither = run_cli("twin", "fit", "--out", str(out))
    for run in (both, neither):
        assert run.returncode != 0 and "either cued recordings" in run.stderr
