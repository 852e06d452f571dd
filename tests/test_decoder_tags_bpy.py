# mypy: disable-error-code="func-returns-value,attr-defined,union-attr"
# (bpy.ops.fistball exists only at run time; fake-bpy-module stubs are Optional-heavy)
"""The decoder view's per-tag bars (the optional `grades` of `grade`, contract 3) in bpy
5.0, this process, the add-on from the checkout: against a scripted protocol-v1 server
on loopback (exact grades under the test's control), and end to end against a real
bridge running `--decoder track:TWIN.json` on a replayed foreign-patient recording.

The view is rendered once to test-artifacts/decoder_view_tags.png
(docs/img/decoder_view_tags.png is a copy).
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

from bpy_addon import runtime  # noqa: E402
from bpy_live_driver import tick_for  # noqa: E402
from live_bridge import ROOT, BridgeProcess, free_port  # noqa: E402
from loopback_ws_server import LoopbackServer  # noqa: E402
from websockets.asyncio.server import ServerConnection  # noqa: E402

from bridge.sim.layouts import get_layout  # noqa: E402

pytestmark = pytest.mark.blender
ARTIFACTS = ROOT / "test-artifacts"
TAGS = ("fingers", "wrist", "thumb")


class ScriptedBridge(LoopbackServer):
    """Protocol v1 on loopback: a hello for the simulated 16-sensor socket, then `grade`
    at 50 Hz with `grades` = whatever `self.grades` holds (omitted while None) and `kmg`
    while subscribed."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.grades: dict[str, dict[str, Any]] | None = None
        self.gesture = "fingers"
        self.kmg = False

    async def _handler(self, ws: ServerConnection) -> None:
        positions = get_layout("socket16").positions_mm.tolist()
        await ws.send(json.dumps({"type": "hello", "protocol": 1, "bridge": "test",
                                  "source": "scripted", "n_sensors": 16, "rate_hz": 50.0,
                                  "decoder": "track:twin.json", "grades": 9,
                                  "gestures": list(TAGS), "positions_mm": positions}))  # fmt: skip
        reader = asyncio.ensure_future(self._read(ws))
        seq = 0
        try:
            while not reader.done():
                seq += 1
                grades = self.grades
                main = (grades or {}).get(self.gesture, {"grade": 0, "level": 0.0})
                msg: dict[str, Any] = {"type": "grade", "seq": seq, "t": seq / 50.0,
                                       "gesture": self.gesture, "grade": main["grade"],
                                       "level": main["level"], "confidence": 1.0}  # fmt: skip
                if grades is not None:
                    msg["grades"] = grades
                await ws.send(json.dumps(msg))
                if self.kmg:
                    mags = [300.0 + 40.0 * math.sin(seq / 20.0 + i) for i in range(16)]
                    await ws.send(json.dumps({"type": "kmg", "seq": seq, "t": seq / 50.0,
                                              "magnitudes": mags}))  # fmt: skip
                await asyncio.sleep(0.02)
        except Exception:  # the client left
            pass
        finally:
            reader.cancel()

    async def _read(self, ws: ServerConnection) -> None:
        async for msg in self.messages(ws):
            if msg.get("type") == "subscribe":
                self.kmg = bool(msg.get("kmg"))


def tag(grade: int, confidence: float = 1.0) -> dict[str, Any]:
    return {"grade": grade, "level": grade / 8.0, "confidence": confidence}


def tag_objects() -> list[Any]:
    return [ob for ob in bpy.data.objects if ob.get("fb_tag") is not None]


def heights(dec: Any) -> dict[str, float]:
    return {name: round(tb.bar.scale.z, 3) for name, tb in dec.tags.items()}


def expected(grades: dict[str, int]) -> dict[str, float]:
    from fist_and_ball.scene.decoder_view import MIN_BAR

    return {n: round(max(MIN_BAR, g / 8.0), 3) for n, g in grades.items()}


