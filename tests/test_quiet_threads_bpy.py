"""Real bpy 5.0: operators under a context override while the add-on's network thread
receives a stream as fast as the server can send. Without `quiet` Blender crashes
(checked by hand, `... quiet_threads_bpy_script.py URL 2000 bare`: a segfault in 2 of 4
runs of 2000 calls, 4 of 6 runs of 5000); inside `quiet` it has not, and the stream
flows on. Each run is a fresh process, so a crash fails the test instead of pytest.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from live_bridge import ROOT, free_port
from test_quiet_threads import StreamingBridge

pytestmark = pytest.mark.blender
SCRIPT = ROOT / "tests" / "quiet_threads_bpy_script.py"
CALLS = 2000


def run_script(url: str, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), url, str(CALLS), mode],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip


def test_operators_under_an_override_beside_a_streaming_client_do_not_crash_blender() -> None:
    with StreamingBridge(free_port(), period_s=0.0) as bridge:
        proc = run_script(bridge.url, "quiet")
    assert proc.returncode == 0, f"bpy exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["calls"] == CALLS and result["not_still"] == 0
    assert result["before"] >= 50 and result["after"] > 0  # the stream flowed around them
