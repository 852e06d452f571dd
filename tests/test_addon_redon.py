"""The add-on's side of the re-don check without bpy: the protocol's typed parse and
command builder, the `RedonState` machine (injected clock), the mailbox, patient mode's
HUD layout, and the real `BridgeClient` against a small websockets server on loopback
(`FakeRedonBridge`, also used by tests/test_addon_redon_bpy.py)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from live_bridge import free_port
from loopback_ws_server import LoopbackServer
from websockets.asyncio.server import ServerConnection

from fist_and_ball.core.patient_hud import HudModel, Rect, Text, hud_layout, hud_unit
from fist_and_ball.core.start_screen import Screen
from fist_and_ball.live.client import BridgeClient
from fist_and_ball.live.mailbox import Drained, Mailbox
from fist_and_ball.live.redon_state import (
    CANCELLING,
    DONE,
    IDLE,
    RUNNING,
    STARTING,
    RedonState,
    heading,
    pose_text,
    redon_from_wire,
    start_problem,
)
from fist_and_ball.protocol_v1 import (
    MAX_REDON_REASONS,
    MAX_REDON_TEXT,
    MSG_REDON,
    REDON_FINAL_STATES,
    RedonMessageError,
    RedonPose,
    RedonProgress,
    RedonResult,
    parse_redon,
    redon_command,
)


def running(step: str = "rest", prompt: str = "Relax your hand", progress: float = 0.1) -> dict:
    return {
        "type": "redon", "state": "running", "step": step, "prompt": prompt,
        "progress": progress, "remaining_s": 20.0,
    }  # fmt: skip


def final(state: str = "adapted", **kw: Any) -> dict:
    msg = {
        "type": "redon", "state": state, "summary": "Band 4 mm off: gains adapted",
        "reasons": ["shifted 4.2 mm towards the wrist", "QG gains re-fitted from the twin"],
        "pose": {"shift_mm": 4.2, "turn_deg": -8.5}, "decoder": "qg",
    }  # fmt: skip
    msg.update(kw)
    return msg


# -- protocol_v1: parse and build ----------------------------------------------------------
def test_parse_running_message() -> None:
    got = parse_redon(running("fingers", "Close your fingers", 0.45))
    assert got == RedonProgress("fingers", "Close your fingers", 0.45, 20.0)


@pytest.mark.parametrize("state", REDON_FINAL_STATES)
def test_parse_final_messages(state: str) -> None:
    got = parse_redon(final(state))
    assert isinstance(got, RedonResult) and got.state == state
    assert got.summary == "Band 4 mm off: gains adapted"
    assert got.reasons == ("shifted 4.2 mm towards the wrist", "QG gains re-fitted from the twin")
    assert got.pose == RedonPose(4.2, -8.5) and got.decoder == "qg"


def test_parse_final_without_pose_or_decoder() -> None:
    msg = final("cancelled", pose=None)
    del msg["decoder"]
    got = parse_redon(msg)
    assert isinstance(got, RedonResult) and got.pose is None and got.decoder == ""


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        ({**running(), "type": "grade"}, "not a redon message"),
        ({**running(), "state": "done"}, "'state'"),
        ({k: v for k, v in running().items() if k != "state"}, "'state'"),
        ({**running(), "step": ""}, "'step'"),
        ({**running(), "step": 3}, "'step'"),
        ({**running(), "prompt": None}, "'prompt'"),
        ({**running(), "progress": 1.5}, "'progress'"),
        ({**running(), "progress": -0.1}, "'progress'"),
        ({**running(), "progress": "0.5"}, "'progress'"),
        ({**running(), "progress": True}, "'progress'"),
        ({**running(), "progress": math.nan}, "'progress'"),
        ({**running(), "remaining_s": -1}, "'remaining_s'"),
        ({**running(), "remaining_s": 10**400}, "'remaining_s'"),
        (final(summary=None), "'summary'"),
        (final(reasons="too far"), "'reasons'"),
        (final(reasons=["ok", 3]), "'reasons'"),
        (final(reasons=["r"] * (MAX_REDON_REASONS + 1)), "'reasons'"),
        (final(pose={"shift_mm": "4"}), "'pose'"),
        (final(pose={"shift_mm": 4.0}), "'pose'"),
        (final(pose=[4.0, 8.0]), "'pose'"),
        (final(decoder=None), "'decoder'"),
    ],
)
def test_parse_rejects_malformed_messages_naming_the_field(msg: dict, field: str) -> None:
    with pytest.raises(RedonMessageError, match=field) as err:
        parse_redon(msg)
    assert "\n" not in str(err.value) and len(str(err.value)) < 200


def test_parse_cuts_long_texts() -> None:
    got = parse_redon(final(summary="s" * 5000, reasons=["r" * 5000]))
    assert isinstance(got, RedonResult)
    assert len(got.summary) == MAX_REDON_TEXT and len(got.reasons[0]) == MAX_REDON_TEXT


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {"type": st.just("redon")},
        optional={
            k: JSON | st.sampled_from(["running", *REDON_FINAL_STATES])
            for k in ("state", "step", "prompt", "progress", "remaining_s", "summary")
        }
        | {"reasons": JSON, "pose": JSON, "decoder": JSON},
    )
)
def test_parse_never_raises_anything_else(msg: dict) -> None:
    try:
        got = parse_redon(msg)
    except RedonMessageError:
        return
    if isinstance(got, RedonProgress):
        assert 0.0 <= got.progress <= 1.0 and math.isfinite(got.remaining_s)
    else:
        assert got.state in REDON_FINAL_STATES and all(isinstance(r, str) for r in got.reasons)


def test_redon_command() -> None:
    assert redon_command("start") == {"type": "redon", "action": "start"}
    assert redon_command("cancel") == {"type": "redon", "action": "cancel"}
    with pytest.raises(ValueError, match="start, cancel"):
        redon_command("stop")


# -- RedonState ------------------------------------------------------------------------
def take(state: RedonState, msg: dict, now: float) -> None:
    state.take(redon_from_wire(msg), now)


def test_state_runs_through_a_check_to_its_verdict() -> None:
    s = RedonState()
    assert s.phase == IDLE and not s.busy and s.verdict == ""
    s.sent_start(0.0)
    assert s.phase == STARTING and s.busy and s.prompt
    take(s, running("rest", "Relax your hand", 0.1), 0.2)
    assert (s.phase, s.step, s.prompt, s.progress) == (RUNNING, "rest", "Relax your hand", 0.1)
    take(s, running("fingers", "Close your fingers", 0.6), 0.4)
    assert (s.step, s.prompt, s.progress, s.remaining_s) == (
        "fingers",
        "Close your fingers",
        0.6,
        20.0,
    )
    take(s, final("refused", summary="Turned 40 degrees: put the socket back on"), 0.6)
    assert s.phase == DONE and not s.busy and s.verdict == "refused" and s.prompt == ""
    assert s.result is not None and s.result.summary.startswith("Turned 40")
    assert heading(s.result) == "Placement refused"
    assert pose_text(s.result.pose) == "Socket 4.2 mm shifted, -8.5\u00b0 turned"
    s.sent_start(1.0)  # a new check forgets the old verdict
    assert s.result is None and s.verdict == "" and s.phase == STARTING


def test_state_cancel_waits_for_the_bridge() -> None:
    s = RedonState()
    s.sent_cancel(0.0)
    assert s.phase == IDLE  # nothing to cancel
    s.sent_start(0.0)
    take(s, running(), 0.1)
    s.sent_cancel(0.2)
    assert s.phase == CANCELLING and s.busy
    take(s, running("fingers", "Close your fingers", 0.3), 0.3)  # sent before it saw ours
    assert s.phase == CANCELLING and s.prompt == "Cancelling..."
    take(s, final("cancelled", pose=None), 0.4)
    assert s.phase == DONE and s.verdict == "" and s.result is not None
    assert s.result.state == "cancelled"


def test_state_malformed_message_is_shown_and_changes_nothing_else() -> None:
    s = RedonState()
    s.sent_start(0.0)
    take(s, running(), 0.1)
    take(s, {**running("fingers"), "progress": 7}, 0.2)
    assert s.phase == RUNNING and s.step == "rest" and "'progress'" in s.problem
    assert s.messages == 2


def test_state_refusal_link_loss_and_stall_end_a_busy_check() -> None:
    s = RedonState()
    s.refused("not authorised")  # idle: only noted
    assert s.phase == IDLE and "not authorised" in s.problem

    s.sent_start(0.0)
    s.refused("this connection is not authorised to start the re-don check")
    assert s.phase == DONE and s.result is not None and s.result.state == "failed"
    assert "not authorised" in s.result.reasons[0]

    s.sent_start(10.0)
    take(s, running(), 10.1)
    s.link(True)
    assert s.phase == RUNNING
    s.link(False)
    assert s.phase == DONE and "connection" in s.result.reasons[0]  # type: ignore[union-attr]

    s = RedonState(stall_after_s=30.0)
    s.sent_start(100.0)
    take(s, running(), 101.0)
    s.check_stalled(130.9)
    assert s.phase == RUNNING
    s.check_stalled(131.1)
    assert s.phase == DONE and "No word" in s.result.reasons[0]  # type: ignore[union-attr]


def test_state_update_takes_messages_before_a_lost_link() -> None:
    s = RedonState()
    s.sent_start(0.0)
    drained = Drained(
        redon=[redon_from_wire(running()), redon_from_wire(final("accepted"))],
        errors=[{"type": "error", "code": "bad_field", "detail": "x", "ref": "gesture"}],
        connected=False,
    )
    s.update(drained, 0.5)
    assert s.verdict == "accepted"  # the answer came before the link went
    s.sent_start(1.0)
    s.update(
        Drained(errors=[{"code": "unknown_type", "detail": "old bridge", "ref": MSG_REDON}]), 1.1
    )
    assert s.result is not None and s.result.state == "failed"
    assert "old bridge" in s.result.reasons[0]


def test_start_problem() -> None:
    ok = {"connected": True, "authorized": True, "session_running": False, "busy": False}
    assert start_problem(**ok) == ""
    assert start_problem(**{**ok, "authorized": None}) == ""  # the bridge decides
    assert "connection" in start_problem(**{**ok, "connected": False})
    assert "token" in start_problem(**{**ok, "authorized": False})
    assert "running" in start_problem(**{**ok, "busy": True})
    assert "session" in start_problem(**{**ok, "session_running": True})


def test_mailbox_keeps_the_final_answer_when_progress_overflows() -> None:
    mb = Mailbox(max_errors=8)
    for i in range(50):
        mb.put_redon(redon_from_wire(running(progress=i / 50)))
    mb.put_redon(redon_from_wire(final("accepted")))
    got = mb.drain().redon
    assert len(got) == 8 and isinstance(got[-1], RedonResult)
    assert mb.drain().redon == []


# -- patient mode's HUD ------------------------------------------------------------------
def texts(lay: Any) -> dict[str, Text]:
    return {i.text: i for i in lay.items if isinstance(i, Text)}


@pytest.mark.parametrize("size", [(1280, 720), (3840, 2160)])
def test_hud_shows_the_prompt_large_over_the_start_screen(size: tuple[int, int]) -> None:
    w, h = size
    m = HudModel(
        connected=True,
        signal=True,
        redon_prompt="Close your fingers",
        redon_progress=0.4,
        redon_detail="fingers    12 s left",
    )
    lay = hud_layout(m, w, h)
    prompt = texts(lay)["Close your fingers"]
    u = hud_unit(w, h)
    assert prompt.size >= 40 * u  # large: the score is 44 units, the start hint 22
    assert prompt.x >= 0 and prompt.x + 0.55 * prompt.size * len(prompt.text) <= w
    bars = [r for r in lay.items if isinstance(r, Rect) and r.h == pytest.approx(24 * u)]
    assert len(bars) == 2 and bars[1].w == pytest.approx(0.4 * bars[0].w)
    # the check has the screen: no start-screen button to press meanwhile
    plain = hud_layout(HudModel(connected=True, signal=True), w, h)
    start = next(r for r in plain.items if isinstance(r, Rect) and r.button == "start")
    assert plain.button_at(start.x + 5, start.y + 5) == "start"
    assert not [r for r in lay.items if isinstance(r, Rect) and r.button.startswith("level")]
    assert lay.button_at(start.x + 5, start.y + 5) in ("redon", None)
    assert "Fist & Ball" not in texts(lay) and "Fist & Ball" in texts(plain)


def test_hud_long_prompt_shrinks_to_fit_and_verdict_on_start_screen() -> None:
    long = "Turn your wrist slowly outwards as far as it goes, then hold it there"
    lay = hud_layout(HudModel(redon_prompt=long), 1280, 720)
    t = texts(lay)[long]
    assert t.x >= 0 and t.x + 0.55 * t.size * len(long) <= 1280 and t.size >= 24
    m = HudModel(screen=Screen.START, redon_result="Placement refused: put it back on")
    m.redon_alert = True
    t = texts(hud_layout(m, 1280, 720))["Placement refused: put it back on"]
    assert t.color[0] == 1.0 and t.color[1] < 0.5  # the alert colour
    m.screen = Screen.PLAY  # only the start screen shows the last verdict
    assert "Placement refused: put it back on" not in texts(hud_layout(m, 1280, 720))


# -- the real client over a real websocket ---------------------------------------------------
ADVANCE = "test_advance"
"""Not protocol: tells `FakeRedonBridge` to go to the next step (GUI driver)."""


class FakeRedonBridge(LoopbackServer):
    """A protocol-v1 server on its own thread that runs a scripted re-don check.

    On `start` (refused with an `error`, ref `redon`, when `authorized` is False) it
    sends `running` for the current step at 20 Hz until the test calls `advance()` (or
    a client sends `{"type": "test_advance"}`);
    after the last step it sends `final`. `cancel` ends it with `cancelled`.
    `extra` messages go out right after the first `running` one."""

    def __init__(
        self,
        port: int,
        *,
        steps: list[tuple[str, str]],
        final: dict[str, Any],
        authorized: bool = True,
        extra: list[Any] | None = None,
    ) -> None:
        super().__init__(port)
        self.steps = steps
        self.final = final
        self.authorized = authorized
        self.extra = extra or []
        self.step = 0

    def advance(self) -> None:
        self.step += 1

    def redon_actions(self) -> list[str]:
        return [m.get("action", "") for m in list(self.received) if m.get("type") == MSG_REDON]

    async def _run_check(self, ws: ServerConnection) -> None:
        self.step, sent = 0, 0
        while self.step < len(self.steps):
            name, prompt = self.steps[self.step]
            progress = (self.step + 0.5) / len(self.steps)
            remaining = 4.0 * (len(self.steps) - self.step)
            await ws.send(json.dumps(running(name, prompt, progress) | {"remaining_s": remaining}))
            sent += 1
            if sent == 1:
                for msg in self.extra:
                    await ws.send(msg if isinstance(msg, str) else json.dumps(msg))
            await asyncio.sleep(0.05)
        await ws.send(json.dumps(self.final))

    async def _handler(self, ws: ServerConnection) -> None:
        hello = {
            "type": "hello", "protocol": 1, "bridge": "test", "source": "fake",
            "n_sensors": 3, "rate_hz": 50.0, "decoder": "qg", "grades": 9,
            "gestures": ["fingers"], "hand_authorized": self.authorized,
        }  # fmt: skip
        await ws.send(json.dumps(hello))
        check: asyncio.Task[None] | None = None
        try:
            async for msg in self.messages(ws):
                if msg.get("type") == ADVANCE:  # a driver in another process steps it
                    self.advance()
                elif msg.get("type") != MSG_REDON:
                    continue
                elif msg.get("action") == "start" and not self.authorized:
                    detail = "this connection is not authorised to run the re-don check"
                    err = {"type": "error", "code": "redon_refused", "ref": MSG_REDON}
                    await ws.send(json.dumps(err | {"detail": detail}))
                elif msg.get("action") == "start":
                    check = asyncio.ensure_future(self._run_check(ws))
                elif msg.get("action") == "cancel" and check is not None:
                    check.cancel()
                    cancelled = final("cancelled", summary="Re-don check cancelled", reasons=[])
                    await ws.send(json.dumps(cancelled | {"pose": None}))
        except Exception:
            pass
        finally:
            if check is not None:
                check.cancel()


STEPS = [("rest", "Relax your hand"), ("fingers", "Close your fingers")]


def wait_for(pred: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


@pytest.fixture
def mailbox_client() -> Iterator[tuple[Mailbox, Callable[[str], BridgeClient]]]:
    mb = Mailbox()
    made: list[BridgeClient] = []

    def make(url: str) -> BridgeClient:
        c = BridgeClient(url, mb)
        c.start()
        made.append(c)
        return c

    yield mb, make
    for c in made:
        assert c.stop(5.0)


def test_client_parses_redon_messages_into_the_mailbox(
    mailbox_client: tuple[Mailbox, Callable[[str], BridgeClient]],
) -> None:
    mb, make = mailbox_client
    bad = {**running(), "progress": "half"}
    with FakeRedonBridge(free_port(), steps=STEPS, final=final("accepted"), extra=[bad]) as fake:
        client = make(fake.url)
        assert wait_for(lambda: client.stats().connected)
        assert client.send(redon_command("start"))
        got: list[Any] = []
        assert wait_for(lambda: bool(got.extend(mb.drain().redon)) or len(got) >= 3)
        fake.advance()
        assert wait_for(lambda: bool(got.extend(mb.drain().redon)) or STEPS[1][1] in str(got))
        fake.advance()
        assert wait_for(
            lambda: bool(got.extend(mb.drain().redon)) or isinstance(got[-1], RedonResult)
        )
    assert fake.redon_actions() == ["start"]
    assert isinstance(got[0], RedonProgress) and got[0].prompt == "Relax your hand"
    assert sum(isinstance(g, RedonMessageError) for g in got) == 1  # the malformed one
    prompts = [g.prompt for g in got if isinstance(g, RedonProgress)]
    assert prompts.index("Close your fingers") > prompts.index("Relax your hand")
    assert got[-1] == parse_redon(final("accepted"))
