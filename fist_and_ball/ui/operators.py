# mypy: disable-error-code="union-attr"
# (fake-bpy-module types context.window/screen/space_data as Optional)
# ruff: noqa: RUF012  (Blender reads bl_options as a plain class attribute set)
"""Operators behind the panel's buttons (bpy). Each one is a thin call into the live
runtime; failures are reported in Blender's status bar, never raised."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ..live.session_controller import SessionError
from ..live.timer import (
    GAME_SCENE_NAME,
    ensure_timer,
    frame_interval,
    get_runtime,
    peek_runtime,
    quiet_threads,
    safe_tick,
    stop_timer,
)
from ..protocol_v1 import (
    HAND_DISABLE,
    HAND_ENABLE,
    HAND_RELEASE,
    HAND_STOP,
    MSG_GESTURE,
    REDON_CANCEL,
    REDON_START,
    hand_command,
)
from .preferences import log_folder, settings
from .properties import scene_settings

Result = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]


def online_access_allowed() -> bool:
    """Blender 4.2+ asks the user whether add-ons may go online; older Blender has no
    such setting, so nothing stops a remote bridge there (it still needs a token)."""
    return bool(getattr(bpy.app, "online_access", True))


class FISTBALL_OT_connect(bpy.types.Operator):
    """Connect to the Fist & Ball bridge (runs in the background, reconnects by itself)"""

    bl_idname = "fistball.connect"
    bl_label = "Connect"
    bl_options = {"REGISTER"}

    url: StringProperty(  # type: ignore[valid-type]
        name="URL", description="Bridge URL (empty: the one in the preferences)", default=""
    )

    def execute(self, context: Any) -> Result:
        s = settings(context)
        url = self.url.strip() or s.bridge_url
        problem = get_runtime().connect(url, token=s.token, allow_remote=online_access_allowed())
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        self.report({"INFO"}, f"Connecting to {url}")
        return {"FINISHED"}


class FISTBALL_OT_disconnect(bpy.types.Operator):
    """Close the connection to the bridge (a running session pauses)"""

    bl_idname = "fistball.disconnect"
    bl_label = "Disconnect"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        rt = peek_runtime()
        return rt is not None and rt.client is not None

    def execute(self, context: Any) -> Result:
        get_runtime().disconnect()
        return {"FINISHED"}


class FISTBALL_OT_set_gesture(bpy.types.Operator):
    """Tell the bridge which gesture the QG decoder should report (manual switch)"""

    bl_idname = "fistball.set_gesture"
    bl_label = "Set Gesture"
    bl_options = {"REGISTER"}

    name: StringProperty(name="Gesture", default="fingers")  # type: ignore[valid-type]

    def execute(self, context: Any) -> Result:
        if not get_runtime().send({"type": MSG_GESTURE, "name": self.name}):
            self.report({"ERROR"}, "Not connected to the bridge")
            return {"CANCELLED"}
        return {"FINISHED"}


SIDEBAR_ROOM = 0.75
"""Share of the fitted camera view kept, so the sidebar does not cover the LEDs."""
SIDEBAR_SHIFT = 0.07
"""Camera view offset that moves the frame left, out from under the sidebar."""


def _shrink_camera_view(rv3d: Any, factor: float) -> None:
    """Scale the camera frame in the viewport by `factor` and move it left of centre.

    Blender maps view_camera_zoom z to a scale ((sqrt(2) + z / 50) ** 2) / 4."""
    root2 = math.sqrt(2.0)
    z0 = float(rv3d.view_camera_zoom)
    z1 = 50.0 * (math.sqrt(factor) * (root2 + z0 / 50.0) - root2)
    rv3d.view_camera_zoom = max(-30.0, min(600.0, z1))
    rv3d.view_camera_offset = (SIDEBAR_SHIFT, 0.0)


def _view3d_areas(window: Any) -> Iterator[tuple[Any, Any]]:
    """The window's 3D view areas with their active space."""
    for area in window.screen.areas:
        if area.type == "VIEW_3D":
            yield area, area.spaces.active


def _look_through_camera(context: Any, window: Any, area: Any, space: Any) -> None:
    """Look through the camera in this 3D view, its frame filling the view clear of the
    sidebar, and redraw it."""
    space.region_3d.view_perspective = "CAMERA"
    region = next((r for r in area.regions if r.type == "WINDOW"), None)
    if region is not None:
        try:
            with quiet_threads(), context.temp_override(window=window, area=area, region=region):
                bpy.ops.view3d.view_center_camera()
            _shrink_camera_view(space.region_3d, SIDEBAR_ROOM)
        except (RuntimeError, AttributeError, TypeError):
            pass  # cosmetic only
    area.tag_redraw()


