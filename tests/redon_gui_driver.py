# mypy: disable-error-code="attr-defined,union-attr,func-returns-value"
# (bpy.ops.fistball exists only at run time; fake-bpy-module stubs are Optional-heavy)
"""Runs inside a real Blender window (Debian's 3.4 under Xvfb): the re-don check from
the panel and in patient mode, against `FakeRedonBridge` (tests/test_addon_redon.py),
which the driver steps with `{"type": "test_advance"}`. Started by
tests/test_addon_redon_gui.py:

    blender --factory-startup --enable-event-simulate --python tests/redon_gui_driver.py

1. connect, open the sidebar tab, press Re-don Check;
2. at the second step, once the panel redrew: screenshot `redon_running.png`;
3. at the verdict, once the panel redrew: screenshot `redon_verdict.png`;
4. start another check, enter patient mode, at its second step: `redon_patient.png`;
5. Cancel, leave patient mode, disable the add-on; write what it saw as JSON.

Parameters come in environment variables: FISTBALL_GUI_URL, FISTBALL_GUI_OUT (JSON),
FISTBALL_GUI_SHOTS (folder for the PNGs).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

import addon_utils
import bpy

URL = os.environ["FISTBALL_GUI_URL"]
OUT = os.environ["FISTBALL_GUI_OUT"]
SHOTS = os.environ["FISTBALL_GUI_SHOTS"]
DEADLINE_S = 180.0
TAB = "Fist & Ball"

state: dict[str, Any] = {"phase": "boot", "log": [], "t0": time.monotonic(), "tries": 0}


def note(text: str) -> None:
    state["log"].append(f"{time.monotonic() - state['t0']:.1f}s {text}")


def view3d() -> tuple[Any, Any, Any]:
    win = bpy.context.window_manager.windows[0]
    area = max((a for a in win.screen.areas if a.type == "VIEW_3D"), key=lambda a: a.width)
    return win, area, next(r for r in area.regions if r.type == "WINDOW")


def runtime() -> Any:
    from fist_and_ball.live import timer

    return timer.peek_runtime()


def patient() -> Any:
    from fist_and_ball.ui import patient_mode

    return patient_mode.current()


def op(name: str, **kw: Any) -> set[str]:
    win, area, region = view3d()
    with bpy.context.temp_override(window=win, area=area, region=region):
        result: set[str] = getattr(bpy.ops.fistball, name)(**kw)
    note(f"{name} {kw} -> {sorted(result)}")
    return result


def screenshot(name: str) -> None:
    win, area, region = view3d()
    with bpy.context.temp_override(window=win, area=area, region=region):
        bpy.ops.screen.screenshot(filepath=os.path.join(SHOTS, name))
    note(f"screenshot {name}")


def advance() -> None:
    """Step the fake bridge on from the current step (once per step)."""
    step = runtime().redon.step
    if state.get("advanced_from") != step:
        state["advanced_from"] = step
        runtime().send({"type": "test_advance"})


def redon_seen() -> dict[str, Any]:
    rt = runtime()
    r = rt.redon
    result = r.result
    return {
        "phase": r.phase,
        "step": r.step,
        "prompt": r.prompt,
        "progress": r.progress,
        "problem": r.problem,
        "state": result.state if result is not None else "",
        "summary": result.summary if result is not None else "",
        "reasons": list(result.reasons) if result is not None else [],
        "panel_draws": rt.panel_draws,
        "tick_errors": rt.errors,
        "last_tick_error": rt.last_error,
    }


def show_tab() -> bool:
    """Make the "Fist & Ball" tab the active one (3.4: click down the tab strip)."""
    win, area, _ = view3d()
    ui = next(r for r in area.regions if r.type == "UI")
    if hasattr(ui, "active_panel_category"):
        ui.active_panel_category = TAB
        return True
    x, y = ui.x + ui.width - 10, ui.y + ui.height - 20 - 25 * state["tries"]
    state["tries"] += 1
    if y < ui.y:
        return False
    win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
    win.event_simulate(type="LEFTMOUSE", value="PRESS", x=x, y=y)
    win.event_simulate(type="LEFTMOUSE", value="RELEASE", x=x, y=y)
    return True


def finish(ok: bool) -> None:
    state["ok"] = ok
    state["blender"] = bpy.app.version_string
    try:
        if patient() is not None:
            from fist_and_ball.ui import patient_mode

            patient_mode.leave()
        addon_utils.disable("fist_and_ball", default_set=False)
        from fist_and_ball import registration

        state["leftovers"] = registration.leftovers()
    except Exception:
        state["finish_error"] = traceback.format_exc()
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


def redrawn(draws: Callable[[], int], phase: str) -> float:
    """Wait for two more draws (the first may have started before the change)."""
    state["draws_at"] = draws()
    state["phase"] = phase
    return 0.2


def _drive() -> float | None:
    phase, now = state["phase"], time.monotonic()
    if now - state["t0"] > DEADLINE_S:
        state["error"] = f"timed out in phase {phase}"
        finish(False)
        return None
    rt = runtime()
    panel_draws: Callable[[], int] = lambda: rt.panel_draws  # noqa: E731
    if phase == "boot":  # a fresh user folder has the splash: it takes all input
        win, area, _ = view3d()
        win.event_simulate(type="ESC", value="PRESS")
        win.event_simulate(type="ESC", value="RELEASE")
        if addon_utils.enable("fist_and_ball", default_set=True, handle_error=None) is None:
            raise RuntimeError("the legacy add-on did not enable")
        area.spaces.active.show_region_ui = True
        state["phase"] = "connect"
        return 0.5
    if phase == "connect":
        op("build_scene")
        op("connect", url=URL)
        state["phase"] = "hello"
    elif phase == "hello":
        if rt.link.status.connected and rt.controller.hello:
            state["phase"] = "tab"
    elif phase == "tab":
        if rt.panel_draws > 0:
            state["idle"] = redon_seen()
            op("redon", action="start")
            state["phase"] = "first_step"
            return 0.2
        if not show_tab():
            raise RuntimeError("the Fist & Ball tab never showed")
        return 1.0
    elif phase == "first_step":
        if rt.redon.step == "rest":
            state["first"] = redon_seen()
            advance()
            state["phase"] = "second_step"
    elif phase == "second_step":
        if rt.redon.step == "fingers":
            return redrawn(panel_draws, "shot_running")
    elif phase == "shot_running":
        if rt.panel_draws >= state["draws_at"] + 2:
            state["running"] = redon_seen()
            screenshot("redon_running.png")
            advance()
            state["phase"] = "verdict"
    elif phase == "verdict":
        if not rt.redon.busy:
            return redrawn(panel_draws, "shot_verdict")
        advance()  # through the remaining steps
    elif phase == "shot_verdict":
        if rt.panel_draws >= state["draws_at"] + 2:
            state["verdict"] = redon_seen()
            screenshot("redon_verdict.png")
            state["advanced_from"] = None  # a new check starts at rest again
            op("redon", action="start")
            op("patient_mode_enter")
            state["phase"] = "patient_first"
    elif phase == "patient_first":
        if rt.redon.step == "rest":
            advance()
            state["phase"] = "patient_second"
    elif phase == "patient_second":
        if rt.redon.step == "fingers" and patient() is not None:
            return redrawn(lambda: patient().draws, "shot_patient")
    elif phase == "shot_patient":
        if patient().draws >= state["draws_at"] + 2:
            model = patient().model
            state["patient"] = {
                "prompt": model.redon_prompt,
                "progress": model.redon_progress,
                "texts": patient().layout.texts() if patient().layout else [],
            }
            screenshot("redon_patient.png")
            op("redon", action="cancel")
            state["phase"] = "cancelled"
    elif phase == "cancelled" and not rt.redon.busy:
        state["cancelled"] = redon_seen()
        finish(True)
        return None
    return 0.2


bpy.app.timers.register(drive, first_interval=1.0)
