# mypy: disable-error-code="attr-defined,union-attr,func-returns-value"
# (bpy.ops.fistball exists only at run time; fake-bpy-module stubs are Optional-heavy)
"""Runs inside a real Blender window (Debian's 3.4 under Xvfb): enable the legacy add-on,
open the sidebar tab, connect to a real bridge (with a simulated hand), enable the hand,
play a few seconds, take a screenshot, turn on the decoder view and look through its
camera, take a second screenshot, write what it saw as JSON, quit. Started by
tests/test_gui_smoke.py:

    blender --factory-startup --enable-event-simulate --python tests/gui_driver.py

Parameters come in environment variables: FISTBALL_GUI_URL, FISTBALL_GUI_OUT (JSON),
FISTBALL_GUI_SHOT (PNG), FISTBALL_GUI_SHOT_DECODER (PNG), FISTBALL_GUI_PLAY_S.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

import addon_utils
import bpy

URL = os.environ["FISTBALL_GUI_URL"]
OUT = os.environ["FISTBALL_GUI_OUT"]
SHOT = os.environ["FISTBALL_GUI_SHOT"]
SHOT_DECODER = os.environ.get("FISTBALL_GUI_SHOT_DECODER", "")
PLAY_S = float(os.environ.get("FISTBALL_GUI_PLAY_S", "4"))
TAB = "Fist & Ball"

state: dict[str, Any] = {"phase": "boot", "log": [], "t0": time.monotonic()}


def note(text: str) -> None:
    state["log"].append(f"{time.monotonic() - state['t0']:.1f}s {text}")


def view3d() -> tuple[Any, Any, Any]:
    win = bpy.context.window_manager.windows[0]
    area = max((a for a in win.screen.areas if a.type == "VIEW_3D"), key=lambda a: a.width)
    region = next(r for r in area.regions if r.type == "WINDOW")
    return win, area, region


def sidebar(area: Any) -> Any:
    return next(r for r in area.regions if r.type == "UI")


def runtime() -> Any:
    from fist_and_ball.live import timer

    return timer.peek_runtime()


def op(name: str, **kw: Any) -> set[str]:
    win, area, region = view3d()
    fn = getattr(bpy.ops.fistball, name)
    with bpy.context.temp_override(window=win, area=area, region=region):
        result: set[str] = fn(**kw)
    note(f"{name} -> {sorted(result)}")
    return result


def show_tab(attempt: int) -> bool:
    """Make the "Fist & Ball" tab the active one in the sidebar.

    Blender 4.2+ has Region.active_panel_category. 3.4 does not: click down the tab strip
    at the sidebar's right edge, one position per attempt, until our panel draws.
    """
    win, area, _ = view3d()
    ui = sidebar(area)
    if hasattr(ui, "active_panel_category"):
        ui.active_panel_category = TAB
        return True
    x = ui.x + ui.width - 10
    y = ui.y + ui.height - 20 - 25 * attempt
    if y < ui.y:
        return False
    win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
    win.event_simulate(type="LEFTMOUSE", value="PRESS", x=x, y=y)
    win.event_simulate(type="LEFTMOUSE", value="RELEASE", x=x, y=y)
    return True


def status() -> dict[str, Any]:
    rt = runtime()
    if rt is None:
        return {}
    c, link = rt.controller, rt.link.status
    game = c.game
    return {
        "connected": link.connected,
        "signal": c.signal,
        "state": c.state,
        "grades_received": link.grades_received,
        "grades_per_s": link.grades_per_s,
        "rtt_ms": link.rtt_ms,
        "grade": c.view.grade if c.latest_grade is not None else None,
        "played_s": None if game is None else game.played_s,
        "score": 0.0 if game is None else game.score,
        "ticks": rt.ticks,
        "tick_errors": rt.errors,
        "last_tick_error": rt.last_error,
        "panel_draws": rt.panel_draws,
        "hand_state": c.hand.state if c.hand is not None else "",
        "hand_reply": c.hand_reply,
        "decoder_on": rt.decoder.on,
        "kmg_applied": rt.decoder.applied,
    }


def finish(ok: bool) -> None:
    state["ok"] = ok
    state["status"] = status()
    state["blender"] = bpy.app.version_string
    state["python"] = sys.version.split()[0]
    import websockets

    state["websockets"] = websockets.__file__
    from fist_and_ball.live import timer

    state["timer_registered_before_disable"] = bpy.app.timers.is_registered(timer.tick)
    addon_utils.disable("fist_and_ball", default_set=False)
    from fist_and_ball import registration

    state["leftovers"] = registration.leftovers()
    state["timer_registered_after_disable"] = bpy.app.timers.is_registered(timer.tick)
    with open(OUT, "w") as f:
        json.dump(state, f, indent=1, default=str)
    bpy.ops.wm.quit_blender()


def drive() -> float | None:
    """The test's own timer: a small state machine, one step per call."""
    try:
        return _drive()
    except Exception:
        state["error"] = traceback.format_exc()
        finish(False)
        return None


