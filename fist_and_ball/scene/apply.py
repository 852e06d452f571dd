# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every pointer property as Optional: ob.data, pose, display...)
"""Apply a GameView to the built scene, once per tick (bpy adapter).

Cheap by design: no operators, no lookups by name, no depsgraph evaluation. Each
value is compared with the one applied last time (`refs.last`) and written only
when it changed, because every RNA write tags the depsgraph for re-evaluation.
"""

from __future__ import annotations

import math

from mathutils import Vector

from ..core.view import GameView
from .hand_geometry import PALM_BONE, bone_x_axis, rotate_about_axis
from .hand_pose import GESTURE_NAMES, pose_for, shown_closure
from .refs import SceneRefs

IN_HAND_FROM = 0.8
"""A held ball higher than this (ball_height) is drawn moving into the grip; lower
down it stays on its track (the game lets the player hold it at any height)."""


def apply_view(refs: SceneRefs, view: GameView) -> None:
    """Pose the hand, move the ball and the reach ring, light the LEDs, update texts."""
    last = refs.last
    gesture = view.gesture if view.gesture in GESTURE_NAMES else "rest"
    grade = _finite(view.grade, 0.0)
    cl = _finite(view.closure, float("nan"))
    closure = None if math.isnan(cl) else cl
    height = _clamp(_finite(view.ball_height, 0.0), 0.0, 1.0)
    holding = bool(view.holding)
    in_hand = holding and height >= IN_HAND_FROM

    pose_key = (gesture, grade, closure, in_hand)
    if last.get("pose_key") != pose_key:
        last["pose_key"] = pose_key
        pose = pose_for(gesture, grade, closure, in_hand, hand=refs.hand)
        rots = last.setdefault("rot", {})
        for name, rot in pose.items():
            if rots.get(name) != rot:
                pb = refs.pose_bones.get(name)
                if pb is not None:
                    pb.rotation_euler = rot
                rots[name] = rot
        last["wrist"] = pose[PALM_BONE][0]
        _set_z(refs, "ring_z", refs.catch_zone, _track_z(refs, shown_closure(grade, closure)))

    _apply_ball(refs, height, holding, in_hand, bool(view.in_catch_zone))
    _apply_leds(refs, view.leds_lit)
    _apply_texts(refs, view)

    if refs.decoder is not None and view.decoder_bars:
        # Imported here so the game scene works without the developer view module.
        from .decoder_view import apply_decoder_view

        apply_decoder_view(refs, view.decoder_bars, gesture, round(grade))


def _track_z(refs: SceneRefs, h: float) -> float:
    return refs.track_bottom_z + h * (refs.track_top_z - refs.track_bottom_z)


def _set_z(refs: SceneRefs, key: str, ob: object, z: float) -> None:
    if refs.last.get(key) != z:
        refs.last[key] = z
        ob.location.z = z  # type: ignore[attr-defined]


def _apply_ball(
    refs: SceneRefs, height: float, holding: bool, in_hand: bool, in_zone: bool
) -> None:
    last = refs.last
    wrist = last.get("wrist", 0.0) if in_hand else 0.0
    key = (height, in_hand, wrist)
    if last.get("ball_key") != key:
        last["ball_key"] = key
        pos = Vector((refs.track_x, refs.track_y, _track_z(refs, height)))
        if in_hand:
            # Near the top a held ball slides into the grip (which turns with the wrist).
            hand = refs.hand
            palm = hand.bone(PALM_BONE)
            grip_local = rotate_about_axis(
                hand.grip_point(refs.ball_radius), palm.head, bone_x_axis(palm), wrist
            )
            grip = refs.hand_matrix @ Vector(grip_local)
            top = Vector((refs.track_x, refs.track_y, refs.track_top_z))
            t = _smoothstep((height - IN_HAND_FROM) / (1.0 - IN_HAND_FROM))
            pos = pos + t * (grip - top)
        refs.ball.location = pos

    ball_mat = "ball_held" if holding else "ball_zone" if in_zone else "ball"
    if last.get("ball_mat") != ball_mat:
        last["ball_mat"] = ball_mat
        refs.ball.material_slots[0].material = refs.materials[ball_mat]
    ring_mat = "ring_on" if (in_zone or holding) else "ring_off"
    if last.get("ring_mat") != ring_mat:
        last["ring_mat"] = ring_mat
        refs.catch_zone.material_slots[0].material = refs.materials[ring_mat]


def _apply_leds(refs: SceneRefs, leds_lit: int) -> None:
    n = int(_clamp(_finite(leds_lit, 0.0), 0.0, float(len(refs.leds))))
    if refs.last.get("leds") == n:
        return
    prev = refs.last.get("leds")
    refs.last["leds"] = n
    on, off = refs.materials["led_on"], refs.materials["led_off"]
    for i, led in enumerate(refs.leds):
        lit = i < n
        if prev is None or (i < prev) != lit:
            led.material_slots[0].material = on if lit else off


def _apply_texts(refs: SceneRefs, view: GameView) -> None:
    score = round(_finite(view.score, 0.0))
    secs = math.ceil(max(0.0, _finite(view.time_left_s, 0.0)))
    body = f"Score {score}   {secs // 60}:{secs % 60:02d}"
    if refs.last.get("score_text") != body:
        refs.last["score_text"] = body
        refs.score_text.data.body = body  # type: ignore[union-attr]
    status = "NO SIGNAL" if not view.connected else "PAUSED" if view.paused else ""
    if refs.last.get("status_text") != status:
        refs.last["status_text"] = status
        refs.status_text.data.body = status  # type: ignore[union-attr]


def leds_lit_in_scene(refs: SceneRefs) -> int:
    """How many LED discs currently show the lit material (for tests and checks)."""
    on = refs.materials["led_on"]
    return sum(1 for led in refs.leds if led.material_slots[0].material == on)


def _finite(x: object, default: float) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


def _smoothstep(x: float) -> float:
    x = _clamp(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x