def build_game_scene(context: Any, *, frame_view: bool = True) -> Any:
    """Build the game in its own scene ("Fist & Ball"), show it, aim the 3D views at it."""
    from ..scene.build import build_scene

    scene = bpy.data.scenes.get(GAME_SCENE_NAME) or bpy.data.scenes.new(GAME_SCENE_NAME)
    with quiet_threads():  # the builder calls operators under an override
        refs = build_scene(scene)
    window = getattr(context, "window", None)
    if window is not None and window.scene != scene:
        window.scene = scene
    if frame_view and window is not None:
        for area, space in _view3d_areas(window):
            space.shading.type = "SOLID"
            space.shading.color_type = "MATERIAL"
            _look_through_camera(context, window, area, space)
    rt = get_runtime()
    rt.refs = refs
    return refs


def ensure_game_refs(context: Any) -> Any:
    """Handles to the game scene: the known ones, found again, or a fresh build."""
    rt = get_runtime()
    if rt.refs is None or not rt.refs.alive():
        from ..scene.build import find_scene_refs

        rt.refs = find_scene_refs(bpy.data.scenes.get(GAME_SCENE_NAME))
        if rt.refs is None:
            build_game_scene(context)
    return rt.refs


class FISTBALL_OT_build_scene(bpy.types.Operator):
    """Build the game scene (hand, ball, LEDs) in a scene of its own"""

    bl_idname = "fistball.build_scene"
    bl_label = "Build Game Scene"
    bl_options = {"REGISTER", "UNDO"}

    frame_view: BoolProperty(  # type: ignore[valid-type]
        name="Look through the game camera", default=True
    )

    def execute(self, context: Any) -> Result:
        build_game_scene(context, frame_view=self.frame_view)
        return {"FINISHED"}


class FISTBALL_OT_start(bpy.types.Operator):
    """Start a session with the chosen level and duration (needs a live signal)"""

    bl_idname = "fistball.start"
    bl_label = "Start"
    bl_options = {"REGISTER"}

    def execute(self, context: Any) -> Result:
        opts = scene_settings(context.scene)
        problem = start_session(context, opts.level, int(opts.minutes), opts.seed)
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        self.report({"INFO"}, f"Session started ({opts.level}, {opts.minutes} min)")
        return {"FINISHED"}


def start_session(context: Any, level: str, minutes: int, seed: int = 0) -> str | None:
    """Start a logged session (the panel's Start and patient mode); returns a problem
    text, or None when it started."""
    rt = get_runtime()
    if rt.client is None:
        return "Not connected: press Connect first"
    if rt.redon.busy:
        return "A re-don check is running: let it finish or cancel it first"
    safe_tick(rt, time.monotonic())  # take in whatever arrived since the last tick
    ensure_game_refs(context)
    game_scene = bpy.data.scenes.get(GAME_SCENE_NAME) or context.scene
    s = settings(context)
    try:
        rt.controller.start(
            time.monotonic(),
            level=level,
            minutes=minutes,
            seed=seed,
            patient=s.patient,
            log_folder=log_folder(s),
        )
    except (SessionError, OSError, ValueError) as exc:
        return str(exc)
    rt.interval = frame_interval(game_scene)
    ensure_timer()
    return None


def _session_running() -> bool:
    """A session is running (pause and stop need one)."""
    rt = peek_runtime()
    return rt is not None and rt.session_running


class FISTBALL_OT_pause(bpy.types.Operator):
    """Pause or resume the session"""

    bl_idname = "fistball.pause"
    bl_label = "Pause / Resume"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        return _session_running()

    def execute(self, context: Any) -> Result:
        try:
            get_runtime().controller.toggle_pause(time.monotonic())
        except SessionError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class FISTBALL_OT_stop(bpy.types.Operator):
    """End the session now (it is logged as not completed)"""

    bl_idname = "fistball.stop"
    bl_label = "Stop"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        return _session_running()

    def execute(self, context: Any) -> Result:
        rt = get_runtime()
        try:
            summary = rt.controller.stop(time.monotonic())
        except SessionError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if not rt.needs_timer:
            stop_timer()  # nothing live is left to tick
        self.report({"INFO"}, f"Session stopped: score {round(summary.get('score', 0))}")
        return {"FINISHED"}


def _log_folder_or_report(
    op: Any, context: Any, failure: str, *, create: bool = False
) -> Path | None:
    """The score log folder (made first with `create`), or None after reporting
    "<failure>: <why>" in the status bar."""
    try:
        folder = log_folder(settings(context))
        if create:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        op.report({"ERROR"}, f"{failure}: {exc}")
        return None
    return folder


