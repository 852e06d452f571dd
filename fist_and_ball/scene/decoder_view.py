# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every pointer property as Optional: ob.data, pose, display...)
"""Developer "decoder view": the sensors around a forearm, a |B| bar each, and the
decoded gesture and grade as text (bpy adapter, optional). Decoders that see several
tags at once (`grades` in `grade`) get one more bar per tag, under the text.

Sensor positions come in millimetres in the forearm frame of `bridge.sim.layouts`:
x along the forearm (positive distally), y/z around it, +z on the volar midline.
The view is drawn at `origin` (default 3 m under the game, out of the game camera's
sight) with its own camera `FB_DecoderCamera`, in the child collection `FB_Decoder`.
In the world the forearm runs like the game's: distal towards -X, volar side down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import bpy
from mathutils import Matrix, Vector

from . import meshes
from .build import assign_material
from .refs import DECODER_COLLECTION_NAME, PREFIX, DecoderRefs, SceneRefs, TagBar

MAX_SENSORS = 32
MIN_BAR = 0.02
"""Bars never shrink below this share of full length, so a silent sensor stays visible."""

TAG_BAR_M = 0.09
"""Full length of a tag bar (m, grade 8), drawn across the decoder camera's view."""
TAG_PROP = "fb_tag"
"""Custom property naming the gesture of a tag bar or label (found again by it)."""
LOW_CONFIDENCE = 0.2
"""Below this a tag bar is drawn dim (the hand's safety layer treats it as no input)."""
# Where the tag rows sit, in the decoder camera's plane relative to the text's anchor (m).
_TAG_ROWS_DY = -0.15
_TAG_ROWS_SPAN = 0.048
_TAG_BAR_DX = 0.065

# forearm frame (x distal, z volar) -> world (distal -X, volar -Z): a proper rotation.
FOREARM_TO_WORLD = Matrix(((-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0)))


