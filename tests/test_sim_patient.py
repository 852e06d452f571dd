"""Virtual patient and cue scripts: repetitions, rests, labels, delay, lag, fatigue, seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bridge.sim.config import SimConfig
from bridge.sim.cue_script import IntentCueScript, calibration_cue_script, scripted_cue_script
from bridge.sim.patient import PatientParams, VirtualPatient
from bridge.sim.simulator import Simulator
from bridge.values.sample import GESTURES


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs in `mask`."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(m))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def test_scripted_session_has_ten_repetitions_per_movement_with_rests() -> None:
    sim = Simulator(SimConfig(layout="myo3", seed=1))
    blk = sim.generate_all()
    assert sim.done
    names = np.asarray(GESTURES)[blk.gesture]
    assert names[0] == "rest" and names[-1] == "rest"
    for g in ("fingers", "wrist", "thumb"):
        runs = _runs(names == g)
        assert len(runs) >= 10, g
        for a, b in runs:
            # each repetition reaches full flexion and comes back to rest
            assert blk.grade_true[a:b].max() > 7.0
            assert blk.grade_true[b - 1] < 1.0
            # and is followed by a rest
            assert b < len(names) and names[b] == "rest"
    # rest-labelled samples really are at rest (the settle tail absorbs the lag)
    rest = names == "rest"
    assert np.percentile(blk.grade_true[rest], 99) < 0.5
    # blocks in the configured order
    first = [int(np.argmax(names == g)) for g in ("fingers", "wrist", "thumb")]
    assert first == sorted(first)


def test_gestures_subset_and_samples_per_gesture() -> None:
    cfg = SimConfig(layout="myo3", gestures=("thumb",), samples_per_gesture=7000, rate_hz=42.7)
    blk = Simulator(cfg).generate_all()
    names = np.asarray(GESTURES)[blk.gesture]
    assert set(names) == {"rest", "thumb"}
    assert (names == "thumb").sum() >= 7000
    assert len(_runs(names == "thumb")) > 10


def test_same_seed_same_session_other_seed_differs() -> None:
    cfg = SimConfig(layout="socket16", seed=9, disturbances=True)
    a = Simulator(cfg).generate_block(3000)
    b = Simulator(cfg).generate_block(3000)
    np.testing.assert_array_equal(a.raw, b.raw)
    np.testing.assert_array_equal(a.grade_true, b.grade_true)
    # block partition does not matter
    sim = Simulator(cfg)
    parts = [sim.generate_block(n) for n in (1, 999, 2000)]
    np.testing.assert_array_equal(np.concatenate([p.raw for p in parts]), a.raw)
    c = Simulator(cfg.replace(seed=10)).generate_block(3000)
    assert not np.array_equal(a.raw, c.raw)


def test_intent_reaction_delay_and_first_order_lag() -> None:
    reaction, tau, rate = 0.2, 0.15, 1000.0
    cfg = SimConfig(
        layout="myo3",
        cue_script="intent",
        rate_hz=rate,
        reaction_s=reaction,
        tau_s=tau,
        tremor=0.0,
        fatigue=0.0,
    )
    sim = Simulator(cfg)
    sim.generate_block(500)
    sim.set_intent("fingers", 0.8)
    t_cue = sim.t_next_s
    blk = sim.generate_block(1500)
    t = blk.t_s - t_cue
    names = np.asarray(GESTURES)[blk.gesture]
    assert (names == "fingers").all()  # the label is the cue: immediate
    before = t < reaction - 1e-9
    assert np.abs(blk.grade_true[before]).max() == 0.0  # nothing moves during the delay
    after = ~before
    expected = 8 * 0.8 * (1 - np.exp(-(t[after] - reaction) / tau))
    np.testing.assert_allclose(blk.grade_true[after], expected, atol=8 * 0.8 * 0.01)
    # 63% at one time constant after the delay
    k = np.argmin(np.abs(t - (reaction + tau)))
    assert blk.grade_true[k] == pytest.approx(8 * 0.8 * (1 - math.exp(-1)), abs=0.05)
    # rest: relax with the same dynamics
    sim.set_intent("rest", 0.0)
    back = sim.generate_block(2000)
    assert (np.asarray(GESTURES)[back.gesture] == "rest").all()
    assert back.grade_true[150] > 6.0 and back.grade_true[-1] < 0.01


def test_set_intent_validates_and_needs_intent_mode() -> None:
    sim = Simulator(SimConfig(cue_script="intent"))
    with pytest.raises(ValueError, match="unknown gesture"):
        sim.set_intent("pinch", 0.5)
    with pytest.raises(ValueError, match="finite"):
        sim.set_intent("wrist", float("nan"))
    sim.set_intent("wrist", 7.0)  # clipped to 1
    sim.generate_block(400)
    assert sim.generate_block(1).grade_true[0] > 7.5
    with pytest.raises(RuntimeError, match="intent"):
        Simulator(SimConfig()).set_intent("fingers", 1.0)


def test_thumb_drags_the_finger_tag() -> None:
    sim = Simulator(SimConfig(layout="myo3", cue_script="intent", tremor=0.0, fatigue=0.0))
    sim.set_intent("thumb", 1.0)
    f = sim.generate(200)[-1]
    assert f.tag_mm[2] == pytest.approx(2.5, abs=0.01)
    assert 0.3 * 5.7 < f.tag_mm[0] < 0.4 * 5.7
    assert f.tag_mm[1] == 0.0
    assert f.grade_true == pytest.approx(8.0, abs=0.05)


def test_fatigue_lowers_the_reachable_level_and_recovers() -> None:
    params = PatientParams(tremor=0.0, fatigue=0.01, recovery_s=20.0)
    patient = VirtualPatient(params, np.random.default_rng(0))
    proto = IntentCueScript()
    proto.set(0.0, "fingers", 1.0)
    t = np.arange(0, 60, 0.05)
    a = patient.run(t, proto)[:, 0]
    assert a[40] > 0.95  # 2 s in: full
    assert a[-1] < 0.88  # a minute of full effort: clearly weaker (steady state 0.83)
    proto.set(60.0, "rest", 0.0)
    patient.run(np.arange(60, 120, 0.05), proto)
    proto.set(120.0, "fingers", 1.0)
    again = patient.run(np.arange(120, 122, 0.05), proto)[:, 0]
    assert again[-1] > a[-1] + 0.1  # rested: stronger again


def test_tremor_is_small_and_in_the_physiological_band() -> None:
    cfg = SimConfig(layout="myo3", cue_script="intent", rate_hz=200.0, fatigue=0.0, tremor=0.02)
    sim = Simulator(cfg)
    sim.set_intent("wrist", 0.5)
    sim.generate_block(400)
    g = sim.generate_block(4000).grade_true / 8
    wobble = g - g.mean()
    assert 0.002 < np.abs(wobble).max() < 0.03
    spec = np.abs(np.fft.rfft(wobble))
    f = np.fft.rfftfreq(len(wobble), 1 / 200.0)
    assert 8.0 <= f[np.argmax(spec)] <= 12.0


def test_calibration_cue_script_holds_both_ends() -> None:
    proto = calibration_cue_script(("fingers",), np.random.default_rng(0))
    t = np.arange(0, proto.duration_s, 0.05)
    _, level = proto.cue(t)
    assert proto.count("fingers") == 3
    held_top = _runs(level > 0.999)
    assert len(held_top) == 3 and all((b - a) * 0.05 >= 2.9 for a, b in held_top)
    sim = Simulator(SimConfig(layout="myo3", cue_script="calibration", gestures=("wrist",)))
    blk = sim.generate_all()
    assert blk.grade_true.max() > 7.9 and set(np.asarray(GESTURES)[blk.gesture]) == {
        "rest",
        "wrist",
    }


def test_scripted_cue_script_loops_when_asked() -> None:
    proto = scripted_cue_script(("fingers",), 1, 42.7, np.random.default_rng(0), loop=True)
    t = np.linspace(0, proto.duration_s, 500, endpoint=False)
    g1, l1 = proto.cue(t)
    g2, l2 = proto.cue(t + proto.duration_s)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_allclose(l1, l2)
    sim = Simulator(SimConfig(layout="myo3", gestures=("fingers",), repetitions=1), loop=True)
    assert sim.n_frames_total is None and not sim.done