class FISTBALL_OT_open_log_folder(bpy.types.Operator):
    """Open the folder with the score logs in the file browser of the system"""

    bl_idname = "fistball.open_log_folder"
    bl_label = "Open Log Folder"
    bl_options = {"REGISTER"}

    def execute(self, context: Any) -> Result:
        folder = _log_folder_or_report(self, context, "Cannot open the log folder", create=True)
        if folder is None:
            return {"CANCELLED"}
        bpy.ops.wm.path_open(filepath=str(folder))
        return {"FINISHED"}


def _item_description(items: list[tuple[str, str, str]], key: str, default: str) -> str:
    """The description of the enum item `key` (a tooltip), else `default`."""
    return next((d for k, _, d in items if k == key), default)


HAND_ACTION_ITEMS = [
    (HAND_ENABLE, "Enable", "Let the hand follow the decoded grades (needs an authorised link)"),
    (HAND_DISABLE, "Disable", "Stop following; the hand holds where it is"),
    (HAND_STOP, "STOP", "Emergency stop: the hand stops at once; Enable re-arms it"),
    (HAND_RELEASE, "Release", "Open the hand slowly (allowed to every client that may stop)"),
]
"""One Blender enum item per protocol hand action, in the protocol's order."""


class FISTBALL_OT_hand(bpy.types.Operator):
    """Send a command to the bridge's physical hand (through its safety layer)"""

    bl_idname = "fistball.hand"
    bl_label = "Hand"
    bl_options = {"REGISTER"}

    action: EnumProperty(name="Action", items=HAND_ACTION_ITEMS, default=HAND_STOP)  # type: ignore[valid-type]

    @classmethod
    def description(cls, context: Any, properties: Any) -> str:
        return _item_description(HAND_ACTION_ITEMS, properties.action, cls.__doc__ or "")

    def execute(self, context: Any) -> Result:
        rt = get_runtime()
        if not rt.send(hand_command(self.action)):
            self.report({"ERROR"}, "Not connected to the bridge: the hand command was not sent")
            return {"CANCELLED"}
        rt.controller.note_hand_sent(self.action)
        return {"FINISHED"}


REDON_ACTION_ITEMS = [
    (
        REDON_START,
        "Re-don Check",
        "Guided 20-30 s check after putting the band or socket back on: rest, then each "
        "calibrated movement once. Says whether today's placement suits the decoder, "
        "adapts what it can, and why not when it cannot",
    ),
    (REDON_CANCEL, "Cancel", "Cancel the running re-don check (the decoder stays as it was)"),
]


class FISTBALL_OT_redon(bpy.types.Operator):
    """Start or cancel the bridge's re-don check"""

    bl_idname = "fistball.redon"
    bl_label = "Re-don Check"
    bl_options = {"REGISTER"}

    action: EnumProperty(name="Action", items=REDON_ACTION_ITEMS, default=REDON_START)  # type: ignore[valid-type]

    @classmethod
    def description(cls, context: Any, properties: Any) -> str:
        """The tooltip; for start it says why the button is greyed out, when it is."""
        text = _item_description(REDON_ACTION_ITEMS, properties.action, cls.__doc__ or "")
        rt = peek_runtime()
        if properties.action == REDON_START:
            problem = rt.redon_start_problem() if rt is not None else "Connect to the bridge first"
            if problem:
                return f"{text}.\nNot now: {problem}"
        return text

    def execute(self, context: Any) -> Result:
        rt = get_runtime()
        now = time.monotonic()
        if self.action == REDON_START:
            safe_tick(rt, now)  # judge by what arrived up to now (link, hello)
            problem = rt.start_redon(now)
        else:
            problem = rt.cancel_redon(now)
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        ensure_timer()
        return {"FINISHED"}


class FISTBALL_OT_decoder_view(bpy.types.Operator):
    """Developer view: every sensor's |B| as a bar beside the decoded gesture and grade
    (subscribes to the bridge's raw magnitudes while on)"""

    bl_idname = "fistball.decoder_view"
    bl_label = "Decoder View"
    bl_options = {"REGISTER"}

    enable: BoolProperty(name="On", default=True)  # type: ignore[valid-type]

    def execute(self, context: Any) -> Result:
        rt = get_runtime()
        rt.set_decoder_view(self.enable)
        if self.enable:
            refs = ensure_game_refs(context)  # the view lives in the game scene
            n = rt.controller.hello.get("n_sensors")
            if refs is not None and isinstance(n, int) and 0 < n <= 32:
                rt.ensure_decoder_view(refs, n)  # now, so it can be framed at once
        if rt.client is None:
            if self.enable:
                self.report({"WARNING"}, "Decoder view on: connect to see the magnitudes")
        else:
            ensure_timer()
        safe_tick(rt, time.monotonic())  # show or hide it now
        return {"FINISHED"}


