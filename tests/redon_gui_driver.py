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

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from blender_window_driver import (
    WindowRun,
    disable_addon,
    enable_addon,
    patient,
    runtime,
    show_sidebar,
    show_tab,
)

URL = os.environ["FISTBALL_GUI_URL"]
SHOTS = os.environ["FISTBALL_GUI_SHOTS"]

run = WindowRun(os.environ["FISTBALL_GUI_OUT"], deadline_s=180.0)
state, op = run.state, run.op
state["tries"] = 0


def screenshot(name: str) -> None:
    run.screenshot(os.path.join(SHOTS, name))


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


def before_quit(ok: bool) -> None:
    try:
        if patient() is not None:
            from fist_and_ball.ui import patient_mode

            patient_mode.leave()
        state["leftovers"] = disable_addon()
    except Exception:
        state["finish_error"] = traceback.format_exc()


run.before_quit = before_quit


def redrawn(draws: Callable[[], int], phase: str) -> float:
    """Wait for two more draws (the first may have started before the change)."""
    state["draws_at"] = draws()
    state["phase"] = phase
    return 0.2


def step() -> float | None:
    """One step of the state machine per timer call."""
    phase = state["phase"]
    rt = runtime()
    panel_draws: Callable[[], int] = lambda: rt.panel_draws  # noqa: E731
    if phase == "boot":
        enable_addon()
        show_sidebar()
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
        state["tries"] += 1
        if not show_tab(state["tries"] - 1):
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
        run.finish(True)
        return None
    return 0.2


run.start(step)
