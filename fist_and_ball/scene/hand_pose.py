"""Decoded grade/closure + gesture -> joint angles of the 3D hand. No bpy.

The hand frame and the bone convention (positive local-X rotation = flexion) are
described in `hand_geometry`. `pose_for` returns one Euler XYZ rotation (radians,
bone-local) per bone; the bpy adapter only copies these into the pose bones.

How a GameView maps to a pose:
- the shown closure 0..1 comes from the grade (authoritative, 0 open .. 8 fist), refined
  by the decoded continuous `closure` inside the grade's own band so the hand moves smoothly between
  grades but never disagrees with the grade shown on the LEDs.
- `fingers` closes the four fingers by the closure, the thumb follows partly (a
  natural fist); `thumb` flexes the thumb only; `wrist` flexes the wrist from full
  extension (grade 0) to full flexion (grade 8); `rest` is a relaxed hand.
- While the ball sits in the hand (held near the top of its track), the fingers and
  thumb stop where they wrap around it instead of closing through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..protocol_v1 import GESTURES, MAX_GRADE
from .hand_geometry import (
    DEFAULT_HAND,
    FINGERS,
    FOREARM_BONE,
    PALM_BONE,
    THUMB_BONES,
    HandGeometry,
    finger_bone,
)

Euler = tuple[float, float, float]

GESTURE_NAMES = GESTURES
"""The gestures of the wire protocol."""


@dataclass(frozen=True, slots=True)
class PoseLimits:
    """Joint ranges in degrees and the shares used for the secondary joints."""

    mcp_deg: float = 88.0
    pip_deg: float = 104.0
    dip_deg: float = 70.0
    thumb_meta_flex_deg: float = 34.0
    thumb_meta_oppose_deg: float = 30.0
    thumb_meta_twist_deg: float = -35.0
    thumb_prox_deg: float = 50.0
    thumb_dist_deg: float = 62.0
    wrist_extension_deg: float = 55.0
    wrist_flexion_deg: float = 65.0
    relaxed: float = 0.14
    """Closure of joints that the current gesture does not drive (a resting hand)."""
    thumb_follow: float = 0.75
    """Share of the finger closure the thumb takes in a `fingers` fist."""
    grip: float = 0.50
    """Largest finger closure while the ball is in the hand (they wrap around it)."""
    grip_thumb: float = 0.55


DEFAULT_LIMITS = PoseLimits()


def shown_closure(grade: float, closure: float | None = None) -> float:
    """Closure 0..1 of a grade 0..8, refined by the decoded `closure` 0..1 within the
    grade's band.

    The band of grade g is [(g - 0.5)/8, (g + 0.5)/8] clipped to [0, 1], so the
    result is non-decreasing in the grade whatever `closure` says; a missing or
    non-finite closure gives the band centre g/8. Out-of-range inputs are clamped.
    """
    g = _clamp(_finite_or(grade, 0.0), 0.0, float(MAX_GRADE))
    centre = g / MAX_GRADE
    if closure is None or not math.isfinite(closure):
        return centre
    half = 0.5 / MAX_GRADE
    lo = max(0.0, centre - half)
    hi = min(1.0, centre + half)
    return _clamp(float(closure), lo, hi)


def pose_for(
    gesture: str,
    grade: float,
    closure: float | None = None,
    ball_in_hand: bool = False,
    limits: PoseLimits = DEFAULT_LIMITS,
    hand: HandGeometry = DEFAULT_HAND,
) -> dict[str, Euler]:
    """Euler XYZ rotation (radians, bone-local) for every bone of the hand.

    Raises ValueError for an unknown gesture (see GESTURE_NAMES).
    """
    if gesture not in GESTURE_NAMES:
        raise ValueError(f"unknown gesture {gesture!r}; expected one of {GESTURE_NAMES}")
    c = shown_closure(grade, closure)
    fingers_c = limits.relaxed
    thumb_c = limits.relaxed
    wrist_deg = 0.0
    if gesture == "fingers":
        fingers_c = c
        thumb_c = max(limits.relaxed, limits.thumb_follow * c)
    elif gesture == "thumb":
        thumb_c = c
    elif gesture == "wrist":
        wrist_deg = -limits.wrist_extension_deg + c * (
            limits.wrist_extension_deg + limits.wrist_flexion_deg
        )
    if ball_in_hand:
        fingers_c = min(fingers_c, limits.grip)
        thumb_c = min(thumb_c, limits.grip_thumb)

    out: dict[str, Euler] = {
        FOREARM_BONE: (0.0, 0.0, 0.0),
        PALM_BONE: (math.radians(wrist_deg), 0.0, 0.0),
    }
    joint_max = (limits.mcp_deg, limits.pip_deg, limits.dip_deg)
    for f in hand.fingers:
        # Open fingers fan out; they come together as they close.
        spread = -math.radians(f.splay_deg) * (1.0 - fingers_c)
        for i in range(3):
            flex = math.radians(joint_max[i] * fingers_c)
            out[finger_bone(f.name, i)] = (flex, 0.0, spread if i == 0 else 0.0)
    meta, prox, dist = THUMB_BONES
    out[meta] = (
        math.radians(limits.thumb_meta_flex_deg * thumb_c),
        math.radians(limits.thumb_meta_twist_deg * thumb_c),
        math.radians(limits.thumb_meta_oppose_deg * thumb_c),
    )
    out[prox] = (math.radians(limits.thumb_prox_deg * thumb_c), 0.0, 0.0)
    out[dist] = (math.radians(limits.thumb_dist_deg * thumb_c), 0.0, 0.0)
    return out


def finger_flexion(pose: dict[str, Euler]) -> float:
    """Sum of the flexion angles (radians) of the four long fingers: a closure gauge."""
    return sum(pose[finger_bone(f, i)][0] for f in FINGERS for i in range(3))


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def _finite_or(x: float, default: float) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default
