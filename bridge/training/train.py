"""MCNN-TG training loop: full-batch tensors in memory, Adam, CE + weighted MSE.

Settings follow the paper (Adam, lr 1e-3, betas 0.9/0.999, 500 epochs). The held-out
part is only watched (progress bar, final metrics): there is no early stopping or model
selection on it, so the reported test numbers are not tuned on the test set.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from torch import nn

from bridge.decoders.linear import LINEAR_FILE, LinearModel
from bridge.decoders.mcnn import NORMALISATIONS, McnnDecoder
from bridge.signal.labels import LabelParams
from bridge.signal.metrics import evaluate, predictions_from_arrays
from bridge.tracking.twin import Twin
from bridge.training.dataset import (
    CLASSES,
    Arrays,
    LabelledRecording,
    build_arrays,
    check_compatible,
    load_labelled,
)
from bridge.training.export import update_bundle_json, write_bundle
from bridge.training.model import McnnTG, ModelConfig
from bridge.training.motor_pattern import fit_motor_pattern
from bridge.training.twin_sessions import (
    SynthConfig,
    background_ut,
    check_twin_fits,
    concat_arrays,
    synth_arrays,
    synthesise,
    twin_sha256,
)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Optimiser and loop settings."""

    epochs: int = 500
    batch: int = 1024
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    grade_weight: float = 10.0
    seed: int = 0
    threads: int = 1
    """One thread by default: these layers are tiny, and measured on the 2-core machine
    two threads were 2.7x slower per epoch (synchronisation), not faster."""
    eval_every: int = 5
    cosine: bool = False
    """Beyond the paper: anneal the learning rate along a cosine to 2% by the last epoch
    (the paper keeps it constant). Steadies the final weights."""
    normalisation: str = "minmax_per_step"
    """The network's input (bridge.decoders.mcnn.NORMALISATIONS): the paper's per-step
    min-max, or per-channel standardisation with the training set's constants."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


@dataclass(slots=True)
class EpochReport:
    """One progress tick."""

    epoch: int
    epochs: int
    loss: float
    val_acc: float
    val_mae: float
    elapsed_s: float

    @property
    def eta_s(self) -> float:
        return self.elapsed_s / max(self.epoch, 1) * (self.epochs - self.epoch)


@dataclass(slots=True)
class TrainResult:
    """The trained network and its history."""

    net: McnnTG
    history: list[EpochReport] = field(default_factory=list)
    duration_s: float = 0.0


def _fmt_s(s: float) -> str:
    s = max(0, round(s))
    return f"{s // 60}m{s % 60:02d}s"


class ProgressBar:
    """One self-overwriting line on a terminal; a line every ~10% when piped (logs)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_decile = -1

    def __call__(self, r: EpochReport) -> None:
        frac = r.epoch / r.epochs
        width = 24
        done = int(frac * width)
        bar = "#" * done + "." * (width - done)
        acc = "  n/a " if math.isnan(r.val_acc) else f"{100 * r.val_acc:6.2f}%"
        mae = " n/a" if math.isnan(r.val_mae) else f"{r.val_mae:.3f}"
        line = (
            f"epoch {r.epoch:>4}/{r.epochs} [{bar}] loss {r.loss:.4f} "
            f"val acc {acc} val MAE {mae} grade  ETA {_fmt_s(r.eta_s)}"
        )
        if self.tty:
            end = "\n" if r.epoch == r.epochs else ""
            self.stream.write("\r" + line + end)
            self.stream.flush()
        else:
            decile = int(frac * 10)
            if decile != self._last_decile or r.epoch == r.epochs:
                self._last_decile = decile
                self.stream.write(line + "\n")
                self.stream.flush()


def _tensors(a: Arrays) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.from_numpy(np.ascontiguousarray(a.x, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(a.y_type, dtype=np.int64)),
        torch.from_numpy(np.ascontiguousarray(a.y_level, dtype=np.float32)),
    )


