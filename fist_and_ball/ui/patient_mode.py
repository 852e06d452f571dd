# mypy: disable-error-code="union-attr,attr-defined"
# ruff: noqa: RUF012  (Blender reads bl_options as a plain class attribute set)
"""Patient mode (bpy adapters): the game camera full-window with a large HUD.

Entering saves the window's state (`screen_state`), makes the biggest 3D view fill the
window (`screen.screen_full_area(use_hide_panels=True)`: no outliner, properties,
timeline, top bar or status bar), hides its header, toolbar, sidebar, gizmos and
overlays (the 3D cursor with them) and looks through the game camera. A modal operator
takes the keys and clicks (`core.start_screen.PatientFlow` decides what they do) and,
every `UPDATE_S`, rebuilds the HUD's model from the live runtime, plays the sound cues
and tags the view for redraw only when the HUD changed. The POST_PIXEL draw handler
only draws the cached layout (`core.patient_hud`), so a slow software-GL redraw costs
as little as possible. Leaving goes back to the previous screen and writes the saved
view settings back, so the user's layout is exactly as it was.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from ..core.patient_hud import Dot, HudLayout, HudModel, Rect, Text, hud_layout
from ..core.session_briefs import read_briefs
from ..core.start_screen import Command, Counters, PatientFlow, Screen, sound_cues
from ..core.week_compare import compare_with_last_week
from ..live.redon_state import heading as redon_heading
from ..live.timer import ensure_job_timer, get_runtime, peek_runtime, quiet_threads
from .operators import Result, ensure_game_refs, start_session
from .patient_sounds import Sounds
from .preferences import settings
from .screen_state import restore_window, snapshot_window

log = logging.getLogger(__name__)

UPDATE_S = 0.1
"""How often the modal operator looks at the game (HUD model, sounds, screen changes)."""
AUTOSTART_WAIT_S = 30.0
"""An autostart waits this long for the band's first grade, then starts anyway."""
JOB_WEEK = "week-compare"
PASS_EVENTS = frozenset(
    {"MOUSEMOVE", "INBETWEEN_MOUSEMOVE", "WINDOW_DEACTIVATE", "NONE", "TEXTINPUT"}
)
"""Events patient mode lets through; every other key, click and wheel is taken, so
the patient cannot change the scene by accident."""
HAND_TEXT = {
    "disabled": "off",
    "blocked": "blocked",
    "active": "following",
    "holding": "holding",
    "opening": "opening",
    "estop": "STOPPED",
}


@dataclass
class PatientState:
    """Patient mode while it is on (one window)."""

    window_ptr: int
    saved: dict[str, Any]
    flow: PatientFlow = field(default_factory=PatientFlow)
    area_ptr: int = 0
    model: HudModel = field(default_factory=HudModel)
    model_key: str = ""
    layout_key: tuple[Any, ...] = ()
    layout: HudLayout | None = None
    sounds: Sounds | None = None
    counters: Counters = field(default_factory=Counters)
    autostart_at: float | None = None
    comparison: str = ""
    note: str = ""
    draws: int = 0
    updates: int = 0
    cues_played: list[str] = field(default_factory=list)
    active: bool = True


_state: PatientState | None = None
_draw_handle: Any = None


def current() -> PatientState | None:
    """Patient mode's state while it is on (for tests and the launch driver)."""
    return _state if _state is not None and _state.active else None


# -- entering and leaving ----------------------------------------------------------
def _largest_view3d(screen: Any) -> Any:
    views = [a for a in screen.areas if a.type == "VIEW_3D"]
    return max(views, key=lambda a: a.width * a.height) if views else None


def _window_region(area: Any) -> Any:
    return next((r for r in area.regions if r.type == "WINDOW"), None)


