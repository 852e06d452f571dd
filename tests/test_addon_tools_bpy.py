# mypy: disable-error-code="func-returns-value,attr-defined,union-attr"
# (bpy.ops.fistball exists only at run time; fake-bpy-module stubs are Optional-heavy)
"""The add-on's hand controls, session history and developer decoder view, in bpy 5.0
(this process, the add-on from the checkout) against real bridge subprocesses:
`--hand sim` for the hand, `sim:socket16` for the decoder view.

The decoder view is rendered once during the live session to
test-artifacts/decoder_view_live.png (docs/img/decoder_view_live.png is a copy).
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

from bpy_addon import runtime  # noqa: E402
from bpy_live_driver import tick_for  # noqa: E402
from live_bridge import ROOT, BridgeProcess, free_port  # noqa: E402
from test_history_cache import make_logs  # noqa: E402

pytestmark = pytest.mark.blender
ARTIFACTS = ROOT / "test-artifacts"


# -- the physical hand ---------------------------------------------------------------------
def test_hand_enable_stop_and_rearm_through_the_bridge(addon: Any) -> None:
    with BridgeProcess(free_port(), extra=["--hand", "sim"]) as bridge:
        bridge.start()
        assert bpy.ops.fistball.connect(url=bridge.url) == {"FINISHED"}
        c = runtime().controller

        def hand_state() -> str:
            return c.hand.state if c.hand is not None else ""

        tick_for(20.0, until=lambda: c.hand is not None)
        assert c.hand is not None and c.hand.present and c.hand.state == "disabled"
        assert c.hand.driver == "sim" and c.hand.link == "connected"
        assert c.bridge.hand_authorized is True  # loopback, no Origin, no token

        assert bpy.ops.fistball.hand(action="enable") == {"FINISHED"}
        assert "sent" in c.hand_reply  # shown until the bridge answers
        tick_for(10.0, until=lambda: hand_state() == "active")
        assert c.hand.state == "active" and c.hand.enabled, c.hand
        assert c.hand_reply.startswith("enabled") and c.hand_error == ""

        assert bpy.ops.fistball.hand(action="stop") == {"FINISHED"}
        tick_for(5.0, until=lambda: hand_state() == "estop")
        assert c.hand.state == "estop" and not c.hand.enabled
        assert c.hand_reply.startswith("stopped")
        tick_for(1.5)  # statuses keep coming: ESTOP is sticky, grades do not undo it
        assert hand_state() == "estop"

        assert bpy.ops.fistball.hand(action="enable") == {"FINISHED"}  # re-arm
        tick_for(10.0, until=lambda: hand_state() == "active")
        assert hand_state() == "active"

        assert bpy.ops.fistball.hand(action="disable") == {"FINISHED"}
        tick_for(5.0, until=lambda: hand_state() == "disabled")
        assert hand_state() == "disabled"
        assert runtime().errors == 0, runtime().last_error
        bpy.ops.fistball.disconnect()
    with pytest.raises(RuntimeError, match="Not connected"):
        bpy.ops.fistball.hand(action="stop")


# -- history and report --------------------------------------------------------------------
def test_history_rows_refresh_and_report(
    addon: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fist_and_ball.ui import operators

    logs = tmp_path / "logs"
    made = make_logs(logs, [("easy", "expert"), ("medium", "average"), ("hard", "novice")])
    assert bpy.ops.fistball.refresh_history() == {"FINISHED"}
    rt = runtime()
    assert not rt.history.loaded  # read on a worker thread, applied by a tick
    settle()
    rows = rt.history.rows
    assert len(rows) == 3 and rt.history.folder == str(logs)
    assert {r.level for r in rows} == {"easy", "medium", "hard"}
    assert all(r.completed for r in rows)
    assert sorted(round(r.score) for r in rows) == sorted(round(float(s["score"])) for s in made)  # type: ignore[arg-type]

    # A live session that ends refreshes the cached history at the next tick.
    version = rt.history.version
    game = rt.controller.start(
        time.monotonic(), level="hard", minutes=4, log_folder=logs, require_signal=False
    )
    assert not game.finished
    timer_tick()
    assert rt.history.version == version  # nothing re-read while it runs
    assert bpy.ops.fistball.stop() == {"FINISHED"}
    timer_tick()  # sees the ended session, starts the read
    assert rt.jobs.pending == ["history"] and rt.history.version == version
    settle()
    assert rt.history.version == version + 1 and len(rt.history.rows) == 4
    newest = rt.history.rows[0]
    assert newest.session_id == rt.controller.session_id
    assert newest.level_text == "hard 4m" and newest.completed is False

    opened: list[str] = []
    monkeypatch.setattr(operators, "open_url", opened.append)
    assert bpy.ops.fistball.open_report() == {"FINISHED"}
    # The operator returned before the report was handed back: it is built off the
    # main thread and only a tick delivers it.
    assert rt.jobs.pending == ["report"] and rt.last_report == "" and opened == []
    settle()
    report = logs / "report.html"
    assert opened == [report.resolve().as_uri()] and rt.last_report == str(report)
    assert rt.report_note == f"Report: {report}"
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") or "<html" in html[:200]
    assert all(r.session_id in html for r in rt.history.rows[1:])

    addon.log_folder = str(tmp_path / "missing")
    with pytest.raises(RuntimeError, match="does not exist"):
        bpy.ops.fistball.open_report()
    assert len(opened) == 1


def timer_tick() -> None:
    from fist_and_ball.live import timer

    timer.tick()


def settle() -> None:
    """Let the background jobs finish, then tick once so they are handed over."""
    assert runtime().jobs.wait(60.0)
    timer_tick()
    assert runtime().jobs.pending == []


# -- developer decoder view ------------------------------------------------------------------
def test_decoder_view_follows_the_magnitudes_live(addon: Any) -> None:
    from mathutils import Vector

    from fist_and_ball.live.kmg_bars import KmgNormalizer, ring_positions
    from fist_and_ball.scene.decoder_view import FOREARM_TO_WORLD, MIN_BAR
    from fist_and_ball.scene.render import render_png

    with BridgeProcess(free_port(), source="sim:socket16") as bridge:
        bridge.start()
        assert bpy.ops.fistball.build_scene() == {"FINISHED"}
        assert bpy.ops.fistball.connect(url=bridge.url) == {"FINISHED"}
        rt = runtime()
        c = rt.controller
        tick_for(20.0, until=lambda: c.signal and c.hand is not None)
        assert c.hand is not None and not c.hand.present  # no --hand: "none" in the panel
        client = rt.client
        assert client.stats().kmg_received == 0  # nothing flows before subscribing
        with pytest.raises(RuntimeError, match="No decoder view"):
            bpy.ops.fistball.frame_decoder(target="DECODER")

        assert bpy.ops.fistball.decoder_view(enable=True) == {"FINISHED"}
        dec = rt.refs.decoder
        assert dec is not None and len(dec.bars) == 16  # built at once from hello n_sensors
        # Where the sensors are: the bridge's positions if its hello has them, else a ring.
        hello_pos = rt.controller.hello.get("positions_mm")
        expected = hello_pos if isinstance(hello_pos, list) else ring_positions(16)
        for sensor, p in zip(dec.sensors, expected, strict=True):
            world = Vector((0.0, 0.0, -3.0)) + FOREARM_TO_WORLD @ (Vector(p) * 0.001)
            assert (sensor.location - world).length < 1e-5  # beneath the game camera's view

        samples: list[tuple[list[Any], float, list[float]]] = []

        def sample() -> None:
            msg = rt.decoder.kmg_last
            if msg is not None and (not samples or samples[-1][0] is not msg["magnitudes"]):
                heights = [round(b.scale.z, 3) for b in dec.bars]
                samples.append((msg["magnitudes"], float(msg["_rx"]), heights))

        tick_for(8.0, on_tick=sample, until=lambda: len(samples) >= 120)
        assert len(samples) >= 60, len(samples)
        # The scene shows exactly what a normaliser fed the same magnitudes computes.
        ref = KmgNormalizer()
        for mags, rx, heights in samples:
            expect = [round(max(MIN_BAR, 0.0 if math.isnan(v) else v), 3)
                      for v in ref.update(mags, rx)]  # fmt: skip
            assert heights == expect
        # And the bars move with the magnitudes: the sensor that moved most correlates.
        cols = list(zip(*[m for m, _, _ in samples], strict=True))
        swing = [max(c) - min(c) for c in cols]
        i = swing.index(max(swing))
        xs, ys = [float(m[i]) for m, _, _ in samples], [h[i] for _, _, h in samples]
        assert pearson(xs, ys) > 0.7, (swing[i], pearson(xs, ys))
        assert len({tuple(h) for _, _, h in samples}) > 20
        assert re.fullmatch(r"gesture: fingers\ngrade: [0-8]", dec.text.data.body)

        ARTIFACTS.mkdir(exist_ok=True)
        shot = render_png(
            ARTIFACTS / "decoder_view_live.png", (960, 540), scene=rt.refs.scene, camera=dec.camera
        )
        assert shot.stat().st_size > 10_000
        assert bpy.ops.fistball.frame_decoder(target="DECODER") == {"FINISHED"}

        # Off: unsubscribed, so the kmg stream stops, and the view is hidden.
        assert bpy.ops.fistball.decoder_view(enable=False) == {"FINISHED"}
        tick_for(0.5)  # messages already on the wire may still arrive
        before = client.stats().kmg_received
        tick_for(1.5)
        assert client.stats().kmg_received == before > 60
        assert dec.collection.hide_viewport and dec.collection.hide_render
        assert c.signal  # the grades still flow
        assert rt.errors == 0, rt.last_error
        bpy.ops.fistball.disconnect()


def pearson(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else 0.0


def test_release_button_sends_release_to_the_bridge(addon: Any) -> None:
    """The panel's Release (beside STOP) goes out as `{"type":"hand","action":"release"}`."""
    from test_live_client import FakeBridge

    server = FakeBridge(free_port()).start()
    try:
        assert bpy.ops.fistball.connect(url=f"ws://127.0.0.1:{server.port}") == {"FINISHED"}
        rt = runtime()
        tick_for(10.0, until=lambda: rt.link.status.connected)
        assert bpy.ops.fistball.hand(action="release") == {"FINISHED"}
        tick_for(5.0, until=lambda: any(m.get("type") == "hand" for m in server.received))
        assert [m for m in server.received if m.get("type") == "hand"] == [
            {"type": "hand", "action": "release"}
        ]
        bpy.ops.fistball.disconnect()
    finally:
        server.stop()
