"""Patient mode in a real window: Debian's Blender 3.4 (no numpy) under Xvfb at
1280x720, the legacy add-on, a real bridge. tests/patient_mode_driver.py drives it with
simulated keys; screenshots go to test-artifacts/patient_mode_*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from blender_window_launch import (
    ARTIFACTS,
    GUI_MARKS,
    driver_state,
    install_legacy_addon,
    run_driver,
    sim_hand_bridge,
)

pytestmark = GUI_MARKS
TIMEOUT_S = 300
LED_ON = (51, 242, 89)
SELECTED = (38, 140, 242)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("patient")
    install_legacy_addon(tmp)
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("patient_mode_*.png"):
        old.unlink()
    out = tmp / "state.json"
    env = {"FISTBALL_GUI_SHOTS": str(ARTIFACTS), "FISTBALL_GUI_PLAY_S": "5"}
    with sim_hand_bridge() as url:
        proc = run_driver(
            "patient_mode_driver.py", tmp, url, out, env,
            screen="1280x720", window=(1280, 720), attempts=2, timeout_s=TIMEOUT_S,
        )  # fmt: skip
    return driver_state(out, proc, "patient_mode_state.json")


def _pixels_near(path: Path, rgb: tuple[int, int, int], tol: int = 12) -> int:
    import matplotlib.image as mpimg
    import numpy as np

    img = (mpimg.imread(path)[..., :3] * 255).astype(int)
    return int((np.abs(img - np.array(rgb)).max(axis=-1) <= tol).sum())


def test_patient_mode_hides_the_editor(run: dict[str, Any]) -> None:
    before, patient = run["chrome_before"], run["chrome_patient"]
    assert len(before["areas"]) > 1 and before["header"] is True  # the normal editor
    assert patient["areas"] == ["VIEW_3D"]  # one area: no outliner, properties, timeline
    # toolbar and sidebar go with the full-screen area (3.4 keeps their flags; the
    # screenshot test checks what is drawn)
    assert patient["header"] is False and patient["gizmo"] is False
    assert patient["overlays"] is False and patient["perspective"] == "CAMERA"
    assert run["blender"].startswith("3.4")


def test_keys_start_pause_and_end_the_session(run: dict[str, Any]) -> None:
    assert run["start_screen"]["screen"] == "start" and run["start_screen"]["level"] == "medium"
    assert run["start_screen"]["draws"] > 0  # the HUD draw handler ran in the window
    play = run["play"]
    assert play["screen"] == "play" and play["level"] == "easy"  # Left then Enter
    assert play["played_s"] > 2.0 and "connected=True" in play["model"]
    assert run["paused"] == "paused" and run["resumed"] == "running"  # Space, Space
    end = run["end"]
    assert end["screen"] == "end" and "end" in end["cues"]
    assert "Session ended early" in end["model"]
    assert "comparison='No easy session a week ago to compare with'" in end["model"]


def test_esc_gives_the_original_screen_back(run: dict[str, Any]) -> None:
    assert run["differences"] == [], run["differences"]
    assert run["chrome_after"] == run["chrome_before"]
    assert run["patient_on_after_esc"] is False and run["draw_handler_after_esc"] is False
    assert run["leftovers"] == []
    assert "Traceback" not in run["_output"], run["_output"][-3000:]


def test_screenshots_show_the_hud_and_no_hud_after_leaving(run: dict[str, Any]) -> None:
    start, play = ARTIFACTS / "patient_mode_start.png", ARTIFACTS / "patient_mode_play.png"
    after = ARTIFACTS / "patient_mode_after.png"
    assert _pixels_near(start, SELECTED) > 5000  # the big selected level/length/start buttons
    assert _pixels_near(play, LED_ON) > 300  # lit HUD LEDs
    assert _pixels_near(after, SELECTED) < 500 and _pixels_near(after, LED_ON) < 300