def enter(context: Any, level: str = "", minutes: int = 0, autostart: bool = False) -> str | None:
    """Turn patient mode on in the context's window; returns a problem text or None."""
    window = getattr(context, "window", None)
    if bpy.app.background or window is None or window.screen is None:
        # background mode may have a window in the data, but no events ever reach it
        return "Patient mode needs a Blender window (not background mode)"
    if current() is not None:
        return None
    with quiet_threads():  # operators under overrides follow (quiet_threads.py)
        return _enter(context, window, level, minutes, autostart)


def _enter(context: Any, window: Any, level: str, minutes: int, autostart: bool) -> str | None:
    global _state
    saved = snapshot_window(window)
    ensure_game_refs(context)  # builds the game scene when missing, shows it
    area = _largest_view3d(window.screen)
    if area is None:
        return "Patient mode needs a 3D Viewport in this window"
    with context.temp_override(window=window, area=area, region=_window_region(area)):
        bpy.ops.screen.screen_full_area(use_hide_panels=True)
    full = _largest_view3d(window.screen)
    state = PatientState(window.as_pointer(), saved, area_ptr=full.as_pointer())
    state.flow.choices.select(level or None, minutes or None)
    if settings(context).sounds:
        state.sounds = Sounds()
    _state = state
    _configure_view(context, window, full)
    _add_draw_handler()
    if autostart:
        state.autostart_at = time.monotonic()
    with context.temp_override(window=window, area=full, region=_window_region(full)):
        bpy.ops.fistball.patient_mode_run("INVOKE_DEFAULT")
    update(state)
    return None


def _configure_view(context: Any, window: Any, area: Any) -> None:
    """The game camera, nothing else: no header, toolbar, sidebar, gizmos, overlays."""
    space = area.spaces.active
    for name in (
        "show_region_header",
        "show_region_toolbar",
        "show_region_ui",
        "show_region_tool_header",
        "show_gizmo",
        "use_local_camera",
    ):
        if hasattr(space, name):
            setattr(space, name, False)
    space.overlay.show_overlays = False  # the 3D cursor, grid and axes go with them
    space.shading.type = "SOLID"
    space.shading.color_type = "MATERIAL"
    space.region_3d.view_perspective = "CAMERA"
    region = _window_region(area)
    try:  # fill the window with the camera frame
        with context.temp_override(window=window, area=area, region=region):
            bpy.ops.view3d.view_center_camera()
    except (RuntimeError, AttributeError, TypeError):
        pass  # cosmetic only
    area.tag_redraw()


def _window_of(ptr: int) -> Any:
    wm = bpy.context.window_manager
    return next((w for w in wm.windows if w.as_pointer() == ptr), None) if wm else None


def leave(context: Any = None) -> str | None:
    """Stop a running session (logged as not completed), give the screen back."""
    global _state
    state, _state = _state, None
    _remove_draw_handler()
    if state is None:
        return None
    state.active = False
    rt = peek_runtime()
    if rt is not None and rt.session_running:
        rt.controller.stop(time.monotonic(), "patient mode left")
    window = _window_of(state.window_ptr)
    if window is None:
        return "The patient window is gone"
    context = context if context is not None else bpy.context
    if window.screen.name != state.saved["screen"]:
        area = _largest_view3d(window.screen) or window.screen.areas[0]
        with (
            quiet_threads(),
            context.temp_override(window=window, area=area, region=_window_region(area)),
        ):
            # the same toggle again: it also brings the top bar and status bar back
            bpy.ops.screen.screen_full_area(use_hide_panels=True)
    restore_window(window, state.saved, bpy.data)
    for area in window.screen.areas:
        area.tag_redraw()
    return None


