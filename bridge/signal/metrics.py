"""Decoder accuracy against labels: the paper's Table 2 numbers for one decoder's output.

Per movement, the accuracy of the estimated gesture type and the error of the estimated
grade (see `bridge.evaluation` for the report built from them). Used both by training
(held-out metrics of a new bundle) and by offline evaluation of recordings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bridge.signal.labels import GRADE_MAX, grade_error

MOVEMENTS: tuple[tuple[str, str], ...] = (
    ("wrist", "I wrist extension/flexion"),
    ("fingers", "II clenching (fingers)"),
    ("thumb", "III thumb extension/flexion"),
)
MOVING_GRADE = 1.0


@dataclass(slots=True)
class Predictions:
    """One decoder's output over a recording (rows aligned with the recording)."""

    name: str
    gesture: np.ndarray  # (N,) object array of gesture names
    level: np.ndarray  # (N,) 0..1
    confidence: np.ndarray  # (N,)
    detects_type: bool = True

    @property
    def grade(self) -> np.ndarray:
        return self.level * GRADE_MAX


def predictions_from_arrays(
    name: str,
    decoded: tuple[np.ndarray, np.ndarray, np.ndarray],
    arrays: Any,
    classes: Sequence[str],
) -> tuple[Predictions, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Sequence[str]]:
    """Arguments of `evaluate` for batch-decoded outputs over training-style Arrays."""
    gest, level, conf = decoded
    pred = Predictions(
        name, np.asarray(gest, dtype=object), np.asarray(level, dtype=np.float64), np.asarray(conf)
    )
    type_labels = np.asarray(classes, dtype=object)[arrays.y_type]
    mask = np.ones(len(arrays), dtype=bool)
    return (
        pred,
        np.asarray(arrays.cue, dtype=object),
        type_labels,
        arrays.y_level.astype(np.float64) * GRADE_MAX,
        np.asarray(arrays.grade_true, dtype=np.float64),
        mask,
        classes,
    )


def _grade_errors(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    # grade_error skips NaN only; here infinite values are skipped as well
    return grade_error(pred, truth, mask & np.isfinite(truth) & np.isfinite(pred))


def within_one(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Share of the samples in `mask` (finite ones) whose grade is within +-1 of the truth."""
    sel = mask & np.isfinite(truth) & np.isfinite(pred)
    return float(np.mean(np.abs(pred[sel] - truth[sel]) <= 1.0)) if sel.any() else float("nan")


def _acc(hit: np.ndarray, mask: np.ndarray) -> float:
    return float(np.mean(hit[mask])) if mask.any() else float("nan")


def confusion_matrix(
    true: Sequence[str], pred: Sequence[str], classes: Sequence[str]
) -> np.ndarray:
    """Counts[i, j] = samples of true class i predicted as class j (unknown names dropped)."""
    idx = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(true, pred, strict=True):
        if t in idx and p in idx:
            m[idx[t], idx[p]] += 1
    return m


def evaluate(
    pred: Predictions,
    cues: np.ndarray,
    type_labels: np.ndarray,
    grade_labels: np.ndarray,
    grade_true: np.ndarray,
    mask: np.ndarray,
    classes: Sequence[str],
) -> dict[str, Any]:
    """Table 2 metrics of one decoder over the samples in `mask`."""
    has_truth = bool(np.isfinite(grade_true[mask]).any())
    truth = grade_true if has_truth else grade_labels
    g = pred.grade
    type_hit = pred.gesture == cues
    label_hit = pred.gesture == type_labels
    rows: dict[str, Any] = {}
    all_moving = np.zeros_like(mask)
    all_cued = np.zeros_like(mask)
    for name, title in MOVEMENTS:
        sel = mask & (cues == name)
        moving = sel & (np.nan_to_num(truth, nan=-1.0) >= MOVING_GRADE)
        all_moving |= moving
        all_cued |= sel
        rows[name] = {
            "title": title,
            "n": int(sel.sum()),
            "n_moving": int(moving.sum()),
            "type_acc_moving": _acc(type_hit, moving),
            "type_acc_all": _acc(label_hit, sel),
            "grade_truth": _grade_errors(g, truth, sel),
            "grade_labels": _grade_errors(g, grade_labels, sel),
            "within1": within_one(g, truth, sel),
        }
    rest = mask & (cues == "rest")
    out: dict[str, Any] = {
        "decoder": pred.name,
        "detects_type": pred.detects_type,
        "truth": "ground truth (grade_true)" if has_truth else "derived labels",
        "movements": rows,
        "overall": {
            "n": int(all_cued.sum()),
            "n_moving": int(all_moving.sum()),
            "type_acc_moving": _acc(type_hit, all_moving),
            "type_acc_all": _acc(label_hit, all_cued | rest),
            "grade_truth": _grade_errors(g, truth, all_cued),
            "grade_labels": _grade_errors(g, grade_labels, all_cued),
            "within1": within_one(g, truth, all_cued),
        },
        "rest": {"n": int(rest.sum()), "type_acc": _acc(pred.gesture == "rest", rest)},
    }
    cm = confusion_matrix(list(type_labels[mask]), list(pred.gesture[mask]), classes)
    out["confusion"] = {"classes": list(classes), "rows_true_cols_pred": cm.tolist()}
    return out
