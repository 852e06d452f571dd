"""Add-on preferences: bridge address and token, patient, score log folder (bpy).

`bl_idname` must be the name Blender knows the add-on by (`fist_and_ball` for a legacy
install, `bl_ext.<repo>.fist_and_ball` for an extension), so `registration.register`
sets it before registering the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy
from bpy.props import BoolProperty, StringProperty

DEFAULT_URL = "ws://127.0.0.1:8765"


@dataclass(slots=True)
class Settings:
    """The preferences as plain values (defaults when the add-on has no preferences)."""

    bridge_url: str = DEFAULT_URL
    token: str = ""
    patient: str = ""
    log_folder: str = ""
    sounds: bool = True


class FISTBALL_AddonPreferences(bpy.types.AddonPreferences):
    """Fist & Ball preferences (Edit > Preferences > Add-ons / Get Extensions)."""

    bl_idname = "fist_and_ball"  # replaced by the real add-on id at registration

    bridge_url: StringProperty(  # type: ignore[valid-type]
        name="Bridge URL",
        description=(
            "Websocket address of the Fist & Ball bridge (`fist-and-ball bridge`). "
            "Other computers than this one need Blender's 'Allow Online Access' and a token"
        ),
        default=DEFAULT_URL,
    )
    token: StringProperty(  # type: ignore[valid-type]
        name="Token",
        description="Shared secret of a bridge that listens beyond this computer (--token)",
        default="",
        subtype="PASSWORD",
    )
    patient: StringProperty(  # type: ignore[valid-type]
        name="Patient",
        description="Name or ID written into every score log",
        default="",
    )
    log_folder: StringProperty(  # type: ignore[valid-type]
        name="Score log folder",
        description="Where session logs are written (empty: the add-on's user data folder)",
        default="",
        subtype="DIR_PATH",
    )
    patient_sounds: BoolProperty(  # type: ignore[valid-type]
        name="Sounds in patient mode",
        description="Tones for a catch, a drop and the session's end (Blender's aud module)",
        default=True,
    )

    def draw(self, context: Any) -> None:
        layout = self.layout
        col = layout.column()
        col.prop(self, "bridge_url")
        col.prop(self, "token")
        col.separator()
        col.prop(self, "patient")
        col.prop(self, "log_folder")
        col.prop(self, "patient_sounds")
        folder = log_folder(settings(context), create=False)  # drawing creates nothing
        col.label(text=f"Logs now go to: {folder}", icon="FILE_FOLDER")
        if not getattr(bpy.app, "online_access", True):
            col.label(
                text="Online access is off: only a bridge on this computer can be used",
                icon="INFO",
            )


def addon_id() -> str:
    """The id the preferences class was registered under."""
    return FISTBALL_AddonPreferences.bl_idname


def settings(context: Any = None) -> Settings:
    """The current preferences as plain values."""
    context = context if context is not None else bpy.context
    addon = context.preferences.addons.get(addon_id())
    prefs = getattr(addon, "preferences", None) if addon is not None else None
    if prefs is None:
        return Settings()
    return Settings(
        bridge_url=str(prefs.bridge_url).strip() or DEFAULT_URL,
        token=str(prefs.token),
        patient=str(prefs.patient),
        log_folder=str(prefs.log_folder),
        sounds=bool(getattr(prefs, "patient_sounds", True)),
    )


def log_folder(s: Settings, *, create: bool = True) -> Path:
    """The score log folder: the preference if set, else the add-on's user data folder
    (created unless `create` is False)."""
    if s.log_folder.strip():
        return Path(bpy.path.abspath(s.log_folder.strip())).expanduser()
    from ..live.timer import default_log_folder

    return default_log_folder(addon_id(), create=create)
