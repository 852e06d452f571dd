"""McnnDecoder: a real bundle (tiny training run) decoded per Sample with onnxruntime."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bridge.decoders.factory import open_decoder
from bridge.decoders.mcnn import McnnDecoder, ModelBundleError
from bridge.recording import RecordingWriter
from bridge.sim.config import SimConfig
from bridge.sim.simulator import Simulator
from bridge.values.sample import N_GRADES, Sample
from bridge.values.source_info import SourceInfo

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bridge.training.train import TrainConfig, train_bundle

    d = tmp_path_factory.mktemp("mcnn_dec")
    rec = d / "sim.csv"
    sim = Simulator(SimConfig(layout="socket16", seed=7, repetitions=3))
    block = sim.generate_all()
    with RecordingWriter(rec, sim.info, sim.n_sensors) as w:
        for f in block.frames():
            w.write(Simulator.to_sample(f, 0.0))
    out = d / "model"
    train_bundle([str(rec)], str(out), TrainConfig(epochs=15, batch=256, threads=1))
    return out


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    sim = Simulator(SimConfig(layout="socket16", seed=8, repetitions=2))
    return [Simulator.to_sample(f, 0.0) for f in sim.generate(1500)]


def info16(layout: str | None = "socket16", n: int = 16) -> SourceInfo:
    return SourceInfo(n_sensors=n, rate_hz=42.7, layout=layout)


def test_bundle_files_and_metadata(bundle: Path) -> None:
    meta = json.loads((bundle / "model.json").read_text())
    for key in (
        "layout",
        "n_sensors",
        "normalisation",
        "gestures",
        "grade_scale",
        "metrics",
        "training",
        "software",
        "created_at",
        "model_sha256",
    ):
        assert key in meta, key
    assert meta["layout"] == "socket16" and meta["n_sensors"] == 16
    assert meta["training"]["epochs"] == 15 and meta["training"]["seed"] == 0
    assert len(meta["training"]["recordings"][0]["sha256"]) == 64
    assert (bundle / "linear.json").is_file()


def test_decode_gives_valid_fields(bundle: Path, samples: list[Sample]) -> None:
    dec = McnnDecoder.load(bundle, info16())
    assert dec.name == "mcnn" and dec.ready
    outs = [dec.decode(s) for s in samples]
    for s, d in zip(samples, outs, strict=True):
        assert d.seq == s.seq
        assert d.gesture in dec.gestures
        assert 0 <= d.grade < N_GRADES and d.grade == round(d.level * 8)
        assert 0.0 <= d.level <= 1.0 and 0.0 <= d.confidence <= 1.0
    # per-sample decode agrees with the batch path used by the evaluation
    mags = np.stack([s.magnitudes for s in samples])
    names, level, _conf = dec.decode_batch(mags)
    assert list(names) == [d.gesture for d in outs]
    assert np.allclose(level, [d.level for d in outs], atol=1e-5)
    # the tiny model already follows the movement: high grades only when flexed
    truth = np.array([s.grade_true for s in samples])
    assert np.corrcoef(truth, level)[0, 1] > 0.8
    assert dec.describe()["decoder"] == "mcnn"


def test_dead_sensor_is_handled(bundle: Path, samples: list[Sample]) -> None:
    dec = McnnDecoder.load(bundle)
    s = samples[400]
    good = dec.decode(s)
    f = s.field_ut.copy()
    f[3] = np.nan
    dead = dec.decode(Sample.from_field(s.seq, s.t_device, s.t_host, f))
    # the dead channel holds its last reading: same answer, confidence scaled by 15/16
    assert dead.gesture == good.gesture and dead.grade == good.grade
    assert dead.confidence == pytest.approx(good.confidence * 15 / 16, rel=1e-5)
    fresh = McnnDecoder.load(bundle)  # never saw sensor 3 alive: imputed, still valid
    d2 = fresh.decode(Sample.from_field(s.seq, s.t_device, s.t_host, f))
    assert 0 <= d2.grade < N_GRADES and d2.confidence <= 15 / 16 + 1e-9
    all_dead = dec.decode(Sample.from_field(1, 0.0, 0.0, np.full((16, 3), np.nan)))
    assert all_dead.gesture == "rest" and all_dead.confidence == 0.0


def test_wrong_source_and_sample_refused(bundle: Path, samples: list[Sample]) -> None:
    with pytest.raises(ModelBundleError, match="expects 16 sensors"):
        McnnDecoder.load(bundle, info16(layout="myo3", n=3))
    with pytest.raises(ModelBundleError, match="layout"):
        McnnDecoder.load(bundle, info16(layout="socket16b"))
    McnnDecoder.load(bundle, info16(layout=None))  # unknown layout: sensor count decides
    dec = McnnDecoder.load(bundle)
    with pytest.raises(ValueError, match="16 sensors"):
        dec.decode(Sample.from_field(0, 0.0, 0.0, np.ones((3, 3))))


def test_missing_and_corrupt_bundles(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelBundleError, match="not found"):
        McnnDecoder.load(tmp_path / "nope")
    bad = tmp_path / "b"
    shutil.copytree(bundle, bad)
    (bad / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelBundleError, match="sha256"):
        McnnDecoder.load(bad)
    meta = json.loads((bad / "model.json").read_text())
    meta.pop("model_sha256")
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelBundleError, match="not a valid ONNX"):
        McnnDecoder.load(bad)
    (bad / "model.onnx").unlink()
    with pytest.raises(ModelBundleError, match="missing"):
        McnnDecoder.load(bad)
    (bad / "model.json").write_text("{ truncated")
    with pytest.raises(ModelBundleError, match="unreadable"):
        McnnDecoder.load(bad)
    (bad / "model.json").unlink()
    with pytest.raises(ModelBundleError, match="missing"):
        McnnDecoder.load(bad)


def test_factory_opens_mcnn(bundle: Path) -> None:
    dec = open_decoder(f"mcnn:{bundle}", info16())
    assert dec.name == "mcnn"
    with pytest.raises(ValueError):
        open_decoder("mcnn:/no/such/dir", info16())
