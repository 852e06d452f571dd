"""MCNN-TG decoder: the exported ONNX network run per sample with onnxruntime (no torch).

Bundle = a directory with `model.onnx` and `model.json` (written by `fist-and-ball train`).
Per sample: |B| of the n sensors -> min-max across channels -> network -> softmax over
gestures + level 0..1 -> Decoded(gesture, grade = round(8 level), level, confidence).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from bridge.decoders.base import Decoder
from bridge.decoders.field_reference import FieldReference, disturbance_factor
from bridge.signal.normalise import minmax_one, minmax_per_step
from bridge.values.sample import N_GRADES, Decoded, Sample
from bridge.values.source_info import SourceInfo
from fist_and_ball.protocol_v1 import REST

BUNDLE_FORMAT = "fist-and-ball-mcnn"
BUNDLE_VERSION = 1
MODEL_FILE = "model.onnx"
MODEL_JSON = "model.json"
INPUT_NAME = "magnitudes"
PROBS_OUTPUT = "type_probs"
LEVEL_OUTPUT = "level"
NORMALISATIONS = ("minmax_per_step", "standard_per_channel")
"""minmax_per_step: each step's magnitudes mapped to 0..1 (the paper); standard_per_channel:
(|B| - mean) / std per channel with the training set's constants in model.json
`normalisation_params` (keeps the absolute level, which a twin-trained model can use)."""


def standard_params(meta: dict[str, Any], where: str = "") -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, 1 / std) per channel for `standard_per_channel`, else None. ModelBundleError."""
    if meta.get("normalisation", "minmax_per_step") != "standard_per_channel":
        return None
    n = int(meta["n_sensors"])
    try:
        p = meta["normalisation_params"]
        mean = np.asarray(p["mean"], dtype=np.float64)
        std = np.asarray(p["std"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise ModelBundleError(
            f"model bundle {where}: normalisation_params missing or bad"
        ) from None
    if mean.shape != (n,) or std.shape != (n,) or not (np.isfinite(mean).all() and (std > 0).all()):
        raise ModelBundleError(
            f"model bundle {where}: normalisation_params must be {n} finite values"
        )
    return mean, 1.0 / std


def types_from_outputs(
    probs: np.ndarray, level: np.ndarray, gestures: tuple[str, ...], rest_below_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Batch form of the decoders' output rule: (gesture names, confidence).

    The arg-max class, except that a level below `rest_below_level` (grade < 0.5) is
    reported as `rest`: at the open pose the movements cannot be told apart.
    """
    k = probs.argmax(axis=1)
    names = np.asarray(gestures, dtype=object)[k]
    names[np.asarray(level) < rest_below_level] = REST
    conf = probs[np.arange(probs.shape[0]), k]
    return names, conf


class ModelBundleError(ValueError):
    """The model bundle is missing, corrupt or does not fit the source."""


def read_bundle_meta(model_dir: str | Path) -> dict[str, Any]:
    """Read and check model.json of a bundle directory. Raises ModelBundleError."""
    d = Path(model_dir)
    if not d.is_dir():
        raise ModelBundleError(
            f"model bundle {d} not found (expected a directory with {MODEL_JSON})"
        )
    jpath = d / MODEL_JSON
    try:
        meta = json.loads(jpath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelBundleError(f"model bundle {d}: {MODEL_JSON} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelBundleError(f"model bundle {d}: {MODEL_JSON} is unreadable ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
        raise ModelBundleError(f"model bundle {d}: {MODEL_JSON} is not a {BUNDLE_FORMAT} file")
    if int(meta.get("format_version", 0)) > BUNDLE_VERSION:
        raise ModelBundleError(
            f"model bundle {d}: format version {meta.get('format_version')} is newer than "
            f"this bridge understands ({BUNDLE_VERSION}); update fist-and-ball"
        )
    for key in ("n_sensors", "gestures"):
        if key not in meta:
            raise ModelBundleError(f"model bundle {d}: {MODEL_JSON} lacks {key!r}")
    if meta.get("normalisation", "minmax_per_step") not in NORMALISATIONS:
        raise ModelBundleError(f"model bundle {d}: unknown normalisation {meta['normalisation']!r}")
    standard_params(meta, str(d))
    return meta


def check_source(meta: dict[str, Any], info: SourceInfo | None, where: str = "") -> None:
    """Refuse a bundle whose sensor count or layout differs from the source's."""
    if info is None:
        return
    n = int(meta["n_sensors"])
    if info.n_sensors is not None and info.n_sensors != n:
        raise ModelBundleError(
            f"model {where} expects {n} sensors ({meta.get('layout') or 'unknown layout'}), "
            f"the source has {info.n_sensors}"
        )
    lay = meta.get("layout")
    if lay and info.layout and info.layout != lay:
        raise ModelBundleError(
            f"model {where} was trained on layout {lay!r}, the source is {info.layout!r}"
        )


def _check_finite_answers(session: Any, n_sensors: int, where: Path) -> None:
    """Refuse a bundle whose network answers NaN/inf (non-finite weights).

    onnxruntime does not expose the weights, so the network is asked: a poisoned
    one answers non-finite for any input, and would otherwise decode "rest, grade 0".
    """
    probe = np.stack(
        [np.zeros(n_sensors), np.linspace(0.0, 1.0, n_sensors), np.ones(n_sensors)]
    ).astype(np.float32)
    answers = session.run([PROBS_OUTPUT, LEVEL_OUTPUT], {INPUT_NAME: probe})
    if not all(np.isfinite(a).all() for a in answers):
        raise ModelBundleError(
            f"model bundle {where}: the network answers NaN/inf (non-finite weights); retrain it"
        )


class McnnDecoder(Decoder):
    """Gesture type and grade from all sensors at once, one time step per call."""

    name = "mcnn"

    def __init__(self, session: Any, meta: dict[str, Any], model_dir: str = "") -> None:
        self._sess = session
        self.meta = meta
        self.model_dir = model_dir
        self.gestures = tuple(str(g) for g in meta["gestures"])
        self.n_sensors = int(meta["n_sensors"])
        self._rest = self.gestures.index(REST) if REST in self.gestures else -1
        self._buf = np.zeros((1, self.n_sensors), dtype=np.float32)
        self._last = np.full(self.n_sensors, np.nan)
        self._feed = {INPUT_NAME: self._buf}
        self._outputs = [PROBS_OUTPUT, LEVEL_OUTPUT]
        self.rest_below_level = 0.5 / (N_GRADES - 1)
        self._standard = standard_params(meta, model_dir)
        self.reference: FieldReference | None = None
        """Environment report (confidence only; the network's input is unchanged): set by
        `mcnn:DIR?reference=CAL.json` (docs/environment_rejection.md)."""

    @staticmethod
    def load(
        model_dir: str | Path, info: SourceInfo | None = None, threads: int = 1
    ) -> McnnDecoder:
        """Open a bundle; check it fits `info` (n_sensors, layout). Raises ModelBundleError."""
        import onnxruntime as ort  # the bridge's only ML dependency at run time

        d = Path(model_dir)
        meta = read_bundle_meta(d)
        check_source(meta, info, str(d))
        mpath = d / str(meta.get("model_file", MODEL_FILE))
        if not mpath.is_file():
            raise ModelBundleError(f"model bundle {d}: {mpath.name} is missing")
        data = mpath.read_bytes()
        want = meta.get("model_sha256")
        if want and hashlib.sha256(data).hexdigest() != want:
            raise ModelBundleError(
                f"model bundle {d}: {mpath.name} does not match its sha256 in {MODEL_JSON}"
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelBundleError(
                f"model bundle {d}: {mpath.name} is not a valid ONNX model ({exc})"
            ) from None
        ins = sess.get_inputs()
        if len(ins) != 1 or ins[0].name != INPUT_NAME or ins[0].shape[-1] != int(meta["n_sensors"]):
            raise ModelBundleError(f"model bundle {d}: ONNX input does not match {MODEL_JSON}")
        outs = {o.name for o in sess.get_outputs()}
        if not {PROBS_OUTPUT, LEVEL_OUTPUT} <= outs:
            raise ModelBundleError(f"model bundle {d}: ONNX outputs {sorted(outs)} lack type/level")
        _check_finite_answers(sess, int(meta["n_sensors"]), d)
        return McnnDecoder(sess, meta, str(d))

    def normalise(self, mags: np.ndarray) -> np.ndarray:
        """(M, n) magnitudes -> the network's float32 input per the bundle's normalisation."""
        if self._standard is None:
            return minmax_per_step(mags).astype(np.float32)
        x = (mags - self._standard[0]) * self._standard[1]
        return np.nan_to_num(x, nan=0.0).astype(np.float32)

    def predict_batch(self, mags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Offline use (evaluation): (M, n) magnitudes -> (probabilities (M, C), level (M,))."""
        x = self.normalise(np.asarray(mags, dtype=np.float64))
        if x.shape[0] == 0:
            return np.zeros((0, len(self.gestures)), np.float32), np.zeros(0, np.float32)
        probs, level = self._sess.run(self._outputs, {INPUT_NAME: x})
        return np.asarray(probs), np.asarray(level).reshape(-1)

    def decode_batch(self, mags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Offline: (M, n) magnitudes -> (gesture names, level, confidence), as `decode` would."""
        probs, level = self.predict_batch(mags)
        names, conf = types_from_outputs(probs, level, self.gestures, self.rest_below_level)
        dead = np.isnan(np.asarray(mags)).sum(axis=1)
        return names, level.astype(np.float64), conf * (1.0 - dead / self.n_sensors)

    def decode(self, sample: Sample) -> Decoded:
        mags = sample.magnitudes
        if mags.shape[0] != self.n_sensors:
            raise ValueError(
                f"mcnn model expects {self.n_sensors} sensors, sample has {mags.shape[0]}"
            )
        dead = np.isnan(mags)
        n_dead = int(dead.sum())
        if n_dead == 0:
            self._last[:] = mags
        elif n_dead == self.n_sensors:
            # Nothing to decode: report rest with zero confidence (the safety layer holds).
            return Decoded(sample.seq, sample.t_host, REST, 0, 0.0, 0.0)
        else:
            # A dead channel holds its last good reading (a dropout is short); never seen
            # alive, it reads the step's minimum (minmax_one's NaN rule).
            mags = np.where(dead, self._last, mags)
        if self._standard is None:
            minmax_one(mags, self._buf)
        else:
            # never seen alive: the channel reads its training mean (0 after scaling)
            np.multiply(mags - self._standard[0], self._standard[1], out=self._buf[0])
            np.nan_to_num(self._buf, copy=False, nan=0.0)
        probs, level = self._sess.run(self._outputs, self._feed)
        p = probs[0]
        k = int(p.argmax())
        lv = float(level[0])
        conf = float(p[k])
        if n_dead:
            # A dead channel reads as the step's minimum: the input is off-distribution.
            conf *= 1.0 - n_dead / self.n_sensors
        gesture = self.gestures[k]
        if k == self._rest or lv < self.rest_below_level:
            gesture = REST
        if math.isnan(lv):
            lv, conf = 0.0, 0.0
        if self.reference is not None:
            _, excess = self.reference.step(sample.field_ut)
            conf *= disturbance_factor(excess, self.reference.span_ut)
        return Decoded(sample.seq, sample.t_host, gesture, round(lv * (N_GRADES - 1)), lv, conf)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(
            {
                "model_dir": self.model_dir,
                "layout": self.meta.get("layout"),
                "n_sensors": self.n_sensors,
                "created_at": self.meta.get("created_at"),
            }
        )
        return d