# -- the HUD model -------------------------------------------------------------------
def _clock_model(state: PatientState, rt: Any) -> HudModel:
    c, link = rt.controller, rt.link.status
    game = c.game
    ch = state.flow.choices
    hand = c.hand
    m = HudModel(
        screen=state.flow.screen,
        level=ch.level,
        minutes=ch.minutes,
        focus=ch.focus,
        levels=ch.levels,
        minutes_options=ch.minutes_options,
        connected=link.connected,
        signal=c.signal,
        hand=HAND_TEXT.get(hand.state, hand.state) if hand is not None and hand.present else "",
        note=state.note,
        comparison=state.comparison,
    )
    view = c.view
    if c.signal:
        m.grade, m.leds_lit = view.grade, view.leds_lit
    _redon_model(m, rt.redon)
    if game is not None:
        m.score = game.score
        m.time_left_s = max(0.0, game.time_left_s)
        m.paused = game.paused
        m.pause_reason = c.pause_reason
        if state.flow.screen is Screen.END:
            m.result_lines = result_lines(
                game.completed, game.score, game.held_s, game.played_s, game.catches
            )
    return m


def _redon_model(m: HudModel, redon: Any) -> None:
    """The re-don check on the HUD: its prompt while it runs, then the verdict."""
    if redon.busy:
        m.redon_prompt = redon.prompt or "..."
        m.redon_progress = redon.progress
        left = "" if redon.remaining_s is None else f"    {redon.remaining_s:.0f} s left"
        m.redon_detail = f"{redon.step}{left}".strip()
    elif redon.result is not None:
        r = redon.result
        m.redon_result = f"{redon_heading(r)}: {r.summary}" if r.summary else redon_heading(r)
        m.redon_alert = r.state in ("refused", "failed")


def result_lines(
    completed: bool, score: float, held_s: float, played_s: float, catches: int
) -> list[str]:
    """The end screen's result."""
    return [
        "Well done!" if completed else "Session ended early",
        f"Score {round(score)}",
        f"Held {held_s:.0f} s of {played_s:.0f} s    {catches} catches",
    ]


def update(state: PatientState) -> bool:
    """Look at the game once (modal timer): screen changes, autostart, sounds, HUD model.
    Returns True when the HUD changed (the view needs a redraw)."""
    rt = get_runtime()
    state.updates += 1
    game = rt.controller.game
    if state.flow.screen is Screen.START and state.autostart_at is not None:
        waited = time.monotonic() - state.autostart_at
        if rt.controller.signal or waited > AUTOSTART_WAIT_S:
            state.autostart_at = None
            _run(state, Command.START)
    if state.flow.screen is Screen.PLAY and game is not None and game.finished:
        state.flow.screen = Screen.END
        _compare_later(state, rt)
    now = Counters(game.catches, game.drops, game.finished) if game is not None else Counters()
    if state.flow.screen is not Screen.START:
        for cue in sound_cues(state.counters, now):
            state.cues_played.append(cue)
            if state.sounds is not None:
                state.sounds.play(cue)
    state.counters = now
    state.model = _clock_model(state, rt)
    key = repr(state.model)
    if key == state.model_key:
        return False
    state.model_key = key
    return True


def _compare_later(state: PatientState, rt: Any) -> None:
    """Read the log folder on a worker thread and set the end screen's week comparison."""
    session_id = str(rt.controller.last_summary.get("session_id") or rt.controller.session_id or "")
    folder = rt.controller.log_folder
    if not folder:
        return
    state.comparison = "Comparing with last week..."

    def work() -> str:
        briefs = read_briefs(Path(folder))
        mine = next((b for b in briefs if b.session_id == session_id), None)
        return compare_with_last_week(mine, briefs).text if mine is not None else ""

    def done(result: Any) -> None:
        state.comparison = "" if result.error is not None else str(result.value)
        if result.error is not None:
            log.warning("Fist & Ball: week comparison failed: %s", result.error)

    rt.jobs.submit(JOB_WEEK, work, done)
    ensure_job_timer()


