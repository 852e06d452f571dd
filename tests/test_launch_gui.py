"""`fist-and-ball launch --source sim:myo3` in a real window: Debian's Blender 3.4 under
Xvfb, one 6-minute session of level auto played to its end. The launcher installs the
legacy add-on into temporary user folders, starts the bridge, opens Blender in patient
mode with a session running; tests/launch_gui_driver.py (added to Blender's command line
by a wrapper passed as --blender) takes a screenshot (test-artifacts/launch_patient.png),
waits for the session's end, presses Esc and checks the layout is back. Closing Blender
must stop the bridge and the launcher."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from blender_window_launch import (
    ARTIFACTS,
    BLENDER,
    GUI_MARKS,
    driver_state,
    screen_env,
    under_xvfb,
    user_folders,
)
from live_bridge import ROOT

pytestmark = GUI_MARKS
SHOT = ARTIFACTS / "launch_patient.png"
MINUTES = 6
TIMEOUT_S = 60 * MINUTES + 600


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("launch_gui")
    wrapper = tmp / "blender"
    driver = ROOT / "tests" / "launch_gui_driver.py"
    wrapper.write_text(
        f'#!/bin/sh\nexec {BLENDER} --enable-event-simulate --python {driver} "$@"\n'
    )
    wrapper.chmod(0o755)
    ARTIFACTS.mkdir(exist_ok=True)
    SHOT.unlink(missing_ok=True)
    out = tmp / "driver.json"
    env = dict(
        os.environ,
        **user_folders(tmp),
        PYTHONPATH=str(ROOT),
        FIST_AND_BALL_PROFILE=str(tmp / "cfg" / "profile.json"),
        HOME=str(tmp / "home"),
        FISTBALL_LG_OUT=str(out),
        FISTBALL_LG_SHOT=str(SHOT),
        FISTBALL_LG_PLAY_S=os.environ.get("FISTBALL_LG_PLAY_S", "8"),
        FISTBALL_LG_FULL="1",
        FISTBALL_LG_TIMEOUT_S=str(60 * MINUTES + 300),
        **screen_env(tmp),
    )
    cmd = under_xvfb(
        "1280x720",
        tmp,
        sys.executable, "-m", "fist_and_ball_app.main", "launch",
        "--source", "sim:myo3", "--blender", str(wrapper),
        "--minutes", str(MINUTES), "--level", "auto",
    )  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    text = proc.stdout + proc.stderr
    (ARTIFACTS / "launch_gui.log").write_text(text)
    return driver_state(out, proc, "launch_gui_state.json", _rc=proc.returncode, _text=text)


def test_launch_opens_patient_mode_with_a_session_running(launched: dict[str, Any]) -> None:
    assert launched["blender"].startswith("3.4")
    assert launched["signal"] and launched["played_s"] >= 5.0
    assert launched["level"] == "auto" and launched["minutes"] == MINUTES
    assert "add-on installed" in launched["_text"] and "patient mode" in launched["_text"]


def test_no_editor_chrome_in_patient_mode(launched: dict[str, Any]) -> None:
    s = launched["screen"]
    assert s["areas"] == 1, s  # no outliner, properties, timeline
    assert s["header"] is False and s["overlays"] is False and s["gizmos"] is False
    assert s["camera_view"] == "CAMERA"


def test_screenshot_shows_hand_ball_lit_leds_and_hud(launched: dict[str, Any]) -> None:
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(SHOT)[..., :3]
    h, w = img.shape[:2]
    assert (w, h) == tuple(launched["screen"]["window"])
    background = np.median(img.reshape(-1, 3), axis=0)

    def differs(points: list[list[float]]) -> int:
        hits = 0
        for x, y in points:
            r, c = int(h - y), int(x)  # window y is bottom-up
            if 2 <= r < h - 2 and 2 <= c < w - 2:
                patch = img[r - 2 : r + 3, c - 2 : c + 3].reshape(-1, 3).mean(axis=0)
                hits += bool(np.abs(patch - background).max() > 0.08)
        return hits

    pts = launched["screen"]["points"]
    assert differs(pts.get("ball", [])) >= 1, pts
    assert differs(pts.get("hand", []) + pts.get("palm", []) + pts.get("finger", [])) >= 1, pts
    assert launched["view"]["leds_lit"] >= 1
    assert differs(pts.get("led", [])) >= 1
    # the HUD: large light text/panels over the dark scene in the top band of the window
    top = img[: h // 6]
    assert (top.max(axis=2) > 0.85).mean() > 0.002
    assert len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 200


def test_a_six_minute_session_completes_without_losing_the_simulator(
    launched: dict[str, Any],
) -> None:
    fin, summary = launched["finished"], launched["end_summary"]
    assert fin["completed"] is True and fin["played_s"] == pytest.approx(60.0 * MINUTES)
    assert summary["completed"] is True and summary["level"] == "auto"
    assert "disconnected" not in summary.get("pause_reasons", []), summary
    assert len(summary["adaptive"]["speed_track"]) >= 2


def test_esc_ends_the_session_and_restores_the_layout(launched: dict[str, Any]) -> None:
    assert launched["layout_after"] == launched["layout_before"]
    assert launched["session_state"] != "running"


def test_closing_blender_stops_the_bridge_and_the_launcher(launched: dict[str, Any]) -> None:
    assert launched["_rc"] == 0, launched["_text"][-2000:]
    assert "Blender closed" in launched["_text"] and "bridge: stopped" in launched["_text"]
