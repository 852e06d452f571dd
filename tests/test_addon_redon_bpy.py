# mypy: disable-error-code="func-returns-value,attr-defined,union-attr"
# (bpy.ops.fistball exists only at run time; fake-bpy-module stubs are Optional-heavy)
"""The re-don check from the add-on's panel in bpy 5.0 (this process, the add-on from
the checkout): the real `BridgeClient` over a real loopback websocket to a scripted
server (`FakeRedonBridge`), the real operators, ticks and panel `draw()`.

Background mode has no window, so the panel draws into `LayoutRecorder`, which takes
the calls Blender's `UILayout` would (box, row, label, operator, progress ...) and
keeps what was drawn with its effective enabled and alert flags.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

from bpy_addon import runtime  # noqa: E402
from bpy_live_driver import tick_for  # noqa: E402
from live_bridge import free_port  # noqa: E402
from test_addon_redon import STEPS, FakeRedonBridge, final  # noqa: E402

pytestmark = pytest.mark.blender


@dataclass
class Drawn:
    kind: str
    text: str
    icon: str
    node: LayoutRecorder
    props: Any = None
    factor: float | None = None

    @property
    def enabled(self) -> bool:
        node: LayoutRecorder | None = self.node
        while node is not None:
            if not node.enabled:
                return False
            node = node.parent
        return True

    @property
    def alert(self) -> bool:
        node: LayoutRecorder | None = self.node
        while node is not None:
            if node.alert:
                return True
            node = node.parent
        return False


@dataclass(eq=False)
class LayoutRecorder:
    """Stands in for `UILayout` where background mode has none: records what is drawn."""

    parent: LayoutRecorder | None = None
    drawn: list[Drawn] = field(default_factory=list)
    enabled: bool = True
    alert: bool = False
    scale_y: float = 1.0

    def _child(self, *_a: Any, **_k: Any) -> LayoutRecorder:
        return LayoutRecorder(parent=self, drawn=self.drawn)

    box = row = column = split = _child

    def label(self, text: str = "", icon: str = "NONE", **_k: Any) -> None:
        self.drawn.append(Drawn("label", text, icon, self))

    def operator(self, idname: str, text: str = "", icon: str = "NONE", **_k: Any) -> Any:
        props = SimpleNamespace()
        self.drawn.append(Drawn("operator", text or idname, icon, self, props))
        props.idname = idname
        return props

    def prop(self, data: Any, name: str, text: str = "", **_k: Any) -> None:
        getattr(data, name)  # the property must exist
        self.drawn.append(Drawn("prop", name, "NONE", self))

    def progress(self, factor: float = 0.0, type: str = "BAR", text: str = "") -> None:
        self.drawn.append(Drawn("progress", text, "NONE", self, factor=factor))


def draw_panel() -> LayoutRecorder:
    """The main panel's real draw() into a recorder."""
    panel = bpy.types.FISTBALL_PT_game
    rec = LayoutRecorder()

    class Shim:  # draw() reads self.layout and calls the panel's static helpers
        layout = rec

        def __getattr__(self, name: str) -> Any:
            return getattr(panel, name)

    panel.draw(Shim(), bpy.context)
    return rec


def texts(rec: LayoutRecorder) -> list[str]:
    return [d.text for d in rec.drawn if d.kind == "label"]


def redon_buttons(rec: LayoutRecorder) -> list[Drawn]:
    return [d for d in rec.drawn if d.kind == "operator" and d.props.idname == "fistball.redon"]


def tooltip(action: str) -> str:
    return bpy.types.FISTBALL_OT_redon.description(bpy.context, SimpleNamespace(action=action))


def connect(url: str) -> Any:
    assert bpy.ops.fistball.connect(url=url) == {"FINISHED"}
    rt = runtime()
    tick_for(15.0, until=lambda: rt.link.status.connected and rt.controller.hello)
    assert rt.link.status.connected
    return rt