def _run(state: PatientState, command: Command, context: Any = None) -> bool:
    """Carry out a flow command; True when patient mode is still on afterwards."""
    context = context if context is not None else bpy.context
    rt = get_runtime()
    if command is Command.START:
        ch = state.flow.choices
        problem = start_session(context, ch.level, ch.minutes)
        state.note = problem or ""
        if problem is None:
            state.flow.screen = Screen.PLAY
            state.comparison = ""
            state.counters = Counters()
    elif command is Command.TOGGLE_PAUSE and rt.session_running:
        rt.controller.toggle_pause(time.monotonic())
    elif command is Command.TO_START:
        state.flow.screen = Screen.START
    elif command in (Command.END_AND_LEAVE, Command.LEAVE):
        leave(context)
        return False
    return True


# -- drawing ---------------------------------------------------------------------------
def _ui_scale() -> float:
    prefs = bpy.context.preferences
    return float(getattr(prefs.system, "ui_scale", 0.0) or prefs.view.ui_scale or 1.0)


def _measure(text: str, size: float) -> float:
    import blf

    _font_size(size)
    return float(blf.dimensions(0, text)[0])


def _font_size(size: float) -> None:
    import blf

    try:
        blf.size(0, size)
    except TypeError:  # Blender < 4.0 wants the dpi too
        blf.size(0, int(size), 72)  # type: ignore[call-arg]


def layout_for(state: PatientState, width: int, height: int, measure: Any = None) -> HudLayout:
    """The HUD layout for this region size, recomputed only when model or size changed."""
    key = (state.model_key, width, height)
    if state.layout is None or key != state.layout_key:
        kw = {"measure": measure} if measure is not None else {}
        state.layout = hud_layout(state.model, width, height, _ui_scale(), **kw)
        state.layout_key = key
    return state.layout


def _shader() -> Any:
    import gpu

    try:
        return gpu.shader.from_builtin("UNIFORM_COLOR")
    except (ValueError, TypeError):
        return gpu.shader.from_builtin("2D_UNIFORM_COLOR")  # Blender < 4.0


def _tris(item: Rect | Dot) -> list[tuple[float, float]]:
    if isinstance(item, Rect):
        x0, y0, x1, y1 = item.x, item.y, item.x + item.w, item.y + item.h
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y0), (x1, y1), (x0, y1)]
    pts = []
    n = 20
    for i in range(n):
        a0, a1 = 2 * math.pi * i / n, 2 * math.pi * (i + 1) / n
        pts += [
            (item.x, item.y),
            (item.x + item.r * math.cos(a0), item.y + item.r * math.sin(a0)),
            (item.x + item.r * math.cos(a1), item.y + item.r * math.sin(a1)),
        ]
    return pts


def draw_hud() -> None:
    """POST_PIXEL draw handler: draw the cached layout in the patient area only."""
    state = current()
    area, region = bpy.context.area, bpy.context.region
    if state is None or area is None or region is None or area.as_pointer() != state.area_ptr:
        return
    import blf
    import gpu
    from gpu_extras.batch import batch_for_shader

    state.draws += 1
    layout = layout_for(state, region.width, region.height, _measure)
    shader = _shader()
    gpu.state.blend_set("ALPHA")
    for item in layout.items:
        if isinstance(item, Text):
            _font_size(item.size)
            blf.color(0, *item.color)
            blf.position(0, item.x, item.y, 0)
            blf.draw(0, item.text)
        else:
            batch = batch_for_shader(shader, "TRIS", {"pos": _tris(item)})
            shader.bind()
            shader.uniform_float("color", item.color)
            batch.draw(shader)
    gpu.state.blend_set("NONE")


def _add_draw_handler() -> None:
    global _draw_handle
    if _draw_handle is None:
        _draw_handle = bpy.types.SpaceView3D.draw_handler_add(draw_hud, (), "WINDOW", "POST_PIXEL")


def _remove_draw_handler() -> None:
    global _draw_handle
    if _draw_handle is not None:
        bpy.types.SpaceView3D.draw_handler_remove(_draw_handle, "WINDOW")
        _draw_handle = None


def has_draw_handler() -> bool:
    return _draw_handle is not None


