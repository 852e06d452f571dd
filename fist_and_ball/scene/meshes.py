# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every pointer property as Optional: ob.data, pose, display...)
"""Mesh primitives for the scene, made with bmesh (no bpy.ops, no context needed).

Every function returns a new `bpy.types.Mesh` with smooth shading. Shapes are
authored in a local frame given by the caller; `matrix` (4x4) transforms the
vertices before the mesh is written so a segment can be placed in a bone's frame.
"""

from __future__ import annotations

import math

import bmesh
import bpy
from mathutils import Matrix, Vector


def _finish(
    bm: bmesh.types.BMesh, name: str, matrix: Matrix | None, smooth: bool
) -> bpy.types.Mesh:
    if matrix is not None:
        bmesh.ops.transform(bm, matrix=matrix, verts=list(bm.verts))
    for f in bm.faces:
        f.smooth = smooth
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    return mesh


def capsule(
    name: str,
    length: float,
    radius: float,
    radius_tail: float | None = None,
    segments: int = 20,
    rings: int = 10,
    squash: tuple[float, float] = (1.0, 1.0),
    matrix: Matrix | None = None,
) -> bpy.types.Mesh:
    """A capsule along +Y from 0 to `length` (sphere centres), optionally tapered to
    `radius_tail` and squashed in X/Z by `squash` (elliptical cross-section)."""
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=segments, v_segments=rings, radius=1.0)
    # The sphere's poles are on Z; turn them onto Y, then pull the far half out.
    bmesh.ops.rotate(
        bm, verts=list(bm.verts), cent=(0, 0, 0), matrix=Matrix.Rotation(-math.pi / 2, 3, "X")
    )
    r_tail = radius if radius_tail is None else radius_tail
    for v in bm.verts:
        far = v.co.y > 1e-6
        r = r_tail if far else radius
        v.co = Vector(
            (v.co.x * r * squash[0], v.co.y * r + (length if far else 0.0), v.co.z * r * squash[1])
        )
    return _finish(bm, name, matrix, smooth=True)


def rounded_box(
    name: str,
    half_extents: tuple[float, float, float],
    roundness: float = 0.45,
    segments: int = 24,
    rings: int = 14,
    matrix: Matrix | None = None,
) -> bpy.types.Mesh:
    """A superellipsoid centred at the origin: `roundness` 1 is an ellipsoid, small
    values approach a box with rounded edges."""
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=segments, v_segments=rings, radius=1.0)
    for v in bm.verts:
        x, y, z = v.co.x, v.co.y, v.co.z
        hx, hy, hz = half_extents
        v.co = Vector(
            (
                math.copysign(abs(x) ** roundness, x) * hx,
                math.copysign(abs(y) ** roundness, y) * hy,
                math.copysign(abs(z) ** roundness, z) * hz,
            )
        )
    return _finish(bm, name, matrix, smooth=True)


def disc(
    name: str, radius: float, depth: float, segments: int = 32, matrix: Matrix | None = None
) -> bpy.types.Mesh:
    """A flat cylinder with its axis on -Y (the face looks towards -Y), centred at 0."""
    bm = bmesh.new()
    bmesh.ops.create_cone(
        bm, cap_ends=True, segments=segments, radius1=radius, radius2=radius, depth=depth
    )
    bmesh.ops.rotate(
        bm, verts=list(bm.verts), cent=(0, 0, 0), matrix=Matrix.Rotation(math.pi / 2, 3, "X")
    )
    mesh = _finish(bm, name, matrix, smooth=False)
    return mesh


def box(
    name: str,
    size: tuple[float, float, float],
    base_at_origin: bool = False,
    matrix: Matrix | None = None,
) -> bpy.types.Mesh:
    """An axis-aligned box; with `base_at_origin` it grows along +Z from z = 0 (bars)."""
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=1.0)
    shift = 0.5 if base_at_origin else 0.0
    for v in bm.verts:
        v.co = Vector((v.co.x * size[0], v.co.y * size[1], (v.co.z + shift) * size[2]))
    return _finish(bm, name, matrix, smooth=False)


def arc_tube(
    name: str,
    radius: float,
    tube_radius: float,
    start: float,
    end: float,
    steps: int = 40,
    sides: int = 10,
    matrix: Matrix | None = None,
) -> bpy.types.Mesh:
    """A tube bent along a horizontal circular arc (XY plane) from angle `start` to
    `end` radians, like a part of a torus."""
    bm = bmesh.new()
    loops = []
    for i in range(steps + 1):
        a = start + (end - start) * i / steps
        centre = Vector((math.cos(a) * radius, math.sin(a) * radius, 0.0))
        out = Vector((math.cos(a), math.sin(a), 0.0))
        up = Vector((0.0, 0.0, 1.0))
        loop = []
        for j in range(sides):
            b = 2 * math.pi * j / sides
            p = centre + tube_radius * (math.cos(b) * out + math.sin(b) * up)
            loop.append(bm.verts.new((p.x, p.y, p.z)))
        loops.append(loop)
    for i in range(steps):
        for j in range(sides):
            k = (j + 1) % sides
            bm.faces.new((loops[i][j], loops[i + 1][j], loops[i + 1][k], loops[i][k]))
    bm.faces.new(list(reversed(loops[0])))
    bm.faces.new(loops[-1])
    bm.normal_update()
    return _finish(bm, name, matrix, smooth=True)


def cylinder(
    name: str, radius: float, length: float, segments: int = 32, matrix: Matrix | None = None
) -> bpy.types.Mesh:
    """A cylinder along +Z from 0 to `length`."""
    bm = bmesh.new()
    bmesh.ops.create_cone(
        bm, cap_ends=True, segments=segments, radius1=radius, radius2=radius, depth=length
    )
    bmesh.ops.translate(bm, verts=list(bm.verts), vec=(0.0, 0.0, length / 2))
    return _finish(bm, name, matrix, smooth=True)
