"""Optional extras of the package: a one-line error naming the extra instead of a traceback.

`pip install fist-and-ball` leaves out bpy (`[blender]`: play, demo, addon) and torch/onnx
(`[train]`). A command that needs one checks before it starts any work.
"""

from __future__ import annotations

import importlib.util

from bridge.cli.errors import CliError


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """Those of `modules` that cannot be found (found, not imported: bpy takes seconds)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require_extra(extra: str, modules: tuple[str, ...], needed_for: str, hint: str = "") -> None:
    """Raise CliError naming `pip install "fist-and-ball[extra]"` if a module is missing.

    `needed_for` says what needs it ("the Blender scene"); `hint` is an optional way
    around it ("or pass --no-scene").
    """
    missing = missing_modules(modules)
    if not missing:
        return
    what = " and ".join(missing)
    verb = "is" if len(missing) == 1 else "are"
    install = f'pip install "fist-and-ball[{extra}]"'
    tail = f" ({hint})" if hint else ""
    raise CliError(f"{needed_for} needs {what}, which {verb} not installed: {install}{tail}")
