"""The simulated hand and HandOutput driven step by step with a fake clock."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_server_kit import pipeline_status

from bridge.outputs.hand_drivers import HandLinkError, SimHand
from bridge.outputs.hand_output import HandConfig, HandOutput, open_hand
from bridge.outputs.hand_safety import HandState
from bridge.outputs.pose_map import Pose
from bridge.values.sample import Decoded, Sample
from bridge.values.status import FAILED, HandStatus


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def sample(seq: int, t: float) -> Sample:
    return Sample.from_field(seq, t, t, np.zeros((1, 3)))


def decoded(gesture: str, level: float, t: float, seq: int = 0) -> Decoded:
    return Decoded(seq, t, gesture, round(level * 8), level, 1.0)


def test_sim_hand_speed_limit_and_feedback() -> None:
    clk = FakeClock()
    hand = SimHand(motor_speed_pct_s=100.0, clock=clk)
    with pytest.raises(HandLinkError):
        hand.send(Pose((0.0,) * 5))  # not connected
    hand.connect()
    hand.send(Pose((100.0,) * 5))
    assert hand.feedback() == Pose((0.0,) * 5)  # disarmed: ignores P until enable
    hand.enable()
    hand.send(Pose((100.0, 50.0, 100.0, 100.0, 100.0)))
    clk.t += 0.25
    fb = hand.feedback()
    assert fb is not None
    assert fb.fingers == pytest.approx((25.0, 25.0, 25.0, 25.0, 25.0))
    clk.t += 0.5
    fb = hand.feedback()
    assert fb is not None and fb.fingers == pytest.approx((75.0, 50.0, 75.0, 75.0, 75.0))
    hand.stop()  # halts where it is
    clk.t += 1.0
    assert hand.feedback() == fb
    hand.plugged = False
    with pytest.raises(HandLinkError):
        hand.feedback()
    assert not hand.connected


def test_sim_hand_with_wrist() -> None:
    clk = FakeClock()
    hand = SimHand(has_wrist=True, motor_speed_pct_s=40.0, clock=clk)
    hand.connect()
    hand.enable()
    hand.send(Pose((0.0,) * 5, 90.0))
    clk.t += 0.5
    fb = hand.feedback()
    assert fb is not None and fb.wrist == pytest.approx(70.0)


def make_output(clk: FakeClock, **kw: object) -> tuple[HandOutput, SimHand]:
    cfg = HandConfig.from_dict(
        {"safety": {"watchdog_s": 0.2, "hold_s": 0.5}, "reconnect_min_s": 0.2}
    )
    hand = SimHand(clock=clk)
    out = HandOutput(hand, cfg, clock=clk, start=False, **kw)  # type: ignore[arg-type]
    return out, hand


def drive(out: HandOutput, clk: FakeClock, seconds: float, level: float | None) -> None:
    for i in range(round(seconds / 0.02)):
        if level is not None:
            out.on_sample(sample(i, clk.t), decoded("fingers", level, clk.t, i))
        out.step()
        clk.t += 0.02


def test_output_follows_sim_hand_and_reports_feedback() -> None:
    clk = FakeClock()
    out, hand = make_output(clk)
    out.on_status(pipeline_status())
    drive(out, clk, 0.5, 1.0)
    assert out.state == HandState.DISABLED and hand.position() == Pose((0.0,) * 5)
    assert out.commands_sent == 0
    ok, _ = out.command("enable", authorized=True)
    assert ok
    drive(out, clk, 2.0, 0.5)
    d = out.state_dict()
    assert d["state"] == "active" and d["connected"]
    assert hand.position().fingers[1] == pytest.approx(50.0, abs=2.0)
    assert d["feedback"]["fingers"][1] == pytest.approx(50.0, abs=2.0)
    json.dumps(d)  # the status message must be JSON-serialisable
    # Sim motors never outrun their speed limit even if commanded to.
    fb = [p for _, p in hand.sent]
    assert max(p.fingers[1] for p in fb) <= 50.0 + 1e-9


def test_output_unplug_reconnect_with_backoff_no_replay() -> None:
    clk = FakeClock()
    out, hand = make_output(clk, enabled=True)
    out.on_status(pipeline_status())
    drive(out, clk, 1.0, 0.3)
    before = hand.position()
    n_sent = len(hand.sent)
    hand.plugged = False
    drive(out, clk, 1.0, 1.0)  # the decoder asks for a fist while unplugged
    d = out.state_dict()
    assert not d["connected"] and "disconnected" in d["link_detail"]
    assert d["state"] in ("holding", "opening")
    assert len(hand.sent) == n_sent  # nothing sent, nothing queued
    hand.plugged = True
    drive(out, clk, 1.0, None)  # decoder quiet now: nothing fresh to follow
    assert out.state_dict()["reconnects"] == 1
    after = [p for _, p in list(hand.sent)[n_sent:]]
    assert after, "the held/opening pose is re-sent after reconnect"
    assert all(p.fingers[1] <= before.fingers[1] + 1e-6 for p in after)


def _retry_delays(out: HandOutput, clk: FakeClock, seconds: float) -> list[float]:
    """The `retry in X s` delays the link reports, in order, while stepping."""
    seen: list[float] = []
    detail = ""
    for _ in range(round(seconds / 0.02)):
        out.step()
        clk.t += 0.02
        now = out.state_dict()["link_detail"]
        if now != detail and "retry in" in now:
            seen.append(float(now.rsplit("retry in ", 1)[1].split()[0]))
        detail = now
    return seen


def test_reconnect_backoff_doubles_to_the_cap_and_resets_once_connected() -> None:
    """The hand uses the bridge's one Backoff: 0.2, 0.4, ... capped at reconnect_max_s."""
    clk = FakeClock()
    out, hand = make_output(clk)
    hand.plugged = False
    delays = _retry_delays(out, clk, 20.0)
    # 20 s covers the growth (11.2 s) and more attempts at the cap (same text: one entry)
    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0], abs=0.051)
    assert out.state_dict()["link_detail"].endswith("retry in 5.0 s")
    hand.plugged = True
    drive(out, clk, 6.0, None)
    assert out.state_dict()["connected"]
    hand.plugged = False
    assert _retry_delays(out, clk, 2.0)[0] < 1.0  # a link that worked starts short again
    out.close()


