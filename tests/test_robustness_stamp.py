"""bench/robustness.py --reuse: a MCNN-TG bundle is reused only when it was trained with
the same recipe, TrainConfig and ModelConfig included (its model.json records them); a
bundle stamped before those were in the stamp stays reusable while they are unchanged."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bridge.training.model import ModelConfig
from bridge.training.train import TrainConfig

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _robustness() -> Any:  # the bench script as a module (bench/ is not a package)
    sys.path.insert(0, str(BENCH))
    try:
        import robustness
    finally:
        sys.path.remove(str(BENCH))
    return robustness


def _fake_training(calls: list[Path]) -> Any:
    """A stand-in for train_bundle that writes what the real one records in model.json."""

    def train(out: Path, cfg: TrainConfig, model: ModelConfig) -> None:
        calls.append(out)
        out.mkdir(parents=True, exist_ok=True)
        arch = {"name": "MCNN-TG", **model.to_dict(), "n_sensors": 18}
        meta = {"training": {**cfg.to_dict(), "loss": "x"}, "architecture": arch}
        (out / "model.json").write_text(json.dumps(meta), encoding="utf-8")

    return train


def test_a_changed_train_or_model_config_retrains(tmp_path: Path) -> None:
    rb = _robustness()
    calls: list[Path] = []
    train = _fake_training(calls)

    def bundle(cfg: TrainConfig, model: ModelConfig) -> None:
        stamp = {"epochs": cfg.epochs, **rb.config_stamp(cfg, model)}
        rb._bundle(tmp_path, "mcnn", stamp, 0.0, lambda d: train(d, cfg, model))

    base = TrainConfig(epochs=3)
    bundle(base, ModelConfig())
    bundle(base, ModelConfig())
    assert len(calls) == 1  # same recipe: reused
    bundle(TrainConfig(epochs=3, batch=512), ModelConfig())
    assert len(calls) == 2  # another batch size: retrained
    bundle(TrainConfig(epochs=3, batch=512), ModelConfig(hidden=64))
    assert len(calls) == 3  # another network: retrained
    bundle(TrainConfig(epochs=3, batch=512), ModelConfig(hidden=64))
    assert len(calls) == 3


def test_an_old_stamp_is_reusable_while_the_configs_are_unchanged(tmp_path: Path) -> None:
    rb = _robustness()
    calls: list[Path] = []
    cfg = TrainConfig(epochs=3)
    _fake_training(calls)(tmp_path / "mcnn", cfg, ModelConfig())
    meta_file = tmp_path / "mcnn" / "model.json"
    meta = json.loads(meta_file.read_text())
    del meta["training"]["normalisation"]  # a bundle older than that TrainConfig field
    meta_file.write_text(json.dumps(meta))
    (tmp_path / "mcnn.recipe.json").write_text(json.dumps({"epochs": 3}))  # the old stamp
    defaults = rb.default_config_stamp()
    stored = {"epochs": 3}
    same = {"epochs": 3, **rb.config_stamp(cfg, ModelConfig())}
    assert rb.bundle_matches(tmp_path / "mcnn", stored, same, defaults)
    other = {"epochs": 3, **rb.config_stamp(TrainConfig(epochs=3, lr=3e-3), ModelConfig())}
    assert not rb.bundle_matches(tmp_path / "mcnn", stored, other, defaults)
    standard = TrainConfig(epochs=3, normalisation="standard_per_channel")
    assert not rb.bundle_matches(
        tmp_path / "mcnn",
        stored,
        {"epochs": 3, **rb.config_stamp(standard, ModelConfig())},
        defaults,
    )
    assert not rb.bundle_matches(tmp_path / "mcnn", {"epochs": 4}, same, defaults)
    assert not rb.bundle_matches(tmp_path / "gone", stored, same, defaults)
