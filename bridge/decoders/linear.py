"""Linear baseline for MCNN-TG: same input (one normalised time step), linear maps only.

Type: linear discriminant analysis (shared covariance, ridge-regularised; softmax of the
discriminants gives a confidence). Grade: ridge least squares of level (grade / 8) on the
16 normalised magnitudes, one map per gesture class, applied after the type decision (a
single map across gestures cannot be right: the same sensor rises for one movement and
falls for another; the likeliest movement's map is used even when `rest` wins). Fitted
in closed form with numpy; saved as JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from bridge.decoders.base import Decoder
from bridge.decoders.mcnn import types_from_outputs
from bridge.signal.normalise import minmax_one, minmax_per_step
from bridge.values.sample import N_GRADES, Decoded, Sample
from bridge.values.source_info import SourceInfo
from fist_and_ball.protocol_v1 import REST

LINEAR_FORMAT = "fist-and-ball-linear"
LINEAR_VERSION = 1
LINEAR_FILE = "linear.json"


class LinearModelError(ValueError):
    """The linear model file is missing, corrupt or does not fit the source."""


def _ridge(a: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Solve min |a w - y|^2 + lam |w|^2 (bias column unpenalised)."""
    reg = lam * np.eye(a.shape[1])
    reg[-1, -1] = 0.0
    return np.asarray(np.linalg.solve(a.T @ a + reg, a.T @ y))


