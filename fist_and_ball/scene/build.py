# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every pointer property as Optional: ob.data, pose, display...)
"""Build, find and remove the Fist & Ball scene (bpy adapter).

Everything lives in the collection "FistAndBall" (objects and datablocks prefixed
`FB_`) so the add-on can rebuild or remove it without touching the user's data.
Layout in the world (metres, Z up, camera on the -Y side looking at the thumb side):
- the right hand, palm down, fingers pointing to -X, forearm coming in from +X, so
  finger flexion and wrist flexion are seen in profile;
- the ball's vertical track under the palm: ball_height 0 is the floor pad, 1 is the
  top, just under the open palm. The game asks for grade 8*h at height h, so the
  ball rises into the hand exactly when the hand must be a fist;
- the "reach ring" around the track at the height the current closure matches (the
  catch zone is where it meets the ball; it lights up when in_catch_zone);
- the nine LEDs in a row under the forearm, score/time text on the left.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import bpy
from mathutils import Matrix, Vector

from ..core.view import N_LEDS
from . import meshes
from .hand_geometry import (
    DEFAULT_HAND,
    FOREARM_BONE,
    PALM_BONE,
    THUMB_BONES,
    HandGeometry,
    finger_bone,
)
from .refs import (
    COLLECTION_NAME,
    DECODER_COLLECTION_NAME,
    PREFIX,
    DecoderRefs,
    SceneRefs,
)

BALL_RADIUS = 0.034
TRACK_LENGTH = 0.22
TOP_GAP = 0.010
"""The free ball at the top of the track is this much lower than the grip point, so
it touches neither the open palm nor the thumb; a held ball moves up into the grip."""

# Hand frame (armature local: fingers +Y, palm -Z, thumb -X) -> world (fingers -X,
# palm -Z, thumb -Y towards the camera): a +90 degree turn about Z, a right hand.
HAND_TO_WORLD = Matrix(((0.0, -1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)))

# name: (linear RGB, emission strength). The same colour goes to the node tree (Cycles and
# EEVEE) and to diffuse_color (Workbench "Material" colour) so every engine reads.
MATERIALS: dict[str, tuple[tuple[float, float, float], float]] = {
    "skin": ((0.66, 0.40, 0.29), 0.0),
    "nail": ((0.85, 0.60, 0.52), 0.0),
    "ball": ((1.00, 0.17, 0.01), 0.0),
    "ball_zone": ((1.00, 0.24, 0.02), 0.25),
    "ball_held": ((1.00, 0.30, 0.04), 0.8),
    "led_on": ((1.00, 0.04, 0.02), 2.5),
    "led_off": ((0.16, 0.015, 0.015), 0.0),
    "band": ((0.06, 0.06, 0.07), 0.0),
    "track": ((0.45, 0.47, 0.52), 0.0),
    "ring_off": ((0.22, 0.30, 0.28), 0.0),
    "ring_on": ((0.20, 0.95, 0.40), 1.2),
    "text": ((0.92, 0.92, 0.92), 0.0),
    "status": ((1.00, 0.80, 0.20), 0.3),
    "sensor": ((0.15, 0.35, 0.85), 0.0),
    "bar": ((0.20, 0.80, 0.90), 0.2),
    "bar_max": ((1.00, 0.85, 0.15), 0.8),
    "forearm_ghost": ((0.55, 0.45, 0.40), 0.0),
}
WORLD_COLOUR = (0.035, 0.045, 0.06)


def _scene(scene: bpy.types.Scene | None) -> bpy.types.Scene:
    found = scene if scene is not None else bpy.context.scene
    if found is None:
        raise RuntimeError("no scene: pass one or run with a context scene")
    return found


def material_name(key: str) -> str:
    return f"{PREFIX}{key}"


def build_scene(
    scene: bpy.types.Scene | None = None,
    hand: HandGeometry = DEFAULT_HAND,
) -> SceneRefs:
    """Build the game scene in `scene` (default: the context scene) and return handles.

    Idempotent: an existing Fist & Ball scene is removed first.
    """
    scene = _scene(scene)
    remove_scene()
    coll = bpy.data.collections.new(COLLECTION_NAME)
    scene.collection.children.link(coll)
    mats = _materials()

    # The hand's grip point is the world origin; the track hangs under it.
    grip_hand = Vector(hand.grip_point(BALL_RADIUS))
    shift = -(HAND_TO_WORLD @ grip_hand)
    hand_matrix = Matrix.Translation((shift.x, shift.y, shift.z)) @ HAND_TO_WORLD.to_4x4()
    track_top = -TOP_GAP
    track_bottom = track_top - TRACK_LENGTH

    arm = _build_armature(scene, coll, hand, hand_matrix)
    _build_hand_meshes(coll, arm, hand, mats)

    ball = _link(
        coll,
        bpy.data.objects.new(
            f"{PREFIX}Ball",
            meshes.rounded_box(
                f"{PREFIX}Ball", (BALL_RADIUS,) * 3, roundness=1.0, segments=40, rings=20
            ),
        ),
    )
    assign_material(ball, mats["ball"])
    ball.location = (0.0, 0.0, track_bottom)

    _build_track(coll, mats, track_bottom, track_top)
    ring = _link(
        coll,
        bpy.data.objects.new(
            f"{PREFIX}CatchZone",
            meshes.arc_tube(
                f"{PREFIX}CatchZone", BALL_RADIUS * 1.3, 0.0024, 0.0, 2 * math.pi, steps=48
            ),
        ),
    )
    ring.location = (0.0, 0.0, track_bottom)
    assign_material(ring, mats["ring_off"])
    _build_leds(coll, mats, centre=(0.19, 0.0, track_bottom + 0.03))
    _text(coll, "Score", "Score 0   0:00", (-0.22, 0.0, -0.10), 0.022, mats["text"], "LEFT")
    _text(coll, "Status", "", (-0.22, 0.0, -0.135), 0.022, mats["status"], "LEFT")
    _build_camera_and_lights(scene, coll)
    _setup_render_look(scene)

    coll["fb_track"] = (0.0, 0.0, track_bottom, track_top)
    return _refs(scene, coll, hand)


def find_scene_refs(scene: bpy.types.Scene | None = None) -> SceneRefs | None:
    """Handles to an existing Fist & Ball scene, or None if it is absent or incomplete."""
    coll = bpy.data.collections.get(COLLECTION_NAME)
    if coll is None or "fb_track" not in coll:
        return None
    try:
        refs = _refs(_scene(scene), coll, DEFAULT_HAND)
    except LookupError:
        return None
    refs.decoder = _find_decoder_refs(refs)
    return refs


def _refs(scene: bpy.types.Scene, coll: bpy.types.Collection, hand: HandGeometry) -> SceneRefs:
    objs = coll.all_objects

    def get(name: str) -> bpy.types.Object:
        ob = objs.get(f"{PREFIX}{name}")
        if ob is None:
            raise LookupError(f"{PREFIX}{name} is missing")
        return ob

    mats: dict[str, bpy.types.Material] = {}
    for key in MATERIALS:
        mat = bpy.data.materials.get(material_name(key))
        if mat is None:
            raise LookupError(f"material {material_name(key)} is missing")
        mats[key] = mat
    arm = get("HandRig")
    if arm.pose is None:
        raise LookupError("the hand rig has no pose")
    x, y, bottom, top = (float(v) for v in coll["fb_track"])
    return SceneRefs(
        scene=scene,
        collection=coll,
        armature=arm,
        pose_bones={pb.name: pb for pb in arm.pose.bones},
        ball=get("Ball"),
        leds=[get(f"LED_{i}") for i in range(N_LEDS)],
        catch_zone=get("CatchZone"),
        score_text=get("Score"),
        status_text=get("Status"),
        camera=get("Camera"),
        materials=mats,
        track_x=x,
        track_y=y,
        track_bottom_z=bottom,
        track_top_z=top,
        ball_radius=BALL_RADIUS,
        hand_matrix=arm.matrix_world.copy(),
        hand=hand,
    )


def remove_scene() -> None:
    """Delete the Fist & Ball collection, its objects and every FB_ datablock they used."""
    coll = bpy.data.collections.get(COLLECTION_NAME)
    data: list[bpy.types.ID] = []
    if coll is not None:
        for ob in list(coll.all_objects):
            if ob.data is not None:
                data.append(ob.data)
            bpy.data.objects.remove(ob, do_unlink=True)
        for child in list(coll.children_recursive):
            bpy.data.collections.remove(child)
        bpy.data.collections.remove(coll)
    # Datablocks left without users, plus any stray FB_ ones from an interrupted build.
    for block in data:
        _remove_id(block)
    for pool in _data_pools():
        for block in list(pool):
            if block.name.startswith(PREFIX):
                if isinstance(block, bpy.types.World):
                    for sc in bpy.data.scenes:
                        if sc.world == block:
                            sc.world = None
                _remove_id(block)
    for coll_name in (DECODER_COLLECTION_NAME,):
        stray = bpy.data.collections.get(coll_name)
        if stray is not None:
            bpy.data.collections.remove(stray)


def _data_pools() -> tuple[Any, ...]:
    """The bpy.data collections the scene creates datablocks in (read at call time:
    bpy.data is not available while an add-on registers)."""
    return (
        bpy.data.meshes,
        bpy.data.curves,
        bpy.data.armatures,
        bpy.data.cameras,
        bpy.data.lights,
        bpy.data.materials,
        bpy.data.worlds,
    )


def _remove_id(block: bpy.types.ID) -> None:
    try:
        name = block.name
    except ReferenceError:
        return  # already gone
    for pool in _data_pools():
        if pool.get(name) is block:
            pool.remove(block)  # type: ignore[arg-type]
            return


def _find_decoder_refs(refs: SceneRefs) -> DecoderRefs | None:
    coll = bpy.data.collections.get(DECODER_COLLECTION_NAME)
    if coll is None:
        return None
    objs = bpy.data.objects
    n = int(coll.get("fb_n_sensors", 0))
    sensors = [objs.get(f"{PREFIX}Sensor_{i}") for i in range(n)]
    bars = [objs.get(f"{PREFIX}Bar_{i}") for i in range(n)]
    text = objs.get(f"{PREFIX}DecoderText")
    camera = objs.get(f"{PREFIX}DecoderCamera")
    if text is None or camera is None or any(o is None for o in (*sensors, *bars)):
        return None
    return DecoderRefs(
        collection=coll,
        sensors=sensors,  # type: ignore[arg-type]
        bars=bars,  # type: ignore[arg-type]
        text=text,
        camera=camera,
        bar_material=refs.materials["bar"],
        bar_max_material=refs.materials["bar_max"],
        bar_length=float(coll.get("fb_bar_length", 0.05)),
    )


# --- pieces ---------------------------------------------------------------------


def _link(coll: bpy.types.Collection, ob: bpy.types.Object) -> bpy.types.Object:
    coll.objects.link(ob)
    return ob


def assign_material(
    ob: bpy.types.Object, mat: bpy.types.Material, per_object: bool = False
) -> None:
    """Give `ob` one material slot. `per_object` links the slot to the object so
    objects sharing a mesh (the LEDs) can show different materials."""
    data = ob.data
    assert isinstance(data, bpy.types.Mesh | bpy.types.Curve)
    if len(data.materials) == 0:
        data.materials.append(mat)
    if per_object:
        ob.material_slots[0].link = "OBJECT"
    ob.material_slots[0].material = mat


def _materials() -> dict[str, bpy.types.Material]:
    out: dict[str, bpy.types.Material] = {}
    for key, (rgb, emission) in MATERIALS.items():
        mat = bpy.data.materials.new(material_name(key))
        # Swap-in materials (LED on, held ball...) may have no user when a .blend is
        # saved; a fake user keeps them in the file. remove_scene deletes them.
        mat.use_fake_user = True
        mat.diffuse_color = (*rgb, 1.0)  # type: ignore[assignment]
        # Soft highlights in Workbench, so the studio light does not wash colours out.
        mat.roughness = 0.5
        mat.specular_intensity = 0.05
        bsdf: Any = (
            next((n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
            if mat.node_tree
            else None
        )
        if bsdf is not None:
            bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
            bsdf.inputs["Roughness"].default_value = 0.45
            if emission > 0:
                bsdf.inputs["Emission Color"].default_value = (*rgb, 1.0)
                bsdf.inputs["Emission Strength"].default_value = emission
        out[key] = mat
    return out


def _build_armature(
    scene: bpy.types.Scene,
    coll: bpy.types.Collection,
    hand: HandGeometry,
    hand_matrix: Matrix,
) -> bpy.types.Object:
    data = bpy.data.armatures.new(f"{PREFIX}HandRig")
    data.display_type = "STICK"
    arm = _link(coll, bpy.data.objects.new(f"{PREFIX}HandRig", data))
    arm.matrix_world = hand_matrix
    view_layer = scene.view_layers[0]
    # Edit bones exist only in edit mode, which needs an active object: this is the
    # one place the builder uses operators (never at tick time).
    with bpy.context.temp_override(scene=scene, view_layer=view_layer):
        if bpy.context.object is not None and bpy.context.object.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = arm
        with bpy.context.temp_override(active_object=arm, object=arm, edit_object=arm):
            bpy.ops.object.mode_set(mode="EDIT")
            for spec in hand.bones():
                eb = data.edit_bones.new(spec.name)
                eb.head = spec.head
                eb.tail = spec.tail
                eb.align_roll(Vector(spec.z_axis))
                if spec.parent is not None:
                    eb.parent = data.edit_bones[spec.parent]
                    eb.use_connect = False
            bpy.ops.object.mode_set(mode="OBJECT")
    for pb in arm.pose.bones:
        pb.rotation_mode = "XYZ"
    return arm


def _bone_child(
    coll: bpy.types.Collection,
    arm: bpy.types.Object,
    bone: str,
    name: str,
    mesh: bpy.types.Mesh,
    mat: bpy.types.Material,
) -> bpy.types.Object:
    """An object that follows `bone`; its mesh is authored in the bone's rest frame
    (origin at the head, +Y along the bone)."""
    ob = _link(coll, bpy.data.objects.new(name, mesh))
    ob.parent = arm
    ob.parent_type = "BONE"
    ob.parent_bone = bone
    # Bone parenting attaches at the bone's tail; shift back to the head.
    ob.matrix_parent_inverse = Matrix.Translation((0.0, -arm.data.bones[bone].length, 0.0))
    assign_material(ob, mat)
    return ob


def _build_hand_meshes(
    coll: bpy.types.Collection,
    arm: bpy.types.Object,
    hand: HandGeometry,
    mats: dict[str, bpy.types.Material],
) -> None:
    skin, nail = mats["skin"], mats["nail"]
    bones = arm.data.bones
    to_palm = bones[PALM_BONE].matrix_local.inverted()
    to_forearm = bones[FOREARM_BONE].matrix_local.inverted()

    def hand_shape(
        name: str,
        centre: tuple[float, float, float],
        half: tuple[float, float, float],
        roundness: float,
        to_bone: Matrix,
    ) -> bpy.types.Mesh:
        return meshes.rounded_box(
            name, half, roundness, matrix=to_bone @ Matrix.Translation(centre)
        )

    pl, pw, pt = hand.palm_length, hand.palm_width, hand.palm_thickness
    _bone_child(
        coll,
        arm,
        PALM_BONE,
        f"{PREFIX}Palm",
        hand_shape(
            f"{PREFIX}Palm", (0.0, pl * 0.50, 0.0), (pw / 2, pl * 0.52, pt / 2), 0.38, to_palm
        ),
        skin,
    )
    _bone_child(
        coll,
        arm,
        PALM_BONE,
        f"{PREFIX}Thenar",
        hand_shape(
            f"{PREFIX}Thenar", (-0.022, 0.036, -0.007), (0.019, 0.032, 0.013), 0.85, to_palm
        ),
        skin,
    )
    _bone_child(
        coll,
        arm,
        PALM_BONE,
        f"{PREFIX}Hypothenar",
        hand_shape(
            f"{PREFIX}Hypothenar", (0.028, 0.040, -0.005), (0.013, 0.034, 0.011), 0.85, to_palm
        ),
        skin,
    )
    # Forearm stub: elliptical, narrower at the wrist; the band (Myo) sits on it.
    fl = hand.forearm_length
    _bone_child(
        coll,
        arm,
        FOREARM_BONE,
        f"{PREFIX}Forearm",
        meshes.capsule(
            f"{PREFIX}Forearm",
            fl,
            hand.forearm_radius,
            hand.forearm_radius * 0.78,
            squash=(1.25, 0.78),
        ),
        skin,
    )
    _bone_child(
        coll,
        arm,
        FOREARM_BONE,
        f"{PREFIX}Band",
        hand_shape(
            f"{PREFIX}Band",
            (0.0, -0.095, 0.0),
            (hand.forearm_radius * 1.36, 0.016, hand.forearm_radius * 0.94),
            0.3,
            to_forearm,
        ),
        mats["band"],
    )

    digits: list[tuple[str, ...]] = [
        tuple(finger_bone(f.name, i) for i in range(3)) for f in hand.fingers
    ]
    digits.append(THUMB_BONES)
    for chain in digits:
        for i, bname in enumerate(chain):
            spec = hand.bone(bname)
            length = spec.length
            r = spec.radius
            last = i == len(chain) - 1
            seg_len = length - 0.8 * r if last else length
            next_r = r * 0.9 if last else hand.bone(chain[i + 1]).radius
            _bone_child(
                coll,
                arm,
                bname,
                f"{PREFIX}{bname}",
                meshes.capsule(f"{PREFIX}{bname}", seg_len, r, next_r, squash=(1.0, 0.9)),
                skin,
            )
            if last:
                # Nail on the dorsal side (bone -Z) near the tip.
                nail_mesh = meshes.rounded_box(
                    f"{PREFIX}{bname}_nail",
                    (r * 0.70, seg_len * 0.36, r * 0.22),
                    0.8,
                    matrix=Matrix.Translation((0.0, seg_len * 0.72, -r * 0.78)),
                )
                _bone_child(coll, arm, bname, f"{PREFIX}{bname}_nail", nail_mesh, nail)


def _build_track(
    coll: bpy.types.Collection,
    mats: dict[str, bpy.types.Material],
    bottom: float,
    top: float,
) -> None:
    """A thin rod along the ball's path and a pad at the bottom."""
    rod = _link(
        coll,
        bpy.data.objects.new(
            f"{PREFIX}Track",
            meshes.cylinder(f"{PREFIX}Track", 0.0022, top - bottom + BALL_RADIUS, 12),
        ),
    )
    rod.location = (0.0, 0.0, bottom - BALL_RADIUS)
    assign_material(rod, mats["track"])
    pad = _link(
        coll,
        bpy.data.objects.new(
            f"{PREFIX}Pad", meshes.rounded_box(f"{PREFIX}Pad", (0.05, 0.05, 0.005), 0.3)
        ),
    )
    pad.location = (0.0, 0.0, bottom - BALL_RADIUS - 0.005)
    assign_material(pad, mats["band"])


