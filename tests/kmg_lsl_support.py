"""Shared by the LSL and XDF tests: a simulated recording, a QG calibration, and a
bridge subprocess that records what it decoded."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FAB = str(Path(sys.executable).with_name("fist-and-ball"))


def simulated_recording(folder: Path, seconds: float = 10.0) -> Path:
    """`record` of the simulator (cued gestures, so the grades move) as CSV + JSON."""
    out = folder / "sim.csv"
    subprocess.run(
        [
            FAB,
            "record",
            "--source",
            "sim:myo3?speed=max&seed=5",
            "--out",
            str(out),
            "--duration",
            str(seconds),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def calibration(folder: Path) -> Path:
    from bridge.decoders.qg_fit import fit_calibration
    from bridge.sim.calibration_run import record_guided_calibration
    from bridge.sim.config import SimConfig

    path = folder / "cal.json"
    fit_calibration(*record_guided_calibration(SimConfig(layout="myo3", seed=3))).save(path)
    return path


def start_bridge(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as err:
        return subprocess.Popen(
            [FAB, "bridge", "--port", "0", "--quiet", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def stop_bridge(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def sidecar_rows(csv: Path) -> int:
    try:
        return int(json.loads(csv.with_suffix(".json").read_text())["rows"])
    except (OSError, ValueError, KeyError):
        return 0


def wait_rows(csv: Path, rows: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    end = time.monotonic() + timeout
    while sidecar_rows(csv) < rows and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.2)


def decoded_grades(csv: Path) -> np.ndarray:
    """The `grade_decoded` column a bridge's `--record` wrote."""
    from bridge.recording import read_recording

    return read_recording(csv).extra["grade_decoded"]


def replay_grades(recording: Path, cal: Path, folder: Path, tag: str) -> np.ndarray:
    """Grades of `recording` (CSV or XDF) replayed as fast as possible through the bridge."""
    out = folder / f"{tag}.csv"
    proc = start_bridge(
        [
            "--source",
            f"replay:{recording}?speed=max",
            "--decoder",
            f"qg:{cal}",
            "--record",
            str(out),
        ],
        folder / f"{tag}.log",
    )
    code = proc.wait(120)
    assert code == 0, (folder / f"{tag}.log").read_text()
    return decoded_grades(out)
