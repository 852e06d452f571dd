# mypy: disable-error-code="union-attr"
# (fake-bpy-module types Panel.layout as Optional)
"""The "Fist & Ball" tab in the 3D Viewport's sidebar (bpy).

The main panel has the bridge, the decoded signal, the physical hand (when the bridge
drives one) and the game; two closed-by-default sub-panels hold the session History
and the developer Decoder View.

draw() only reads values the timer already computed (`LiveStatus`, the history cache)
and properties: no network, no file access, no scene search. The timer tags it for
redraw when a shown value changes, at most 10 times a second. The history is read the
first time its sub-panel opens, by a one-shot timer, never by draw() itself.
"""

from __future__ import annotations

from typing import Any

import bpy

from ..core.view import N_LEDS
from ..live.session_controller import LiveStatus
from ..live.timer import JOB_HISTORY, get_runtime, peek_runtime, tag_sidebar_redraw
from ..protocol_v1 import HAND_DISABLE, HAND_ENABLE, HAND_RELEASE, HAND_STOP
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


class FISTBALL_PT_game(bpy.types.Panel):
    """Live play: bridge connection, hand signal, game session"""

    bl_idname = "FISTBALL_PT_game"
    bl_label = "Fist & Ball"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Fist & Ball"

    def draw(self, context: Any) -> None:
        layout = self.layout
        rt = peek_runtime()
        if rt is not None:
            rt.panel_draws += 1
        st = rt.controller.status if rt is not None else LiveStatus()
        connected_client = rt is not None and rt.client is not None
        self._draw_bridge(context, layout, st, connected_client)
        self._draw_signal(layout, st)
        self._draw_prosthesis(layout, st)
        self._draw_game(context, layout, st, rt)
        if rt is not None and rt.errors:
            layout.label(text=f"Tick errors: {rt.errors} ({rt.last_error[:60]})", icon="ERROR")

    @staticmethod
    def _draw_bridge(context: Any, layout: Any, st: LiveStatus, has_client: bool) -> None:
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
            if st.source:
                box.label(text=f"{st.source}  ·  {st.decoder}")
            if not st.signal:
                box.label(text="No grades from the bridge", icon="ERROR")
        else:
            col = box.column()
            col.alert = has_client
            col.label(text="Disconnected" if has_client else "Not connected", icon="UNLINKED")
            if has_client:
                col.label(text=st.detail[:80])

    @staticmethod
    def _draw_signal(layout: Any, st: LiveStatus) -> None:
        box = layout.box()
        row = box.row(align=True)
        row.label(text=f"Gesture: {GESTURE_LABELS.get(st.gesture, st.gesture or '-')}")
        row = box.row(align=True)
        row.enabled = st.connected
        for name in st.gestures:
            op = row.operator(
                "fistball.set_gesture",
                text=GESTURE_LABELS.get(name, name),
                depress=(name == st.gesture),
            )
            op.name = name
        grade = st.grade if (st.grade is not None and st.signal) else None
        box.label(text=f"Grade {grade if grade is not None else '-'} / 8")
        lit = 0 if grade is None else grade + 1
        leds = box.row(align=True)
        for i in range(N_LEDS):
            cell = leds.row(align=True)
            cell.alert = i < lit
            cell.label(text="", icon="RADIOBUT_ON" if i < lit else "RADIOBUT_OFF")
        if st.level is not None and st.signal and hasattr(box, "progress"):
            box.progress(factor=float(st.level), type="BAR", text=f"Closure {st.level:.0%}")
        if st.last_error:
            err = box.column()
            err.alert = True
            err.label(text=st.last_error[:80], icon="ERROR")

    @staticmethod
    def _draw_prosthesis(layout: Any, st: LiveStatus) -> None:
        """The physical hand: state, link, STOP / Enable / Disable (bridge with --hand)."""
        if st.hand_present is None:
            return  # no status from a bridge yet
        box = layout.box()
        if not st.hand_present:
            box.label(text="Hand: none (bridge without --hand)", icon="HAND")
            return
        state = st.hand_state
        head = box.row()
        head.alert = state == "estop"
        head.label(
            text=f"Hand: {HAND_LABELS.get(state, state)}", icon=HAND_ICONS.get(state, "HAND")
        )
        link = box.row()
        link.alert = st.hand_link != "connected"
        link.label(text=f"{st.hand_driver or 'hand'} driver · link {st.hand_link or '?'}")
        if st.hand_reason and state not in ("active", "disabled"):
            box.label(text=st.hand_reason[:60])  # why it holds, opens, blocks or stopped
        if not st.connected:
            box.label(text="Last known state: the bridge is not connected", icon="UNLINKED")
        urgent = box.row(align=True)
        urgent.scale_y = 1.6
        urgent.enabled = st.connected
        stop = urgent.row(align=True)
        stop.alert = True
        stop.operator("fistball.hand", text="STOP", icon="CANCEL").action = HAND_STOP
        urgent.operator("fistball.hand", text="Release", icon="LOOP_BACK").action = HAND_RELEASE
        row = box.row(align=True)
        row.enabled = st.connected
        enable = row.row(align=True)
        enable.enabled = state in ("disabled", "estop") and st.hand_authorized is not False
        enable.operator(
            "fistball.hand", text="Re-arm" if state == "estop" else "Enable", icon="PLAY"
        ).action = HAND_ENABLE
        disable = row.row(align=True)
        disable.enabled = state != "disabled"
        disable.operator("fistball.hand", text="Disable", icon="PAUSE").action = HAND_DISABLE
        if st.hand_authorized is False:
            box.label(text="Enable needs the bridge's token (preferences)", icon="INFO")
        if st.hand_error:
            err = box.row()
            err.alert = True
            err.label(text=st.hand_error[:80], icon="ERROR")
        elif st.hand_reply:
            box.label(text=f"Bridge: {st.hand_reply}"[:80], icon="INFO")

    @staticmethod
    def _draw_game(context: Any, layout: Any, st: LiveStatus, rt: Any) -> None:
        box = layout.box()
        opts = scene_settings(context.scene)
        running = st.state in ("running", "paused")
        col = box.column()
        col.enabled = not running
        col.row().prop(opts, "level", expand=True)
        col.row().prop(opts, "minutes", expand=True)
        col.prop(opts, "seed")
        if rt is None or rt.refs is None:
            box.operator("fistball.build_scene", icon="SCENE_DATA")
        row = box.row(align=True)
        if running:
            paused = st.state == "paused"
            row.operator(
                "fistball.pause",
                text="Resume" if paused else "Pause",
                icon="PLAY" if paused else "PAUSE",
            )
            row.operator("fistball.stop", icon="SNAP_FACE")
        else:
            row.operator("fistball.start", icon="PLAY")
        if st.state != "idle":
            info = box.column(align=True)
            info.label(text=f"Time left {_clock(st.time_left_s)}", icon="TIME")
            info.label(text=f"Score {round(st.score)}   catches {st.catches}")
            info.label(text=f"Held {st.held_s:.0f} s")
            if st.state == "paused":
                warn = info.row()
                warn.alert = st.pause_reason != "user"
                warn.label(text=f"Paused: {st.pause_reason}", icon="PAUSE")
            elif st.state == "finished" and st.last_summary:
                done = "completed" if st.last_summary.get("completed") else "stopped early"
                info.label(text=f"Session {done}", icon="CHECKMARK")
        if st.session_id:
            box.label(text=f"Log: {st.session_id}", icon="FILE_FOLDER")


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


