"""Training data for MCNN-TG from recordings (numpy only: evaluation uses it without torch).

A recording is labelled (bridge.signal.labels), its magnitudes min-max normalised per time
step, and split chronologically as the paper does: for EACH cue (rest, fingers, wrist,
thumb) the first 80% of that cue's samples, in time order, train and the last 20% test.
With one gesture per recording (the paper's setup) this is exactly "the first 80% of the
recording"; with one scripted recording holding all gestures it keeps every gesture in
both parts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bridge.recording import read_recording  # the recorder's reader (contract 2)
from bridge.signal.labels import LabelParams, Labels, label_recording
from bridge.signal.normalise import minmax_per_step
from bridge.values.sample import GESTURES

Part = Literal["train", "test", "all"]
CLASSES: tuple[str, ...] = GESTURES
"""Class order of the type head: rest, fingers, wrist, thumb."""


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (training provenance in model.json)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(slots=True)
class LabelledRecording:
    """One recording with its derived labels and the chronological split."""

    path: str
    sha256: str
    meta: dict[str, Any]
    rate_hz: float
    t_s: np.ndarray
    seq: np.ndarray
    mags: np.ndarray
    cues: list[str]
    grade_true: np.ndarray
    labels: Labels
    field_ut: np.ndarray
    train_mask: np.ndarray
    test_mask: np.ndarray

    @property
    def n_sensors(self) -> int:
        return int(self.mags.shape[1])

    def part_mask(self, part: Part) -> np.ndarray:
        if part == "train":
            return self.train_mask
        if part == "test":
            return self.test_mask
        return np.ones(self.mags.shape[0], dtype=bool)


@dataclass(slots=True)
class Arrays:
    """Model-ready arrays of one part of one or more recordings (rows aligned)."""

    x: np.ndarray  # (M, n) float32, normalised per step
    y_type: np.ndarray  # (M,) int64 class index into CLASSES
    y_level: np.ndarray  # (M,) float32 derived grade / 8
    grade_true: np.ndarray  # (M,) float ground truth where known, else NaN
    cue: np.ndarray  # (M,) str, the cue column
    in_span: np.ndarray  # (M,) bool, scored region of the labeller
    mags: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # raw |B| (M, n)

    def __len__(self) -> int:
        return int(self.x.shape[0])


def rate_of(meta: dict[str, Any], t_s: np.ndarray) -> float:
    """Sampling rate: the sidecar's rate_hz, else the median step of the timestamps."""
    r = meta.get("rate_hz")
    if r:
        return float(r)
    if t_s.shape[0] > 1:
        dt = float(np.median(np.diff(t_s)))
        if dt > 0:
            return 1.0 / dt
    raise ValueError("recording has no rate_hz in its sidecar and no usable timestamps")


def chronological_split(cues: list[str], frac: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) masks: per distinct cue, its first `frac` samples in time order train."""
    n = len(cues)
    train = np.zeros(n, dtype=bool)
    arr = np.asarray(cues, dtype=object)
    for cue in sorted(set(cues)):
        if cue == "":
            continue
        idx = np.flatnonzero(arr == cue)
        k = round(frac * idx.size)
        train[idx[:k]] = True
    has_cue = arr != ""
    return train, has_cue & ~train


def load_labelled(
    path: str | Path, params: LabelParams | None = None, split: float = 0.8
) -> LabelledRecording:
    """Read a recording (contract 2), label it and split it. Raises ValueError on bad input."""
    rec = read_recording(path)
    mags = np.asarray(rec.magnitudes, dtype=np.float64)
    if mags.ndim != 2 or mags.shape[0] == 0:
        raise ValueError(f"{path}: no samples")
    cues = [str(g or "") for g in rec.gesture]
    if not any(c for c in cues):
        raise ValueError(f"{path}: the gesture (cue) column is empty; labelling needs cues")
    meta = dict(rec.meta or {})
    rate = rate_of(meta, np.asarray(rec.t_s, dtype=np.float64))
    labels = label_recording(mags, cues, rate, params)
    train, test = chronological_split(cues, split)
    grade_true = np.asarray(rec.grade_true, dtype=np.float64)
    return LabelledRecording(
        path=str(path),
        sha256=file_sha256(path),
        meta=meta,
        rate_hz=rate,
        t_s=np.asarray(rec.t_s, dtype=np.float64),
        seq=np.asarray(rec.seq, dtype=np.int64),
        mags=mags,
        cues=cues,
        grade_true=grade_true,
        labels=labels,
        field_ut=np.asarray(rec.field_ut, dtype=np.float64),
        train_mask=train,
        test_mask=test,
    )


def build_arrays(
    recs: list[LabelledRecording], part: Part, classes: tuple[str, ...] = CLASSES
) -> Arrays:
    """Stack the chosen part of each recording, keeping only samples with valid labels."""
    cls_index = {c: i for i, c in enumerate(classes)}
    xs, ys, ls, gts, cues, spans, raw = [], [], [], [], [], [], []
    for r in recs:
        lab = r.labels
        known = np.array([g in cls_index for g in lab.gesture], dtype=bool)
        keep = r.part_mask(part) & lab.valid & known
        idx = np.flatnonzero(keep)
        xs.append(minmax_per_step(r.mags[idx]).astype(np.float32))
        ys.append(np.array([cls_index[lab.gesture[i]] for i in idx], dtype=np.int64))
        ls.append((lab.grade[idx] / 8.0).astype(np.float32))
        gts.append(r.grade_true[idx])
        cues.append(np.asarray([r.cues[i] for i in idx], dtype=object))
        spans.append(lab.in_span[idx])
        raw.append(r.mags[idx])
    if not xs:
        raise ValueError("no recordings given")
    n = recs[0].n_sensors
    return Arrays(
        x=np.concatenate(xs) if xs else np.zeros((0, n), np.float32),
        y_type=np.concatenate(ys),
        y_level=np.concatenate(ls),
        grade_true=np.concatenate(gts),
        cue=np.concatenate(cues),
        in_span=np.concatenate(spans),
        mags=np.concatenate(raw),
    )


def check_compatible(recs: list[LabelledRecording]) -> tuple[int, str | None]:
    """All recordings must share n_sensors (and layout when known): returns (n, layout)."""
    n = recs[0].n_sensors
    layout = recs[0].meta.get("layout")
    for r in recs[1:]:
        if r.n_sensors != n:
            raise ValueError(f"{r.path} has {r.n_sensors} sensors, {recs[0].path} has {n}")
        lay = r.meta.get("layout")
        if layout and lay and lay != layout:
            raise ValueError(f"{r.path} is layout {lay!r}, {recs[0].path} is {layout!r}")
        layout = layout or lay
    return n, layout
