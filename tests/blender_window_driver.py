# mypy: disable-error-code="attr-defined,union-attr,func-returns-value"
# (bpy.ops.fistball exists only at run time; fake-bpy-module stubs are Optional-heavy)
"""What the scripts that drive a real Blender window (Debian's 3.4 under Xvfb) share:
gui_driver.py, patient_mode_driver.py, redon_gui_driver.py and launch_gui_driver.py.

A driver is a state machine stepped by one Blender timer. `WindowRun` holds what it saw
(`state`, written as JSON at the end), its deadline and how it finishes; the functions
find the 3D view, press keys, call the add-on's operators and take screenshots.

A driver started with `blender --python tests/X.py` does not have tests/ on sys.path; it
imports this module after `sys.path.insert(0, os.path.dirname(__file__))`.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import addon_utils
import bpy
from xwd_png import xwd_to_png

ADDON = "fist_and_ball"
TAB = "Fist & Ball"
Step = Callable[[], "float | None"]

# A segfault then prints every thread's Python stack to stderr (the test shows it),
# before Blender's own handler writes its crash report.
faulthandler.enable(all_threads=True)


def window() -> Any:
    return bpy.context.window_manager.windows[0]


def view3d() -> tuple[Any, Any, Any]:
    """The first window, its widest 3D view and that view's main region."""
    win = window()
    area = max((a for a in win.screen.areas if a.type == "VIEW_3D"), key=lambda a: a.width)
    region = next(r for r in area.regions if r.type == "WINDOW")
    return win, area, region


def press(key: str) -> None:
    """A simulated key press and release in the first window."""
    win = window()
    win.event_simulate(type=key, value="PRESS")
    win.event_simulate(type=key, value="RELEASE")


def click(x: int, y: int) -> None:
    """A simulated left click at window coordinates (origin bottom-left)."""
    win = window()
    win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
    win.event_simulate(type="LEFTMOUSE", value="PRESS", x=x, y=y)
    win.event_simulate(type="LEFTMOUSE", value="RELEASE", x=x, y=y)


def enable_addon() -> Any:
    """Close the first-run splash (a fresh user folder gets it; it takes all input), then
    enable the legacy add-on; its module."""
    press("ESC")
    mod = addon_utils.enable(ADDON, default_set=True, handle_error=None)
    if mod is None:
        raise RuntimeError("the legacy add-on did not enable")
    return mod


def disable_addon() -> list[Any]:
    """Disable the add-on; what its registration left behind (should be nothing)."""
    addon_utils.disable(ADDON, default_set=False)
    from fist_and_ball import registration

    leftovers: list[Any] = registration.leftovers()
    return leftovers


def show_sidebar() -> None:
    view3d()[1].spaces.active.show_region_ui = True


def show_tab(attempt: int) -> bool:
    """Make the "Fist & Ball" tab the active one in the sidebar; False once out of tabs.

    Blender 4.2+ has Region.active_panel_category. 3.4 does not: click down the tab strip
    at the sidebar's right edge, one position per attempt, until our panel draws.
    """
    _, area, _ = view3d()
    ui = next(r for r in area.regions if r.type == "UI")
    if hasattr(ui, "active_panel_category"):
        ui.active_panel_category = TAB
        return True
    x = ui.x + ui.width - 10
    y = ui.y + ui.height - 20 - 25 * attempt
    if y < ui.y:
        return False
    click(x, y)
    return True


def runtime() -> Any:
    """The add-on's live runtime (None before Connect)."""
    from fist_and_ball.live import timer

    return timer.peek_runtime()


def quiet_threads() -> Any:
    """The add-on's `quiet_threads()` (legacy or extension install), or a no-op before
    it is enabled."""
    name = next((n for n in sys.modules if n.endswith("fist_and_ball.live.timer")), None)
    timer = sys.modules[name] if name is not None else None
    return timer.quiet_threads() if timer is not None else contextlib.nullcontext()


def patient() -> Any:
    """Patient mode's current session (None outside patient mode)."""
    from fist_and_ball.ui import patient_mode

    return patient_mode.current()


class WindowRun:
    """One driver's run: what it saw, its deadline, and how it ends."""

    def __init__(self, out: str, deadline_s: float, phase: str = "boot") -> None:
        self.out = out
        self.deadline_s = deadline_s
        self.state: dict[str, Any] = {"phase": phase, "log": [], "t0": time.monotonic()}
        self.before_quit: Callable[[bool], None] = lambda ok: None

    def note(self, text: str) -> None:
        """Log `text` in the JSON and on stdout (what a crashed run leaves behind)."""
        line = f"{time.monotonic() - self.state['t0']:.1f}s {text}"
        self.state["log"].append(line)
        print(f"driver: {line}", flush=True)

    def op(self, name: str, **kw: Any) -> set[str]:
        """Call bpy.ops.fistball.<name> in the 3D view, noting its result. The add-on's
        threads stand still meanwhile: an operator under an override crashes Blender
        while another Python thread runs (fist_and_ball/live/quiet_threads.py)."""
        win, area, region = view3d()
        with quiet_threads(), bpy.context.temp_override(window=win, area=area, region=region):
            result: set[str] = getattr(bpy.ops.fistball, name)(**kw)
        self.note(f"{name} {kw} -> {sorted(result)}")
        return result

    def screenshot(self, path: str) -> None:
        """A PNG of the whole window as last drawn, read from the X server's framebuffer
        (FISTBALL_GUI_SCREEN, see tests/xwd_png.py), with no operator call. Call it once
        the window has redrawn what the picture should show."""
        win = window()
        with open(os.environ["FISTBALL_GUI_SCREEN"], "rb") as f:
            png = xwd_to_png(f.read(), win.width, win.height)
        with open(path, "wb") as f:
            f.write(png)
        self.note(f"screenshot {path}")

    def finish(self, ok: bool) -> None:
        """Record the outcome, run `before_quit`, write the JSON, quit Blender."""
        self.state["ok"] = ok
        self.state["blender"] = bpy.app.version_string
        self.before_quit(ok)
        with open(self.out, "w") as f:
            json.dump(self.state, f, indent=1, default=str)
        bpy.ops.wm.quit_blender()

    def start(self, step: Step, first_interval: float = 1.0) -> None:
        """Register `step` as the timer; past the deadline or on an exception it finishes."""

        seen = [""]

        def drive() -> float | None:
            try:
                if self.state["phase"] != seen[0]:
                    seen[0] = self.state["phase"]
                    self.note(f"phase {seen[0]}")
                if time.monotonic() - self.state["t0"] > self.deadline_s:
                    self.state["error"] = f"timed out in phase {self.state['phase']}"
                    self.finish(False)
                    return None
                return step()
            except Exception:
                self.state["error"] = traceback.format_exc()
                self.finish(False)
                return None

        bpy.app.timers.register(drive, first_interval=first_interval)
