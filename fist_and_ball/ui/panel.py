# mypy: disable-error-code="union-attr"
# (fake-bpy-module types Panel.layout as Optional)
"""The "Fist & Ball" tab in the 3D Viewport's sidebar (bpy).

The main panel has the bridge, the decoded signal, the physical hand (when the bridge
drives one) and the game; two closed-by-default sub-panels hold the session History
and the developer Decoder View.

draw() reads each thing where it lives: the link's state (`Connection.status`), the
game itself and the view the scene shows (`SessionController.game`, `.view`), the
bridge's hello and hand status as typed values (`BridgeInfo`, `HandStatus`), the
history cache, and properties: no network, no file access, no scene search. The timer tags it for
redraw when a shown value changes, at most 10 times a second. The history is read the
first time its sub-panel opens, by a one-shot timer, never by draw() itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bpy

from ..core.view import N_LEDS
from ..live.connection import LinkStatus
from ..live.redon_state import CANCELLING as REDON_CANCELLING
from ..live.redon_state import heading as redon_heading
from ..live.redon_state import pose_text as redon_pose_text
from ..live.redon_state import wrap as redon_wrap
from ..live.session_controller import SessionController
from ..live.timer import JOB_HISTORY, get_runtime, peek_runtime, tag_sidebar_redraw
from ..protocol_v1 import (
    HAND_DISABLE,
    HAND_ENABLE,
    HAND_RELEASE,
    HAND_STOP,
    REDON_CANCEL,
    REDON_START,
    RedonResult,
)
from .preferences import addon_id, log_folder, settings
from .properties import scene_settings

GESTURE_LABELS = {"fingers": "Fingers", "wrist": "Wrist", "thumb": "Thumb", "rest": "Rest"}


HAND_LABELS = {
    "disabled": "Disabled",
    "blocked": "Blocked (decoder not ready)",
    "active": "Active (following)",
    "holding": "Holding",
    "opening": "Opening slowly",
    "estop": "EMERGENCY STOP",
}
HAND_ICONS = {
    "disabled": "RADIOBUT_OFF",
    "blocked": "LOCKED",
    "active": "CHECKMARK",
    "holding": "PAUSE",
    "opening": "LOOP_BACK",
    "estop": "ERROR",
}


def _clock(seconds: float) -> str:
    s = max(0, int(seconds + 0.999))
    return f"{s // 60}:{s % 60:02d}"


# The mix-ins are plain classes at run time (Blender registers only the panels); the type
# checker sees Panel under them so their bl_ values are checked against its stubs.
if TYPE_CHECKING:
    _PanelAttributes = bpy.types.Panel
else:
    _PanelAttributes = object


class SidebarTab(_PanelAttributes):
    """Mix-in: where the add-on's panels live, the "Fist & Ball" tab of the 3D view's
    sidebar."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Fist & Ball"


class ClosedSubPanel(SidebarTab):
    """Mix-in: a sub-panel of the game panel, closed until opened."""

    bl_parent_id = "FISTBALL_PT_game"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012


