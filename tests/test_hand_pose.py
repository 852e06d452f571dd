"""Pure-Python tests of the hand geometry and the grade/gesture -> joint angle mapping."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fist_and_ball.scene.hand_geometry import (
    DEFAULT_HAND,
    FINGERS,
    PALM_BONE,
    THUMB_BONES,
    bone_x_axis,
    finger_bone,
    rotate_about_axis,
)
from fist_and_ball.scene.hand_pose import (
    DEFAULT_LIMITS,
    GESTURE_NAMES,
    finger_flexion,
    pose_for,
    shown_closure,
)

FINGER_BONES = [finger_bone(f, i) for f in FINGERS for i in range(3)]


def thumb_flexion(pose: dict[str, tuple[float, float, float]]) -> float:
    return sum(pose[b][0] for b in THUMB_BONES)


def test_modules_do_not_import_bpy() -> None:
    code = (
        "import sys, fist_and_ball.scene.hand_pose, fist_and_ball.scene.hand_geometry;"
        "sys.exit(1 if 'bpy' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_bones_are_ordered_and_complete() -> None:
    bones = DEFAULT_HAND.bones()
    names = [b.name for b in bones]
    assert len(names) == len(set(names)) == 2 + 4 * 3 + 3
    seen: set[str] = set()
    for b in bones:
        assert b.parent is None or b.parent in seen, f"{b.name} comes before its parent"
        assert b.length > 0.005
        # The flexion-side axis is perpendicular to the bone.
        y = [b.tail[i] - b.head[i] for i in range(3)]
        assert abs(sum(y[i] * b.z_axis[i] for i in range(3))) < 1e-9 * 1e3
        seen.add(b.name)


def test_rotate_about_axis_quarter_turn() -> None:
    p = rotate_about_axis((0.0, 1.0, 0.0), (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), math.pi / 2)
    assert p == pytest.approx((0.0, 0.0, 1.0), abs=1e-12)
    # Positive flexion of the palm bone moves the fingers to the volar side (-Z).
    palm = DEFAULT_HAND.bone(PALM_BONE)
    tip = rotate_about_axis(palm.tail, palm.head, bone_x_axis(palm), 0.5)
    assert tip[2] < -0.01


def test_closure_is_monotonic_in_grade_for_any_decoded_closure() -> None:
    for closure in (None, 0.0, 0.3, 0.5, 0.77, 1.0, float("nan")):
        values = [shown_closure(g, closure) for g in range(9)]
        assert values == sorted(values), closure
        assert all(0.0 <= v <= 1.0 for v in values)
    assert shown_closure(0, None) == 0.0
    assert shown_closure(8, 1.0) == 1.0
    assert shown_closure(8, None) == 1.0


def test_closure_refines_within_band_and_clamps() -> None:
    assert shown_closure(4, 0.52) == pytest.approx(0.52)
    assert shown_closure(4, 0.9) == pytest.approx(4.5 / 8)  # closure disagreeing: grade wins
    assert shown_closure(4, 0.0) == pytest.approx(3.5 / 8)
    assert shown_closure(-3, 0.5) == shown_closure(0, 0.5)
    assert shown_closure(12, 0.5) == shown_closure(8, 0.5)
    assert shown_closure(float("inf"), None) == 0.0  # non-finite grade -> open, not a crash


def test_fingers_close_monotonically_and_thumb_follows() -> None:
    poses = [pose_for("fingers", g, g / 8) for g in range(9)]
    flex = [finger_flexion(p) for p in poses]
    assert all(b > a for a, b in itertools.pairwise(flex))
    assert flex[0] == pytest.approx(0.0)
    # Fist: every joint at its full range.
    fist = poses[8]
    for f in FINGERS:
        assert fist[finger_bone(f, 0)][0] == pytest.approx(math.radians(DEFAULT_LIMITS.mcp_deg))
        assert fist[finger_bone(f, 1)][0] == pytest.approx(math.radians(DEFAULT_LIMITS.pip_deg))
    # Thumb follows partly: more than relaxed, less than a full thumb flexion.
    thumb_fist = thumb_flexion(fist)
    assert (
        thumb_flexion(pose_for("rest", 0)) < thumb_fist < thumb_flexion(pose_for("thumb", 8, 1.0))
    )
    # Open fingers spread, closed fingers do not.
    assert abs(poses[0][finger_bone("pinky", 0)][2]) > 0.1
    assert fist[finger_bone("pinky", 0)][2] == pytest.approx(0.0)


def test_thumb_gesture_moves_only_the_thumb() -> None:
    a, b = pose_for("thumb", 0, 0.0), pose_for("thumb", 8, 1.0)
    assert thumb_flexion(b) > thumb_flexion(a) + 1.0
    for name in [*FINGER_BONES, PALM_BONE]:
        assert a[name] == b[name]


def test_wrist_gesture_moves_only_the_wrist() -> None:
    angles = [pose_for("wrist", g, g / 8)[PALM_BONE][0] for g in range(9)]
    assert all(b > a for a, b in itertools.pairwise(angles))
    assert angles[0] == pytest.approx(-math.radians(DEFAULT_LIMITS.wrist_extension_deg))
    assert angles[8] == pytest.approx(math.radians(DEFAULT_LIMITS.wrist_flexion_deg))
    a, b = pose_for("wrist", 0, 0.0), pose_for("wrist", 8, 1.0)
    for name in [*FINGER_BONES, *THUMB_BONES]:
        assert a[name] == b[name]


def test_rest_ignores_grade_and_other_gestures_keep_wrist_straight() -> None:
    assert pose_for("rest", 0) == pose_for("rest", 8, 1.0)
    for g in ("rest", "fingers", "thumb"):
        assert pose_for(g, 8, 1.0)[PALM_BONE] == (0.0, 0.0, 0.0)


def test_ball_in_hand_caps_the_fingers() -> None:
    free = pose_for("fingers", 8, 1.0)
    held = pose_for("fingers", 8, 1.0, ball_in_hand=True)
    assert finger_flexion(held) < finger_flexion(free)
    assert finger_flexion(held) == pytest.approx(DEFAULT_LIMITS.grip * finger_flexion(free))
    # A hand that is more open than the grip is not forced closed.
    assert pose_for("fingers", 2, 0.25, ball_in_hand=True) == pose_for("fingers", 2, 0.25)


def test_unknown_gesture_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown gesture 'fist'"):
        pose_for("fist", 3)


@given(
    gesture=st.sampled_from(GESTURE_NAMES),
    grade=st.one_of(st.floats(-5, 15), st.just(float("nan"))),
    closure=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    held=st.booleans(),
)
def test_angles_stay_within_limits(
    gesture: str, grade: float, closure: float | None, held: bool
) -> None:
    pose = pose_for(gesture, grade, closure, ball_in_hand=held)
    lim = DEFAULT_LIMITS
    for name in FINGER_BONES:
        assert (
            0.0 <= pose[name][0] <= math.radians(max(lim.mcp_deg, lim.pip_deg, lim.dip_deg)) + 1e-12
        )
    wrist = pose[PALM_BONE][0]
    assert (
        -math.radians(lim.wrist_extension_deg) - 1e-12
        <= wrist
        <= math.radians(lim.wrist_flexion_deg) + 1e-12
    )
    assert all(math.isfinite(v) for rot in pose.values() for v in rot)