def test_open_hand_sim_and_thread() -> None:
    out = open_hand("sim", config=HandConfig())
    try:
        assert out.state == HandState.DISABLED
        ok, msg = out.command("enable", authorized=False)
        assert not ok and "not authorized" in msg
        ok, msg = out.command("wiggle", authorized=True)
        assert not ok and "unknown" in msg
        ok, _ = out.command("stop", authorized=False)
        assert ok and out.state == HandState.ESTOP
    finally:
        out.close()
    out.close()  # idempotent


@pytest.mark.parametrize("source_state", ["disconnected", "connecting", "ended", FAILED])
def test_hand_holds_when_the_typed_source_state_is_not_connected(source_state: str) -> None:
    """The hold-on-source-loss rule reads `status.source.state` (typed, one layout)."""
    clk = FakeClock()
    out, _ = make_output(clk, enabled=True)
    out.on_status(READY_STATUS)
    drive(out, clk, 0.3, 0.5)
    assert out.state == HandState.ACTIVE
    out.on_status(pipeline_status(source_state))
    drive(out, clk, 0.1, 0.5)
    assert out.state == HandState.HOLDING, source_state
    assert source_state in out.state_dict()["reason"]
    out.on_status({"source": {"state": "connected"}})  # type: ignore[arg-type]  # ignored
    drive(out, clk, 0.1, 0.5)
    assert out.state == HandState.HOLDING
    out.close()


def test_hand_status_is_typed_and_json_ready() -> None:
    clk = FakeClock()
    out, _ = make_output(clk, enabled=True)
    st = out.status()
    assert isinstance(st, HandStatus)
    assert st.enabled and st.state == out.state.value and st.record["url"] == out.url
    json.dumps(dict(st.record))
    out.close()


READY_STATUS = pipeline_status()
