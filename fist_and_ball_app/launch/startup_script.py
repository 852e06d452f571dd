# mypy: disable-error-code="attr-defined,union-attr,func-returns-value"
"""Runs inside the user's Blender (3.4 .. 5.x), started by `fist-and-ball launch`:

    blender --python startup_script.py -- --url ws://127.0.0.1:P --level auto --minutes 4
            --patient NAME [--no-autostart]

It makes sure the add-on is enabled, skips the splash for this start only, then (from a
timer, once the window exists) builds the game scene, connects to the bridge and enters
patient mode. Without the add-on's patient mode (an older add-on) it starts a session
from the normal editor instead. It uses the add-on's operators, and of its modules only
`quiet_threads()` when there is one, so it works for the extension
(bl_ext.*.fist_and_ball) and the legacy add-on alike, older ones included.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

import addon_utils
import bpy

CONNECT_WAIT_S = 120.0
MODULE_NAMES = ("bl_ext.user_default.fist_and_ball", "fist_and_ball")


def parse_args(argv: list[str]) -> argparse.Namespace:
    rest = argv[argv.index("--") + 1 :] if "--" in argv else []
    p = argparse.ArgumentParser(prog="startup_script.py")
    p.add_argument("--url", required=True)
    p.add_argument("--level", default="auto")
    p.add_argument("--minutes", type=int, default=4)
    p.add_argument("--patient", default="")
    p.add_argument("--no-autostart", action="store_true")
    return p.parse_args(rest)


ARGS = parse_args(sys.argv)
state: dict[str, Any] = {"phase": "build", "t0": time.monotonic()}


def say(text: str) -> None:
    print(f"fist-and-ball launch (in Blender): {text}", flush=True)


def addon_module() -> str | None:
    """The enabled add-on's module name, enabling it if needed."""
    enabled = [a.module for a in bpy.context.preferences.addons]
    for name in enabled:
        if name.endswith("fist_and_ball"):
            return str(name)
    for name in MODULE_NAMES:
        try:
            if addon_utils.enable(name, default_set=False, handle_error=None) is not None:
                return name
        except Exception:  # try the next form (extension vs legacy)
            continue
    return None


def view3d() -> tuple[Any, Any, Any] | None:
    for win in bpy.context.window_manager.windows:
        areas = [a for a in win.screen.areas if a.type == "VIEW_3D"]
        if areas:
            area = max(areas, key=lambda a: a.width * a.height)
            region = next(r for r in area.regions if r.type == "WINDOW")
            return win, area, region
    return None


def call(op_name: str, **kw: Any) -> set[str]:
    found = view3d()
    if found is None:
        raise RuntimeError("no 3D view in the window")
    win, area, region = found
    with quiet_threads(), bpy.context.temp_override(window=win, area=area, region=region):
        result: set[str] = getattr(bpy.ops.fistball, op_name)(**kw)
    return result


def quiet_threads() -> Any:
    """The add-on's threads standing still for an operator called under an override
    (fist_and_ball/live/quiet_threads.py: otherwise Blender can crash once connected);
    a no-op for an add-on without it."""
    name = next((n for n in sys.modules if n.endswith("fist_and_ball.live.timer")), None)
    quiet = getattr(sys.modules[name], "quiet_threads", None) if name is not None else None
    return quiet() if quiet is not None else contextlib.nullcontext()


def set_patient(module: str) -> None:
    if not ARGS.patient:
        return
    prefs = bpy.context.preferences.addons[module].preferences
    if prefs is not None and hasattr(prefs, "patient"):
        prefs.patient = ARGS.patient


def enter_patient_mode() -> bool:
    """The add-on's patient mode if it has one; False for an add-on without it."""
    if not hasattr(bpy.ops.fistball, "patient_mode_enter"):
        return False
    call(
        "patient_mode_enter",
        level=ARGS.level,
        minutes=ARGS.minutes,
        autostart=not ARGS.no_autostart,
    )
    return True


def start_in_editor() -> bool:
    """Older add-on: set level and duration on the game scene and press Start."""
    scene = bpy.data.scenes.get("Fist & Ball") or bpy.context.scene
    settings = getattr(scene, "fist_and_ball", None)
    if settings is not None:
        settings.level, settings.minutes = ARGS.level, str(ARGS.minutes)
    try:
        return "FINISHED" in call("start")
    except RuntimeError:
        return False  # no signal yet: the operator reported it; try again


def step() -> float | None:
    phase = state["phase"]
    if time.monotonic() - state["t0"] > CONNECT_WAIT_S and phase != "done":
        say(f"gave up in phase {phase!r} after {CONNECT_WAIT_S:.0f} s")
        return None
    if phase == "build":
        bpy.context.preferences.view.show_splash = state["splash"]
        if view3d() is None:
            return 0.5
        call("build_scene")
        call("connect", url=ARGS.url)
        state["phase"] = "patient"
        return 0.5
    if phase == "patient":
        try:
            entered = enter_patient_mode()
        except RuntimeError as exc:
            say(f"patient mode not entered yet: {exc}")
            return 1.0
        if entered:
            say("patient mode")
            state["phase"] = "done"
            return None
        if ARGS.no_autostart or start_in_editor():
            say("session started in the editor (this add-on has no patient mode)")
            state["phase"] = "done"
            return None
        return 0.5
    return None


def main() -> None:
    module = addon_module()
    if module is None:
        say("the Fist & Ball add-on is not installed: run `fist-and-ball addon install`")
        return
    set_patient(module)
    # The splash would cover the game; skip it for this start and put the user's
    # preference back in the first timer call (nothing is saved in between).
    state["splash"] = bpy.context.preferences.view.show_splash
    bpy.context.preferences.view.show_splash = False
    bpy.app.timers.register(step, first_interval=0.5)


main()
