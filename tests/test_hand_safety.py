"""The hand safety state machine, driven with explicit time (deterministic)."""

from __future__ import annotations

import itertools
import logging
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.outputs.hand_safety import HandSafety, HandState, SafetyConfig
from bridge.outputs.pose_map import (
    FingerLimits,
    HandLimits,
    Pose,
    PoseMap,
    PoseMapConfig,
    PoseTarget,
)

DT = 0.02  # 50 Hz hand thread


def limits() -> HandLimits:
    lim = HandLimits()
    lim.fingers[0] = FingerLimits(min_pos=5.0, max_pos=70.0, max_speed_pct_s=50.0)
    lim.fingers[2] = FingerLimits(min_pos=0.0, max_pos=90.0, max_speed_pct_s=80.0)
    lim.fingers[4] = FingerLimits(max_speed_pct_s=80.0, invert=True)
    return lim


def make(enabled: bool = True, ready: bool = True, **cfg: float) -> HandSafety:
    s = HandSafety(limits(), SafetyConfig(**cfg), 0.0, enabled=enabled)  # type: ignore[arg-type]
    if ready:
        s.set_decoder_ready(True, 0.0)
    s.set_source_state("connected", 0.0)
    return s


def fist(level: float) -> PoseTarget:
    return PoseMap(PoseMapConfig(), limits(), has_wrist=False).map(
        "fingers", level, Pose((0.0,) * 5)
    )


def run(s: HandSafety, t0: float, t1: float, target: PoseTarget | None) -> list[tuple]:
    """Feed `target` every tick from t0 to t1 (None = no input); return (t, pose|None)."""
    out = []
    t = t0
    while t < t1 - 1e-9:
        if target is not None:
            s.input(target, t)
        out.append((t, s.tick(t)))
        t = round(t + DT, 9)
    return out


def test_starts_disabled_and_sends_nothing() -> None:
    s = make(enabled=False)
    assert s.state == HandState.DISABLED
    assert all(p is None for _, p in run(s, 0.0, 1.0, fist(1.0)))


def test_unauthorized_enable_refused_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    s = make(enabled=False)
    with caplog.at_level(logging.WARNING, logger="bridge.hand.safety"):
        ok, msg = s.enable(0.1, authorized=False, who="browser client")
    assert not ok and "not authorized" in msg
    assert s.state == HandState.DISABLED
    assert any("refused" in r.getMessage() for r in caplog.records)
    assert s.state_dict(0.2)["events"][-1]["accepted"] is False
    ok, _ = s.enable(0.2, authorized=True)
    assert ok and s.state == HandState.HOLDING


def test_enable_needs_fresh_input_and_then_follows() -> None:
    s = make(enabled=False)
    s.input(fist(1.0), 0.0)  # before enable: must not count
    s.enable(0.1, authorized=True)
    assert s.tick(0.12) is None  # pose unknown, no input since enable: nothing to hold
    s.input(fist(0.5), 0.14)
    assert s.state == HandState.ACTIVE
    out = run(s, 0.16, 2.0, fist(0.5))
    last = out[-1][1]
    assert last is not None
    assert last.fingers[1] == pytest.approx(50.0)
    assert last.fingers[0] == pytest.approx(5.0 + 0.5 * 0.6 * 65.0)


def test_blocked_while_decoder_not_ready() -> None:
    s = make(ready=False)
    assert s.state == HandState.BLOCKED  # readiness not reported yet
    s.set_decoder_ready(False, 0.0)
    assert s.state == HandState.BLOCKED
    assert all(p is None for _, p in run(s, 0.0, 0.5, fist(1.0)))
    s.set_decoder_ready(True, 0.5)
    out = run(s, 0.5, 1.0, fist(1.0))
    assert s.state == HandState.ACTIVE and out[-1][1] is not None
    # The decoder stops being ready while following (e.g. wrong device): like a lost
    # source, hold the pose, then open slowly; never freeze (issue 11).
    held = s.commanded
    s.set_decoder_ready(False, 1.0)
    assert s.state == HandState.HOLDING and "decoder not ready" in s.reason
    assert s.tick(1.02) == held
    out = run(s, 1.04, 1.0 + s.config.hold_s + 1.0, fist(1.0))  # input keeps coming
    assert s.state == HandState.OPENING
    assert out[-1][1] is not None and out[-1][1].fingers[1] < held.fingers[1]