def test_one_bar_per_tag_follows_the_grades_and_goes_when_the_view_is_off(addon: Any) -> None:
    from fist_and_ball.scene.render import render_png

    with ScriptedBridge(free_port()) as server:
        assert bpy.ops.fistball.build_scene() == {"FINISHED"}
        assert bpy.ops.fistball.connect(url=server.url) == {"FINISHED"}
        rt = runtime()
        c = rt.controller
        tick_for(20.0, until=lambda: c.signal)
        assert bpy.ops.fistball.decoder_view(enable=True) == {"FINISHED"}
        dec = rt.refs.decoder
        assert dec is not None and len(dec.bars) == 16
        # No `grades` in the messages: no tag bars (QG, MCNN and the like).
        tick_for(1.0, until=lambda: rt.decoder.applied > 10)
        assert rt.decoder.applied > 0 and dec.tags == {} and tag_objects() == []

        server.grades = {"fingers": tag(6), "wrist": tag(2), "thumb": tag(0, 0.1)}
        tick_for(
            10.0, until=lambda: heights(dec) == expected({"fingers": 6, "wrist": 2, "thumb": 0})
        )
        assert list(dec.tags) == list(TAGS)  # one bar per tag, in the bridge's order
        assert len(tag_objects()) == 2 * len(TAGS)  # a bar and a label each
        assert heights(dec) == expected({"fingers": 6, "wrist": 2, "thumb": 0})
        assert [tb.label.data.body for tb in dec.tags.values()] == [
            "fingers 6", "wrist 2", "thumb 0"
        ]  # fmt: skip
        mats = rt.refs.materials
        slot = {n: tb.bar.material_slots[0].material for n, tb in dec.tags.items()}
        assert slot["fingers"] == mats["bar_max"]  # the decoded gesture
        assert slot["wrist"] == mats["bar"]
        assert slot["thumb"] == mats["forearm_ghost"]  # confidence 0.1: dim
        # The panel's data: the grades per gesture, with closure (the wire's level).
        assert {n: (t.grade, t.closure) for n, t in rt.decoder.tags.items()} == {
            "fingers": (6, 0.75), "wrist": (2, 0.25), "thumb": (0, 0.0)
        }  # fmt: skip
        tick_for(10.0, until=lambda: rt.decoder.applied > 30)  # kmg bars too, for the picture
        ARTIFACTS.mkdir(exist_ok=True)
        shot = render_png(
            ARTIFACTS / "decoder_view_tags.png", (960, 540), scene=rt.refs.scene, camera=dec.camera
        )
        assert shot.stat().st_size > 10_000

        # The grades move: so do the bars (taller for a higher grade).
        server.grades = {"fingers": tag(1), "wrist": tag(8), "thumb": tag(4)}
        server.gesture = "wrist"
        want = expected({"fingers": 1, "wrist": 8, "thumb": 4})
        tick_for(10.0, until=lambda: heights(dec) == want)
        assert heights(dec) == want
        assert dec.tags["wrist"].bar.material_slots[0].material == mats["bar_max"]
        assert dec.tags["fingers"].bar.material_slots[0].material == mats["bar"]

        # A grade without `grades` (e.g. a tracker still settling): the bars empty, stay.
        server.grades = None
        tick_for(10.0, until=lambda: set(heights(dec).values()) == {expected({"x": 0})["x"]})
        assert [tb.label.data.body for tb in dec.tags.values()] == [
            "fingers -",
            "wrist -",
            "thumb -",
        ]

        # Off: the tag bars and their data are deleted (the sensor bars only hide).
        server.grades = {"fingers": tag(3), "wrist": tag(3), "thumb": tag(3)}
        tick_for(10.0, until=lambda: heights(dec) == expected(dict.fromkeys(TAGS, 3)))
        assert bpy.ops.fistball.decoder_view(enable=False) == {"FINISHED"}
        tick_for(0.5)
        assert tag_objects() == [] and dec.tags == {} and rt.decoder.tags == {}
        assert not any(m.name.startswith("FB_TagBar") for m in bpy.data.meshes)
        assert not any(cu.name.startswith("FB_TagLabel") for cu in bpy.data.curves)
        assert dec.collection.hide_render and len(dec.bars) == 16
        # On again: built again from the next grades.
        assert bpy.ops.fistball.decoder_view(enable=True) == {"FINISHED"}
        tick_for(10.0, until=lambda: heights(rt.refs.decoder) == expected(dict.fromkeys(TAGS, 3)))
        assert len(tag_objects()) == 2 * len(TAGS)
        assert rt.errors == 0, rt.last_error
        bpy.ops.fistball.disconnect()


def test_track_decoder_bridge_end_to_end_draws_a_bar_per_tag(addon: Any, tmp_path: Path) -> None:
    """A real bridge tracking a foreign patient's shifted later session with a twin
    fitted on day 1: every tag of the twin gets a bar, and the bars are the grades the
    bridge sent."""
    from bridge.sim.foreign_patients import Placement, write_recording
    from tests.tracking_cases import SEEDS, later_session, twin_fit

    fit = twin_fit(SEEDS[0])
    assert fit.twin is not None, fit.refused
    twin = fit.twin.save(tmp_path / "twin.json")
    rec = write_recording(later_session(SEEDS[0], Placement(5.0, 10.0)), tmp_path / "day5.csv")
    bridge = BridgeProcess(
        free_port(), source=f"replay:{rec}", extra=["--decoder", f"track:{twin}"]
    )
    with bridge:
        bridge.start()
        assert bpy.ops.fistball.build_scene() == {"FINISHED"}
        assert bpy.ops.fistball.connect(url=bridge.url) == {"FINISHED"}
        rt = runtime()
        assert bpy.ops.fistball.decoder_view(enable=True) == {"FINISHED"}
        seen: list[tuple[dict[str, float], dict[str, float]]] = []

        def sample() -> None:
            dec = rt.refs.decoder if rt.refs is not None else None
            if dec is not None and dec.tags and rt.decoder.tags:
                sent = {n: t.grade for n, t in rt.decoder.tags.items()}
                seen.append((heights(dec), expected(sent)))

        tick_for(60.0, on_tick=sample, until=lambda: len(seen) >= 100)
        assert len(seen) >= 50, len(seen)
        assert set(rt.refs.decoder.tags) == set(fit.twin.movements)
        assert all(drawn == want for drawn, want in seen)
        # the grades move over the session: the bars are not frozen
        assert len({tuple(sorted(d.items())) for d, _ in seen}) > 3
        assert rt.errors == 0, rt.last_error
        bpy.ops.fistball.disconnect()
