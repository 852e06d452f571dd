"""The add-on's one class list and its register/unregister (bpy).

unregister leaves nothing behind: the tick timer (and the history panel's one-shot
loader) is unregistered, the file-load handlers removed, a running session ends (its
log closed as not completed) and the network thread is stopped.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import bpy
from bpy.app.handlers import persistent
from bpy.props import PointerProperty

from .live import timer
from .ui import operators, panel, patient_mode
from .ui.preferences import FISTBALL_AddonPreferences
from .ui.properties import FISTBALL_PG_settings

log = logging.getLogger(__name__)

THREAD_PREFIX = "fistball-"
"""The add-on's threads: the network thread and background jobs."""

CLASSES: tuple[type, ...] = (
    FISTBALL_AddonPreferences,
    FISTBALL_PG_settings,
    *operators.CLASSES,
    *panel.CLASSES,
    *patient_mode.CLASSES,
)


@persistent
def _on_load_pre(*_args: Any) -> None:
    """A file is about to replace the scene: end the session, forget scene handles."""
    rt = timer.peek_runtime()
    if rt is not None:
        rt.controller.close(_now(), "file loaded")
        rt.refs = None


@persistent
def _on_load_post(*_args: Any) -> None:
    rt = timer.peek_runtime()
    if rt is not None:
        rt.refs = None  # found again by the next tick


HANDLERS = (
    (bpy.app.handlers.load_pre, _on_load_pre),
    (bpy.app.handlers.load_post, _on_load_post),
)


def _now() -> float:
    import time

    return time.monotonic()


def register(addon_id: str = "fist_and_ball") -> None:
    """Register every class under the add-on id Blender uses for this install."""
    FISTBALL_AddonPreferences.bl_idname = addon_id
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.fist_and_ball = PointerProperty(type=FISTBALL_PG_settings)  # type: ignore[attr-defined]
    for handlers, fn in HANDLERS:
        if fn not in handlers:
            handlers.append(fn)
    if not bpy.app.timers.is_registered(adopt_existing_scene):
        # Blender gives register() a restricted context (no bpy.data): look a moment later.
        bpy.app.timers.register(adopt_existing_scene, first_interval=0.0)


def adopt_existing_scene() -> None:
    """One-shot timer after (re-)enabling: find a game scene built earlier and show the
    idle state on it (open hand, dark LEDs) instead of the pose it froze in."""
    from .scene.apply import apply_view
    from .scene.build import find_scene_refs

    scene = bpy.data.scenes.get(timer.GAME_SCENE_NAME)
    if scene is None:
        return
    refs = find_scene_refs(scene)
    if refs is None:
        return
    rt = timer.get_runtime()
    rt.refs = refs
    try:
        apply_view(refs, rt.controller.view)
    except (ReferenceError, AttributeError, RuntimeError) as exc:
        log.warning("Fist & Ball: refreshing the existing game scene failed: %s", exc)
    timer.tag_sidebar_redraw()


def unregister() -> None:
    """Stop everything live, then unregister (safe to call after a failed register)."""
    patient_mode.shutdown()
    if bpy.app.timers.is_registered(adopt_existing_scene):
        bpy.app.timers.unregister(adopt_existing_scene)
    try:
        timer.shutdown("add-on disabled")
    except Exception as exc:  # never block unregistering
        log.error("Fist & Ball: stopping the live session failed: %s", exc)
    if bpy.app.timers.is_registered(panel.load_history_once):
        bpy.app.timers.unregister(panel.load_history_once)
    for handlers, fn in HANDLERS:
        while fn in handlers:
            handlers.remove(fn)
    if hasattr(bpy.types.Scene, "fist_and_ball"):
        del bpy.types.Scene.fist_and_ball  # type: ignore[attr-defined]
    for cls in reversed(CLASSES):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)


def leftovers(grace_s: float = 5.0) -> list[str]:
    """What would survive an unregister (for tests): empty when clean.

    unregister cancels the network thread without waiting for it; it must then end by
    itself, so its threads get `grace_s` to do so before they count as left over."""
    for t in threading.enumerate():
        if t.name.startswith(THREAD_PREFIX):
            t.join(grace_s)
    left = []
    if bpy.app.timers.is_registered(timer.tick):
        left.append("timer")
    if bpy.app.timers.is_registered(panel.load_history_once):
        left.append("history timer")
    if bpy.app.timers.is_registered(timer.deliver_jobs):
        left.append("jobs timer")
    if bpy.app.timers.is_registered(adopt_existing_scene):
        left.append("scene adoption timer")
    if patient_mode.has_draw_handler():
        left.append("patient mode draw handler")
    for handlers, fn in HANDLERS:
        if fn in handlers:
            left.append(f"handler {fn.__name__}")
    rt = timer.peek_runtime()
    if rt is not None:
        left.append("runtime")
        if rt.client is not None:
            left.append("client thread")
    left += [c.__name__ for c in CLASSES if getattr(c, "is_registered", False)]
    left += [f"thread {t.name}" for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]
    return left