def shutdown() -> None:
    """Add-on disabled: leave patient mode (screen restored if the window is there)."""
    try:
        leave()
    except Exception as exc:  # never block unregistering
        log.error("Fist & Ball: leaving patient mode failed: %s", exc)
        _remove_draw_handler()


# -- operators -------------------------------------------------------------------------
class FISTBALL_OT_patient_mode_enter(bpy.types.Operator):
    """Patient mode: the game full-window with a large HUD (Esc leaves)"""

    bl_idname = "fistball.patient_mode_enter"
    bl_label = "Patient Mode"
    bl_options = {"REGISTER"}

    level: StringProperty(name="Level", default="")  # type: ignore[valid-type]
    minutes: IntProperty(name="Minutes", default=0, min=0)  # type: ignore[valid-type]
    autostart: BoolProperty(  # type: ignore[valid-type]
        name="Start at once", default=False, description="Start the session once the band sends"
    )

    def execute(self, context: Any) -> Result:
        problem = enter(context, self.level, self.minutes, self.autostart)
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        return {"FINISHED"}


class FISTBALL_OT_patient_mode_exit(bpy.types.Operator):
    """Leave patient mode (a running session ends) and restore the screen"""

    bl_idname = "fistball.patient_mode_exit"
    bl_label = "Leave Patient Mode"
    bl_options = {"REGISTER"}

    def execute(self, context: Any) -> Result:
        problem = leave(context)
        if problem:
            self.report({"WARNING"}, problem)
        return {"FINISHED"}


class FISTBALL_OT_patient_mode_run(bpy.types.Operator):
    """Patient mode's keys, clicks and HUD updates (started by Patient Mode)"""

    bl_idname = "fistball.patient_mode_run"
    bl_label = "Patient Mode Input"
    bl_options = {"INTERNAL"}

    _timer: Any = None

    def invoke(self, context: Any, event: Any) -> Result:
        self._timer = context.window_manager.event_timer_add(UPDATE_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _finish(self, context: Any) -> Result:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        return {"FINISHED", "PASS_THROUGH"}

    def modal(self, context: Any, event: Any) -> Result:
        state = current()
        if state is None:
            return self._finish(context)
        try:
            return self._handle(context, event, state)
        except Exception as exc:  # a broken frame must not lock the patient in
            log.error("Fist & Ball patient mode: %s", exc)
            leave(context)
            return self._finish(context)

    def _handle(self, context: Any, event: Any, state: PatientState) -> Result:
        etype = event.type
        if etype == "TIMER":
            if update(state):
                _tag_patient_area(state)
            return {"PASS_THROUGH"}
        if etype in PASS_EVENTS or etype.startswith("TIMER"):
            return {"PASS_THROUGH"}
        if event.value != "PRESS":
            return {"RUNNING_MODAL"}  # releases, drags: taken like the presses
        if etype == "LEFTMOUSE":
            command = state.flow.click(_button_under(state, event))
        else:
            command = state.flow.key(etype)
        if command is Command.NONE:
            return {"RUNNING_MODAL"}
        if not _run(state, command, context):
            return self._finish(context)
        if update(state) or command is Command.REDRAW:
            _tag_patient_area(state)
        return {"RUNNING_MODAL"}


def _patient_area(state: PatientState) -> Any:
    window = _window_of(state.window_ptr)
    if window is None:
        return None
    return next((a for a in window.screen.areas if a.as_pointer() == state.area_ptr), None)


def _tag_patient_area(state: PatientState) -> None:
    area = _patient_area(state)
    if area is not None:
        area.tag_redraw()


def _button_under(state: PatientState, event: Any) -> str | None:
    area = _patient_area(state)
    region = _window_region(area) if area is not None else None
    if region is None or state.layout is None:
        return None
    return state.layout.button_at(event.mouse_x - region.x, event.mouse_y - region.y)


CLASSES: tuple[type, ...] = (
    FISTBALL_OT_patient_mode_enter,
    FISTBALL_OT_patient_mode_exit,
    FISTBALL_OT_patient_mode_run,
)