def _build_leds(
    coll: bpy.types.Collection,
    mats: dict[str, bpy.types.Material],
    centre: tuple[float, float, float],
) -> list[bpy.types.Object]:
    """Nine discs facing the camera on a dark strip (the band's LED bar)."""
    spacing, radius, group_gap = 0.029, 0.011, 0.007
    cx, cy, z = centre
    x0 = cx - spacing * (N_LEDS - 1) / 2
    strip = _link(
        coll,
        bpy.data.objects.new(
            f"{PREFIX}LedStrip",
            meshes.rounded_box(
                f"{PREFIX}LedStrip", (spacing * N_LEDS / 2 + 0.01, 0.006, radius + 0.009), 0.25
            ),
        ),
    )
    strip.location = (cx, cy + 0.006, z)
    assign_material(strip, mats["band"])
    disc = meshes.disc(f"{PREFIX}LED", radius, 0.006)
    leds = []
    for i in range(N_LEDS):
        ob = _link(coll, bpy.data.objects.new(f"{PREFIX}LED_{i}", disc))
        # Three groups of three, like the band's three colour bars.
        ob.location = (x0 + i * spacing + (i // 3 - 1) * group_gap, cy - 0.002, z)
        assign_material(ob, mats["led_off"], per_object=True)
        leds.append(ob)
    return leds


def _text(
    coll: bpy.types.Collection,
    name: str,
    body: str,
    location: tuple[float, float, float],
    size: float,
    mat: bpy.types.Material,
    align: str,
) -> bpy.types.Object:
    curve = bpy.data.curves.new(f"{PREFIX}{name}", "FONT")
    assert isinstance(curve, bpy.types.TextCurve)
    curve.body = body
    curve.size = size
    curve.extrude = size * 0.06
    curve.align_x = align  # type: ignore[assignment]
    ob = _link(coll, bpy.data.objects.new(f"{PREFIX}{name}", curve))
    ob.location = location
    ob.rotation_euler = (math.pi / 2, 0.0, 0.0)  # text plane faces -Y (the camera)
    assign_material(ob, mat)
    return ob


def _look_at(ob: bpy.types.Object, target: Iterable[float]) -> None:
    direction = Vector(tuple(target)) - ob.location
    ob.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


def _build_camera_and_lights(
    scene: bpy.types.Scene, coll: bpy.types.Collection
) -> bpy.types.Object:
    cam_data = bpy.data.cameras.new(f"{PREFIX}Camera")
    cam_data.lens = 35.0
    cam_data.clip_start = 0.01
    cam = _link(coll, bpy.data.objects.new(f"{PREFIX}Camera", cam_data))
    cam.location = (-0.13, -0.70, -0.14)
    _look_at(cam, (0.05, 0.0, -0.092))
    scene.camera = cam

    key: Any = bpy.data.lights.new(f"{PREFIX}Key", "SUN")
    key.energy = 2.0
    key_ob = _link(coll, bpy.data.objects.new(f"{PREFIX}Key", key))
    key_ob.rotation_euler = (math.radians(55), math.radians(-20), math.radians(-35))
    fill: Any = bpy.data.lights.new(f"{PREFIX}Fill", "AREA")
    fill.energy = 15.0
    fill.size = 0.8
    fill_ob = _link(coll, bpy.data.objects.new(f"{PREFIX}Fill", fill))
    fill_ob.location = (0.6, -0.6, 0.5)
    _look_at(fill_ob, (0.0, 0.0, 0.0))

    world = bpy.data.worlds.new(f"{PREFIX}World")
    world.color = WORLD_COLOUR
    if world.node_tree is not None:
        bg = world.node_tree.nodes.get("Background")
        if bg is not None:
            bg.inputs["Color"].default_value = (*WORLD_COLOUR, 1.0)
            bg.inputs["Strength"].default_value = 1.0
    scene.world = world
    return cam


def _setup_render_look(scene: bpy.types.Scene) -> None:
    """Workbench settings that keep the material colours readable."""
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "MATERIAL"
    shading.show_shadows = True
    shading.shadow_intensity = 0.35
    shading.show_cavity = True
    shading.cavity_type = "WORLD"
    shading.show_specular_highlight = False
    scene.display.shadow_focus = 0.4
    # Cycles/EEVEE: "Standard" keeps the ball orange and the LEDs red (AgX desaturates).
    scene.view_settings.view_transform = "Standard"
