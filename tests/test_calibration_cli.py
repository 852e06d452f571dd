"""`fist-and-ball calibrate` as a real subprocess on the simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bridge.decoders.factory import open_decoder
from bridge.decoders.qg_calibration import Calibration
from bridge.sim.config import SimConfig
from bridge.sim.simulator import Simulator


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fist_and_ball_app.main", "calibrate", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_calibrate_sim_writes_a_loadable_calibration(tmp_path: Path) -> None:
    out = tmp_path / "cal.json"
    r = run_cli("--source", "sim:myo3?speed=max", "--out", str(out), "--yes")
    assert r.returncode == 0, r.stderr
    # The guided prompts, the countdown and the threshold table are shown.
    assert "Close your fist fully and hold" in r.stdout
    assert "3  2  1" in r.stdout
    assert "h8" in r.stdout and "Saved" in r.stdout
    info = Simulator(SimConfig(layout="myo3")).info
    cal = Calibration.load(out, info)
    assert cal.layout == "myo3" and list(cal.gestures) == ["fingers"]
    assert cal.gestures["fingers"].sensor_index == 1
    assert open_decoder(f"qg:{out}", info).ready
    # The same file does not fit the 16-sensor socket.
    r2 = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bridge.decoders import open_decoder;"
            "from bridge.sim.simulator import Simulator; from bridge.sim.config import SimConfig;"
            f"open_decoder('qg:{out}', Simulator(SimConfig(layout='socket16')).info)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r2.returncode != 0 and "source has 16" in r2.stderr


def test_calibrate_refuses_with_a_reason(tmp_path: Path) -> None:
    out = tmp_path / "cal.json"
    r = run_cli(
        "--source",
        "sim:myo3?remanence_t=0.0005",
        "--out",
        str(out),
        "--yes",
        "--hold-s",
        "1",
        "--repeats",
        "1",
    )
    assert r.returncode == 2
    assert "calibration refused" in r.stderr and "range too small" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_calibrate_bank_and_options(tmp_path: Path) -> None:
    out = tmp_path / "bank.json"
    r = run_cli(
        "--source",
        "sim:socket16?seed=5",
        "--out",
        str(out),
        "--yes",
        "--gestures",
        "fingers,wrist",
        "--hold-s",
        "2",
        "--hysteresis",
        "0.1step",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert set(d["gestures"]) == {"fingers", "wrist"}
    g = d["gestures"]["fingers"]
    step = abs(g["anchors_ut"]["flexion"] - g["anchors_ut"]["extension"]) / 8
    assert abs(g["hysteresis_ut"] - 0.1 * step) < 0.01 * step


def test_calibrate_bad_arguments(tmp_path: Path) -> None:
    r = run_cli("--source", "sim:myo3", "--out", str(tmp_path / "c.json"), "--gestures", "toes")
    assert r.returncode == 2 and "gestures must be among" in r.stderr
    r = run_cli("--source", "bogus:x", "--out", str(tmp_path / "c.json"), "--yes")
    assert r.returncode == 2 and "valid forms" in r.stderr
    # the cue script's former option name `protocol` is recognised too
    for query in ("cue_script=scripted", "protocol=scripted"):
        r = run_cli("--source", f"sim:myo3?{query}", "--out", str(tmp_path / "c.json"))
        assert r.returncode == 2 and "drop cue_script=scripted" in r.stderr
    r = run_cli("--source", "sim:myo3", "--out", str(tmp_path / "no" / "c.json"), "--yes")
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_calibrate_unwritable_output_is_a_one_line_error(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    (tmp_path / "c.json.tmp").mkdir()  # the atomic save's temp file cannot be written
    r = run_cli("--source", "sim:myo3?speed=max", "--out", str(out), "--yes")
    assert r.returncode == 2, r.stderr
    assert "cannot write" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0
