"""MCNN-TG: per-step normalisation, network shapes, a short training run, ONNX parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.recording import RecordingWriter
from bridge.signal.normalise import minmax_one, minmax_per_step
from bridge.sim.config import SimConfig
from bridge.sim.simulator import Simulator

torch = pytest.importorskip("torch")

from bridge.training.dataset import (  # noqa: E402
    CLASSES,
    build_arrays,
    chronological_split,
    load_labelled,
)
from bridge.training.export import export_onnx, onnx_parity  # noqa: E402
from bridge.training.model import McnnTG, ModelConfig, count_parameters, layer_table  # noqa: E402
from bridge.training.train import TrainConfig, train_model  # noqa: E402


def test_minmax_per_step() -> None:
    x = np.array([[1.0, 3.0, 2.0], [10.0, 10.0, 10.0], [5.0, np.nan, 7.0], [np.nan] * 3])
    y = minmax_per_step(x)
    assert np.allclose(y[0], [0.0, 1.0, 0.5])
    assert np.all(y[1] == 0.0)  # no shape across channels: all zeros, not NaN
    assert np.allclose(y[2], [0.0, 0.0, 1.0])  # the dead channel reads the step's minimum
    assert np.all(y[3] == 0.0)
    # each step on its own: scaling or offsetting one row does not change it
    r = np.random.default_rng(0).uniform(20, 80, (50, 16))
    assert np.allclose(minmax_per_step(r * 3.0 + 7.0), minmax_per_step(r))
    assert np.allclose(minmax_per_step(r).min(axis=1), 0) and np.allclose(
        minmax_per_step(r).max(axis=1), 1
    )
    buf = np.zeros((1, 16), np.float32)
    for row in (r[0], np.where(np.arange(16) == 3, np.nan, r[1])):
        minmax_one(row, buf)
        assert np.allclose(buf[0], minmax_per_step(row.reshape(1, -1))[0], atol=1e-6)


def test_chronological_split_per_cue() -> None:
    cues = ["rest"] * 10 + ["fingers"] * 10 + ["rest"] * 10 + ["wrist"] * 20 + [""] * 3
    tr, te = chronological_split(cues, 0.8)
    arr = np.array(cues)
    for c in ("rest", "fingers", "wrist"):
        idx = np.flatnonzero(arr == c)
        assert tr[idx].sum() == round(0.8 * idx.size)
        assert idx[tr[idx]].max() < idx[te[idx]].min()  # train strictly before test
    assert not tr[-3:].any() and not te[-3:].any()


def test_model_shapes_and_table() -> None:
    net = McnnTG(ModelConfig())
    logits, level = net(torch.zeros(5, 16))
    assert logits.shape == (5, len(CLASSES)) and level.shape == (5,)
    rows = layer_table(net)
    assert sum(r["params"] for r in rows) == count_parameters(net)
    convs = [r for r in rows if r["layer"] == "Conv1d"]
    norms = [r for r in rows if r["layer"] == "BatchNorm1d"]
    assert len(convs) == 3 and len(norms) == 3  # the paper's three (conv + BN) packs
    assert convs[-1]["output"] == [16, 16]


@pytest.fixture(scope="module")
def small_rec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mcnn") / "sim.csv"
    sim = Simulator(SimConfig(layout="socket16", seed=5, repetitions=4))
    block = sim.generate_all()
    with RecordingWriter(path, sim.info, sim.n_sensors) as w:
        for f in block.frames():
            w.write(Simulator.to_sample(f, 0.0))
    return path


def test_short_training_learns(small_rec: Path) -> None:
    rec = load_labelled(small_rec)
    tr = build_arrays([rec], "train")
    te = build_arrays([rec], "test")
    assert len(tr) > 3 * len(te) > 0
    cfg = TrainConfig(epochs=25, batch=256, seed=0, threads=1, eval_every=5)
    res = train_model(tr, te, ModelConfig(), cfg)
    losses = [h.loss for h in res.history]
    assert losses[-1] < 0.5 * losses[0]
    acc = res.history[-1].val_acc
    assert acc > 0.8, f"type accuracy {acc:.3f}; chance among three movements is ~0.33"
    # same seed, same result (deterministic on one thread)
    res2 = train_model(tr, te, ModelConfig(), TrainConfig(epochs=2, batch=256, seed=0, threads=1))
    res3 = train_model(tr, te, ModelConfig(), TrainConfig(epochs=2, batch=256, seed=0, threads=1))
    assert res2.history[-1].loss == res3.history[-1].loss
    # beyond-the-paper cosine decay: runs, and differs from the constant-lr run
    res4 = train_model(tr, te, ModelConfig(), TrainConfig(epochs=2, batch=256, seed=0, cosine=True))
    assert np.isfinite(res4.history[-1].loss) and res4.history[-1].loss != res2.history[-1].loss


def test_onnx_export_parity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = McnnTG(ModelConfig())
    # give batch norm non-trivial running statistics before freezing it
    net.train()
    with torch.no_grad():
        for _ in range(5):
            net(torch.rand(64, 16))
    net.eval()
    path = tmp_path / "m.onnx"
    export_onnx(net, path)
    x = np.random.default_rng(1).uniform(0, 1, (200, 16)).astype(np.float32)
    assert onnx_parity(net, path, x) < 1e-5
