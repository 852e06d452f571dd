"""`fist-and-ball redon` as a real subprocess on the simulator: a calibration made with
`calibrate`, then the re-don check on a band shifted 5 mm (adapted, exit 0, a usable
calibration written) and turned 45 deg (refused, exit 3, nothing written)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.decoders.factory import open_decoder
from bridge.decoders.qg_calibration import Calibration
from bridge.sim.config import SimConfig
from bridge.sim.simulator import Simulator


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fist_and_ball_app.main", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cal") / "cal.json"
    r = run_cli("calibrate", "--source", "sim:myo3?speed=max", "--out", str(out), "--yes")
    assert r.returncode == 0, r.stderr
    return out


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_redon_shifted_band_is_adapted_and_writes_a_usable_calibration(
    calibration: Path, tmp_path: Path
) -> None:
    out = tmp_path / "today.json"
    r = run_cli(
        "redon",
        "--source",
        "sim:myo3?shift_mm=5",
        "--decoder",
        f"qg:{calibration}",
        "--out",
        str(out),
        "--yes",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # the prompts and the progress bar are shown, then the verdict
    for text in ("Relax your hand and arm", "Close your fist fully", "Hold it", "100%"):
        assert text in r.stdout
    assert "Re-don check: ADAPTED" in r.stdout
    msg = _last_json(r.stdout)
    assert msg["type"] == "redon" and msg["state"] == "adapted" and msg["reasons"]
    info = Simulator(SimConfig(layout="myo3")).info
    old, new = Calibration.load(calibration, info), Calibration.load(out, info)
    assert new.gestures["fingers"].rest_ut != old.gestures["fingers"].rest_ut
    assert open_decoder(f"qg:{out}", info).ready


def test_redon_turned_band_is_refused_with_exit_3(calibration: Path, tmp_path: Path) -> None:
    out = tmp_path / "today.json"
    r = run_cli(
        "redon",
        "--source",
        "sim:myo3?rotation_deg=45",
        "--decoder",
        f"qg:{calibration}",
        "--out",
        str(out),
        "--yes",
    )
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Re-don check: REFUSED" in r.stdout and "calibrate again" in r.stdout
    assert _last_json(r.stdout)["state"] == "refused"
    assert not out.exists()


def test_redon_bad_decoder_is_a_one_line_error(tmp_path: Path) -> None:
    r = run_cli("redon", "--source", "sim:myo3", "--decoder", f"qg:{tmp_path / 'none.json'}")
    assert r.returncode == 2
    assert "does not exist" in r.stderr and "Traceback" not in r.stderr
