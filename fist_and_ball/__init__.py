"""Fist & Ball: the Blender add-on (game core without bpy, thin bpy adapters).

Importing this package imports nothing: no bpy and no other module of the add-on, so
`fist_and_ball.protocol_v1` can be imported by the bridge on its own, and
`fist_and_ball.core` / `fist_and_ball.live` (client, mailbox, controller) work in plain
Python. Blender calls `register()` / `unregister()`, which import the bpy parts.

Modules import each other relatively, so the package works under any name: as an
extension (Blender 4.2+) it is `bl_ext.<repo>.fist_and_ball`, as a legacy add-on
(Blender 3.4 .. 4.1) plain `fist_and_ball`, where `bl_info` applies. Both may be
installed at once without one running the other's code.
"""

from __future__ import annotations

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


def register() -> None:
    """Blender entry point: make websockets importable, register classes."""
    from pathlib import Path

    from .live.bundled_wheels import ensure_websockets

    ensure_websockets(Path(__file__).resolve().parent)
    from . import registration

    registration.register(ADDON_ID)


def unregister() -> None:
    """Blender entry point: stop the live session, timer and thread; unregister classes."""
    import sys

    from . import registration

    registration.unregister()
    if __name__.startswith("bl_ext."):
        # Extension: forget the submodules so a re-enable (maybe of an updated version)
        # imports them afresh from the installed folder.
        for name in [m for m in sys.modules if m.startswith(__name__ + ".")]:
            del sys.modules[name]
