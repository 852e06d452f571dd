"""The re-don check in a real window: Debian's Blender 3.4 under Xvfb, the add-on
installed the legacy way into a temporary user scripts folder, driven by
tests/redon_gui_driver.py against `FakeRedonBridge` (a thread of this process).

It checks what the window drew: the panel's re-don box while running and with the
verdict, patient mode's large prompt, Cancel, and no traceback; the screenshots go to
test-artifacts/ (docs/img/redon_panel.png and redon_patient.png are made from them).
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from blender_window_launch import (
    ARTIFACTS,
    GUI_MARKS,
    assert_real_frame,
    driver_state,
    install_legacy_addon,
    run_driver,
    until_written,
)
from live_bridge import free_port
from test_addon_redon import FakeRedonBridge, final

pytestmark = GUI_MARKS
TIMEOUT_S = 240
STEPS = [
    ("rest", "Relax your hand and keep still"),
    ("fingers", "Close your fingers slowly into a fist"),
    ("wrist", "Bend your wrist up"),
]
FINAL = final(
    "adapted",
    summary="Band 4 mm off today: the decoder was adapted",
    reasons=[
        "socket shifted 4.2 mm along the forearm",
        "QG tare and gains re-fitted from the twin",
    ],
)
SHOTS = ("redon_running.png", "redon_verdict.png", "redon_patient.png")


@pytest.fixture(scope="module")
def gui_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("redon_gui")
    install_legacy_addon(tmp)
    ARTIFACTS.mkdir(exist_ok=True)
    for name in SHOTS:
        (ARTIFACTS / name).unlink(missing_ok=True)
    out = tmp / "state.json"
    env = {"FISTBALL_GUI_SHOTS": str(ARTIFACTS)}

    def one_window() -> tuple[subprocess.CompletedProcess[str], list[str]]:
        # a fresh fake per try: its record of actions is per window
        with FakeRedonBridge(free_port(), steps=STEPS, final=FINAL) as fake:
            proc = run_driver("redon_gui_driver.py", tmp, fake.url, out, env, timeout_s=TIMEOUT_S)
            return proc, fake.redon_actions()

    # two tries, as the other window tests (`_tries` says if the first one died here)
    (proc, actions), tries = until_written(out, 2, one_window)
    return driver_state(out, proc, "redon_gui_state.json", _actions=actions, _tries=tries)


def test_panel_shows_the_running_check_and_its_verdict(gui_run: dict[str, Any]) -> None:
    assert gui_run["blender"].startswith("3.4")
    assert gui_run["idle"]["phase"] == "idle"
    running = gui_run["running"]
    assert running["phase"] == "running" and running["step"] == "fingers"
    assert running["prompt"] == "Close your fingers slowly into a fist"
    verdict = gui_run["verdict"]
    assert verdict["phase"] == "done" and verdict["state"] == "adapted"
    assert verdict["reasons"] == FINAL["reasons"] and verdict["problem"] == ""
    assert verdict["panel_draws"] > running["panel_draws"] > 0  # the box really drew


def test_patient_mode_shows_the_prompt_and_cancel_ends_the_check(gui_run: dict[str, Any]) -> None:
    p = gui_run["patient"]
    assert p["prompt"] == "Close your fingers slowly into a fist"
    assert p["prompt"] in p["texts"] and "Fist & Ball" not in p["texts"]  # the check has it
    assert gui_run["cancelled"]["state"] == "cancelled"
    assert gui_run["_actions"] == ["start", "start", "cancel"]


def test_no_errors_and_nothing_left(gui_run: dict[str, Any]) -> None:
    assert gui_run["cancelled"]["tick_errors"] == 0, gui_run["cancelled"]["last_tick_error"]
    assert "Traceback" not in gui_run["_output"], gui_run["_output"][-3000:]
    assert gui_run["leftovers"] == [] and "finish_error" not in gui_run


def test_screenshots_are_real_frames(gui_run: dict[str, Any]) -> None:
    for name in SHOTS:
        assert_real_frame(ARTIFACTS / name)
