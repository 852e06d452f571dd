"""Make the bundled `websockets` importable in a legacy (pre-4.2) add-on install. No bpy.

Blender 4.2+ installs the wheels named in `blender_manifest.toml` itself. Older Blender
(e.g. Debian's 3.4) loads the add-on as a plain package, so the pure `py3-none-any`
wheel shipped in `fist_and_ball/wheels/` (or `./wheels/` beside the package in a
source checkout) is imported straight from its zip file, without touching `sys.path`:
only the top-level `websockets` package is looked up in the wheel and put into
`sys.modules` (the narrowest change: its submodules are then found through the
package's own `__path__`, inside the zip, and nothing else can be imported from it).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
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
    try:
        _import_from_wheel("websockets", wheels[0])
        importlib.import_module(NEEDED_MODULE)
    except ImportError as exc:
        raise ImportError(
            f"the bundled wheel {wheels[0].name} could not be imported: {exc}"
        ) from exc
    return str(wheels[0])


def _import_from_wheel(name: str, wheel: Path) -> None:
    """Import the top-level package `name` from a pure wheel (zip), sys.path untouched."""
    spec = importlib.machinery.PathFinder.find_spec(name, [str(wheel)])
    if spec is None or spec.loader is None:
        raise ImportError(f"no package {name!r} in {wheel.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
