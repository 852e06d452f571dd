# mypy: disable-error-code="union-attr"
# (fake-bpy-module types Panel.layout as Optional)
"""The "Fist & Ball" tab in the 3D Viewport's sidebar (bpy).

draw() only reads values the timer already computed (`LiveStatus`) and properties: no
network, no file access, no scene search. The timer tags it for redraw when a shown
value changes, at most 10 times a second.
"""

from __future__ import annotations

from typing import Any

import bpy

from fist_and_ball.core.view import N_LEDS
from fist_and_ball.live.session_controller import LiveStatus
from fist_and_ball.live.timer import peek_runtime
from fist_and_ball.ui.preferences import addon_id
from fist_and_ball.ui.properties import scene_settings

GESTURE_LABELS = {"fingers": "Fingers", "wrist": "Wrist", "thumb": "Thumb", "rest": "Rest"}


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
        self._draw_hand(layout, st)
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
    def _draw_hand(layout: Any, st: LiveStatus) -> None:
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
        box.operator("fistball.open_log_folder", icon="FILE_FOLDER")


CLASSES: tuple[type, ...] = (FISTBALL_PT_game,)