def build_decoder_view(
    refs: SceneRefs,
    positions_mm: Sequence[Sequence[float]],
    origin: tuple[float, float, float] = (0.0, 0.0, -3.0),
    bar_length: float = 0.05,
) -> DecoderRefs:
    """Build (or rebuild) the decoder view for sensors at `positions_mm` (n x 3)."""
    pts = _check_positions(positions_mm)
    remove_decoder_view(refs)
    coll = bpy.data.collections.new(DECODER_COLLECTION_NAME)
    refs.collection.children.link(coll)
    coll["fb_n_sensors"] = len(pts)
    coll["fb_bar_length"] = float(bar_length)
    mats = refs.materials
    o = Vector(origin)
    world = [o + FOREARM_TO_WORLD @ (Vector(p) * 0.001) for p in pts]
    axial = [p[0] * 0.001 for p in pts]
    radial = sorted(math.hypot(p[1], p[2]) * 0.001 for p in pts)
    sensor_r = radial[len(radial) // 2] if radial[-1] > 0.005 else 0.034
    arm_r = max(0.01, sensor_r - 0.006)
    x_lo, x_hi = min(axial) - 0.06, max(axial) + 0.06

    forearm_mesh = meshes.cylinder(
        f"{PREFIX}DecoderForearm",
        arm_r,
        x_hi - x_lo,
        40,
        matrix=Matrix.Rotation(-math.pi / 2, 4, "Y"),  # +Z (cylinder axis) -> -X (distal)
    )
    forearm = bpy.data.objects.new(f"{PREFIX}DecoderForearm", forearm_mesh)
    coll.objects.link(forearm)
    forearm.location = o + FOREARM_TO_WORLD @ Vector((x_lo, 0.0, 0.0))
    assign_material(forearm, mats["forearm_ghost"])

    sensor_mesh = meshes.box(f"{PREFIX}Sensor", (0.011, 0.011, 0.004))
    bar_mesh = meshes.box(f"{PREFIX}Bar", (0.006, 0.006, bar_length), base_at_origin=True)
    sensors, bars = [], []
    for i, (p, w) in enumerate(zip(pts, world, strict=True)):
        out_dir = FOREARM_TO_WORLD @ Vector((0.0, p[1], p[2]))
        if out_dir.length < 1e-9:
            out_dir = Vector((0.0, 0.0, 1.0))
        out_dir.normalize()
        rot = out_dir.to_track_quat("Z", "X").to_euler()
        s = bpy.data.objects.new(f"{PREFIX}Sensor_{i}", sensor_mesh)
        coll.objects.link(s)
        s.location, s.rotation_euler = w, rot
        assign_material(s, mats["sensor"])
        b = bpy.data.objects.new(f"{PREFIX}Bar_{i}", bar_mesh)
        coll.objects.link(b)
        b.location, b.rotation_euler = w + out_dir * 0.003, rot
        b.scale = (1.0, 1.0, MIN_BAR)
        assign_material(b, mats["bar"], per_object=True)
        sensors.append(s)
        bars.append(b)

    cam_data = bpy.data.cameras.new(f"{PREFIX}DecoderCamera")
    cam_data.lens = 35.0
    cam_data.clip_start = 0.01
    camera = bpy.data.objects.new(f"{PREFIX}DecoderCamera", cam_data)
    coll.objects.link(camera)
    centre = o + FOREARM_TO_WORLD @ Vector(((x_lo + x_hi) / 2, 0.0, 0.0))
    camera.location = centre + Vector((-0.20, -0.30, 0.14))
    camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()

    curve = bpy.data.curves.new(f"{PREFIX}DecoderText", "FONT")
    assert isinstance(curve, bpy.types.TextCurve)
    curve.body = "gesture: -\ngrade: -"
    curve.size = 0.022
    curve.extrude = 0.001
    text = bpy.data.objects.new(f"{PREFIX}DecoderText", curve)
    coll.objects.link(text)
    cam_rot = camera.rotation_euler.to_matrix()
    # Put the text in the upper left of the decoder camera's view, facing it.
    text.location = centre + cam_rot @ Vector((-0.16, 0.08, 0.0))
    text.rotation_euler = camera.rotation_euler.copy()
    assign_material(text, mats["text"])

    dec = DecoderRefs(
        collection=coll,
        sensors=sensors,
        bars=bars,
        text=text,
        camera=camera,
        bar_material=mats["bar"],
        bar_max_material=mats["bar_max"],
        bar_length=float(bar_length),
    )
    refs.decoder = dec
    return dec


def apply_decoder_view(
    refs: SceneRefs, magnitudes_norm: Sequence[float], gesture: str, grade: int
) -> None:
    """Set each bar to its normalised |B| (0..1; NaN = dead = 0), highlight the
    largest, and show the decoded gesture and grade. No-op without a decoder view.
    Extra values beyond the number of sensors are ignored."""
    dec = refs.decoder
    if dec is None:
        return
    last = dec.last
    best, best_v = -1, -1.0
    for i, bar in enumerate(dec.bars):
        v = _unit(magnitudes_norm[i]) if i < len(magnitudes_norm) else 0.0
        if v > best_v:
            best, best_v = i, v
        h = round(max(MIN_BAR, v), 3)  # 1/1000 of the bar is below a pixel
        if last.get(f"bar{i}") != h:
            last[f"bar{i}"] = h
            bar.scale.z = h
    if last.get("best") != best:
        prev = last.get("best")
        if prev is not None and 0 <= prev < len(dec.bars):
            dec.bars[prev].material_slots[0].material = dec.bar_material
        if best >= 0:
            dec.bars[best].material_slots[0].material = dec.bar_max_material
        last["best"] = best
    body = f"gesture: {gesture}\ngrade: {grade}"
    if last.get("text") != body:
        last["text"] = body
        dec.text.data.body = body  # type: ignore[union-attr]


def apply_tag_bars(refs: SceneRefs, tags: Mapping[str, object] | None, gesture: str) -> None:
    """One bar per tag, its length the tag's grade (of 8), labelled with the gesture and
    grade; the decoded gesture's bar highlighted, low-confidence ones dim. Builds the bars
    the first time (or when the set of gestures changes); `tags` None (the bridge sent
    none this time) empties the bars it has. `tags` values need `grade` and
    `confidence` (the client's `TagGrade`). No-op without a decoder view."""
    dec = refs.decoder
    if dec is None or (not tags and not dec.tags):
        return
    if tags and list(tags) != list(dec.tags):
        build_tag_bars(refs, list(tags))
    mats = refs.materials
    last = dec.last
    for name, tb in dec.tags.items():
        tag = tags.get(name) if tags else None
        grade = int(getattr(tag, "grade", 0)) if tag is not None else None
        conf = float(getattr(tag, "confidence", 0.0)) if tag is not None else 0.0
        h = MIN_BAR if grade is None else round(max(MIN_BAR, grade / 8.0), 3)
        if last.get(f"tag:{name}") != h:
            last[f"tag:{name}"] = h
            tb.bar.scale.z = h
        if grade is None or conf < LOW_CONFIDENCE:
            mat = mats["forearm_ghost"]
        else:
            mat = dec.bar_max_material if name == gesture else dec.bar_material
        if tb.bar.material_slots[0].material != mat:
            tb.bar.material_slots[0].material = mat
        body = f"{name} {'-' if grade is None else grade}"
        if tb.label.data.body != body:  # type: ignore[union-attr]
            tb.label.data.body = body  # type: ignore[union-attr]


def build_tag_bars(refs: SceneRefs, names: Sequence[str]) -> dict[str, TagBar]:
    """(Re)build the tag bars for `names`, one row each under the decoder view's text,
    facing its camera. Requires a decoder view."""
    dec = refs.decoder
    assert dec is not None, "build the decoder view first"
    remove_tag_bars(refs)
    cam_rot = dec.camera.rotation_euler.to_matrix()
    # local +Z (the bar's length) along the camera's +X: across the view, left to right
    bar_rot = (cam_rot @ Matrix.Rotation(math.pi / 2, 3, "Y")).to_euler()
    step = min(0.016, _TAG_ROWS_SPAN / max(1, len(names)))
    bar_mesh = meshes.box(
        f"{PREFIX}TagBar", (0.7 * step, 0.7 * step, TAG_BAR_M), base_at_origin=True
    )
    anchor = dec.text.location.copy()
    tags: dict[str, TagBar] = {}
    for i, name in enumerate(names):
        row = anchor + cam_rot @ Vector((0.0, _TAG_ROWS_DY - i * step, 0.0))
        bar = bpy.data.objects.new(f"{PREFIX}TagBar_{name}", bar_mesh)
        dec.collection.objects.link(bar)
        bar.location = row + cam_rot @ Vector((_TAG_BAR_DX, 0.0, 0.0))
        bar.rotation_euler = bar_rot
        bar.scale = (1.0, 1.0, MIN_BAR)
        bar[TAG_PROP] = name
        assign_material(bar, dec.bar_material, per_object=True)
        curve = bpy.data.curves.new(f"{PREFIX}TagLabel_{name}", "FONT")
        assert isinstance(curve, bpy.types.TextCurve)
        curve.body = f"{name} -"
        curve.size = min(0.011, 0.8 * step)
        curve.extrude = 0.0005
        label = bpy.data.objects.new(f"{PREFIX}TagLabel_{name}", curve)
        dec.collection.objects.link(label)
        label.location = row + cam_rot @ Vector((0.0, -0.3 * step, 0.0))
        label.rotation_euler = dec.camera.rotation_euler.copy()
        label[TAG_PROP] = name
        assign_material(label, refs.materials["text"])
        tags[name] = TagBar(bar=bar, label=label)
    dec.tags = tags
    return tags


def remove_tag_bars(refs: SceneRefs) -> None:
    """Delete every tag bar and label of the decoder view, with their data (found by
    their custom property, so ones the refs lost track of go too)."""
    dec = refs.decoder
    coll = dec.collection if dec is not None else bpy.data.collections.get(DECODER_COLLECTION_NAME)
    if coll is not None:
        obs = [ob for ob in coll.objects if ob.get(TAG_PROP) is not None]
        data = {ob.data for ob in obs if ob.data is not None}
        for ob in obs:
            bpy.data.objects.remove(ob, do_unlink=True)
        for block in data:
            _remove_data(block)
    if dec is not None:
        dec.tags = {}
        for key in [k for k in dec.last if k.startswith("tag:")]:
            del dec.last[key]


def set_decoder_visible(refs: SceneRefs, visible: bool) -> None:
    """Show or hide the decoder view (viewport and render) without rebuilding it."""
    if refs.decoder is not None:
        refs.decoder.collection.hide_viewport = not visible
        refs.decoder.collection.hide_render = not visible


def remove_decoder_view(refs: SceneRefs) -> None:
    """Delete the decoder view's objects and their data (materials are shared, kept)."""
    coll = bpy.data.collections.get(DECODER_COLLECTION_NAME)
    if coll is not None:
        data = {ob.data for ob in coll.objects if ob.data is not None}
        for ob in list(coll.objects):
            bpy.data.objects.remove(ob, do_unlink=True)
        bpy.data.collections.remove(coll)
        for block in data:
            _remove_data(block)
    refs.decoder = None


def _remove_data(block: bpy.types.ID) -> None:
    for pool in (bpy.data.meshes, bpy.data.curves, bpy.data.cameras):
        if pool.get(block.name) is block:
            pool.remove(block)  # type: ignore[arg-type]
            break


def _check_positions(positions_mm: Sequence[Sequence[float]]) -> list[tuple[float, float, float]]:
    try:
        pts = [tuple(float(c) for c in p) for p in positions_mm]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sensor positions must be numbers (n x 3, mm): {exc}") from None
    if not 1 <= len(pts) <= MAX_SENSORS:
        raise ValueError(f"need 1..{MAX_SENSORS} sensor positions, got {len(pts)}")
    for i, p in enumerate(pts):
        if len(p) != 3 or not all(math.isfinite(c) for c in p):
            raise ValueError(f"sensor {i}: position must be 3 finite numbers in mm, got {p}")
    return [(p[0], p[1], p[2]) for p in pts]


def _unit(x: object) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(v):
        return 0.0
    return 0.0 if v < 0.0 else 1.0 if v > 1.0 else v
