"""MCNN-TG labelling: synthetic signals with a known grade, and a simulated recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.recording import RecordingWriter
from bridge.signal.labels import (
    LabelParams,
    cue_segments,
    grade_error,
    half_cosine,
    label_recording,
    smooth,
    zigzag_extrema,
)
from bridge.sim.config import SimConfig
from bridge.sim.simulator import Simulator
from fist_and_ball_app.main import main as cli_main

RATE = 42.7


def stroke_grade(
    n_rest: int, n_ramp: int, n_hold: int, n_settle: int, peak: float = 8.0
) -> np.ndarray:
    """One cued stroke: rest, raised-cosine flexion, hold, raised-cosine extension, settle."""
    up = peak * 0.5 * (1 - np.cos(np.pi * np.arange(n_ramp) / n_ramp))
    down = up[::-1]
    return np.concatenate([np.zeros(n_rest), up, np.full(n_hold, peak), down, np.zeros(n_settle)])


def synthetic(sign: float, seed: int = 0, peaks: tuple[float, ...] = (8.0, 8.0, 8.0, 8.0)):
    """16 channels: channel 5 monotonic in the grade (direction `sign`), channel 3 bigger but
    not monotonic (rises then falls within a stroke), the rest weak; noise on all."""
    rng = np.random.default_rng(seed)
    grades, cues = [], []
    for p in peaks:
        g = stroke_grade(10, 85, 40, 30, p)
        grades.append(np.zeros(80))
        cues += ["rest"] * 80
        grades.append(g)
        cues += ["fingers"] * g.size
    grade = np.concatenate(grades)
    u = grade / 8.0
    mags = 60.0 + rng.uniform(-3, 3, 16)[None, :] * u[:, None]
    mags[:, 5] = 100.0 + sign * 40.0 * u**1.3
    mags[:, 3] = 80.0 + 50.0 * np.sin(np.pi * u)
    mags += rng.normal(0, 0.4, mags.shape)
    return mags, cues, grade


def test_cue_segments_and_smooth() -> None:
    assert cue_segments(["a", "a", "b", "a"]) == [(0, 2, "a"), (2, 3, "b"), (3, 4, "a")]
    assert cue_segments([]) == []
    x = np.arange(20, dtype=float)
    s = smooth(x, 5)
    assert s.shape == x.shape
    assert np.allclose(s[2:-2], x[2:-2])  # a moving average keeps a straight line
    assert np.allclose(smooth(x, 1), x)


def test_half_cosine_endpoints() -> None:
    h = half_cosine(0.0, 8.0, 100)
    assert h[0] == 0.0 and h[-1] < 8.0 and h[-1] > 7.99
    assert np.all(np.diff(h) >= 0)
    assert abs(h[50] - 4.0) < 1e-9  # 90 degrees = half the range


def test_zigzag_ignores_noise_below_threshold() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(2000) / RATE
    x = 10 * np.sin(2 * np.pi * t / 8.0) + rng.normal(0, 0.5, t.size)
    idx, kind = zigzag_extrema(smooth(x, 9), threshold=6.0)
    # 2000 samples at 42.7 Hz with an 8 s period: ~11.7 half-periods -> 12 or 13 extrema
    assert 11 <= idx.size <= 13
    assert np.all(kind[1:] != kind[:-1])  # maxima and minima alternate
    raw_idx, _ = zigzag_extrema(x, threshold=0.5)
    assert raw_idx.size > 5 * idx.size  # a threshold at the noise level would not be robust


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_synthetic_labels_match_truth(sign: float) -> None:
    mags, cues, grade = synthetic(sign)
    lab = label_recording(mags, cues, RATE)
    segs = [s for s in lab.segments if s.cue == "fingers"]
    assert all(s.sensor == 5 for s in segs), "the monotonic, smooth channel must win"
    assert all(s.rises_with_flexion is (sign > 0) for s in segs)
    assert all(len(s.extrema) == 3 for s in segs)
    err = grade_error(lab.grade, grade)
    assert err["mae"] < 0.15, err
    rest = np.array([c == "rest" for c in cues])
    assert np.all(lab.grade[rest] == 0) and all(
        lab.gesture[i] == "rest" for i in np.flatnonzero(rest)
    )
    # cued samples near the open pose are relabelled rest, flexed ones keep the cue
    assert lab.gesture[int(np.argmax(grade))] == "fingers"


def test_scaled_extrema_follow_a_short_stroke() -> None:
    mags, cues, grade = synthetic(1.0, peaks=(8.0, 8.0, 6.0, 8.0))
    scaled = label_recording(mags, cues, RATE)
    paper = label_recording(mags, cues, RATE, LabelParams(scale_extrema=False))
    short = [s for s in scaled.segments if s.cue == "fingers"][2]
    assert 5.3 < max(short.extrema_grade) < 6.7
    assert max([s for s in paper.segments if s.cue == "fingers"][2].extrema_grade) == 8.0
    assert grade_error(scaled.grade, grade)["mae"] < grade_error(paper.grade, grade)["mae"]


def test_flat_segment_is_left_unlabelled() -> None:
    rng = np.random.default_rng(2)
    mags = 50 + rng.normal(0, 0.3, (400, 16))
    cues = ["rest"] * 100 + ["wrist"] * 300
    lab = label_recording(mags, cues, RATE)
    seg = lab.segments[1]
    assert np.all(np.isnan(lab.grade[100:])) and "no movement" in seg.note
    assert not lab.valid[100:].any()


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="cues"):
        label_recording(np.zeros((10, 16)), ["rest"] * 9, RATE)
    with pytest.raises(ValueError, match="rate"):
        label_recording(np.zeros((10, 16)), ["rest"] * 10, 0.0)


def write_sim_recording(path: Path, **changes) -> None:
    sim = Simulator(SimConfig(layout="socket16", seed=3, repetitions=3, **changes))
    block = sim.generate_all()
    with RecordingWriter(path, sim.info, sim.n_sensors) as w:
        for f in block.frames():
            w.write(Simulator.to_sample(f, 0.0))


def test_simulated_recording_labels_and_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = tmp_path / "sim.csv"
    write_sim_recording(rec)
    out = tmp_path / "labels.csv"
    png = tmp_path / "labels.png"
    assert cli_main(["label", str(rec), "--out", str(out), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "derived vs grade_true" in text
    rows = out.read_text().splitlines()
    assert rows[0] == "t_s,seq,cue,type_label,grade_label,in_span,grade_true"
    body = [r.split(",") for r in rows[1:]]
    moving = [
        (float(r[4]), float(r[6])) for r in body if r[2] not in ("rest", "") and r[4] and r[6]
    ]
    d, t = np.array(moving).T
    assert np.mean(np.abs(d - t)) < 0.3, "derived grades must track the simulator's ground truth"
    assert {r[3] for r in body} >= {"rest", "fingers", "wrist", "thumb"}
    assert png.stat().st_size > 10_000


def test_label_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["label", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "error" in capsys.readouterr().err
