"""Test helper: `fist-and-ball ...` run as a subprocess of this Python, from the checkout."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from live_bridge import ROOT


def run_cli(*args: str, timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
    """`python -m fist_and_ball_app.main ARGS...` in the checkout's root, its output
    captured as text; `kw` goes to subprocess.run (e.g. stdin)."""
    return subprocess.run(
        [sys.executable, "-m", "fist_and_ball_app.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )
