# mypy: disable-error-code="attr-defined,union-attr,func-returns-value"
"""Runs inside a real Blender window (Debian's 3.4 under Xvfb) for
tests/test_patient_mode_gui.py: enable the legacy add-on, build the scene, connect to a
real bridge, enter patient mode, press Enter on the start screen (simulated keys),
play, press Space twice (pause, resume), end the session so the end screen shows,
press Esc, and check the user's screen is back. Screenshots of each screen; what it
saw goes to a JSON file.

    blender --factory-startup --enable-event-simulate --python tests/patient_mode_driver.py

Environment: FISTBALL_GUI_URL, FISTBALL_GUI_OUT (JSON), FISTBALL_GUI_SHOTS (folder),
FISTBALL_GUI_PLAY_S.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from blender_window_driver import (
    WindowRun,
    disable_addon,
    enable_addon,
    patient,
    press,
    runtime,
    window,
)

URL = os.environ["FISTBALL_GUI_URL"]
SHOTS = Path(os.environ["FISTBALL_GUI_SHOTS"])
PLAY_S = float(os.environ.get("FISTBALL_GUI_PLAY_S", "5"))

run = WindowRun(os.environ["FISTBALL_GUI_OUT"], deadline_s=200)
state, note, op = run.state, run.note, run.op


def key(name: str) -> None:
    press(name)
    note(f"key {name}")


def shot(name: str) -> None:
    run.screenshot(str(SHOTS / name))


def chrome() -> dict[str, Any]:
    """What of Blender's editor is visible in the window now (from bpy state)."""
    win = window()
    views = [a for a in win.screen.areas if a.type == "VIEW_3D"]
    space = views[0].spaces.active if views else None
    return {
        "screen": win.screen.name,
        "areas": [a.type for a in win.screen.areas],
        "header": getattr(space, "show_region_header", None),
        "toolbar": getattr(space, "show_region_toolbar", None),
        "sidebar": getattr(space, "show_region_ui", None),
        "gizmo": getattr(space, "show_gizmo", None),
        "overlays": space.overlay.show_overlays if space else None,
        "perspective": space.region_3d.view_perspective if space else None,
        "window_size": (win.width, win.height),
    }


def before_quit(ok: bool) -> None:
    state["leftovers"] = disable_addon()


run.before_quit = before_quit


def step() -> float | None:
    """One step of the state machine per timer call."""
    phase, now = state["phase"], time.monotonic()
    if phase == "boot":
        enable_addon()
        op("build_scene")
        op("connect", url=URL)
        state["phase"] = "wait_signal"
        return 0.5
    if phase == "wait_signal":
        if runtime() is not None and runtime().controller.signal:
            from fist_and_ball.ui.screen_state import snapshot_window

            state["before"] = snapshot_window(window())
            state["chrome_before"] = chrome()
            state["enter"] = sorted(op("patient_mode_enter", level="medium", minutes=2))
            state["chrome_patient"] = chrome()
            state["phase"] = "start_screen"
            return 2.0  # let the window redraw (software GL)
        return 0.2
    if phase == "start_screen":
        p = patient()
        state["start_screen"] = {"screen": p.flow.screen.value, "draws": p.draws,
                                 "level": p.flow.choices.level}  # fmt: skip
        shot("patient_mode_start.png")
        key("LEFT_ARROW")  # medium -> easy
        key("RET")
        state["t_play"] = now
        state["phase"] = "play"
        return 0.5
    if phase == "play":
        p, rt = patient(), runtime()
        game = rt.controller.game
        if game is not None and game.played_s >= PLAY_S:  # played time: slow GL starts late
            state["play"] = {"screen": p.flow.screen.value, "level": game.spec.name,
                             "played_s": game.played_s, "draws": p.draws,
                             "model": repr(p.model), "cues": list(p.cues_played)}  # fmt: skip
            shot("patient_mode_play.png")
            key("SPACE")
            state["phase"] = "paused"
        return 0.5
    if phase == "paused":
        state["paused"] = runtime().controller.state
        key("SPACE")
        state["phase"] = "resumed"
        return 0.5
    if phase == "resumed":
        rt = runtime()
        state["resumed"] = rt.controller.state
        rt.controller.stop(time.monotonic(), "test ends the session")  # as if the time ran out
        state["phase"] = "end_screen"
        state["t_end"] = now
        return 2.0
    if phase == "end_screen":
        p = patient()
        if p.comparison.startswith("Comparing") and now - state["t_end"] < 30:
            return 0.5  # the log folder is read on a worker thread
        state["end"] = {"screen": p.flow.screen.value, "model": repr(p.model),
                        "cues": list(p.cues_played)}  # fmt: skip
        shot("patient_mode_end.png")
        key("ESC")
        state["phase"] = "left"
        return 1.5
    if phase == "left":
        from fist_and_ball.ui import patient_mode, screen_state

        state["after"] = screen_state.snapshot_window(window())
        state["differences"] = screen_state.differences(state["before"], state["after"])
        state["chrome_after"] = chrome()
        state["patient_on_after_esc"] = patient_mode.current() is not None
        state["draw_handler_after_esc"] = patient_mode.has_draw_handler()
        shot("patient_mode_after.png")
        state["phase"] = "done"
        return 0.5
    if phase == "done":
        run.finish(True)
        return None
    return 0.2


run.start(step)
