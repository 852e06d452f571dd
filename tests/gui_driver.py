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

import os
import sys
import time
from typing import Any

import bpy

sys.path.insert(0, os.path.dirname(__file__))
from blender_window_driver import (
    WindowRun,
    disable_addon,
    enable_addon,
    runtime,
    show_sidebar,
    show_tab,
    view3d,
)

URL = os.environ["FISTBALL_GUI_URL"]
SHOT = os.environ["FISTBALL_GUI_SHOT"]
SHOT_DECODER = os.environ.get("FISTBALL_GUI_SHOT_DECODER", "")
PLAY_S = float(os.environ.get("FISTBALL_GUI_PLAY_S", "4"))

run = WindowRun(os.environ["FISTBALL_GUI_OUT"], deadline_s=150)
state, note, op = run.state, run.note, run.op


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


def before_quit(ok: bool) -> None:
    state["status"] = status()
    state["python"] = sys.version.split()[0]
    import websockets

    state["websockets"] = websockets.__file__
    from fist_and_ball.live import timer

    state["timer_registered_before_disable"] = bpy.app.timers.is_registered(timer.tick)
    state["leftovers"] = disable_addon()
    state["timer_registered_after_disable"] = bpy.app.timers.is_registered(timer.tick)


run.before_quit = before_quit


def step() -> float | None:
    """One step of the state machine per timer call."""
    phase = state["phase"]
    now = time.monotonic()
    if phase == "boot":
        mod = enable_addon()
        state["enabled"] = True
        state["addon_file"] = mod.__file__
        show_sidebar()
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
        run.screenshot(SHOT)
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
            run.screenshot(SHOT_DECODER)
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
        run.finish(True)
        return None
    return 0.2


run.start(step)
