# mypy: disable-error-code="attr-defined,union-attr,func-returns-value"
"""Watches a `fist-and-ball launch` run from inside its Blender (started by
tests/test_launch_gui.py through a wrapper that adds `--python` this file): records the
user's screen layout, waits until patient mode runs a session, plays FISTBALL_LG_PLAY_S
seconds, takes a window screenshot, notes where the hand, ball and LEDs are on screen
and what the editor shows, presses Esc, checks the layout is back, writes JSON and
quits Blender (the launcher then stops the bridge). Does nothing in background Blender
(the add-on install runs Blender that way too)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from blender_window_driver import WindowRun, press, view3d, window

SHOT = os.environ.get("FISTBALL_LG_SHOT", "")
PLAY_S = float(os.environ.get("FISTBALL_LG_PLAY_S", "8"))
FULL = os.environ.get("FISTBALL_LG_FULL", "") == "1"  # also play the session to its end
run = WindowRun(
    os.environ.get("FISTBALL_LG_OUT", ""),
    deadline_s=float(os.environ.get("FISTBALL_LG_TIMEOUT_S", "200")),
    phase="layout",
)
state = run.state


def addon() -> Any:
    for name, mod in list(sys.modules.items()):
        if name.endswith("fist_and_ball") and hasattr(mod, "registration"):
            return mod
    raise RuntimeError("the add-on is not loaded")


def layout() -> list[Any]:
    out = []
    for win in bpy.context.window_manager.windows:
        for a in win.screen.areas:
            space = a.spaces.active
            out.append([win.screen.name, a.type, a.width, a.height,
                        getattr(space, "show_region_header", None)])  # fmt: skip
    return out


def runtime() -> Any:
    return sys.modules[addon().__name__ + ".live.timer"].peek_runtime()


def patient() -> Any:
    import importlib

    return importlib.import_module(addon().__name__ + ".ui.patient_mode").current()


def on_screen() -> dict[str, Any]:
    from bpy_extras.view3d_utils import location_3d_to_region_2d
    from mathutils import Vector

    win, area, region = view3d()
    space = area.spaces.active
    points: dict[str, list[list[float]]] = {}
    scene = bpy.data.scenes.get("Fist & Ball") or bpy.context.scene
    for obj in scene.objects:
        if obj.type != "MESH" or obj.hide_get() or obj.hide_render:
            continue
        name = obj.name.lower()
        kind = next((k for k in ("ball", "led", "hand", "palm", "finger") if k in name), None)
        if kind is None:
            continue
        centre = sum((obj.matrix_world @ Vector(c) for c in obj.bound_box), Vector()) / 8
        p = location_3d_to_region_2d(region, space.region_3d, centre)
        if p is not None:
            # window coordinates, origin bottom-left
            points.setdefault(kind, []).append([region.x + p.x, region.y + p.y])
    return {
        "points": points,
        "window": [win.width, win.height],
        "areas": len(win.screen.areas),
        "header": space.show_region_header,
        "overlays": space.overlay.show_overlays,
        "gizmos": space.show_gizmo,
        "camera_view": space.region_3d.view_perspective,
    }


def step() -> float | None:
    """One step of the state machine per timer call."""
    now = time.monotonic()
    phase = state["phase"]
    if phase == "layout":
        state["layout_before"] = layout()
        state["phase"] = "wait"
        return 0.5
    if phase == "wait":
        rt, pm = runtime(), patient()
        game = None if rt is None else rt.controller.game
        if pm is not None and game is not None and game.played_s >= PLAY_S:
            state["played_s"] = game.played_s
            state["level"] = game.spec.name
            state["minutes"] = game.minutes
            state["view"] = {"leds_lit": game.view().leds_lit, "score": game.score}
            state["signal"] = rt.controller.signal
            state["phase"] = "shot"
        return 0.5
    if phase == "shot":
        state["screen"] = on_screen()
        run.screenshot(SHOT)
        state["shot"] = SHOT
        state["phase"] = "to_the_end" if FULL else "esc"
        return 1.0
    if phase == "to_the_end":
        game = runtime().controller.game
        if game is not None and game.finished:
            state["finished"] = {"completed": game.completed, "played_s": game.played_s}
            state["end_summary"] = runtime().controller.last_summary
            state["phase"] = "esc"
            return 2.0  # the end screen shows the result
        return 1.0
    if phase == "esc":
        win = window()
        win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=win.width // 2, y=win.height // 2)
        press("ESC")
        state["t_esc"] = now
        state["phase"] = "left"
        return 0.5
    if phase == "left":
        if patient() is None:
            state["phase"] = "settle"  # the screen switch back completes on a redraw
            return 1.5
        if now - state["t_esc"] > 30:
            raise RuntimeError("Esc did not leave patient mode within 30 s")
        return 0.5
    if phase == "settle":
        state["layout_after"] = layout()
        rt = runtime()
        state["session_state"] = None if rt is None else rt.controller.state
        state["summary"] = None if rt is None else rt.controller.last_summary
        run.finish(True)
        return None
    return None


if not bpy.app.background:
    run.start(step, first_interval=0.1)
