"""Export a trained MCNN-TG to ONNX and write the model bundle (model.onnx + model.json)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

import bridge
from bridge.decoders.mcnn import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    INPUT_NAME,
    LEVEL_OUTPUT,
    MODEL_FILE,
    MODEL_JSON,
    PROBS_OUTPUT,
)
from bridge.json_io import write_json_atomic
from bridge.training.dataset import file_sha256
from bridge.training.model import McnnExport, McnnTG, count_parameters

OPSET = 17


def export_onnx(net: McnnTG, path: str | Path) -> None:
    """Write `net` (eval mode, batch norm frozen) as ONNX with a dynamic batch axis."""
    net.eval()
    wrapper = McnnExport(net).eval()
    dummy = torch.zeros(1, net.cfg.n_sensors)
    # The TorchScript exporter (dynamo=False) is mature for this small static graph and
    # needs no onnxscript; opset 17 runs on onnxruntime 1.17+.
    with warnings.catch_warnings():
        # torch 2.9+ flags the TorchScript exporter as legacy; it is still supported
        # and exports this graph in well under a second (the dynamo path takes ~8 s).
        warnings.simplefilter("ignore", DeprecationWarning)
        _export(wrapper, dummy, path)


def _export(wrapper: torch.nn.Module, dummy: torch.Tensor, path: str | Path) -> None:
    torch.onnx.export(
        wrapper,
        (dummy,),
        str(path),
        input_names=[INPUT_NAME],
        output_names=[PROBS_OUTPUT, LEVEL_OUTPUT],
        dynamic_axes={
            INPUT_NAME: {0: "batch"},
            PROBS_OUTPUT: {0: "batch"},
            LEVEL_OUTPUT: {0: "batch"},
        },
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )


def onnx_parity(net: McnnTG, onnx_path: str | Path, x: np.ndarray) -> float:
    """Largest absolute difference between torch and onnxruntime outputs on `x`."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    probs_o, level_o = sess.run(None, {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})
    with torch.no_grad():
        probs_t, level_t = McnnExport(net.eval())(torch.from_numpy(np.asarray(x, dtype=np.float32)))
    return float(
        max(np.max(np.abs(probs_o - probs_t.numpy())), np.max(np.abs(level_o - level_t.numpy())))
    )


def software_versions() -> dict[str, str]:
    """Versions recorded in the bundle for provenance."""
    import onnx

    return {
        "fist_and_ball": bridge.__version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def check_finite_weights(net: McnnTG) -> None:
    """Refuse a network with NaN or infinite weights (ValueError naming the tensor).

    Such a bundle would load and answer "rest, grade 0" forever; better no bundle.
    """
    for name, tensor in net.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(
                f"training produced non-finite weights ({name}); no bundle written. "
                "Check the recordings for extreme values or lower --lr"
            )


def write_bundle(
    out_dir: str | Path,
    net: McnnTG,
    *,
    layout: str | None,
    rate_hz: float | None,
    classes: tuple[str, ...],
    training: dict[str, Any],
    metrics: dict[str, Any],
    recordings: list[str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export the network and write model.json next to it. Returns the JSON written."""
    check_finite_weights(net)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / MODEL_FILE
    tmp = out / (MODEL_FILE + ".tmp")
    export_onnx(net, tmp)
    os.replace(tmp, onnx_path)
    meta: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "model_file": MODEL_FILE,
        "model_sha256": file_sha256(onnx_path),
        "onnx_opset": OPSET,
        "layout": layout,
        "n_sensors": net.cfg.n_sensors,
        "rate_hz": rate_hz,
        "normalisation": "minmax_per_step",
        "input": {"name": INPUT_NAME, "shape": ["batch", net.cfg.n_sensors], "dtype": "float32"},
        "outputs": {
            PROBS_OUTPUT: "softmax over gestures, shape (batch, classes)",
            LEVEL_OUTPUT: "grade / 8 clipped to 0..1, shape (batch,)",
        },
        "gestures": list(classes),
        "grade_scale": {
            "grades": 9,
            "level_to_grade": "round(level * 8)",
            "degrees_per_grade": 22.5,
        },
        "architecture": {
            "name": "MCNN-TG",
            **net.cfg.to_dict(),
            "parameters": count_parameters(net),
        },
        "training": {
            **training,
            "recordings": [{"file": Path(p).name, "sha256": file_sha256(p)} for p in recordings],
        },
        "metrics": metrics,
        "software": software_versions(),
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if extra:
        meta.update(extra)
    write_json_atomic(out / MODEL_JSON, meta)
    return meta


def update_bundle_json(out_dir: str | Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge `updates` into an existing bundle's model.json (e.g. metrics after export)."""
    path = Path(out_dir) / MODEL_JSON
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.update(updates)
    write_json_atomic(path, meta)
    return dict(meta)