class FISTBALL_PT_game(SidebarTab, bpy.types.Panel):
    """Live play: bridge connection, hand signal, game session"""

    bl_idname = "FISTBALL_PT_game"
    bl_label = "Fist & Ball"

    def draw(self, context: Any) -> None:
        layout = self.layout
        rt = peek_runtime()
        if rt is not None:
            rt.panel_draws += 1
        link = rt.link.status if rt is not None else LinkStatus()
        live = rt.controller if rt is not None else SessionController()
        connected_client = rt is not None and rt.client is not None
        self._draw_bridge(context, layout, link, live, connected_client)
        if rt is not None and (connected_client or rt.redon.phase != "idle"):
            self._draw_redon(layout, rt, _label_chars(context))
        self._draw_signal(layout, link, live)
        self._draw_prosthesis(layout, link, live)
        self._draw_game(context, layout, live, rt)
        if rt is not None and rt.errors:
            layout.label(text=f"Tick errors: {rt.errors} ({rt.last_error[:60]})", icon="ERROR")

    @staticmethod
    def _draw_bridge(
        context: Any, layout: Any, st: LinkStatus, live: SessionController, has_client: bool
    ) -> None:
        box = layout.box()
        addon = context.preferences.addons.get(addon_id())
        prefs = getattr(addon, "preferences", None) if addon is not None else None
        if prefs is not None:
            box.prop(prefs, "bridge_url", text="")
        row = box.row(align=True)
        if has_client:
            row.operator("fistball.disconnect", icon="UNLINKED")
        else:
            row.operator("fistball.connect", icon="LINKED")
        if st.connected:
            box.label(text="Connected", icon="CHECKMARK")
            rtt = "-" if st.rtt_ms is None else f"{st.rtt_ms:.1f}"
            box.label(text=f"{st.grades_per_s:.1f} grades/s   RTT {rtt} ms")
            if st.bridge_latency_ms is not None:
                box.label(text=f"Bridge latency (p50) {st.bridge_latency_ms:.1f} ms")
            if live.bridge.source:
                box.label(text=f"{live.bridge.source}  ·  {live.bridge.decoder}")
            if not live.signal:
                box.label(text="No grades from the bridge", icon="ERROR")
        else:
            col = box.column()
            col.alert = has_client
            col.label(text="Disconnected" if has_client else "Not connected", icon="UNLINKED")
            if has_client:
                col.label(text=st.detail[:80])

    @staticmethod
    def _draw_redon(layout: Any, rt: Any, chars: int) -> None:
        """The re-don check: its button, then the prompt and progress while it runs,
        then the verdict with its reasons (state in `rt.redon`, a `RedonState`).
        `chars`: how many characters fit on a line of the sidebar."""
        redon = rt.redon
        box = layout.box()
        if redon.busy:
            box.label(text="Re-don check", icon="ORIENTATION_GIMBAL")
            prompt = box.column(align=True)
            prompt.scale_y = 1.3
            for line in redon_wrap(redon.prompt or "...", chars):
                prompt.label(text=line)
            left = "" if redon.remaining_s is None else f"  ·  {redon.remaining_s:.0f} s left"
            text = f"{redon.step or 'starting'}{left}"
            if hasattr(box, "progress"):  # Blender 4.0+
                box.progress(factor=float(redon.progress), type="BAR", text=text)
            else:
                box.label(text=f"{text}  ·  {redon.progress:.0%}")
            cancel = box.row()
            cancel.alert = True
            cancel.enabled = redon.phase != REDON_CANCELLING
            cancel.operator("fistball.redon", text="Cancel", icon="CANCEL").action = REDON_CANCEL
        else:
            problem = rt.redon_start_problem()
            row = box.row()
            row.enabled = not problem
            row.operator(
                "fistball.redon", text="Re-don Check", icon="ORIENTATION_GIMBAL"
            ).action = REDON_START
            if problem and rt.link.status.connected:
                for line in redon_wrap(problem, chars):
                    box.label(text=line)
            if redon.result is not None:
                _draw_redon_result(box, redon.result, chars)
        if redon.problem:
            err = box.column(align=True)
            err.alert = True
            for line in redon_wrap(redon.problem, chars):
                err.label(text=line)

    @staticmethod
    def _draw_signal(layout: Any, link: LinkStatus, live: SessionController) -> None:
        box = layout.box()
        view = live.view  # the decoded hand as the scene shows it
        gesture = view.gesture if live.latest_grade is not None else ""
        row = box.row(align=True)
        row.label(text=f"Gesture: {GESTURE_LABELS.get(gesture, gesture or '-')}")
        row = box.row(align=True)
        row.enabled = link.connected
        for name in live.bridge.gestures:
            op = row.operator(
                "fistball.set_gesture",
                text=GESTURE_LABELS.get(name, name),
                depress=(name == gesture),
            )
            op.name = name
        grade = view.grade if live.signal else None
        box.label(text=f"Grade {grade if grade is not None else '-'} / 8")
        lit = 0 if grade is None else grade + 1
        leds = box.row(align=True)
        for i in range(N_LEDS):
            cell = leds.row(align=True)
            cell.alert = i < lit
            cell.label(text="", icon="RADIOBUT_ON" if i < lit else "RADIOBUT_OFF")
        if live.signal and hasattr(box, "progress"):
            box.progress(factor=float(view.closure), type="BAR", text=f"Closure {view.closure:.0%}")
        if live.bridge_error:
            err = box.column()
            err.alert = True
            err.label(text=live.bridge_error[:80], icon="ERROR")

    @staticmethod
    def _draw_prosthesis(layout: Any, link: LinkStatus, live: SessionController) -> None:
        """The physical hand: state, link, STOP / Enable / Disable (bridge with --hand)."""
        hand = live.hand
        if hand is None:
            return  # no status from a bridge yet
        box = layout.box()
        if not hand.present:
            box.label(text="Hand: none (bridge without --hand)", icon="HAND")
            return
        state = hand.state
        head = box.row()
        head.alert = state == "estop"
        head.label(
            text=f"Hand: {HAND_LABELS.get(state, state)}", icon=HAND_ICONS.get(state, "HAND")
        )
        driver = box.row()
        driver.alert = hand.link != "connected"
        driver.label(text=f"{hand.driver or 'hand'} driver · link {hand.link or '?'}")
        if hand.reason and state not in ("active", "disabled"):
            box.label(text=hand.reason[:60])  # why it holds, opens, blocks or stopped
        if not link.connected:
            box.label(text="Last known state: the bridge is not connected", icon="UNLINKED")
        urgent = box.row(align=True)
        urgent.scale_y = 1.6
        urgent.enabled = link.connected
        stop = urgent.row(align=True)
        stop.alert = True
        stop.operator("fistball.hand", text="STOP", icon="CANCEL").action = HAND_STOP
        urgent.operator("fistball.hand", text="Release", icon="LOOP_BACK").action = HAND_RELEASE
        row = box.row(align=True)
        row.enabled = link.connected
        authorized = live.bridge.hand_authorized
        enable = row.row(align=True)
        enable.enabled = state in ("disabled", "estop") and authorized is not False
        enable.operator(
            "fistball.hand", text="Re-arm" if state == "estop" else "Enable", icon="PLAY"
        ).action = HAND_ENABLE
        disable = row.row(align=True)
        disable.enabled = state != "disabled"
        disable.operator("fistball.hand", text="Disable", icon="PAUSE").action = HAND_DISABLE
        if authorized is False:
            box.label(text="Enable needs the bridge's token (preferences)", icon="INFO")
        if live.hand_error:
            err = box.row()
            err.alert = True
            err.label(text=live.hand_error[:80], icon="ERROR")
        elif live.hand_reply:
            box.label(text=f"Bridge: {live.hand_reply}"[:80], icon="INFO")

    @staticmethod
    def _draw_game(context: Any, layout: Any, live: SessionController, rt: Any) -> None:
        box = layout.box()
        opts = scene_settings(context.scene)
        state = live.state
        running = state in ("running", "paused")
        col = box.column()
        col.enabled = not running
        col.row().prop(opts, "level", expand=True)
        col.row().prop(opts, "minutes", expand=True)
        col.prop(opts, "seed")
        if rt is None or rt.refs is None:
            box.operator("fistball.build_scene", icon="SCENE_DATA")
        row = box.row(align=True)
        if running:
            paused = state == "paused"
            row.operator(
                "fistball.pause",
                text="Resume" if paused else "Pause",
                icon="PLAY" if paused else "PAUSE",
            )
            row.operator("fistball.stop", icon="SNAP_FACE")
        else:
            row.operator("fistball.start", icon="PLAY")
            row.operator("fistball.patient_mode_enter", icon="FULLSCREEN_ENTER")
        game = live.game
        if game is not None:
            info = box.column(align=True)
            info.label(text=f"Time left {_clock(max(0.0, game.time_left_s))}", icon="TIME")
            info.label(text=f"Score {round(game.score)}   catches {game.catches}")
            info.label(text=f"Held {game.held_s:.0f} s")
            if state == "paused":
                warn = info.row()
                warn.alert = live.pause_reason != "user"
                warn.label(text=f"Paused: {live.pause_reason}", icon="PAUSE")
            elif game.finished:
                done = "completed" if game.completed else "stopped early"
                info.label(text=f"Session {done}", icon="CHECKMARK" if game.completed else "X")
        if live.session_id:
            box.label(text=f"Log: {live.session_id}", icon="FILE_FOLDER")


