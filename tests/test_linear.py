"""Linear baseline: closed-form fit, JSON round trip, decoder, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bridge.decoders.factory import open_decoder
from bridge.decoders.linear import LinearDecoder, LinearModel, LinearModelError
from bridge.signal.normalise import minmax_per_step
from bridge.values.sample import Sample
from bridge.values.source_info import SourceInfo

GESTURES = ("rest", "fingers", "wrist", "thumb")


def synthetic(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw magnitudes whose pattern across 16 channels depends on the gesture and level."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    level = np.where(y == 0, 0.0, rng.uniform(0.1, 1.0, n))
    base = rng.uniform(40, 60, 16)
    patterns = rng.normal(0, 15, (4, 16))
    patterns[0] = 0.0
    mags = base + level[:, None] * patterns[y] + rng.normal(0, 0.3, (n, 16))
    return mags, y, level


def test_fit_predict_roundtrip(tmp_path: Path) -> None:
    mags, y, level = synthetic()
    x = minmax_per_step(mags)
    m = LinearModel.fit(x[:2400], y[:2400], level[:2400], GESTURES)
    probs, lv = m.predict(x[2400:])
    moving = level[2400:] > 0.3
    acc = np.mean(probs.argmax(1)[moving] == y[2400:][moving])
    assert acc > 0.9, acc
    assert np.allclose(probs.sum(1), 1.0)
    assert np.all((lv >= 0) & (lv <= 1))
    assert np.mean(np.abs(lv - level[2400:])[moving]) < 0.15
    path = tmp_path / "linear.json"
    m.save(path)
    m2 = LinearModel.load(path)
    p2, l2 = m2.predict(x[2400:])
    assert np.allclose(p2, probs) and np.allclose(l2, lv)
    assert LinearModel.load(tmp_path).n_sensors == 16  # a bundle directory works too


def test_decoder_on_samples(tmp_path: Path) -> None:
    mags, y, level = synthetic()
    m = LinearModel.fit(minmax_per_step(mags), y, level, GESTURES)
    m.meta = {"layout": "socket16"}
    path = tmp_path / "linear.json"
    m.save(path)
    dec = open_decoder(f"linear:{path}", SourceInfo(n_sensors=16, layout="socket16"))
    assert isinstance(dec, LinearDecoder) and dec.name == "linear"
    hits = 0
    for i in range(200):
        # the decoder sees |B| only; a field along x with that magnitude is enough
        f = np.zeros((16, 3))
        f[:, 0] = mags[i]
        d = dec.decode(Sample.from_field(i, 0.0, 0.0, f))
        assert 0 <= d.grade <= 8 and 0 <= d.confidence <= 1 and d.gesture in GESTURES
        hits += d.gesture == (GESTURES[y[i]] if level[i] >= 0.5 / 8 else "rest")
    assert hits > 170
    # the per-sample path and the batch path (evaluation) agree
    names, level, conf = dec.model.decode_batch(mags[:50])
    for i in range(50):
        f = np.zeros((16, 3))
        f[:, 0] = mags[i]
        d = dec.decode(Sample.from_field(i, 0.0, 0.0, f))
        assert d.gesture == names[i] and abs(d.level - level[i]) < 1e-9
        assert abs(d.confidence - conf[i]) < 1e-9
    with pytest.raises(LinearModelError, match="sensors"):
        LinearDecoder.load(path, SourceInfo(n_sensors=3))
    with pytest.raises(LinearModelError, match="layout"):
        LinearDecoder.load(path, SourceInfo(n_sensors=16, layout="myo3"))


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(LinearModelError, match="not found"):
        LinearModel.load(tmp_path / "none.json")
    p = tmp_path / "bad.json"
    p.write_text("[1, 2")
    with pytest.raises(LinearModelError, match="unreadable"):
        LinearModel.load(p)
    p.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(LinearModelError, match="not a"):
        LinearModel.load(p)
    mags, y, level = synthetic(400)
    d = LinearModel.fit(minmax_per_step(mags), y, level, GESTURES).to_json()
    d["grade_coef"] = d["grade_coef"][:2]
    p.write_text(json.dumps(d))
    with pytest.raises(LinearModelError, match="shapes"):
        LinearModel.load(p)


def test_fit_rejects_mismatched_rows() -> None:
    with pytest.raises(ValueError, match="matching rows"):
        LinearModel.fit(np.zeros((10, 16)), np.zeros(9, dtype=int), np.zeros(10), GESTURES)
