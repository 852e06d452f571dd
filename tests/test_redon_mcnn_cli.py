"""`fist-and-ball redon` with the MCNN-TG bundle shipped in the package (socket16) as a
real subprocess on the simulator: a socket re-donned 5 mm / 10 deg away is recognised
(accepted, exit 0); turned 45 deg the movements are not (refused: train again, exit 3)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fist_and_ball_app.main", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("query", "code", "state"),
    [("shift_mm=5&rotation_deg=10", 0, "accepted"), ("rotation_deg=45", 3, "refused")],
)
def test_redon_mcnn_shipped_bundle_both_ways(query: str, code: int, state: str) -> None:
    r = run_cli("redon", "--source", f"sim:socket16?{query}", "--decoder", "mcnn:default", "--yes")
    assert r.returncode == code, r.stdout + r.stderr
    for text in ("Close your fist fully", "Bend your wrist fully down", "Bend your thumb"):
        assert text in r.stdout
    msg = _last_json(r.stdout)
    assert msg["state"] == state and msg["pose"] is None
    if state == "refused":
        assert "train again" in msg["summary"]