REDON_ICONS = {"accepted": "CHECKMARK", "adapted": "MODIFIER", "refused": "ERROR", "cancelled": "X"}


def _draw_redon_result(box: Any, result: RedonResult, chars: int) -> None:
    """The verdict line, its summary, the reasons, the estimated pose and the decoder."""
    head = box.column(align=True)
    head.alert = result.state in ("refused", "failed")
    icon = REDON_ICONS.get(result.state, "ERROR")
    for i, line in enumerate(redon_wrap(redon_heading(result), chars - 3)):
        head.label(text=line, icon=icon if i == 0 else "BLANK1")
    col = box.column(align=True)
    for line in redon_wrap(result.summary, chars):
        col.label(text=line)
    for reason in result.reasons:
        for i, line in enumerate(redon_wrap(reason, chars - 2)):
            col.label(text=("- " if i == 0 else "  ") + line)
    for line in redon_wrap(redon_pose_text(result.pose), chars) if result.pose else []:
        col.label(text=line)
    if result.decoder:
        col.label(text=f"Decoder: {result.decoder}"[:80])


LABEL_CHAR_PX = 7.0
"""About how wide one character of a sidebar label is at UI scale 1 (pixels)."""


def _label_chars(context: Any) -> int:
    """How many characters fit on one label line of the sidebar (Blender labels do not
    wrap: longer texts are cut in the middle)."""
    region = getattr(context, "region", None)
    width = getattr(region, "width", 0) or 0
    if width <= 0:
        return 56
    scale = getattr(context.preferences.system, "ui_scale", 1.0) or 1.0
    return max(20, int((width - 50) / (LABEL_CHAR_PX * scale)))


