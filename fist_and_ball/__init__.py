"""Fist & Ball: the Blender add-on (game core without bpy, thin bpy adapters).

Importing this package does not import bpy: `fist_and_ball.core` and
`fist_and_ball.live` (client, mailbox, controller) work in plain Python. Blender calls
`register()` / `unregister()`, which import the bpy parts.

Installed as an extension (Blender 4.2+) this package is imported as
`bl_ext.<repo>.fist_and_ball`; its modules import each other as `fist_and_ball.*`, so
that name is pointed at this package when nothing else holds it. Installed as a legacy
add-on (Blender 3.4 .. 4.1) it is plain `fist_and_ball` and `bl_info` applies.
"""

from __future__ import annotations

import sys
from pathlib import Path

bl_info = {
    "name": "Fist & Ball",
    "author": "Fist & Ball project",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "3D Viewport > Sidebar > Fist & Ball",
    "description": "KMG rehabilitation game: play live from the Fist & Ball bridge",
    "doc_url": "",
    "category": "3D View",
}

ADDON_ID = __name__
"""The name Blender knows this add-on by (preferences, extension user folder)."""

if __name__ != "fist_and_ball" and "fist_and_ball" not in sys.modules:
    sys.modules["fist_and_ball"] = sys.modules[__name__]


def register() -> None:
    """Blender entry point: make websockets importable, register classes."""
    import importlib

    from fist_and_ball.live.bundled_wheels import ensure_websockets

    ensure_websockets(Path(__file__).resolve().parent)
    registration = importlib.import_module("fist_and_ball.registration")
    registration.register(ADDON_ID)


def unregister() -> None:
    """Blender entry point: stop the live session, timer and thread; unregister classes."""
    import importlib

    registration = importlib.import_module("fist_and_ball.registration")
    registration.unregister()
    if __name__ != "fist_and_ball" and sys.modules.get("fist_and_ball") is sys.modules[__name__]:
        # Extension: forget the submodules so a re-enable (maybe of an updated version)
        # imports them afresh from this folder.
        here = str(Path(__file__).resolve().parent)
        for name, mod in list(sys.modules.items()):
            if name.startswith("fist_and_ball.") and str(getattr(mod, "__file__", "")).startswith(
                here
            ):
                del sys.modules[name]
