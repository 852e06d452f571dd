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

import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

import addon_utils
import bpy

URL = os.environ["FISTBALL_GUI_URL"]
OUT = os.environ["FISTBALL_GUI_OUT"]
SHOTS = Path(os.environ["FISTBALL_GUI_SHOTS"])
PLAY_S = float(os.environ.get("FISTBALL_GUI_PLAY_S", "5"))

state: dict[str, Any] = {"phase": "boot", "log": [], "t0": time.monotonic()}


def note(text: str) -> None:
    state["log"].append(f"{time.monotonic() - state['t0']:.1f}s {text}")


def window() -> Any:
    return bpy.context.window_manager.windows[0]


def override() -> Any:
    win = window()
    area = max(win.screen.areas, key=lambda a: a.width * a.height)
    region = next(r for r in area.regions if r.type == "WINDOW")
    return bpy.context.temp_override(window=win, area=area, region=region)


def key(name: str) -> None:
    win = window()
    win.event_simulate(type=name, value="PRESS")
    win.event_simulate(type=name, value="RELEASE")
    note(f"key {name}")


def shot(name: str) -> None:
    with override():
        bpy.ops.screen.screenshot(filepath=str(SHOTS / name))
    note(f"screenshot {name}")


def patient() -> Any:
    from fist_and_ball.ui import patient_mode

    return patient_mode.current()


def runtime() -> Any:
    from fist_and_ball.live import timer

    return timer.peek_runtime()


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


def finish(ok: bool) -> None:
    state["ok"] = ok
    state["blender"] = bpy.app.version_string
    addon_utils.disable("fist_and_ball", default_set=False)
    from fist_and_ball import registration

    state["leftovers"] = registration.leftovers()
    with open(OUT, "w") as f:
        json.dump(state, f, indent=1, default=str)
    bpy.ops.wm.quit_blender()


def drive() -> float | None:
    try:
        return _drive()
    except Exception:
        state["error"] = traceback.format_exc()
        finish(False)
        return None


def _drive() -> float | None:
    phase, now = state["phase"], time.monotonic()
    if now - state["t0"] > 200:
        state["error"] = f"timed out in phase {phase}"
        finish(False)
        return None
    if phase == "boot":
        key("ESC")  # the first-run splash
        mod = addon_utils.enable("fist_and_ball", default_set=True, handle_error=None)
        if mod is None:
            raise RuntimeError("the legacy add-on did not enable")
        with override():
            bpy.ops.fistball.build_scene()
            bpy.ops.fistball.connect(url=URL)
        state["phase"] = "wait_signal"
        return 0.5
    if phase == "wait_signal":
        if runtime() is not None and runtime().controller.signal:
            from fist_and_ball.ui.screen_state import snapshot_window

            state["before"] = snapshot_window(window())
            state["chrome_before"] = chrome()
            with override():
                state["enter"] = sorted(
                    bpy.ops.fistball.patient_mode_enter(level="medium", minutes=2)
                )
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
        finish(True)
        return None
    return 0.2


bpy.app.timers.register(drive, first_interval=1.0)
