"""Install or update the add-on in the chosen Blender only when something changed.

A stamp file beside the profile remembers, per Blender executable and user-folder
override, the fingerprint of the add-on last installed there; a launch with the same
fingerprint skips the (slow) install. The install itself is `fist-and-ball addon
install` (extension for 4.2+, legacy add-on for 3.4-4.1).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

USER_DIR_VARS = ("BLENDER_USER_RESOURCES", "BLENDER_USER_SCRIPTS", "BLENDER_USER_CONFIG")


def addon_fingerprint(package_dir: Path) -> str:
    """Hash of every file of the add-on package (caches excluded)."""
    h = hashlib.sha256()
    for path in sorted(package_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            h.update(str(path.relative_to(package_dir)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def target_key(blender: Path, env: Mapping[str, str]) -> str:
    """Which Blender and which user folders an install went into."""
    dirs = [f"{v}={env.get(v, '')}" for v in USER_DIR_VARS]
    return "|".join([str(blender.resolve()), *dirs])


def ensure_addon(
    blender: Path,
    package_dir: Path,
    stamp_path: Path,
    install: Callable[[str], Any],
    env: Mapping[str, str] | None = None,
    force: bool = False,
) -> bool:
    """Install the add-on into `blender` (via `install(blender_path)`) unless the stamp
    says this very add-on is already there; returns True when it installed."""
    env = os.environ if env is None else env
    key, fingerprint = target_key(blender, env), addon_fingerprint(package_dir)
    try:
        stamps: dict[str, str] = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stamps = {}
    if not force and stamps.get(key) == fingerprint:
        return False
    install(str(blender))
    stamps[key] = fingerprint
    stamp_path.parent.mkdir(parents=True, exist_ok=True)
    stamp_path.write_text(json.dumps(stamps, indent=1) + "\n", encoding="utf-8")
    return True
