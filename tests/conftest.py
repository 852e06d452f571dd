"""Fixtures shared by several test files (helpers that are not fixtures live in named
modules next to this one: live_bridge.py, bpy_addon.py, blender_window_launch.py ...)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C for the CLI processes the tests stop with SIGINT. A shell that starts the
    suite as a background job sets SIGINT to ignored, every child inherits that, and a
    `record` or `simulate` would never stop. Python's handler here is reset to the
    default in each child at exec."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def addon(tmp_path: Path) -> Iterator[Any]:
    """The add-on enabled in bpy over an empty scene, score logs going to tmp_path/logs;
    disabled afterwards, leaving nothing registered (checked). Needs bpy: only for test
    files that import it."""
    from bpy_addon import enabled_addon

    with enabled_addon(tmp_path / "logs") as prefs:
        yield prefs