class FISTBALL_OT_frame_decoder(bpy.types.Operator):
    """Look through the decoder view's camera in the 3D views (or back to the game's)"""

    bl_idname = "fistball.frame_decoder"
    bl_label = "Look at Decoder View"
    bl_options = {"REGISTER"}

    target: EnumProperty(  # type: ignore[valid-type]
        name="Camera",
        items=[
            ("DECODER", "Decoder", "The decoder view's own camera"),
            ("GAME", "Game", "The game camera"),
        ],
        default="DECODER",
    )

    def execute(self, context: Any) -> Result:
        rt = get_runtime()
        refs = rt.scene_refs(time.monotonic())
        dec = refs.decoder if refs is not None else None
        if self.target == "DECODER" and dec is None:
            self.report(
                {"ERROR"}, "No decoder view yet: turn it on and wait for the first magnitudes"
            )
            return {"CANCELLED"}
        window = getattr(context, "window", None)
        views = 0
        if window is not None:
            if refs is not None and window.scene != refs.scene:
                window.scene = refs.scene
            for area, space in _view3d_areas(window):
                local = self.target == "DECODER"
                space.use_local_camera = local  # the scene's camera stays the game's
                if local:
                    space.camera = dec.camera
                _look_through_camera(context, window, area, space)
                views += 1
        if not views:
            self.report({"INFO"}, "No 3D view to switch (background mode)")
        return {"FINISHED"}


class FISTBALL_OT_refresh_history(bpy.types.Operator):
    """Read the recent sessions from the score log folder again"""

    bl_idname = "fistball.refresh_history"
    bl_label = "Refresh"
    bl_options = {"REGISTER"}

    def execute(self, context: Any) -> Result:
        rt = get_runtime()
        folder = _log_folder_or_report(self, context, "No log folder")
        if folder is None:
            return {"CANCELLED"}
        rt.refresh_history(folder)  # read on a worker thread; the panel shows it when back
        return {"FINISHED"}


def open_url(url: str) -> None:
    """Open a URL in the system's browser (a module function so tests can replace it)."""
    bpy.ops.wm.url_open(url=url)


class FISTBALL_OT_open_report(bpy.types.Operator):
    """Write the therapist's HTML progress report of the log folder and open it"""

    bl_idname = "fistball.open_report"
    bl_label = "Open Report"
    bl_options = {"REGISTER"}

    def execute(self, context: Any) -> Result:
        folder = _log_folder_or_report(self, context, "No report")
        if folder is None:
            return {"CANCELLED"}
        if not folder.is_dir():  # the one cheap check; the rest happens off this thread
            self.report({"ERROR"}, f"No report: log folder {folder} does not exist")
            return {"CANCELLED"}
        rt = get_runtime()
        missing = report_needs()
        if missing:
            rt.report_note = missing
            self.report({"ERROR"}, missing)
            return {"CANCELLED"}
        rt.write_report(folder, lambda out: _open_written_report(rt, out))
        self.report({"INFO"}, "Writing the report...")
        return {"FINISHED"}


NUMPY_MISSING = (
    "No report: it needs numpy, which this Blender's Python lacks. Run "
    "`fist-and-ball report LOG_FOLDER` in a terminal, or install numpy for Blender's "
    "Python (Debian: apt install python3-numpy)"
)


def report_needs() -> str:
    """Why the report cannot be built in this Blender ("" when it can)."""
    import importlib.util

    return NUMPY_MISSING if importlib.util.find_spec("numpy") is None else ""


def _open_written_report(rt: Any, out: Path) -> None:
    """Main thread, once the report is written: open it in the browser."""
    try:
        open_url(out.resolve().as_uri())
    except RuntimeError as exc:  # no browser: the file is still there
        rt.report_note = f"Report written to {out}, but not opened: {exc}"


CLASSES: tuple[type, ...] = (
    FISTBALL_OT_connect,
    FISTBALL_OT_disconnect,
    FISTBALL_OT_set_gesture,
    FISTBALL_OT_build_scene,
    FISTBALL_OT_start,
    FISTBALL_OT_pause,
    FISTBALL_OT_stop,
    FISTBALL_OT_open_log_folder,
    FISTBALL_OT_hand,
    FISTBALL_OT_redon,
    FISTBALL_OT_decoder_view,
    FISTBALL_OT_frame_decoder,
    FISTBALL_OT_refresh_history,
    FISTBALL_OT_open_report,
)
