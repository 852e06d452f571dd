"""The legacy add-on path imports websockets from the bundled wheel without touching
sys.path (a subprocess in which the installed websockets is hidden)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from live_bridge import ROOT

SCRIPT = r"""
import json, sys
from pathlib import Path

class HideInstalled:
    # The installed websockets cannot be found: only the bundled wheel can serve it.
    def find_spec(self, name, path=None, target=None):
        if name == "websockets":
            raise ImportError("hidden by the test")
        return None

sys.meta_path.insert(0, HideInstalled())
before = list(sys.path)
from fist_and_ball.live.bundled_wheels import ensure_websockets
where = ensure_websockets(Path(sys.argv[1]))
import websockets.asyncio.client as client
print(json.dumps({"where": where, "file": client.__file__, "path_unchanged": sys.path == before}))
"""


def test_the_wheel_is_imported_without_changing_sys_path(tmp_path: Path) -> None:
    from bridge.cli.cmd_addon import stage_addon

    stage = stage_addon(tmp_path / "stage")  # the legacy add-on folder, with its wheels/
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(stage)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["where"].endswith("-py3-none-any.whl")
    assert got["file"].startswith(got["where"] + "/websockets/")  # straight from the zip
    assert got["path_unchanged"] is True