def test_blocked_with_a_known_pose_opens_after_hold() -> None:
    """Enabled again (after a stop) while the decoder is not ready: BLOCKED sends
    nothing, then opens slowly once it has waited `hold_s`."""
    s = make(hold_s=0.5)
    run(s, 0.0, 2.0, fist(1.0))
    s.stop(2.0)
    s.set_decoder_ready(False, 2.0)
    s.enable(2.1, authorized=True)
    assert s.state == HandState.BLOCKED
    assert all(p is None for _, p in run(s, 2.1, 2.58, fist(1.0)))
    closed = s.commanded
    out = run(s, 2.6, 4.0, fist(1.0))
    assert s.state == HandState.OPENING
    assert out[-1][1] is not None and out[-1][1].fingers[1] < closed.fingers[1]


def test_watchdog_holds_then_opens_slowly() -> None:
    s = make(watchdog_s=0.2, hold_s=1.0, open_speed_pct_s=20.0)
    run(s, 0.0, 2.0, fist(0.6))
    held = s.commanded
    assert held.fingers[1] == pytest.approx(60.0)
    out = run(s, 2.0, 6.0, None)  # input stops at t = 1.98
    trans = {e["to"]: e["t"] for e in s.transitions}
    assert trans["holding"] == pytest.approx(1.98 + 0.2, abs=DT + 1e-9)
    assert trans["opening"] == pytest.approx(trans["holding"] + 1.0, abs=DT + 1e-9)
    # While holding the pose does not change; while opening it falls at <= 20 %/s.
    for t, p in out:
        assert p is not None
        if t < trans["opening"]:
            assert p == held
    opening = [(t, p) for t, p in out if t >= trans["opening"]]
    for (t0, p0), (t1, p1) in itertools.pairwise(opening):
        for a, b in zip(p0.fingers, p1.fingers, strict=True):
            assert b <= a + 1e-9 and a - b <= 20.0 * (t1 - t0) + 1e-9
    assert s.state == HandState.OPENING
    expect = 60.0 - 20.0 * (6.0 - DT - trans["opening"])
    assert s.commanded.fingers[1] == pytest.approx(expect, abs=20.0 * DT + 1e-6)


def test_source_disconnect_holds_and_fresh_input_resumes() -> None:
    s = make()
    run(s, 0.0, 1.0, fist(0.4))
    s.set_source_state("disconnected", 1.0)
    assert s.state == HandState.HOLDING and "disconnected" in s.reason
    held = s.commanded
    # Samples keep coming but the source says disconnected: keep holding.
    assert all(p == held for _, p in run(s, 1.0, 1.5, fist(1.0)))
    s.set_source_state("connected", 1.5)
    run(s, 1.5, 1.6, fist(1.0))
    assert s.state == HandState.ACTIVE
    assert s.commanded.fingers[1] > held.fingers[1]


def test_estop_halts_and_needs_explicit_enable() -> None:
    s = make()
    run(s, 0.0, 0.5, fist(1.0))
    s.stop(0.5, who="test")
    assert s.state == HandState.ESTOP
    assert all(p is None for _, p in run(s, 0.5, 1.5, fist(1.0)))
    # Source recovering or decoder readiness do not leave ESTOP; only enable does.
    s.set_source_state("disconnected", 1.5)
    s.set_source_state("connected", 1.6)
    s.set_decoder_ready(True, 1.6)
    assert s.state == HandState.ESTOP
    s.enable(1.7, authorized=True)
    assert s.state == HandState.HOLDING
    run(s, 1.7, 1.9, fist(1.0))
    assert s.state == HandState.ACTIVE


def test_nan_and_bad_input_rejected_and_do_not_feed_watchdog() -> None:
    s = make()
    run(s, 0.0, 0.5, fist(0.5))
    bad = PoseTarget(Pose((math.nan, 1.0, 1.0, 1.0, 1.0)))
    for i in range(20):
        t = 0.5 + i * DT
        assert not s.input(bad, t)
        s.tick(t)
    assert s.state == HandState.HOLDING
    assert s.rejected == 20
    assert not s.input(PoseTarget(Pose((1.0,) * 5), speed_cap_pct_s=math.inf), 1.0)
    assert s.commanded.is_finite()


