"""Guided sessions (`calibrate`, `twin fit --source`, `redon`) wait for Enter on a
terminal; without one they stop at once with a one-line error that says what to do,
before reading a single sample."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "command",
    [
        ["calibrate", "--out", "{tmp}/cal.json"],
        ["twin", "fit", "--out", "{tmp}/twin.json"],
        ["redon", "--decoder", "mcnn:default"],
    ],
    ids=["calibrate", "twin-fit", "redon"],
)
def test_no_terminal_to_confirm_is_a_clear_error(command: list[str], tmp_path: Path) -> None:
    url = f"udp://127.0.0.1:{_free_udp_port()}"
    args = [a.format(tmp=tmp_path) for a in command] + ["--source", url]
    proc = subprocess.run(
        [sys.executable, "-m", "fist_and_ball_app.main", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].endswith("run with --yes"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Press Enter to start" in proc.stdout
    assert not list(tmp_path.iterdir())  # nothing written