def load_history_once() -> None:
    """One-shot timer: start reading the history the first time its sub-panel is drawn
    (on a worker thread; the tick applies the rows)."""
    rt = get_runtime()
    if not rt.history.loaded and JOB_HISTORY not in rt.jobs.pending:
        try:
            rt.refresh_history(log_folder(settings()))
        except OSError as exc:  # the default folder could not be created
            rt.history.error = f"no log folder: {exc}"
            rt.history.loaded = True
            rt.history.version += 1
    tag_sidebar_redraw()


def _history_row(col: Any, date: str, level: str, score: str, icon: str) -> None:
    split = col.row(align=True).split(factor=0.42, align=True)
    split.label(text=date)
    split = split.split(factor=0.5, align=True)
    split.label(text=level)
    split.label(text=score, icon=icon)


class FISTBALL_PT_history(ClosedSubPanel, bpy.types.Panel):
    """Recent sessions of the score log folder; the therapist report"""

    bl_idname = "FISTBALL_PT_history"
    bl_label = "History"

    def draw(self, context: Any) -> None:
        layout = self.layout
        rt = peek_runtime()
        hist = rt.history if rt is not None else None
        if hist is None or not hist.loaded:
            if not bpy.app.timers.is_registered(load_history_once):
                bpy.app.timers.register(load_history_once, first_interval=0.0)
            layout.label(text="Reading the log folder...", icon="TIME")
        else:
            if hist.error:
                err = layout.row()
                err.alert = True
                err.label(text=hist.error[:80], icon="ERROR")
            if not hist.rows:
                layout.label(text="No sessions yet")
            else:
                col = layout.column(align=True)
                _history_row(col, "Date", "Level", "Score", "BLANK1")
                for r in hist.rows:
                    icon = "CHECKMARK" if r.completed else "X"
                    _history_row(col, r.short_date, r.level_text, f"{round(r.score)}", icon)
                layout.label(text="Tick: completed, X: stopped early")
        row = layout.row(align=True)
        row.operator("fistball.refresh_history", icon="FILE_REFRESH")
        row.operator("fistball.open_report", icon="URL")
        if rt is not None and rt.report_note:
            layout.label(text=rt.report_note[:80], icon="INFO")
        layout.operator("fistball.open_log_folder", icon="FILE_FOLDER")


class FISTBALL_PT_decoder(ClosedSubPanel, bpy.types.Panel):
    """Developer view: raw |B| per sensor beside the decoded gesture and grade"""

    bl_idname = "FISTBALL_PT_decoder"
    bl_label = "Decoder View (developer)"

    def draw(self, context: Any) -> None:
        layout = self.layout
        rt = peek_runtime()
        on = rt is not None and rt.decoder.on
        row = layout.row()
        op = row.operator(
            "fistball.decoder_view",
            text="Decoder View: On" if on else "Decoder View: Off",
            icon="HIDE_OFF" if on else "HIDE_ON",
            depress=on,
        )
        op.enable = not on
        if rt is not None and rt.ticks:
            tt = rt.tick_times  # the timer's own cost on Blender's main thread
            layout.label(
                text=f"Tick {tt.last_ms:.1f} ms (mean {tt.mean_ms:.1f}, max {tt.max_ms:.1f})",
                icon="TIME",
            )
        if not on or rt is None:
            layout.label(text="Bars of |B| per sensor, e.g. for replay:FILE.csv")
            return
        if not rt.link.status.connected:
            layout.label(text="Connect to see the magnitudes", icon="UNLINKED")
        elif rt.decoder.applied == 0:
            layout.label(text="Waiting for magnitudes...", icon="TIME")
        else:
            layout.label(text=f"{len(rt.decoder.bars)} sensors live", icon="CHECKMARK")
        if rt.decoder.layout:
            layout.label(text=rt.decoder.layout)
        if rt.decoder.tags:  # simultaneous grades, one per tag (e.g. track:TWIN.json)
            col = layout.column(align=True)
            col.label(text="Per tag:")
            for name, tag in rt.decoder.tags.items():
                closure, conf = f"{tag.closure:.2f}", f"{tag.confidence:.2f}"
                col.label(text=f"{name}: grade {tag.grade}  ({closure}, conf {conf})")
        row = layout.row(align=True)
        row.operator(
            "fistball.frame_decoder", text="Decoder Cam", icon="VIEW_CAMERA"
        ).target = "DECODER"
        row.operator("fistball.frame_decoder", text="Game Cam", icon="SCENE").target = "GAME"


CLASSES: tuple[type, ...] = (FISTBALL_PT_game, FISTBALL_PT_history, FISTBALL_PT_decoder)
