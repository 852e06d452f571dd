"""Dimensions of the 3D right hand: bones, joint positions, segment radii. No bpy.

All lengths are metres, in the hand's own frame (the armature's local space):
the wrist joint is the origin, the fingers point along +Y, the palm (volar side)
faces -Z and the thumb is on the -X (radial) side, as for a right hand lying palm
down with the fingers pointing away from you. The scene builder places this frame
in the world; everything here is plain data so it can be checked without Blender.

Every bone's local Z axis points to the side it flexes towards (the palm for the
fingers and the wrist, across the palm for the thumb), so a positive rotation about
the bone's local X axis is always flexion. `hand_pose` relies on that convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Vec3 = tuple[float, float, float]

FINGERS: tuple[str, ...] = ("index", "middle", "ring", "pinky")
"""The four long fingers, radial to ulnar."""

PHALANGES: tuple[str, ...] = ("prox", "mid", "dist")
THUMB_BONES: tuple[str, ...] = ("thumb_meta", "thumb_prox", "thumb_dist")
FOREARM_BONE = "forearm"
PALM_BONE = "palm"
"""The palm bone's head is the wrist joint: rotating it flexes the wrist."""

VOLAR: Vec3 = (0.0, 0.0, -1.0)
"""Direction the palm faces in the hand frame."""


def finger_bone(finger: str, phalanx: int) -> str:
    """Bone name of phalanx 0 (proximal), 1 (middle) or 2 (distal) of a finger."""
    return f"{finger}_{PHALANGES[phalanx]}"


@dataclass(frozen=True, slots=True)
class BoneSpec:
    """One bone in rest pose: head/tail in the hand frame, the flexion-side axis and
    the radius of the capsule drawn around it."""

    name: str
    parent: str | None
    head: Vec3
    tail: Vec3
    z_axis: Vec3
    radius: float

    @property
    def length(self) -> float:
        return _norm(_sub(self.tail, self.head))


@dataclass(frozen=True, slots=True)
class FingerSpec:
    """A long finger: knuckle (MCP joint) position, phalanx lengths and radii."""

    name: str
    knuckle: Vec3
    lengths: tuple[float, float, float]
    radii: tuple[float, float, float]
    splay_deg: float
    """Abduction of the open hand (rotation about the palm normal, + towards ulnar)."""