def test_panel_runs_a_check_to_its_verdict_and_cancels_another(addon: Any) -> None:
    from fist_and_ball.core.patient_hud import hud_layout
    from fist_and_ball.ui import patient_mode

    assert "Connect to the bridge first" in tooltip("start")
    with pytest.raises(RuntimeError, match="No re-don check is running"):
        bpy.ops.fistball.redon(action="cancel")
    with FakeRedonBridge(free_port(), steps=STEPS, final=final("adapted")) as fake:
        rt = connect(fake.url)
        rec = draw_panel()
        (button,) = redon_buttons(rec)
        assert button.text == "Re-don Check" and button.props.action == "start" and button.enabled
        assert "Not now" not in tooltip("start")

        assert bpy.ops.fistball.redon(action="start") == {"FINISHED"}
        assert rt.redon.busy
        tick_for(10.0, until=lambda: rt.redon.prompt == "Relax your hand")
        assert fake.redon_actions() == ["start"]
        rec = draw_panel()
        assert "Relax your hand" in texts(rec)
        (bar,) = [d for d in rec.drawn if d.kind == "progress" and d.text.startswith("rest")]
        assert bar.factor == pytest.approx(0.25) and "8 s left" in bar.text
        (cancel,) = redon_buttons(rec)
        assert cancel.props.action == "cancel" and cancel.enabled and cancel.alert
        assert "Not now: A re-don check is running" in tooltip("start")
        with pytest.raises(RuntimeError, match="re-don check is running"):
            bpy.ops.fistball.start()  # no game session during the check

        # patient mode shows the same prompt large, measured with Blender's font
        state = patient_mode.PatientState(window_ptr=0, saved={})
        model = patient_mode._clock_model(state, rt)
        assert model.redon_prompt == "Relax your hand" and model.redon_progress == 0.25
        lay = hud_layout(model, 1280, 720, 1.0, patient_mode._measure)
        (big,) = [t for t in lay.items if getattr(t, "text", "") == "Relax your hand"]
        assert (
            big.size >= 40
            and big.x >= 0
            and big.x + patient_mode._measure(big.text, big.size) <= 1280
        )

        fake.advance()
        tick_for(10.0, until=lambda: rt.redon.prompt == "Close your fingers")
        assert "Close your fingers" in texts(draw_panel())
        fake.advance()
        tick_for(10.0, until=lambda: not rt.redon.busy)
        assert rt.redon.verdict == "adapted" and rt.redon.problem == ""
        rec = draw_panel()
        shown = texts(rec)
        for line in (
            "Accepted, decoder adapted",
            "Band 4 mm off: gains adapted",
            "- shifted 4.2 mm towards the wrist",
            "- QG gains re-fitted from the twin",
            "Socket 4.2 mm shifted, -8.5\u00b0 turned",
            "Decoder: qg",
        ):
            assert line in shown, (line, shown)
        (again,) = redon_buttons(rec)
        assert again.props.action == "start" and again.enabled
        model = patient_mode._clock_model(state, rt)
        assert model.redon_prompt == ""
        assert model.redon_result.startswith("Accepted, decoder adapted")

        # a second check, cancelled from the panel
        assert bpy.ops.fistball.redon(action="start") == {"FINISHED"}
        tick_for(10.0, until=lambda: rt.redon.phase == "running")
        assert bpy.ops.fistball.redon(action="cancel") == {"FINISHED"}
        assert rt.redon.phase == "cancelling"
        assert not redon_buttons(draw_panel())[0].enabled  # sent: not twice
        tick_for(10.0, until=lambda: not rt.redon.busy)
        assert rt.redon.result.state == "cancelled" and rt.redon.verdict == ""
        assert "Check cancelled" in texts(draw_panel())
        assert fake.redon_actions() == ["start", "start", "cancel"]
        assert rt.errors == 0, rt.last_error
        bpy.ops.fistball.disconnect()


def test_not_authorised_button_is_disabled_and_the_bridges_refusal_is_shown(
    addon: Any,
) -> None:
    with FakeRedonBridge(free_port(), steps=STEPS, final=final(), authorized=False) as fake:
        rt = connect(fake.url)
        rec = draw_panel()
        (button,) = redon_buttons(rec)
        assert not button.enabled
        assert any("token" in t for t in texts(rec))
        assert "Not now: Needs the bridge's token" in tooltip("start")
        with pytest.raises(RuntimeError, match="token"):
            bpy.ops.fistball.redon(action="start")
        tick_for(0.5)
        assert fake.redon_actions() == []  # nothing went out

        # a bridge that did not say (no hand_authorized in hello) decides itself: refused
        rt.controller.bridge = type(rt.controller.bridge)(source="fake", decoder="qg")
        assert bpy.ops.fistball.redon(action="start") == {"FINISHED"}
        tick_for(10.0, until=lambda: not rt.redon.busy)
        assert fake.redon_actions() == ["start"]
        assert rt.redon.result.state == "failed"
        assert "not authorised" in rt.redon.result.reasons[0]
        assert rt.controller.bridge_error == ""  # the check's refusal is the check's
        rec = draw_panel()
        assert "Check failed" in texts(rec)
        bpy.ops.fistball.disconnect()


def test_a_lost_connection_ends_the_check_and_the_game_may_start_again(addon: Any) -> None:
    fake = FakeRedonBridge(free_port(), steps=STEPS, final=final()).start()
    try:
        rt = connect(fake.url)
        assert bpy.ops.fistball.redon(action="start") == {"FINISHED"}
        tick_for(10.0, until=lambda: rt.redon.phase == "running")
    finally:
        fake.stop()
    tick_for(10.0, until=lambda: not rt.redon.busy)
    assert rt.redon.result.state == "failed"
    assert "connection" in rt.redon.result.reasons[0]
    rec = draw_panel()
    assert "Check failed" in texts(rec) and not rt.redon.busy
    (button,) = redon_buttons(rec)
    assert button.props.action == "start" and not button.enabled  # not connected now
    t0 = time.monotonic()
    bpy.ops.fistball.disconnect()
    assert time.monotonic() - t0 < 5.0
