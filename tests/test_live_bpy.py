# mypy: disable-error-code="func-returns-value"
# (bpy.ops.fistball exists only at run time; fake-bpy-module stubs are Optional-heavy)
"""The add-on from the source checkout in bpy 5.0 (in this process), enabled the way a
legacy add-on is (addon_utils), live against a real bridge subprocess.

The installed-extension path, killing the bridge mid-session and the zip are covered in
tests/test_extension_bpy.py; the window and panel in tests/test_gui_smoke.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

import addon_utils  # noqa: E402
from bpy_live_driver import check_samples, run_scenario, tick_for  # noqa: E402
from live_bridge import BridgeProcess, free_port  # noqa: E402

from fist_and_ball.core.score_reader import list_sessions  # noqa: E402

pytestmark = pytest.mark.blender


@pytest.fixture
def addon(addon: Any) -> Any:
    """conftest's add-on, for patient P-test."""
    addon.patient = "P-test"
    return addon


def ws_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "fistball-ws"]


def test_enable_registers_ui_but_starts_nothing(addon: Any) -> None:
    from fist_and_ball import registration
    from fist_and_ball.live import timer

    assert hasattr(bpy.types, "FISTBALL_PT_game") and hasattr(bpy.ops.fistball, "connect")
    assert bpy.types.FISTBALL_PT_game.bl_category == "Fist & Ball"
    assert not bpy.app.timers.is_registered(timer.tick)
    assert not ws_threads()
    left = registration.leftovers()
    assert "timer" not in left and "runtime" not in left and "handler _on_load_pre" in left
    assert addon.bridge_url == "ws://127.0.0.1:8765"


def test_live_session_in_process(addon: Any, tmp_path: Path) -> None:
    from fist_and_ball.live import timer

    report: dict[str, Any] = {}
    with BridgeProcess(free_port()) as bridge:
        bridge.start()
        run_scenario(bridge, report, disconnect=False)
        samples = report["idle_samples"] + report["play_samples"]
        good, grades = check_samples(samples)
        usable = [s for s in samples if s.get("signal") and "leds_in_scene" in s]
        assert len(usable) >= 30 and good == len(usable) and len(grades) >= 2
        p = report["playing"]
        assert p["state"] == "running" and p["played_s"] > 1.0 and p["tick_errors"] == 0
    # Disconnected by the scenario with no session left: the timer is gone.
    assert report["timer_registered_after_disconnect"] is False
    assert not bpy.app.timers.is_registered(timer.tick)
    assert not ws_threads()
    (rec,) = list_sessions(tmp_path / "logs")
    assert rec.summary["patient"] == "P-test" and rec.summary["source"] == "sim:myo3"
    assert rec.status == "incomplete" and rec.summary["end_reason"] == "stopped"


def test_gesture_switch_reaches_the_bridge_and_its_answer_is_shown(addon: Any) -> None:
    from fist_and_ball.live import timer

    with BridgeProcess(free_port()) as bridge:
        bridge.start()
        bpy.ops.fistball.connect(url=bridge.url)
        c = timer.get_runtime().controller
        tick_for(20.0, until=lambda: c.signal)
        assert c.bridge.gestures == ("fingers",)  # from the bridge's hello
        # The simulated myo3 band is calibrated for fingers only: the bridge says so.
        assert bpy.ops.fistball.set_gesture(name="wrist") == {"FINISHED"}
        tick_for(5.0, until=lambda: bool(c.bridge_error))
        assert "not calibrated" in c.bridge_error
        bpy.ops.fistball.disconnect()
    with pytest.raises(RuntimeError, match="Not connected"):
        bpy.ops.fistball.set_gesture(name="fingers")


def test_tick_survives_an_error_and_keeps_the_timer(addon: Any) -> None:
    from fist_and_ball.live import timer

    rt = timer.get_runtime()

    def broken(*_a: Any, **_k: Any) -> Any:
        raise ZeroDivisionError("boom")

    rt.controller.update = broken  # type: ignore[method-assign]
    interval = timer.tick()
    assert interval is not None and interval > 0  # a returned interval keeps the timer alive
    assert rt.errors == 1 and "ZeroDivisionError" in rt.last_error


def test_start_needs_a_connection_and_remote_needs_online_access(addon: Any) -> None:
    with pytest.raises(RuntimeError, match="Not connected"):
        bpy.ops.fistball.start()
    assert bpy.app.online_access is False  # bpy's default
    with pytest.raises(RuntimeError, match="online access"):
        bpy.ops.fistball.connect(url="ws://192.0.2.7:8765")
    assert not ws_threads()


def test_disable_stops_thread_timer_and_handlers(tmp_path: Path) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("fist_and_ball", default_set=True, handle_error=None)
    from fist_and_ball import registration
    from fist_and_ball.live import timer

    # Nothing listens on this port: the client thread keeps retrying in the background.
    bpy.ops.fistball.connect(url=f"ws://127.0.0.1:{free_port()}")
    assert bpy.app.timers.is_registered(timer.tick)
    deadline = time.monotonic() + 5
    while not ws_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ws_threads()
    assert bpy.app.handlers.load_pre.count(registration._on_load_pre) == 1
    addon_utils.disable("fist_and_ball", default_set=True)
    assert registration.leftovers() == []
    assert not bpy.app.timers.is_registered(timer.tick)
    assert not ws_threads()
    assert registration._on_load_pre not in bpy.app.handlers.load_pre
    assert not hasattr(bpy.types.Scene, "fist_and_ball")


def test_loading_a_file_ends_the_session_and_closes_its_log(addon: Any, tmp_path: Path) -> None:
    from fist_and_ball.live import timer

    rt = timer.get_runtime()
    game = rt.controller.start(
        time.monotonic(), level="easy", minutes=2, log_folder=tmp_path / "logs",
        require_signal=False,
    )  # fmt: skip
    assert not game.finished
    bpy.ops.wm.read_homefile(use_empty=True)  # fires load_pre / load_post like File > Open
    assert game.finished and rt.refs is None
    (rec,) = list_sessions(tmp_path / "logs")
    assert rec.summary["state"] == "closed" and rec.summary["end_reason"] == "file loaded"