@dataclass(frozen=True, slots=True)
class HandGeometry:
    """The whole hand. The defaults are an adult hand of about 19 cm."""

    forearm_length: float = 0.42
    forearm_radius: float = 0.030
    palm_length: float = 0.092
    palm_width: float = 0.084
    palm_thickness: float = 0.028
    fingers: tuple[FingerSpec, ...] = (
        FingerSpec(
            "index", (-0.030, 0.090, 0.0), (0.041, 0.024, 0.017), (0.0092, 0.0084, 0.0076), -7.0
        ),
        FingerSpec(
            "middle", (-0.010, 0.094, 0.0), (0.045, 0.028, 0.018), (0.0095, 0.0087, 0.0078), -1.5
        ),
        FingerSpec(
            "ring", (0.011, 0.090, 0.0), (0.042, 0.027, 0.017), (0.0090, 0.0082, 0.0074), 4.0
        ),
        FingerSpec(
            "pinky", (0.030, 0.081, 0.0), (0.033, 0.019, 0.015), (0.0080, 0.0072, 0.0066), 10.0
        ),
    )
    thumb_base: Vec3 = (-0.024, 0.020, -0.008)
    thumb_dirs: tuple[Vec3, Vec3, Vec3] = (
        (-0.64, 0.70, -0.24),
        (-0.44, 0.87, -0.16),
        (-0.32, 0.93, -0.10),
    )
    thumb_lengths: tuple[float, float, float] = (0.044, 0.032, 0.024)
    thumb_radii: tuple[float, float, float] = (0.0125, 0.0105, 0.0095)
    thumb_flex_side: Vec3 = (0.75, 0.0, -0.66)
    """Where the thumb curls to: across the palm (+X) and towards the volar side."""

    def bones(self) -> list[BoneSpec]:
        """All bones in rest pose, parents before children."""
        out: list[BoneSpec] = [
            BoneSpec(
                FOREARM_BONE,
                None,
                (0.0, -self.forearm_length, 0.0),
                (0.0, 0.0, 0.0),
                VOLAR,
                self.forearm_radius,
            ),
            BoneSpec(
                PALM_BONE,
                FOREARM_BONE,
                (0.0, 0.0, 0.0),
                (0.0, self.palm_length, 0.0),
                VOLAR,
                self.palm_thickness / 2,
            ),
        ]
        for f in self.fingers:
            head = f.knuckle
            parent = PALM_BONE
            for i in range(3):
                tail = (head[0], head[1] + f.lengths[i], head[2])
                name = finger_bone(f.name, i)
                out.append(BoneSpec(name, parent, head, tail, VOLAR, f.radii[i]))
                head, parent = tail, name
        head = self.thumb_base
        parent = PALM_BONE
        for i, name in enumerate(THUMB_BONES):
            d = _unit(self.thumb_dirs[i])
            tail = _add(head, _scale(d, self.thumb_lengths[i]))
            z = _unit(_reject(self.thumb_flex_side, d))
            out.append(BoneSpec(name, parent, head, tail, z, self.thumb_radii[i]))
            head, parent = tail, name
        return out

    def bone(self, name: str) -> BoneSpec:
        """The rest-pose bone called `name` (KeyError if there is none)."""
        for b in self.bones():
            if b.name == name:
                return b
        raise KeyError(f"no bone named {name!r} in the hand")

    def palm_centre(self) -> Vec3:
        """Middle of the palm's volar surface (fist closure is measured from here)."""
        return (0.0, self.palm_length * 0.55, -self.palm_thickness / 2)

    def grip_point(self, ball_radius: float) -> Vec3:
        """Where a held ball's centre sits: in front of the palm, under the knuckles."""
        return (-0.004, self.palm_length * 0.74, -(self.palm_thickness / 2 + ball_radius + 0.004))

    def fingertips(self) -> dict[str, Vec3]:
        """Rest-pose tip (distal bone tail) of each digit, thumb included."""
        tips = {f.name: self.bone(finger_bone(f.name, 2)).tail for f in self.fingers}
        tips["thumb"] = self.bone(THUMB_BONES[-1]).tail
        return tips


DEFAULT_HAND = HandGeometry()


def rotate_about_axis(point: Vec3, pivot: Vec3, axis: Vec3, angle: float) -> Vec3:
    """Rotate `point` by `angle` radians about the line through `pivot` along `axis`
    (right-hand rule; Rodrigues' formula)."""
    k = _unit(axis)
    v = _sub(point, pivot)
    c, s = math.cos(angle), math.sin(angle)
    kxv = _cross(k, v)
    kdv = _dot(k, v)
    r = tuple(v[i] * c + kxv[i] * s + k[i] * kdv * (1 - c) for i in range(3))
    return _add(pivot, (r[0], r[1], r[2]))


def bone_x_axis(spec: BoneSpec) -> Vec3:
    """The bone's local X axis (its flexion axis) in the hand frame: Y x Z."""
    y = _unit(_sub(spec.tail, spec.head))
    return _unit(_cross(y, spec.z_axis))


def _add(a: Vec3, b: Vec3) -> Vec3:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _sub(a: Vec3, b: Vec3) -> Vec3:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _scale(a: Vec3, s: float) -> Vec3:
    return (a[0] * s, a[1] * s, a[2] * s)


def _dot(a: Vec3, b: Vec3) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: Vec3, b: Vec3) -> Vec3:
    return (
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    )


def _norm(a: Vec3) -> float:
    return math.sqrt(_dot(a, a))


def _unit(a: Vec3) -> Vec3:
    n = _norm(a)
    if n == 0:
        raise ValueError("zero-length direction")
    return _scale(a, 1.0 / n)


def _reject(a: Vec3, d: Vec3) -> Vec3:
    """Component of `a` orthogonal to unit vector `d`."""
    return _sub(a, _scale(d, _dot(a, d)))