@torch.no_grad()
def predict(net: McnnTG, x: np.ndarray, batch: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (M, C), level (M,)) in eval mode."""
    was = net.training
    net.eval()
    probs, levels = [], []
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    for i in range(0, xt.shape[0], batch):
        lo, lv = net(xt[i : i + batch])
        probs.append(torch.softmax(lo, 1).numpy())
        levels.append(lv.clamp(0, 1).numpy())
    net.train(was)
    if not probs:
        return np.zeros((0, net.cfg.n_classes), np.float32), np.zeros(0, np.float32)
    return np.concatenate(probs), np.concatenate(levels)


def _val_metrics(net: McnnTG, val: Arrays, rest_index: int) -> tuple[float, float]:
    """Type accuracy where the derived grade >= 1 (movement under way) and grade MAE."""
    if len(val) == 0:
        return float("nan"), float("nan")
    probs, level = predict(net, val.x)
    moving = (val.y_level * 8.0 >= 1.0) & (val.y_type != rest_index)
    acc = (
        float(np.mean(probs[moving].argmax(1) == val.y_type[moving]))
        if moving.any()
        else float("nan")
    )
    mae = float(np.mean(np.abs(level - val.y_level)) * 8.0)
    return acc, mae


def train_model(
    train: Arrays,
    val: Arrays | None,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    progress: Callable[[EpochReport], None] | None = None,
    rest_index: int = 0,
) -> TrainResult:
    """Train MCNN-TG on `train`, watching `val`. Deterministic for a given seed and threads."""
    if len(train) == 0:
        raise ValueError("no training samples")
    if cfg.epochs < 1 or cfg.batch < 1:
        raise ValueError("epochs and batch must be >= 1")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = McnnTG(model_cfg)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=cfg.betas)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=0.02 * cfg.lr)
        if cfg.cosine
        else None
    )
    ce = nn.CrossEntropyLoss()
    x, y, lv = _tensors(train)
    n = x.shape[0]
    # A final batch of one sample would break batch norm: fold it into the previous one.
    starts = list(range(0, n, cfg.batch))
    if len(starts) > 1 and n - starts[-1] < 2:
        starts.pop()
    ends = [*starts[1:], n]
    result = TrainResult(net=net)
    t0 = time.perf_counter()
    val_acc = val_mae = float("nan")
    for epoch in range(1, cfg.epochs + 1):
        net.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for a, b in zip(starts, ends, strict=True):
            idx = perm[a:b]
            logits, level = net(x[idx])
            loss = ce(logits, y[idx]) + cfg.grade_weight * torch.mean((level - lv[idx]) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * (b - a)
        if sched is not None:
            sched.step()
        if val is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            val_acc, val_mae = _val_metrics(net, val, rest_index)
        rep = EpochReport(epoch, cfg.epochs, total / n, val_acc, val_mae, time.perf_counter() - t0)
        result.history.append(rep)
        if progress is not None:
            progress(rep)
    net.eval()
    result.duration_s = time.perf_counter() - t0
    return result


@dataclass(frozen=True)
class TwinAugment:
    """Sessions to synthesise from a fitted twin and add to the training part."""

    twin_path: str
    config: SynthConfig = field(default_factory=SynthConfig)
    motor_recording: str | None = None
    """A hand-sweep recording (`bridge.training.motor_pattern`): the hand's own motor,
    measured, plays in a share of the motor sessions."""


def _synthesised(
    aug: TwinAugment, recs: list[LabelledRecording], say: Callable[[str], None]
) -> tuple[Arrays, dict[str, Any]]:
    """Check the twin against the recordings, measure the background, synthesise."""
    path = Path(aug.twin_path)
    if not path.is_file():
        raise ValueError(f"twin {path} not found")
    twin = Twin.load(path)
    for r in recs:
        check_twin_fits(twin, r.n_sensors, r.meta.get("positions_mm"), str(path))
    earth = np.median([background_ut(twin, r.field_ut, r.cues) for r in recs], axis=0)
    say(
        f"synthesising {aug.config.sessions} sessions from twin {path.name} "
        f"(background {np.linalg.norm(earth):.1f} uT measured in the recordings)"
    )
    motor = None
    if aug.motor_recording is not None:
        if not Path(aug.motor_recording).is_file():
            raise ValueError(f"motor recording {aug.motor_recording} not found")
        motor = fit_motor_pattern(aug.motor_recording, twin)
        say(
            f"measured motor from {Path(aug.motor_recording).name}: "
            f"{motor.closures.size} poses, fit residual {motor.residual_ut:.2f} uT RMS"
        )
    t0 = time.perf_counter()
    syn = synthesise(twin, aug.config, earth_ut=earth, rate_hz=recs[0].rate_hz, motor=motor)
    say(f"synthesised {len(syn)} samples in {time.perf_counter() - t0:.1f} s")
    record = {"twin_file": path.name, "twin_sha256": twin_sha256(path), **syn.summary}
    return synth_arrays(syn, CLASSES), record


def train_bundle(
    paths: list[str],
    out_dir: str,
    cfg: TrainConfig,
    model_cfg: ModelConfig | None = None,
    label_params: LabelParams | None = None,
    split: float = 0.8,
    progress: Callable[[EpochReport], None] | None = None,
    log: Callable[[str], None] | None = None,
    synth: TwinAugment | None = None,
) -> dict[str, Any]:
    """Recordings -> labels -> split -> train -> model bundle (ONNX + JSON + linear baseline).

    `synth`: sessions synthesised from the patient's twin join the training part (the
    held-out part stays the recordings'); model.json `synthesis` records them.
    Returns the model.json written. Raises ValueError for unusable recordings or twin.
    """
    say = log or (lambda _m: None)
    label_params = label_params or LabelParams()
    recs = [load_labelled(p, label_params, split) for p in paths]
    n, layout = check_compatible(recs)
    for r in recs:
        moves = [s for s in r.labels.segments if s.cue not in ("", "rest")]
        bad = [s for s in moves if s.sensor is None or not s.extrema]
        say(
            f"{Path(r.path).name}: {r.mags.shape[0]} samples, {len(moves)} movement segments"
            + (f", {len(bad)} unlabelled ({bad[0].note})" if bad else "")
        )
    tr = build_arrays(recs, "train")
    te = build_arrays(recs, "test")
    say(f"train {len(tr)} samples, held-out {len(te)} samples (chronological {split:.0%} per cue)")
    synthesis: dict[str, Any] | None = None
    if synth is not None:
        extra, synthesis = _synthesised(synth, recs, say)
        tr = concat_arrays(tr, extra)
    linear_x = tr.x  # the linear baseline always reads per-step min-max
    bundle_extra: dict[str, Any] = {"normalisation": cfg.normalisation}
    if cfg.normalisation == "standard_per_channel":
        mean = tr.mags.mean(axis=0)
        std = np.maximum(tr.mags.std(axis=0), 1e-3)
        bundle_extra["normalisation_params"] = {"mean": mean.tolist(), "std": std.tolist()}
        tr = replace(tr, x=((tr.mags - mean) / std).astype(np.float32))
        te = replace(te, x=((te.mags - mean) / std).astype(np.float32))
    elif cfg.normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {cfg.normalisation!r}")
    if synthesis is not None:
        bundle_extra["synthesis"] = synthesis
    mcfg = model_cfg or ModelConfig()
    mcfg = ModelConfig(
        **{**mcfg.to_dict(), "n_sensors": n, "n_classes": len(CLASSES), "channels": mcfg.channels}
    )
    res = train_model(tr, te, mcfg, cfg, progress, rest_index=CLASSES.index("rest"))
    say(f"trained {cfg.epochs} epochs in {res.duration_s:.1f} s")
    rate = recs[0].rate_hz
    training = {
        **cfg.to_dict(),
        "loss": f"cross-entropy + {cfg.grade_weight:g} x MSE(level)",
        "split": f"chronological, first {split:.0%} of each cue's samples train",
        "label_params": asdict(label_params),
        "train_samples": len(tr),
        "test_samples": len(te),
        "duration_s": round(res.duration_s, 2),
        "final_loss": res.history[-1].loss if res.history else None,
    }
    if synthesis is not None:
        training["synthesised_samples"] = synthesis["samples"]
    write_bundle(
        out_dir,
        res.net,
        layout=layout,
        rate_hz=rate,
        classes=CLASSES,
        training=training,
        metrics={},
        recordings=[r.path for r in recs],
        extra=bundle_extra,
    )
    linear = LinearModel.fit(linear_x, tr.y_type, tr.y_level, CLASSES)
    linear.meta = {
        "layout": layout,
        "training": {"recordings": [Path(r.path).name for r in recs], "split": split},
    }
    linear.save(Path(out_dir) / LINEAR_FILE)
    # Held-out metrics from the exported ONNX (what ships), not from torch.
    dec = McnnDecoder.load(out_dir)
    metrics = {
        "part": "held-out: the last 20% of each cue of every training recording",
        "mcnn": evaluate(*predictions_from_arrays("mcnn", dec.decode_batch(te.mags), te, CLASSES)),
        "linear": evaluate(
            *predictions_from_arrays("linear", linear.decode_batch(te.mags), te, CLASSES)
        ),
    }
    return update_bundle_json(out_dir, {"metrics": metrics})