def test_link_loss_freezes_and_reseeds_from_feedback() -> None:
    s = make()
    run(s, 0.0, 1.0, fist(0.5))
    s.set_link(False, 1.0)
    assert s.state == HandState.HOLDING
    assert all(p is None for _, p in run(s, 1.0, 3.0, fist(1.0)))
    fb = Pose((10.0, 20.0, 20.0, 20.0, 20.0))
    s.input(fist(1.0), 2.99)  # arrived while unreachable: must not move the hand
    s.set_link(True, 3.0, hand_pose=fb)
    assert s.commanded.fingers == fb.fingers
    s.tick(3.0)
    assert s.state in (HandState.HOLDING, HandState.OPENING)
    out = run(s, 3.02, 3.1, fist(1.0))
    first = next(p for _, p in out if p is not None)
    assert abs(first.fingers[1] - 20.0) <= 80.0 * DT + 1e-9


def test_transitions_ring_is_bounded() -> None:
    s = make(history=4)
    for i in range(10):
        s.stop(float(i))
        s.enable(float(i) + 0.5, authorized=True)
    d = s.state_dict(11.0)
    assert len(d["transitions"]) == 4 and len(d["events"]) == 4


gestures = st.sampled_from(["rest", "fingers", "wrist", "thumb", "bogus"])
levels = st.one_of(
    st.floats(min_value=-2.0, max_value=3.0),
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
)
events = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=0.5),  # gap before this event
        gestures,
        levels,
        st.integers(min_value=1, max_value=8),  # burst size
        st.sampled_from(
            ["sample"] * 8 + ["stop", "enable", "disconnect", "connect", "unready", "release"]
        ),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None, database=None)
@given(events, st.booleans())
def test_fuzz_never_exceeds_limits_or_slew(evs: list, has_wrist: bool) -> None:
    """Random gestures, levels (NaN, out of range), gaps, bursts, stops and source
    trouble: every commanded pose is finite, inside the limits, and consecutive
    commands move each finger by at most its speed x elapsed time (also across
    stretches where nothing is sent: the pose never jumps on resume)."""
    lim = limits()
    s = HandSafety(lim, SafetyConfig(hold_s=0.3), 0.0, has_wrist=has_wrist, enabled=True)
    s.set_decoder_ready(True, 0.0)
    pm = PoseMap(PoseMapConfig(rest_mode="open"), lim, has_wrist)
    t = 0.0
    prev: tuple[float, Pose] | None = None
    sent = 0
    for gap, gesture, level, burst, kind in evs:
        end = t + gap
        while True:  # the hand thread ticks through the gap
            p = s.tick(t)
            if p is not None:
                sent += 1
                assert p.is_finite()
                assert lim.clamp(p) == p
                assert (p.wrist is not None) == has_wrist
                if prev is not None:
                    dt = min(t - prev[0], s.config.max_step_dt_s)
                    speeds = [f.max_speed_pct_s for f in lim.fingers]
                    for a, b, v in zip(prev[1].fingers, p.fingers, speeds, strict=True):
                        assert abs(b - a) <= v * dt + 1e-6
                    if has_wrist:
                        assert abs(p.wrist - prev[1].wrist) <= lim.wrist.max_speed_pct_s * dt + 1e-6  # type: ignore[operator]
                prev = (t, p)
            if t >= end:
                break
            t = min(round(t + DT, 9), end)
        if kind == "sample":
            for _ in range(burst):
                s.input(pm.map(gesture, level, s.commanded), t)
        elif kind == "stop":
            s.stop(t)
        elif kind == "enable":
            s.enable(t, authorized=True)
        elif kind == "disconnect":
            s.set_source_state("disconnected", t)
        elif kind == "connect":
            s.set_source_state("connected", t)
        elif kind == "release":
            s.release(t)
        else:
            s.set_decoder_ready(False, t)
            s.set_decoder_ready(True, t)


# ---- issue 11: dead input, release, aliasing, slew bounds ------------------------------


def test_default_min_confidence_is_above_zero() -> None:
    assert SafetyConfig().min_confidence > 0.0
    with pytest.raises(ValueError, match="min_confidence"):
        SafetyConfig(min_confidence=1.5).validate()