class LinearModel:
    """LDA type classifier + per-class ridge grade regression on normalised magnitudes."""

    def __init__(
        self,
        gestures: tuple[str, ...],
        lda_coef: np.ndarray,
        lda_intercept: np.ndarray,
        grade_coef: np.ndarray,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.gestures = gestures
        self.lda_coef = np.asarray(lda_coef, dtype=np.float64)  # (C, n)
        self.lda_intercept = np.asarray(lda_intercept, dtype=np.float64)  # (C,)
        self.grade_coef = np.asarray(grade_coef, dtype=np.float64)  # (C, n + 1), last = bias
        self.meta = dict(meta or {})
        self.n_sensors = int(self.lda_coef.shape[1])

    @staticmethod
    def fit(
        x: np.ndarray,
        y_type: np.ndarray,
        y_level: np.ndarray,
        gestures: tuple[str, ...],
        shrinkage: float = 1e-3,
        ridge: float = 1e-8,
    ) -> LinearModel:
        """Fit on normalised inputs x (M, n), class indices y_type and levels 0..1.

        `shrinkage` regularises the LDA covariance (fraction of its mean eigenvalue);
        `ridge` the grade least squares (per sample).
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != y_type.shape[0] or x.shape[0] != y_level.shape[0]:
            raise ValueError("x, y_type and y_level must have matching rows")
        n_cls = len(gestures)
        n = x.shape[1]
        means = np.zeros((n_cls, n))
        prior = np.full(n_cls, 1e-12)
        cov = np.zeros((n, n))
        for k in range(n_cls):
            xk = x[y_type == k]
            if xk.shape[0] == 0:
                continue
            means[k] = xk.mean(axis=0)
            prior[k] = xk.shape[0] / x.shape[0]
            d = xk - means[k]
            cov += d.T @ d
        cov /= max(x.shape[0] - n_cls, 1)
        cov += shrinkage * np.trace(cov) / n * np.eye(n) + 1e-9 * np.eye(n)
        inv = np.linalg.inv(cov)
        coef = means @ inv  # (C, n)
        intercept = -0.5 * np.einsum("kn,kn->k", coef, means) + np.log(prior)
        # Classes never seen get -inf-like intercepts so they are never chosen.
        intercept[prior <= 1e-12] = -1e9
        a = np.hstack([x, np.ones((x.shape[0], 1))])
        glob = _ridge(a, y_level, ridge * x.shape[0])
        gcoef = np.tile(glob, (n_cls, 1))
        for k in range(n_cls):
            sel = y_type == k
            if sel.sum() > n + 1:
                gcoef[k] = _ridge(a[sel], y_level[sel], ridge * sel.sum())
        return LinearModel(gestures, coef, intercept, gcoef)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised (M, n) -> (class probabilities (M, C), level (M,) in 0..1)."""
        x = np.asarray(x, dtype=np.float64)
        s = x @ self.lda_coef.T + self.lda_intercept
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        # The grade map of the likeliest movement, even where `rest` wins the type vote:
        # rest's own map would make the grade jump at every type switch.
        moving = [i for i, g in enumerate(self.gestures) if g != REST] or list(
            range(len(self.gestures))
        )
        k = np.asarray(moving)[p[:, moving].argmax(axis=1)]
        w = self.grade_coef[k]
        level = np.einsum("mn,mn->m", x, w[:, :-1]) + w[:, -1]
        return p, np.clip(level, 0.0, 1.0)

    def decode_batch(self, mags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Offline: raw (M, n) magnitudes -> (gesture names, level, confidence)."""
        probs, level = self.predict(minmax_per_step(np.asarray(mags, dtype=np.float64)))
        names, conf = types_from_outputs(probs, level, self.gestures, 0.5 / (N_GRADES - 1))
        dead = np.isnan(np.asarray(mags)).sum(axis=1)
        return names, level, conf * (1.0 - dead / self.n_sensors)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": LINEAR_FORMAT,
            "format_version": LINEAR_VERSION,
            "normalisation": "minmax_per_step",
            "n_sensors": self.n_sensors,
            "gestures": list(self.gestures),
            "lda_coef": self.lda_coef.tolist(),
            "lda_intercept": self.lda_intercept.tolist(),
            "grade_coef": self.grade_coef.tolist(),
            **self.meta,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @staticmethod
    def from_json(d: dict[str, Any], where: str = "") -> LinearModel:
        if not isinstance(d, dict) or d.get("format") != LINEAR_FORMAT:
            raise LinearModelError(f"{where}: not a {LINEAR_FORMAT} file")
        try:
            gestures = tuple(str(g) for g in d["gestures"])
            coef = np.asarray(d["lda_coef"], dtype=np.float64)
            icpt = np.asarray(d["lda_intercept"], dtype=np.float64)
            gcoef = np.asarray(d["grade_coef"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise LinearModelError(f"{where}: malformed linear model ({exc})") from None
        c = len(gestures)
        n = int(d.get("n_sensors", coef.shape[-1] if coef.ndim == 2 else 0))
        if coef.shape != (c, n) or icpt.shape != (c,) or gcoef.shape != (c, n + 1):
            raise LinearModelError(f"{where}: linear model arrays have inconsistent shapes")
        if not (np.isfinite(coef).all() and np.isfinite(gcoef).all()):
            raise LinearModelError(f"{where}: linear model holds non-finite numbers")
        meta = {k: v for k, v in d.items() if k in ("layout", "training", "created_at")}
        return LinearModel(gestures, coef, icpt, gcoef, meta)

    @staticmethod
    def load(path: str | Path) -> LinearModel:
        """Read linear.json (or a bundle directory containing it)."""
        p = Path(path)
        if p.is_dir():
            p = p / LINEAR_FILE
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LinearModelError(f"linear model {p} not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LinearModelError(f"linear model {p} is unreadable ({exc})") from None
        return LinearModel.from_json(d, str(p))


class LinearDecoder(Decoder):
    """Per-sample decoder around LinearModel (the baseline next to MCNN-TG)."""

    name = "linear"

    def __init__(self, model: LinearModel) -> None:
        self.model = model
        self.gestures = model.gestures
        self._rest = self.gestures.index(REST) if REST in self.gestures else -1
        self.rest_below_level = 0.5 / (N_GRADES - 1)
        self._buf = np.zeros(model.n_sensors)
        moving = [i for i, g in enumerate(self.gestures) if g != REST] or list(
            range(len(self.gestures))
        )
        self._moving = np.asarray(moving)

    @staticmethod
    def load(path: str | Path, info: SourceInfo | None = None) -> LinearDecoder:
        """Open linear.json (or a bundle directory holding one); check it fits `info`."""
        model = LinearModel.load(path)
        if info is not None and info.n_sensors is not None and info.n_sensors != model.n_sensors:
            raise LinearModelError(
                f"linear model {path} expects {model.n_sensors} sensors, "
                f"the source has {info.n_sensors}"
            )
        lay = model.meta.get("layout")
        if info is not None and lay and info.layout and lay != info.layout:
            raise LinearModelError(
                f"linear model {path} was fitted on layout {lay!r}, the source is {info.layout!r}"
            )
        return LinearDecoder(model)

    def decode(self, sample: Sample) -> Decoded:
        mags = sample.magnitudes
        if mags.shape[0] != self.model.n_sensors:
            raise ValueError(
                f"linear model expects {self.model.n_sensors} sensors, sample has {mags.shape[0]}"
            )
        n_dead = int(np.isnan(mags).sum())
        if n_dead == mags.shape[0]:
            return Decoded(sample.seq, sample.t_host, REST, 0, 0.0, 0.0)
        x = minmax_one(mags, self._buf)
        m = self.model
        s = m.lda_coef @ x + m.lda_intercept
        s -= s.max()
        e = np.exp(s)
        p = e / e.sum()
        k = int(p.argmax())
        km = self._moving[int(p[self._moving].argmax())]  # the likeliest movement's grade map
        w = m.grade_coef[km]
        lv = min(max(float(w[:-1] @ x + w[-1]), 0.0), 1.0)
        conf = float(p[k]) * (1.0 - n_dead / mags.shape[0])
        gesture = REST if (k == self._rest or lv < self.rest_below_level) else self.gestures[k]
        if math.isnan(lv):
            lv, conf = 0.0, 0.0
        return Decoded(sample.seq, sample.t_host, gesture, round(lv * (N_GRADES - 1)), lv, conf)