def _drive() -> float | None:
    phase = state["phase"]
    now = time.monotonic()
    if now - state["t0"] > 150:
        state["error"] = f"timed out in phase {phase}"
        finish(False)
        return None
    if phase == "boot":
        # A fresh user folder gets the first-run splash, which takes all input: close it.
        win, _, _ = view3d()
        win.event_simulate(type="ESC", value="PRESS")
        win.event_simulate(type="ESC", value="RELEASE")
        mod = addon_utils.enable("fist_and_ball", default_set=True, handle_error=None)
        state["enabled"] = mod is not None
        if mod is None:
            raise RuntimeError("the legacy add-on did not enable")
        state["addon_file"] = mod.__file__
        _, area, _ = view3d()
        area.spaces.active.show_region_ui = True
        state["phase"] = "build"
        return 0.5
    if phase == "build":
        op("build_scene")
        op("connect", url=URL)
        state["phase"] = "wait_signal"
        return 0.2
    if phase == "wait_signal":
        rt = runtime()
        if rt is not None and rt.controller.signal:
            state["tab_tries"] = 0
            state["phase"] = "tab"
        return 0.2
    if phase == "tab":
        rt = runtime()
        if rt.panel_draws > 0:
            note(f"panel visible after {state['tab_tries']} tab switches")
            op("start")
            op("hand", action="enable")
            state["t_play"] = now
            state["phase"] = "play"
            return 0.2
        if not show_tab(state["tab_tries"]):
            raise RuntimeError("the Fist & Ball tab never showed")
        note(f"tab click {state['tab_tries']}")
        state["tab_tries"] += 1
        return 1.0
    if phase == "play":
        hand = runtime().controller.hand
        hand_on = hand is not None and hand.state == "active"
        if now - state["t_play"] >= PLAY_S and (hand_on or now - state["t_play"] > 30):
            state["played"] = status()
            state["phase"] = "shot"
        return 0.2
    if phase == "shot":
        win, area, region = view3d()
        with bpy.context.temp_override(window=win, area=area, region=region):
            bpy.ops.screen.screenshot(filepath=SHOT)
        note("screenshot taken")
        op("decoder_view", enable=True)
        state["t_decoder"] = now
        state["phase"] = "decoder"
        return 0.5
    if phase == "decoder":
        if runtime().decoder.applied < 20 and now - state["t_decoder"] < 60:
            return 0.2
        op("frame_decoder", target="DECODER")
        _, area, _ = view3d()
        space = area.spaces.active
        state["decoder_camera"] = space.camera.name if space.use_local_camera else None
        state["decoder"] = status()
        state["phase"] = "decoder_shot"
        return 1.5  # let the bars move and the window redraw
    if phase == "decoder_shot":
        if SHOT_DECODER:
            win, area, region = view3d()
            with bpy.context.temp_override(window=win, area=area, region=region):
                bpy.ops.screen.screenshot(filepath=SHOT_DECODER)
            note("decoder screenshot taken")
        op("frame_decoder", target="GAME")
        _, area, _ = view3d()
        state["back_to_game_camera"] = not area.spaces.active.use_local_camera
        op("decoder_view", enable=False)
        state["phase"] = "done"
        return 0.5
    if phase == "done":
        op("stop")
        state["stopped"] = status()
        state["summary"] = runtime().controller.last_summary
        finish(True)
        return None
    return 0.2


bpy.app.timers.register(drive, first_interval=1.0)