@pytest.mark.parametrize("confidence", [0.0, 0.1, math.nan])
def test_dead_or_unsure_input_holds_then_opens(confidence: float) -> None:
    """A closed fist, then the decoder keeps reporting the last grade with confidence 0
    (QG on a dead sensor), below min_confidence, or NaN: that is no input. The hand
    must hold and then open slowly, not stay closed."""
    s = make(watchdog_s=0.2, hold_s=1.0, open_speed_pct_s=20.0)
    run(s, 0.0, 2.0, fist(1.0))
    assert s.state == HandState.ACTIVE
    closed = s.commanded
    t = 2.0
    while t < 5.0:
        assert not s.input(fist(1.0), t, confidence=confidence)
        s.tick(t)
        t = round(t + DT, 9)
    trans = {e["to"]: e for e in s.transitions}
    assert trans["holding"]["t"] == pytest.approx(2.0 - DT + 0.2, abs=DT + 1e-9)
    assert "rejected" in trans["holding"]["reason"]
    assert trans["opening"]["t"] == pytest.approx(trans["holding"]["t"] + 1.0, abs=DT + 1e-9)
    assert s.state == HandState.OPENING
    assert s.commanded.fingers[1] < closed.fingers[1] - 20.0


def test_zero_confidence_is_no_input_even_with_min_confidence_zero() -> None:
    s = make(min_confidence=0.0)
    run(s, 0.0, 1.0, fist(1.0))
    assert not s.input(fist(1.0), 1.0, confidence=0.0)
    assert s.input(fist(1.0), 1.0, confidence=0.01)


def test_a_stalled_tick_moves_at_most_one_bounded_step() -> None:
    """Mutant 5a: the hand thread stalls for 1 s, then ticks once with a far target.
    The step is bounded by speed x max_step_dt_s, not speed x 1 s."""
    s = make(max_step_dt_s=0.1, watchdog_s=0.2)
    run(s, 0.0, 1.0, fist(0.0))
    before = s.commanded
    s.input(fist(1.0), 2.0)  # the pipeline kept feeding while the thread slept
    after = s.tick(2.0)
    assert after is not None and s.state == HandState.ACTIVE
    for lim, a, b in zip(limits().fingers, before.fingers, after.fingers, strict=True):
        assert abs(b - a) <= lim.max_speed_pct_s * 0.1 + 1e-9
    assert after.fingers[1] > before.fingers[1]  # it did move, by one bounded step


def test_a_speed_cap_above_a_fingers_limit_does_not_raise_that_limit() -> None:
    """Mutant 5b: a target (or the opening speed) capped at 1000 %/s must not let the
    thumb (50 %/s) or any finger move faster than its own limit."""
    lim = limits()
    s = make()
    run(s, 0.0, 1.0, fist(0.0))
    fast = PoseTarget(Pose((70.0, 100.0, 90.0, 100.0, 100.0)), speed_cap_pct_s=1000.0)
    out = run(s, 1.0, 1.2, fast)
    for (_, p0), (_, p1) in itertools.pairwise(out):
        assert p0 is not None and p1 is not None
        for f, a, b in zip(lim.fingers, p0.fingers, p1.fingers, strict=True):
            assert abs(b - a) <= f.max_speed_pct_s * DT + 1e-9
    assert out[-1][1] is not None and out[-1][1].fingers[0] > 5.0  # moving, at its pace
    # The same for the opening speed of OPENING and RELEASING.
    s2 = make(open_speed_pct_s=1000.0)
    run(s2, 0.0, 3.0, fist(1.0))
    s2.release(3.0)
    out = run(s2, 3.0, 3.2, None)
    for (_, p0), (_, p1) in itertools.pairwise(out):
        assert p0 is not None and p1 is not None
        for f, a, b in zip(lim.fingers, p0.fingers, p1.fingers, strict=True):
            assert abs(b - a) <= f.max_speed_pct_s * DT + 1e-9


def test_400hz_alternating_grades_cannot_drive_the_hand_to_an_extreme() -> None:
    """8 samples per 50 Hz tick alternating grade 0 and 8: with only the newest sample
    per tick the hand would close fully. The tick-window mean keeps it in the middle."""
    s = make()
    t, k = 0.0, 0
    poses = []
    while t < 4.0:
        for j in range(8):
            level = 0.0 if (k + j) % 2 == 0 else 1.0
            s.input(fist(level), t - DT + (j + 1) * DT / 8)
        k += 8
        p = s.tick(t)
        if p is not None:
            poses.append(p)
        t = round(t + DT, 9)
    assert s.state == HandState.ACTIVE and s.inputs_last_tick == 8
    index = [p.fingers[1] for p in poses]
    assert max(index) <= 60.0 and index[-1] == pytest.approx(50.0, abs=1.0)
    assert s.state_dict(t)["target"]["fingers"][1] == pytest.approx(50.0)


