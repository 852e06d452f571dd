"""Per-scene game settings shown in the panel (bpy): level, session length, seed."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, IntProperty

LEVEL_ITEMS = [
    ("easy", "Easy", "Slow ball (10 s per up-and-down), wide catch zone"),
    ("medium", "Medium", "6 s per up-and-down, varied heights"),
    ("hard", "Hard", "4 s per up-and-down, narrow catch zone"),
    ("auto", "Auto", "Ball speed adapts to keep the hold share in the target band"),
]
MINUTE_ITEMS = [
    ("2", "2 min", "Two-minute session"),
    ("4", "4 min", "Four-minute session"),
    ("6", "6 min", "Six-minute session"),
]


class FISTBALL_PG_settings(bpy.types.PropertyGroup):
    """Game settings stored with the scene (a therapist's choice per .blend file)."""

    level: EnumProperty(  # type: ignore[valid-type]
        name="Level", items=LEVEL_ITEMS, default="easy", description="Difficulty: ball pace"
    )
    minutes: EnumProperty(  # type: ignore[valid-type]
        name="Duration", items=MINUTE_ITEMS, default="2", description="Session length"
    )
    seed: IntProperty(  # type: ignore[valid-type]
        name="Seed",
        description="Ball path seed (0: a new random path every session; logged either way)",
        default=0,
        min=0,
    )


def scene_settings(scene: bpy.types.Scene) -> FISTBALL_PG_settings:
    """The settings group of a scene."""
    return scene.fist_and_ball  # type: ignore[attr-defined,no-any-return]
