"""Make the bundled `websockets` importable in a legacy (pre-4.2) add-on install. No bpy.

Blender 4.2+ installs the wheels named in `blender_manifest.toml` itself. Older Blender
(e.g. Debian's 3.4) loads the add-on as a plain package, so the pure `py3-none-any`
wheel shipped in `fist_and_ball/wheels/` (or `./wheels/` beside the package in a
source checkout) is put on `sys.path`: Python imports straight from a zip file.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

NEEDED_MODULE = "websockets.asyncio.client"
"""The client needs the asyncio API of websockets >= 13."""


def wheel_dirs(package_dir: Path) -> list[Path]:
    """Folders searched for bundled wheels, most specific first."""
    return [package_dir / "wheels", package_dir.parent / "wheels"]


def find_wheels(package_dir: Path, name: str = "websockets") -> list[Path]:
    """Pure wheels of `name` in the bundled folders, newest version first."""
    found: list[Path] = []
    for folder in wheel_dirs(package_dir):
        if folder.is_dir():
            found.extend(sorted(folder.glob(f"{name}-*-py3-none-any.whl"), reverse=True))
    return found


def ensure_websockets(package_dir: Path) -> str:
    """Import websockets' asyncio client, from a bundled wheel if needed.

    Returns where it came from. Raises ImportError with a clear message when neither
    an installed websockets >= 13 nor a bundled wheel is available.
    """
    try:
        mod = importlib.import_module(NEEDED_MODULE)
        return str(Path(mod.__file__ or "?").parent.parent)
    except ImportError:
        pass
    wheels = find_wheels(package_dir)
    if not wheels:
        raise ImportError(
            "Fist & Ball needs the Python package 'websockets' (13 or newer) and found no "
            f"bundled wheel in {', '.join(str(d) for d in wheel_dirs(package_dir))}. "
            "Install the add-on from the zip made by `fist-and-ball addon build`."
        )
    # An older websockets (e.g. a distribution's 10.x) may be half-imported: drop it so
    # the bundled one is used.
    for name in [m for m in sys.modules if m == "websockets" or m.startswith("websockets.")]:
        del sys.modules[name]
    sys.path.insert(0, str(wheels[0]))
    importlib.invalidate_caches()
    try:
        importlib.import_module(NEEDED_MODULE)
    except ImportError as exc:
        raise ImportError(
            f"the bundled wheel {wheels[0].name} could not be imported: {exc}"
        ) from exc
    return str(wheels[0])
