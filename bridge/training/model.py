"""The MCNN-TG network (PyTorch): one time step of n magnitudes -> (type logits, level).

Paper: three packs of (convolution + batch normalisation) over the normalised channels,
then two fully connected heads, gesture type (classification) and grade (regression).
The convolution runs along the sensor axis (the 16 channels are the "signal"); each pack
adds a ReLU after the batch norm (the paper does not name its activation; without one the
three packs would collapse into one linear map).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Shape of the network. Defaults are sized for 500 epochs in < 5 min on 2 cores."""

    n_sensors: int = 16
    n_classes: int = 4
    channels: tuple[int, int, int] = (8, 16, 16)
    kernel: int = 3
    hidden: int = 32
    circular: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ModelConfig:
        return ModelConfig(
            n_sensors=int(d["n_sensors"]),
            n_classes=int(d["n_classes"]),
            channels=tuple(int(c) for c in d["channels"]),  # type: ignore[arg-type]
            kernel=int(d["kernel"]),
            hidden=int(d["hidden"]),
            circular=bool(d.get("circular", False)),
        )


class McnnTG(nn.Module):
    """Multi-target CNN, type and grade. Input (B, n) normalised magnitudes."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c_in = 1
        pad_mode: Literal["circular", "zeros"] = "circular" if cfg.circular else "zeros"
        for c_out in cfg.channels:
            layers += [
                nn.Conv1d(c_in, c_out, cfg.kernel, padding=cfg.kernel // 2, padding_mode=pad_mode),
                nn.BatchNorm1d(c_out),
                nn.ReLU(),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        flat = c_in * cfg.n_sensors
        self.type_head = nn.Sequential(
            nn.Linear(flat, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.n_classes)
        )
        self.grade_head = nn.Sequential(
            nn.Linear(flat, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n) -> (type logits (B, classes), level (B,) ~ 0..1)."""
        h = self.features(x.unsqueeze(1)).flatten(1)
        return self.type_head(h), self.grade_head(h).squeeze(1)


class McnnExport(nn.Module):
    """What goes into ONNX: softmax probabilities instead of logits, level clipped to 0..1."""

    def __init__(self, net: McnnTG) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, level = self.net(x)
        return torch.softmax(logits, dim=1), torch.clamp(level, 0.0, 1.0)


def count_parameters(net: nn.Module) -> int:
    """Trainable parameters."""
    return int(sum(p.numel() for p in net.parameters() if p.requires_grad))


def layer_table(net: McnnTG) -> list[dict[str, Any]]:
    """Rows (layer, output shape, parameters) for the docs, traced with a batch of one."""
    rows: list[dict[str, Any]] = []
    hooks = []

    def hook(mod: nn.Module, _inp: Any, out: Any) -> None:
        shape = list(out.shape[1:]) if isinstance(out, torch.Tensor) else None
        n = sum(p.numel() for p in mod.parameters(recurse=False))
        rows.append({"layer": type(mod).__name__, "output": shape, "params": int(n)})

    for name, mod in net.named_modules():
        if name and not list(mod.children()):
            hooks.append(mod.register_forward_hook(hook))
    was_training = net.training
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, net.cfg.n_sensors))
    net.train(was_training)
    for h in hooks:
        h.remove()
    return rows
