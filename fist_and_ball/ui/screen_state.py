# mypy: disable-error-code="union-attr"
"""Save and restore what a window shows (bpy data only, no operators).

Patient mode hides Blender's editor; leaving it must give the user's screen back
exactly. `snapshot_window` records the window's scene, workspace and screen, every
area's type and size, and for each 3D view the regions, overlays, gizmos, 3D cursor,
camera and view; `restore_window` writes the view settings back; comparing two
snapshots says whether anything differs.
"""

from __future__ import annotations

import contextlib
from typing import Any

SPACE_ATTRS = (
    "show_region_header",
    "show_region_toolbar",
    "show_region_ui",
    "show_region_tool_header",
    "show_gizmo",
    "use_local_camera",
)
"""`show_region_hud` is left alone: toggling it crashes Blender 5.0 without a window."""
OVERLAY_ATTRS = ("show_overlays", "show_cursor", "show_floor", "show_axis_x", "show_axis_y")
VIEW_ATTRS = (
    "view_perspective",
    "view_camera_zoom",
    "view_camera_offset",
    "view_location",
    "view_rotation",
    "view_distance",
)


def _plain(value: Any) -> Any:
    """bpy values (vectors, quaternions) as plain, comparable Python values."""
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    try:
        return tuple(round(float(v), 5) for v in value)
    except TypeError:
        return str(value)


def _attrs(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: _plain(getattr(obj, n)) for n in names if hasattr(obj, n)}


def snapshot_space(space: Any) -> dict[str, Any]:
    """A 3D view's visible chrome, camera and view."""
    return {
        **_attrs(space, SPACE_ATTRS),
        "camera": space.camera.name if getattr(space, "camera", None) else "",
        "overlay": _attrs(space.overlay, OVERLAY_ATTRS),
        "view": _attrs(space.region_3d, VIEW_ATTRS),
        "shading": _attrs(space.shading, ("type",)),
    }


def snapshot_window(window: Any) -> dict[str, Any]:
    """The window's scene, workspace, screen and areas (3D views in detail)."""
    screen = window.screen
    areas = []
    for area in screen.areas:
        entry: dict[str, Any] = {
            "type": area.type,
            "rect": (area.x, area.y, area.width, area.height),
        }
        if area.type == "VIEW_3D":
            entry["space"] = snapshot_space(area.spaces.active)
        areas.append(entry)
    return {
        "scene": window.scene.name,
        "workspace": window.workspace.name,
        "screen": screen.name,
        "show_statusbar": getattr(screen, "show_statusbar", None),
        "areas": areas,
    }


def _set(obj: Any, values: dict[str, Any]) -> None:
    for name, value in values.items():
        # a setting this Blender does not have or refuses: keep going
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            setattr(obj, name, value)


def restore_space(space: Any, saved: dict[str, Any], objects: Any = None) -> None:
    """Write a 3D view's saved settings back (camera by name through `objects`)."""
    if saved.get("camera") and objects is not None:
        cam = objects.get(saved["camera"])
        if cam is not None:
            space.camera = cam
    _set(space, {n: saved[n] for n in SPACE_ATTRS if n in saved})
    _set(space.overlay, saved.get("overlay", {}))
    _set(space.shading, saved.get("shading", {}))
    _set(space.region_3d, saved.get("view", {}))


def restore_window(window: Any, saved: dict[str, Any], data: Any) -> None:
    """Scene and 3D views back as saved (areas matched by position in the screen)."""
    scene = data.scenes.get(saved["scene"])
    if scene is not None and window.scene != scene:
        window.scene = scene
    for area, entry in zip(window.screen.areas, saved["areas"], strict=False):
        if area.type == "VIEW_3D" and "space" in entry:
            restore_space(area.spaces.active, entry["space"], data.objects)


def differences(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Where two snapshots differ, as `path: before != after` lines (empty: identical)."""
    out: list[str] = []
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            out += differences(before.get(key), after.get(key), f"{prefix}{key}.")
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            out += differences(b, a, f"{prefix}{i}.")
    elif before != after:
        out.append(f"{prefix.rstrip('.')}: {before!r} != {after!r}")
    return out