def test_window_mean_ignores_inputs_older_than_the_watchdog() -> None:
    s = make(watchdog_s=0.2)
    run(s, 0.0, 1.0, fist(0.0))
    s.input(fist(1.0), 1.0)  # stale after a stall
    s.input(fist(0.0), 1.9)
    s.tick(2.0)
    assert s.state_dict(2.0)["target"]["fingers"][1] == pytest.approx(0.0)
    assert s.inputs_last_tick == 1


@pytest.mark.parametrize("frozen_by", ["active", "stop", "disable"])
def test_release_opens_slowly_then_holds_open_from_any_state(frozen_by: str) -> None:
    s = make(open_speed_pct_s=20.0)
    run(s, 0.0, 2.0, fist(1.0))
    if frozen_by == "stop":
        s.stop(2.0)
    elif frozen_by == "disable":
        s.disable(2.0)
    closed = s.commanded
    ok, msg = s.release(2.0, who="patient")
    assert ok and s.state == HandState.RELEASING and "enable" in msg
    assert s.state_dict(2.0)["events"][-1]["action"] == "release"
    out = run(s, 2.0, 9.0, fist(1.0))  # the decoder still asks for a fist
    for (t0, p0), (t1, p1) in itertools.pairwise(out):
        assert p0 is not None and p1 is not None
        for a, b in zip(p0.fingers, p1.fingers, strict=True):
            assert b <= a + 1e-9 and a - b <= 20.0 * (t1 - t0) + 1e-9
    assert out[0][1] is not None and out[0][1].fingers[1] <= closed.fingers[1]
    assert s.state == HandState.RELEASED and s.commanded == s.open_pose
    assert not s.enabled and s.drives_motors
    # Fresh input, a source reconnect or decoder readiness never resume following.
    s.set_source_state("disconnected", 9.0)
    s.set_source_state("connected", 9.1)
    run(s, 9.1, 10.0, fist(1.0))
    assert s.state == HandState.RELEASED and s.commanded == s.open_pose
    # Only an explicit enable does, and then only on fresh input.
    assert not s.enable(10.0, authorized=False)[0]
    assert s.enable(10.0, authorized=True)[0] and s.state == HandState.HOLDING
    run(s, 10.0, 10.5, fist(1.0))
    assert s.state == HandState.ACTIVE and s.commanded.fingers[1] > 10.0


def test_stop_and_disable_leave_release() -> None:
    s = make()
    run(s, 0.0, 2.0, fist(1.0))
    s.release(2.0)
    run(s, 2.0, 2.5, None)
    s.stop(2.5)
    assert s.state == HandState.ESTOP and s.tick(2.52) is None
    s.release(2.6)
    assert s.state == HandState.RELEASING
    s.disable(2.7)
    assert s.state == HandState.DISABLED and s.tick(2.72) is None


def test_release_refused_when_the_pose_is_unknown() -> None:
    s = make(enabled=False)
    ok, msg = s.release(0.0)
    assert not ok and "unknown" in msg and s.state == HandState.DISABLED
    ok, _ = s.release(0.1, feedback=Pose((40.0,) * 5))  # a hand that reports its position
    assert ok and s.state == HandState.RELEASING
    assert s.tick(0.12) is not None and s.commanded.fingers[1] < 40.0


def test_release_waits_for_the_link_and_continues_from_the_hand() -> None:
    s = make()
    run(s, 0.0, 2.0, fist(1.0))
    s.set_link(False, 2.0)
    s.release(2.0)
    assert all(p is None for _, p in run(s, 2.0, 2.5, None))
    s.set_link(True, 2.5, hand_pose=Pose((60.0,) * 5))
    assert s.state == HandState.RELEASING
    p = s.tick(2.52)
    assert p is not None and 60.0 - 20.0 * 2 * DT - 1e-9 <= p.fingers[1] < 60.0  # last tick 2.48
