"""Find the user's Blender: an explicit path, a remembered one, PATH, the usual install places."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path


class BlenderNotFound(RuntimeError):
    """No usable Blender; the message lists where we looked and what to pass."""


def _version_key(path: Path) -> tuple[int, ...]:
    """Sort key preferring the highest version number in a path (Blender 4.2 > 3.6)."""
    nums = re.findall(r"(\d+)\.(\d+)", str(path))
    return tuple(int(x) for pair in nums[-1:] for x in pair) if nums else (0,)


def _globbed(patterns: list[Path]) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        anchor = Path(pattern.anchor or "/")
        rel = str(pattern.relative_to(anchor)) if pattern.is_absolute() else str(pattern)
        found += sorted(anchor.glob(rel), key=_version_key, reverse=True)
    return found


def install_locations(
    platform: str = sys.platform,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    root: Path = Path("/"),
) -> list[Path]:
    """Glob patterns of where Blender is usually installed on `platform` (newest first);
    `root` is where the system folders hang (tests point it elsewhere)."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    if platform.startswith("win"):
        roots = [env.get("ProgramFiles", r"C:\Program Files"), env.get("LOCALAPPDATA", "")]
        pats = [Path(r) / "Blender Foundation" / "Blender*" / "blender.exe" for r in roots if r]
        steam = Path(env.get("ProgramFiles(x86)", r"C:\Program Files (x86)"))
        pats.append(steam / "Steam" / "steamapps" / "common" / "Blender" / "blender.exe")
        return pats
    if platform == "darwin":
        return [
            root / "Applications/Blender*.app/Contents/MacOS/Blender",
            home / "Applications" / "Blender*.app" / "Contents" / "MacOS" / "Blender",
        ]
    return [
        root / "usr/bin/blender",
        root / "usr/local/bin/blender",
        root / "snap/bin/blender",
        root / "var/lib/flatpak/exports/bin/org.blender.Blender",
        home / ".local/share/flatpak/exports/bin/org.blender.Blender",
        root / "opt/blender*/blender",
        home / "blender*" / "blender",
        home / "Applications" / "blender*" / "blender",
    ]


def _usable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_blender(
    explicit: str | None = None,
    remembered: str | None = None,
    *,
    platform: str = sys.platform,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    root: Path = Path("/"),
) -> Path:
    """The Blender executable to use: `explicit` (must work), else `remembered` if it still
    exists, else `blender` on PATH, else the first of the usual install places."""
    env = os.environ if env is None else env
    if explicit:
        path = Path(explicit).expanduser()
        if not _usable(path):
            raise BlenderNotFound(f"--blender {path}: no executable file there")
        return path
    if remembered and _usable(Path(remembered).expanduser()):
        return Path(remembered).expanduser()
    on_path = shutil.which("blender", path=env.get("PATH"))
    if on_path:
        return Path(on_path)
    patterns = install_locations(platform, env, home, root)
    for path in _globbed(patterns):
        if _usable(path):
            return path
    looked = ", ".join(str(p) for p in patterns)
    raise BlenderNotFound(
        f"no Blender found (looked on PATH and in {looked}): install Blender 3.4 or newer "
        "from blender.org, or pass --blender PATH"
    )
