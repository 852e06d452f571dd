"""Handles to the objects the scene builder made, kept so a tick never searches by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import bpy
from mathutils import Matrix

from .hand_geometry import DEFAULT_HAND, HandGeometry

COLLECTION_NAME = "FistAndBall"
DECODER_COLLECTION_NAME = "FB_Decoder"
PREFIX = "FB_"


@dataclass
class TagBar:
    """One tag's bar in the decoder view (built when a `grades` object arrives)."""

    bar: bpy.types.Object
    label: bpy.types.Object


@dataclass
class DecoderRefs:
    """The developer decoder view: sensors, one |B| bar each, a text and a camera."""

    collection: bpy.types.Collection
    sensors: list[bpy.types.Object]
    bars: list[bpy.types.Object]
    text: bpy.types.Object
    camera: bpy.types.Object
    bar_material: bpy.types.Material
    bar_max_material: bpy.types.Material
    bar_length: float
    last: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, TagBar] = field(default_factory=dict)
    """gesture -> its tag bar, in the order the bridge sent them (empty: none built)."""


@dataclass
class SceneRefs:
    """Everything `apply_view` touches. `last` caches the values already applied so
    unchanged values are never written again (each write tags the depsgraph)."""

    scene: bpy.types.Scene
    collection: bpy.types.Collection
    armature: bpy.types.Object
    pose_bones: dict[str, bpy.types.PoseBone]
    ball: bpy.types.Object
    leds: list[bpy.types.Object]
    catch_zone: bpy.types.Object
    """The reach ring: at the height the current closure matches, lit in the zone."""
    score_text: bpy.types.Object
    status_text: bpy.types.Object
    camera: bpy.types.Object
    materials: dict[str, bpy.types.Material]
    track_x: float
    track_y: float
    track_bottom_z: float
    track_top_z: float
    ball_radius: float
    hand_matrix: Matrix
    """World matrix of the hand frame (the armature object's matrix at build time)."""
    hand: HandGeometry = DEFAULT_HAND
    decoder: DecoderRefs | None = None
    last: dict[str, Any] = field(default_factory=dict)

    def alive(self) -> bool:
        """False once any handle points at a deleted datablock (after remove/undo)."""
        try:
            for ob in (self.armature, self.ball, self.catch_zone, self.score_text):
                _ = ob.name
            _ = self.collection.name
            return all(led.name for led in self.leds)
        except ReferenceError:
            return False
