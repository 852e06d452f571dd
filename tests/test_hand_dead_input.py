"""Issue 11 end to end: real decoders, the real pipeline and HandOutput on the sim hand.

A dead sensor, a wrong device and a 400 Hz stream must never keep the hand closed or
drive it to an extreme; `release` must let go from any state, from any thread.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from test_server_kit import PushSource, pipeline_status

from bridge.decoders.qg import QGParams
from bridge.decoders.qg_bank import QGBank
from bridge.decoders.qg_calibration import Calibration
from bridge.outputs.hand_drivers import SimHand
from bridge.outputs.hand_output import HandConfig, HandOutput
from bridge.outputs.hand_safety import HandState
from bridge.pipeline import Pipeline
from bridge.values.sample import Decoded, Sample

EXT_UT, FLEX_UT = 100.0, 200.0  # the calibrated |B| of an open hand and of a fist
READY = pipeline_status()


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def qg_bank(n_sensors: int = 3) -> QGBank:
    params = QGParams.from_anchors("fingers", 1, EXT_UT, FLEX_UT, noise_ut_rms=0.5)
    cal = Calibration(
        layout="test3",
        n_sensors=n_sensors,
        sensor_model="LIS3MDL",
        full_scale_gauss=None,
        gestures={"fingers": params},
        default_gesture="fingers",
    )
    return QGBank(cal)


def kmg(seq: int, t: float, mags: list[float]) -> Sample:
    field = np.zeros((len(mags), 3))
    field[:, 2] = mags
    return Sample.from_field(seq, t, t, field)


def hand_output(clk: FakeClock) -> tuple[HandOutput, SimHand]:
    cfg = HandConfig.from_dict({"safety": {"watchdog_s": 0.2, "hold_s": 0.5}})
    hand = SimHand(clock=clk)
    out = HandOutput(hand, cfg, clock=clk, start=False, enabled=True)
    out.on_status(READY)
    return out, hand


def test_qg_dead_sensor_with_a_closed_fist_holds_then_opens() -> None:
    """The QG keeps the last grade (8) with confidence 0 when its sensor dies; the hand
    must not stay closed: HOLDING after the watchdog, then OPENING slowly."""
    clk = FakeClock()
    out, hand = hand_output(clk)
    bank = qg_bank()
    seq = 0

    def run(seconds: float, b_ut: float) -> list[Decoded]:
        nonlocal seq
        got = []
        for _ in range(round(seconds / 0.02)):
            s = kmg(seq, clk.t, [50.0, b_ut, 50.0])
            d = bank.decode(s)
            got.append(d)
            out.on_sample(s, d)
            out.step()
            clk.t += 0.02
            seq += 1
        return got

    run(2.0, FLEX_UT)
    assert out.state == HandState.ACTIVE
    closed = hand.position().fingers[1]
    assert closed == pytest.approx(100.0, abs=1.0)
    dead = run(0.8, float("nan"))
    assert all(d.grade == 8 and d.confidence == 0.0 for d in dead)  # what QG reports
    states = [t["to"] for t in out.state_dict()["transitions"]]
    assert states[-1] == "opening" and states[-2] == "holding"
    assert "confidence 0" in out.state_dict()["transitions"][-2]["reason"]
    run(1.5, float("nan"))
    assert out.state == HandState.OPENING
    opened = hand.position().fingers[1]
    # Opening at open_speed_pct_s (20 %/s) for about 1.6 s.
    assert closed - 45.0 <= opened <= closed - 25.0


def test_wrong_device_through_the_pipeline_holds_then_opens() -> None:
    """A source that suddenly sends the wrong sensor count: QGBank refuses every sample
    ("wrong device"), the pipeline reports decoder_ready False. Real threads, real time;
    bounds are generous."""
    src = PushSource(n_sensors=3)
    cfg = HandConfig.from_dict({"safety": {"watchdog_s": 0.2, "hold_s": 0.3}})
    hand = SimHand()
    out = HandOutput(hand, cfg, enabled=True)
    pipeline = Pipeline(src, qg_bank(), [out], status_interval_s=0.1)
    pipeline.start()
    stop = threading.Event()
    mags: list[float] = [50.0, FLEX_UT, 50.0]

    def feed() -> None:
        while not stop.is_set():
            src.push(list(mags))
            time.sleep(0.01)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        _wait(lambda: hand.position().fingers[1] > 95.0, 10.0)
        assert out.state == HandState.ACTIVE
        mags[:] = [50.0, FLEX_UT]  # two sensors: not the calibrated device
        _wait(lambda: out.state == HandState.OPENING, 10.0)
        seen = [t["to"] for t in out.state_dict()["transitions"]]
        assert seen[-2:] == ["holding", "opening"]
        last = pipeline.last_status
        assert last is not None and last.decoder.ready is False
        p0 = hand.position().fingers[1]
        _wait(lambda: hand.position().fingers[1] < p0 - 5.0, 10.0)
        assert out.state == HandState.OPENING
    finally:
        stop.set()
        feeder.join(2.0)
        pipeline.close()


def _wait(cond: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_400hz_alternating_stream_through_the_output_stays_in_the_middle() -> None:
    """Every sample since the last tick reaches the safety layer's mean filter: a
    400 Hz 0/8 alternation cannot alias onto the newest (always grade 8) sample."""
    clk = FakeClock()
    out, hand = hand_output(clk)
    seq = 0
    for _ in range(200):  # 4 s at 50 Hz
        for _ in range(8):
            level = float(seq % 2)
            d = Decoded(seq, clk.t, "fingers", round(level * 8), level, 1.0)
            out.on_sample(kmg(seq, clk.t, [0.0]), d)
            seq += 1
        out.step()
        clk.t += 0.02
    assert out.state == HandState.ACTIVE
    sent = [p.fingers[1] for _, p in hand.sent]
    assert max(sent) <= 60.0 and sent[-1] == pytest.approx(50.0, abs=1.0)
    assert out.state_dict()["inputs_last_tick"] == 8


def test_release_from_estop_through_the_output_and_back_with_enable() -> None:
    clk = FakeClock()
    out, hand = hand_output(clk)

    def drive(seconds: float, level: float) -> None:
        for i in range(round(seconds / 0.02)):
            out.on_sample(kmg(i, clk.t, [0.0]), Decoded(i, clk.t, "fingers", 8, level, 1.0))
            out.step()
            clk.t += 0.02

    drive(2.0, 1.0)
    out.command("stop", authorized=False)
    frozen = hand.position()
    drive(0.5, 1.0)
    assert hand.position() == frozen and out.state == HandState.ESTOP
    ok, msg = out.command("release", authorized=False, who="patient")
    assert ok, msg
    drive(1.0, 1.0)
    assert out.state == HandState.RELEASING
    assert frozen.fingers[1] - 22.0 <= hand.position().fingers[1] < frozen.fingers[1] - 15.0
    drive(5.0, 1.0)
    assert out.state == HandState.RELEASED and hand.position().fingers == (0.0,) * 5
    assert out.state_dict()["enabled"] is False
    ok, _ = out.command("enable", authorized=True)
    assert ok
    drive(1.0, 1.0)
    assert out.state == HandState.ACTIVE and hand.position().fingers[1] > 30.0


def test_release_is_thread_safe_against_the_running_hand_thread() -> None:
    """Many threads send release/stop while the real hand thread ticks: no exception,
    the hand thread survives, and the last command wins."""
    out = HandOutput(SimHand(), HandConfig(), enabled=True)
    out.on_status(READY)
    try:
        for i in range(25):
            t = time.monotonic()
            out.on_sample(kmg(i, t, [0.0]), Decoded(i, t, "fingers", 8, 1.0, 1.0))
            time.sleep(0.02)
        errors: list[BaseException] = []

        def hammer(action: str) -> None:
            try:
                for _ in range(50):
                    ok, msg = out.command(action, authorized=False)
                    assert ok, msg
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=hammer, args=(a,)) for a in ("release", "stop") * 3]
        for th in threads:
            th.start()
        for th in threads:
            th.join(10.0)
        assert not errors
        ok, _ = out.command("release", authorized=False)
        assert ok and out.state in (HandState.RELEASING, HandState.RELEASED)
        assert out._thread.is_alive()
    finally:
        out.close()
