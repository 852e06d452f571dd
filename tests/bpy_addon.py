# mypy: disable-error-code="attr-defined,union-attr,func-returns-value"
"""Test helper: the add-on from the source checkout enabled in this process's bpy 5.0
the way a legacy add-on is (addon_utils). tests/conftest.py's `addon` fixture is the
usual way in; a test file that needs another scene or more preferences uses
`enabled_addon` in its own `addon` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ADDON = "fist_and_ball"


@contextmanager
def enabled_addon(
    log_folder: Path, *, empty_scene: bool = True, check_leftovers: bool = True
) -> Iterator[Any]:
    """Factory settings (an empty scene unless told), the add-on enabled with score logs
    going to `log_folder`; yields its preferences. Afterwards disables it and, with
    `check_leftovers`, fails unless its registration left nothing behind."""
    import addon_utils
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=empty_scene)
    assert addon_utils.enable(ADDON, default_set=True, handle_error=None) is not None
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.log_folder = str(log_folder)
    yield prefs
    addon_utils.disable(ADDON, default_set=True)
    if check_leftovers:
        from fist_and_ball import registration

        assert registration.leftovers() == []


def runtime() -> Any:
    """The add-on's live runtime (created on first use)."""
    from fist_and_ball.live import timer

    return timer.get_runtime()