class FISTBALL_PT_history(bpy.types.Panel):
    """Recent sessions of the score log folder; the therapist report"""

    bl_idname = "FISTBALL_PT_history"
    bl_label = "History"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Fist & Ball"
    bl_parent_id = "FISTBALL_PT_game"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012

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


class FISTBALL_PT_decoder(bpy.types.Panel):
    """Developer view: raw |B| per sensor beside the decoded gesture and grade"""

    bl_idname = "FISTBALL_PT_decoder"
    bl_label = "Decoder View (developer)"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Fist & Ball"
    bl_parent_id = "FISTBALL_PT_game"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012

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
        if not rt.controller.status.connected:
            layout.label(text="Connect to see the magnitudes", icon="UNLINKED")
        elif rt.decoder.applied == 0:
            layout.label(text="Waiting for magnitudes...", icon="TIME")
        else:
            layout.label(text=f"{len(rt.decoder.bars)} sensors live", icon="CHECKMARK")
        if rt.decoder.layout:
            layout.label(text=rt.decoder.layout)
        row = layout.row(align=True)
        row.operator(
            "fistball.frame_decoder", text="Decoder Cam", icon="VIEW_CAMERA"
        ).target = "DECODER"
        row.operator("fistball.frame_decoder", text="Game Cam", icon="SCENE").target = "GAME"


CLASSES: tuple[type, ...] = (FISTBALL_PT_game, FISTBALL_PT_history, FISTBALL_PT_decoder)
