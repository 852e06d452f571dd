# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every pointer property as Optional: ob.data, pose, display...)
"""Render stills to PNG and other helpers for headless runs (bpy as a module, blender -b).

Timers never fire headless, so scripts and tests drive the scene by calling
`apply_view` themselves and then `update_scene` before reading evaluated matrices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

ENGINE_ALIASES = {
    "WORKBENCH": "BLENDER_WORKBENCH",
    "EEVEE": "BLENDER_EEVEE",
    "BLENDER_EEVEE_NEXT": "BLENDER_EEVEE",  # the 4.2-4.x name; 5.0 calls it BLENDER_EEVEE
}


_RENDER_SETTINGS = (
    "engine",
    "resolution_x",
    "resolution_y",
    "resolution_percentage",
    "filepath",
    "dither_intensity",
)
_IMAGE_SETTINGS = ("file_format", "color_mode", "compression")


def resolve_engine(engine: str) -> str:
    """Map a user-facing engine name to one this Blender build has (ValueError if none)."""
    name = ENGINE_ALIASES.get(engine.upper(), engine.upper())
    prop: Any = bpy.types.RenderSettings.bl_rna.properties["engine"]
    # Engines registered by add-ons may be missing from the enum outside a context.
    available = {item.identifier for item in prop.enum_items} | {
        "BLENDER_WORKBENCH",
        "CYCLES",
        "BLENDER_EEVEE",
    }
    if name not in available:
        raise ValueError(
            f"unknown render engine {engine!r}; use BLENDER_WORKBENCH, BLENDER_EEVEE or CYCLES"
        )
    return name


def update_scene(scene: bpy.types.Scene | None = None) -> None:
    """Evaluate the depsgraph so pose-bone and world matrices reflect the last writes."""
    scene = scene if scene is not None else bpy.context.scene
    scene.view_layers[0].update()


def render_png(
    path: str | Path,
    resolution: tuple[int, int] = (960, 540),
    engine: str = "BLENDER_WORKBENCH",
    scene: bpy.types.Scene | None = None,
    camera: bpy.types.Object | None = None,
    samples: int = 16,
) -> Path:
    """Render the scene's camera (or `camera`) to a PNG file and return its path.

    Workbench is the fast headless choice; CYCLES renders on the CPU with `samples`.
    Render settings changed here are restored afterwards.
    """
    scene = scene or bpy.context.scene
    out = Path(path).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    if resolution[0] < 4 or resolution[1] < 4:
        raise ValueError(f"resolution too small: {resolution}")
    r = scene.render
    # (owner, attribute) of every setting changed below: restored in `finally`
    touched: tuple[tuple[Any, str], ...] = (
        *((r, name) for name in _RENDER_SETTINGS),
        *((r.image_settings, name) for name in _IMAGE_SETTINGS),
        (scene, "camera"),
    )
    saved = [getattr(owner, name) for owner, name in touched]
    try:
        r.engine = resolve_engine(engine)  # type: ignore[assignment]
        r.resolution_x, r.resolution_y = int(resolution[0]), int(resolution[1])
        r.resolution_percentage = 100
        r.image_settings.file_format = "PNG"
        r.image_settings.color_mode = "RGB"
        r.image_settings.compression = 90
        r.dither_intensity = 0.0  # dither noise makes PNGs several times larger
        r.filepath = str(out)
        if camera is not None:
            scene.camera = camera
        if scene.camera is None:
            raise RuntimeError("the scene has no camera: build the Fist & Ball scene first")
        if r.engine == "CYCLES":
            cycles: Any = scene.cycles  # type: ignore[attr-defined]
            cycles.device = "CPU"
            cycles.samples = max(1, int(samples))
            cycles.use_denoising = False
        with bpy.context.temp_override(scene=scene):
            bpy.ops.render.render(write_still=True, scene=scene.name)
    finally:
        for (owner, name), value in zip(touched, saved, strict=True):
            setattr(owner, name, value)
    if not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(f"render produced no image at {out}")
    return out


def read_png_rgba(path: str | Path) -> tuple[int, int, list[float]]:
    """Load a PNG through Blender's image loader: (width, height, flat RGBA floats,
    bottom row first). The image datablock is removed again."""
    img = bpy.data.images.load(str(Path(path).resolve()), check_existing=False)
    try:
        size: Any = img.size
        pixels_prop: Any = img.pixels
        w, h = int(size[0]), int(size[1])
        pixels = list(pixels_prop[:])
    finally:
        bpy.data.images.remove(img)
    return int(w), int(h), pixels
