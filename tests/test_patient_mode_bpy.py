"""Patient mode and the add-on fixes in bpy 5.0 (background: no window). What can run
without a window runs for real: operator registration, the HUD layout with Blender's
own font metrics, the screen-state save/restore on real 3D-view data, the refusal in
background mode, the state icons, Open Report without numpy, and re-enabling the add-on
over an existing game scene."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

import addon_utils  # noqa: E402
from bpy_addon import enabled_addon  # noqa: E402

pytestmark = pytest.mark.blender


@pytest.fixture
def addon(tmp_path: Path) -> Iterator[Any]:
    """The add-on enabled over the factory startup scene (a real 3D view to save and
    restore), score logs going to tmp_path/logs."""
    with enabled_addon(tmp_path / "logs", empty_scene=False) as prefs:
        yield prefs


def test_operators_register_and_refuse_without_a_window(addon: Any) -> None:
    from fist_and_ball import registration

    for name in ("patient_mode_enter", "patient_mode_exit", "patient_mode_run"):
        assert hasattr(bpy.ops.fistball, name)
    assert addon.patient_sounds is True
    with pytest.raises(RuntimeError, match="needs a Blender window"):
        bpy.ops.fistball.patient_mode_enter(level="medium", minutes=4, autostart=True)
    assert bpy.ops.fistball.patient_mode_exit() == {"FINISHED"}  # not on: nothing to do
    addon_utils.disable("fist_and_ball", default_set=True)
    assert registration.leftovers() == []
    addon_utils.enable("fist_and_ball", default_set=True, handle_error=None)


def test_hud_layout_with_blenders_font_metrics(addon: Any) -> None:
    from fist_and_ball.core.patient_hud import HudModel, Text, hud_layout
    from fist_and_ball.core.start_screen import Screen
    from fist_and_ball.ui import patient_mode

    model = HudModel(screen=Screen.START, signal=True)
    for w, h in ((1280, 720), (3840, 2160)):
        lay = hud_layout(model, w, h, 1.0, patient_mode._measure)
        texts = [t for t in lay.items if isinstance(t, Text)]
        title = next(t for t in texts if t.text == "Fist & Ball")
        width = patient_mode._measure(title.text, title.size)
        assert width > 0 and abs((title.x + width / 2) - w / 2) < 2  # centred with real metrics
        assert all(t.x >= 0 and t.x + patient_mode._measure(t.text, t.size) <= w for t in texts)


def test_screen_state_restores_a_3d_view_exactly(addon: Any) -> None:
    from fist_and_ball.ui import screen_state

    area = next(a for a in bpy.data.screens["Layout"].areas if a.type == "VIEW_3D")
    space = area.spaces.active
    before = screen_state.snapshot_space(space)
    assert before["show_region_header"] is True and before["overlay"]["show_overlays"] is True
    space.show_region_header = space.show_region_toolbar = space.show_gizmo = False
    space.overlay.show_overlays = False
    space.region_3d.view_perspective = "CAMERA"
    space.region_3d.view_camera_zoom = 17.0
    space.shading.type = "MATERIAL"
    changed = screen_state.snapshot_space(space)
    diff = screen_state.differences(before, changed)
    assert len(diff) >= 6 and any("show_overlays" in d for d in diff)
    screen_state.restore_space(space, before, bpy.data.objects)
    assert screen_state.differences(before, screen_state.snapshot_space(space)) == []


def test_stopped_early_shows_an_x_not_a_check(addon: Any) -> None:
    import inspect

    from fist_and_ball.ui import panel

    src = inspect.getsource(panel.FISTBALL_PT_game._draw_game)
    assert 'icon="CHECKMARK" if game.completed else "X"' in src


def test_open_report_without_numpy_says_what_is_missing(addon: Any, monkeypatch: Any) -> None:
    import importlib.util

    from fist_and_ball.live import timer
    from fist_and_ball.ui import operators

    (Path(addon.log_folder)).mkdir(parents=True)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "numpy" else real(n, *a)
    )
    with pytest.raises(RuntimeError, match="needs numpy"):
        bpy.ops.fistball.open_report()
    assert timer.get_runtime().report_note == operators.NUMPY_MISSING
    assert not timer.get_runtime().jobs.pending  # nothing left waiting


def test_reenabling_finds_and_refreshes_the_existing_scene(addon: Any) -> None:
    from fist_and_ball import registration
    from fist_and_ball.core.view import GameView
    from fist_and_ball.live import timer
    from fist_and_ball.scene.apply import apply_view, leds_lit_in_scene

    bpy.ops.fistball.build_scene(frame_view=False)
    refs = timer.get_runtime().refs
    apply_view(refs, GameView(grade=8, closure=1.0, leds_lit=9))  # the pose it freezes in
    assert leds_lit_in_scene(refs) == 9
    addon_utils.disable("fist_and_ball", default_set=True)
    addon_utils.enable("fist_and_ball", default_set=True, handle_error=None)
    from fist_and_ball import registration as reg2  # same module in a legacy install

    assert bpy.app.timers.is_registered(reg2.adopt_existing_scene)
    reg2.adopt_existing_scene()  # what the one-shot timer does (timers never fire here)
    rt = timer.peek_runtime()
    assert rt is not None and rt.refs is not None  # the panel no longer offers a rebuild
    assert leds_lit_in_scene(rt.refs) == 0  # the idle state, not the frozen pose
    assert registration is reg2
