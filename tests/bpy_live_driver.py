# mypy: disable-error-code="attr-defined,union-attr"
# (bpy.ops.fistball exists only at run time; fake-bpy-module stubs are Optional-heavy)
"""Plays a live session in bpy against a real bridge and reports what it observed.

Used in-process (tests/test_live_bpy.py, the source checkout) and as a subprocess
(tests/test_extension_bpy.py: the extension installed from the zip into a temporary
Blender user folder). Timers never fire in background mode, so this calls the add-on's
`tick()` itself at the tick interval, as the timer would.

    python tests/bpy_live_driver.py --zip dist/fist_and_ball-0.1.0.zip --port P --out R.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_bridge import BridgeProcess

PACKAGE = "fist_and_ball"
"""The add-on's package: the source checkout in-process, `bl_ext.<repo>.fist_and_ball`
when installed from the zip (the add-on has no alias: its modules are reached by name)."""


def addon(sub: str) -> Any:
    """A module of the running add-on, e.g. `addon("live.timer")`."""
    return importlib.import_module(f"{PACKAGE}.{sub}")


def tick_for(seconds: float, until: Any = None, on_tick: Any = None) -> float:
    """Tick like the timer for up to `seconds` (or until `until()`); returns ticking time."""
    timer = addon("live.timer")

    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        t = time.monotonic()
        interval = timer.tick()
        if on_tick is not None:
            on_tick()
        if until is not None and until():
            break
        time.sleep(max(0.0, (interval or 0.03) - (time.monotonic() - t)))
    return time.monotonic() - t0


def scene_sample() -> dict[str, Any]:
    """The latest grade the add-on took in, and what the scene shows for it."""
    timer = addon("live.timer")
    IN_HAND_FROM = addon("scene.apply").IN_HAND_FROM
    leds_lit_in_scene = addon("scene.apply").leds_lit_in_scene
    finger_bone = addon("scene.hand_geometry").finger_bone
    pose_for = addon("scene.hand_pose").pose_for

    rt = timer.get_runtime()
    msg = rt.controller.latest_grade or {}
    view = rt.controller.view
    refs = rt.refs
    bone = finger_bone("index", 1)
    out: dict[str, Any] = {
        "grade": msg.get("grade"),
        "closure": msg.get("closure"),
        "gesture": msg.get("gesture"),
        "signal": rt.controller.signal,
        "view_grade": None if view is None else view.grade,
        "holding": None if view is None else view.holding,
    }
    if refs is not None and msg:
        out["leds_in_scene"] = leds_lit_in_scene(refs)
        out["bone_rot_x"] = float(refs.pose_bones[bone].rotation_euler.x)
        in_hand = bool(view is not None and view.holding and view.ball_height >= IN_HAND_FROM)
        expected = pose_for(
            str(msg["gesture"]), int(msg["grade"]), float(msg["closure"]), ball_in_hand=in_hand
        )
        out["expected_rot_x"] = expected[bone][0]
    return out


def status_dict() -> dict[str, Any]:
    timer = addon("live.timer")

    rt = timer.get_runtime()
    c, link = rt.controller, rt.link.status
    game = c.game
    return {
        "connected": link.connected,
        "signal": c.signal,
        "detail": link.detail,
        "state": c.state,
        "pause_reason": c.pause_reason,
        "grades_received": link.grades_received,
        "grades_per_s": link.grades_per_s,
        "rtt_ms": link.rtt_ms,
        "played_s": None if game is None else game.played_s,
        "paused": None if game is None else game.paused,
        "tick_errors": rt.errors,
        "last_tick_error": rt.last_error,
        "session_id": c.session_id,
        "log_folder": c.log_folder,
    }


def run_scenario(bridge: BridgeProcess, report: dict[str, Any], *, disconnect: bool) -> None:
    """Connect, check the scene follows the grades, play, (kill/restart the bridge), stop."""
    import bpy

    timer = addon("live.timer")

    report["steps"] = []

    def step(name: str) -> None:
        report["steps"].append(name)

    assert bpy.ops.fistball.build_scene() == {"FINISHED"}
    step("built")
    assert bpy.ops.fistball.connect(url=bridge.url) == {"FINISHED"}
    report["timer_registered_after_connect"] = bpy.app.timers.is_registered(timer.tick)
    rt = timer.get_runtime()
    tick_for(20.0, until=lambda: rt.controller.signal)
    report["connected"] = status_dict()
    step("connected")

    samples: list[dict[str, Any]] = []
    tick_for(3.0, on_tick=lambda: samples.append(scene_sample()))
    report["idle_samples"] = samples
    step("idle")

    assert bpy.ops.fistball.start() == {"FINISHED"}
    step("started")
    playing: list[dict[str, Any]] = []
    tick_for(4.0, on_tick=lambda: playing.append(scene_sample()))
    report["play_samples"] = playing
    report["playing"] = status_dict()
    step("played")

    if disconnect:
        bridge.kill()
        t_kill = time.monotonic()
        ticking = tick_for(
            5.0,
            until=lambda: not rt.link.status.connected and rt.controller.state == "paused",
        )
        report["disconnect_seen_after_s"] = time.monotonic() - t_kill
        report["disconnect_ticking_s"] = ticking
        report["after_kill"] = status_dict()
        report["after_kill_sample"] = scene_sample()
        tick_for(1.0)
        report["after_kill_1s"] = status_dict()
        step("killed")
        bridge.start()
        tick_for(
            40.0,
            until=lambda: rt.controller.signal and rt.controller.state == "running",
        )
        report["after_restart"] = status_dict()
        tick_for(1.5)
        report["after_restart_played"] = status_dict()
        step("restarted")

    assert bpy.ops.fistball.stop() == {"FINISHED"}
    report["stopped"] = status_dict()
    report["summary"] = rt.controller.last_summary
    step("stopped")
    assert bpy.ops.fistball.disconnect() == {"FINISHED"}
    report["timer_registered_after_disconnect"] = bpy.app.timers.is_registered(timer.tick)
    step("disconnected")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zip", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--disconnect", action="store_true")
    args = ap.parse_args()
    report: dict[str, Any] = {"ok": False}
    bridge = BridgeProcess(args.port)
    try:
        import bpy

        bridge.start()
        report["user_resources"] = bpy.utils.resource_path("USER")
        res = bpy.ops.extensions.package_install_files(
            filepath=args.zip, repo="user_default", enable_on_install=True
        )
        report["install"] = sorted(res)
        mods = [a.module for a in bpy.context.preferences.addons]
        report["enabled"] = [m for m in mods if m.endswith("fist_and_ball")]
        global PACKAGE
        PACKAGE = report["enabled"][0]
        registration = addon("registration")
        timer = addon("live.timer")

        report["package_name"] = importlib.import_module(PACKAGE).__name__
        report["registration_file"] = registration.__file__
        connect_cls = bpy.types.FISTBALL_OT_connect
        report["operator_module"] = connect_cls.__module__
        report["operator_file"] = sys.modules[connect_cls.__module__].__file__
        report["plain_name_imported"] = "fist_and_ball" in sys.modules
        run_scenario(bridge, report, disconnect=args.disconnect)
        bpy.ops.preferences.addon_disable(module=report["enabled"][0])
        report["disabled"] = [
            a.module for a in bpy.context.preferences.addons if a.module.endswith("fist_and_ball")
        ]
        report["leftovers"] = registration.leftovers()
        report["timer_registered_after_disable"] = bpy.app.timers.is_registered(timer.tick)
        report["ok"] = True
    except BaseException as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc()
    finally:
        bridge.kill()
        Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    return 0 if report["ok"] else 1


def check_samples(samples: list[dict[str, Any]]) -> tuple[int, set[int]]:
    """How many samples show the scene matching the latest grade; the grades seen."""
    good = 0
    grades: set[int] = set()
    for s in samples:
        if s.get("grade") is None or "leds_in_scene" not in s or not s.get("signal"):
            continue
        grades.add(int(s["grade"]))
        leds_ok = s["leds_in_scene"] == int(s["grade"]) + 1
        rot_ok = math.isclose(s["bone_rot_x"], s["expected_rot_x"], abs_tol=1e-4)
        good += int(leds_ok and rot_ok)
    return good, grades


if __name__ == "__main__":
    sys.exit(main())
