"""GUI smoke test: Debian's Blender 3.4 in a real window under Xvfb, the add-on installed
the legacy way (folder + bundled websockets wheel) into a temporary user scripts folder,
the sidebar tab opened, connected to a real bridge with a simulated hand, the hand
enabled, a session played for a few seconds, a screenshot taken
(test-artifacts/gui_panel.png), then the decoder view turned on and looked at through
its camera (test-artifacts/gui_decoder.png).

Software OpenGL is slow (a redraw can take half a second on a busy machine), so the
timeouts are generous while the played time stays short.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from blender_window_launch import (
    ARTIFACTS,
    BLENDER,
    GUI_MARKS,
    assert_real_frame,
    driver_state,
    install_legacy_addon,
    run_driver,
    sim_hand_bridge,
    user_folders,
)
from live_bridge import ROOT

pytestmark = GUI_MARKS
TIMEOUT_S = 240


@pytest.fixture(scope="module")
def gui_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("gui")
    install_legacy_addon(tmp)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "gui_panel.png"
    shot.unlink(missing_ok=True)
    shot_decoder = ARTIFACTS / "gui_decoder.png"
    shot_decoder.unlink(missing_ok=True)
    out = tmp / "state.json"
    env = {
        "FISTBALL_GUI_SHOT": str(shot),
        "FISTBALL_GUI_SHOT_DECODER": str(shot_decoder),
        "FISTBALL_GUI_PLAY_S": "4",
    }
    with sim_hand_bridge() as url:
        proc = run_driver("gui_driver.py", tmp, url, out, env, attempts=2, timeout_s=TIMEOUT_S)
    return driver_state(out, proc, "gui_state.json", _scripts=str(tmp / "scripts"))


def test_legacy_addon_loads_in_blender_3_4_with_the_bundled_wheel(gui_run: dict[str, Any]) -> None:
    assert gui_run["blender"].startswith("3.4") and gui_run["enabled"]
    assert gui_run["addon_file"].startswith(gui_run["_scripts"])
    assert ".whl" in gui_run["websockets"], gui_run["websockets"]  # zip-imported wheel


def test_panel_connects_and_the_game_runs(gui_run: dict[str, Any]) -> None:
    p = gui_run["played"]
    assert p["connected"] and p["signal"] and p["state"] == "running"
    assert p["grades_received"] > 20 and p["grades_per_s"] > 10
    assert p["played_s"] is not None and p["played_s"] > 1.0
    assert p["panel_draws"] > 0  # the sidebar tab really drew
    assert p["tick_errors"] == 0, p["last_tick_error"]
    assert gui_run["timer_registered_before_disable"] is True
    assert gui_run["summary"]["source"] == "sim:myo3"
    assert "Traceback" not in gui_run["_stderr"] + gui_run["_stdout"]


def test_hand_box_and_decoder_view_work_in_the_window(gui_run: dict[str, Any]) -> None:
    p = gui_run["played"]
    assert p["hand_state"] == "active", p["hand_reply"]  # Enable went through the bridge
    d = gui_run["decoder"]
    assert d["decoder_on"] and d["kmg_applied"] >= 10  # software GL under load: few ticks/s
    assert gui_run["decoder_camera"] == "FB_DecoderCamera"  # the 3D view looks through it
    assert gui_run["back_to_game_camera"] is True
    assert (ARTIFACTS / "gui_decoder.png").stat().st_size > 20_000


def test_disable_in_the_window_leaves_nothing(gui_run: dict[str, Any]) -> None:
    assert gui_run["leftovers"] == [] and gui_run["timer_registered_after_disable"] is False


def test_screenshot_is_a_real_window(gui_run: dict[str, Any]) -> None:
    shot = ARTIFACTS / "gui_panel.png"
    assert shot.is_file() and shot.stat().st_size > 20_000
    assert_real_frame(shot)


def test_cli_installs_the_legacy_addon_into_blender_3_4(tmp_path: Path) -> None:
    env = dict(os.environ, **user_folders(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "fist_and_ball_app.main", "addon", "install", "--blender", BLENDER],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "scripts" / "addons" / "fist_and_ball" / "wheels").is_dir()
    check = subprocess.run(
        [BLENDER, "-b", "--python-expr",
         "import bpy; print('MODS', [a.module for a in bpy.context.preferences.addons])"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert "'fist_and_ball'" in check.stdout, check.stdout + check.stderr
