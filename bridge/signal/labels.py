"""Grade and type labels from a cued KMG recording, as the paper labels MCNN-TG data.

The paper: per movement, take the sensor with the greatest peak-to-peak amplitude and the
smoothest pattern; join every two consecutive extrema of its |B| by a sinusoidal curve
spanning the 180 degree range. Here every step is numeric (the paper picked the sensor
by eye):

1. Segments: maximal runs of the same cue (`rest`, `fingers`, `wrist`, `thumb`); all
   segments of one movement are labelled together.
2. Sensor (per movement): channels whose robust peak-to-peak (99.5th minus 0.5th
   percentile of the smoothed |B|) is at least `candidate_frac` of the largest are
   candidates. The smoothest of them wins: fewest turning points at the prominence
   threshold (a channel whose |B| is not monotonic in the grade turns twice per stroke),
   then the lowest roughness = RMS of the second difference of the raw |B| divided by
   its peak-to-peak (high-frequency energy relative to the swing). A movement whose best
   channel swings less than `min_snr` x its noise (second-difference RMS / sqrt(6)) is
   left unlabelled.
3. Extrema: |B| smoothed by a centred moving average (`smooth_s`), then a hysteresis
   (zig-zag) search: a maximum is confirmed only once the signal has fallen by at least
   `prominence` x peak-to-peak from it, and vice versa. Noise smaller than that cannot
   create an extremum, and maxima and minima strictly alternate. Each extremum is widened
   to its plateau (samples within `plateau_frac` x peak-to-peak of it): a hold.
4. Direction: a cued movement starts from the open hand (grade 0). The extremum kind
   whose median level is nearer the |B| level at the segment starts is "open" (grade 0),
   the other "flexed"; so whether |B| rises or falls with flexion is decided per movement
   from the data, never assumed.
5. Grade: plateaus hold their extreme grade; between the end of one plateau and the start
   of the next, a half cosine g0 + (g1 - g0) (1 - cos(pi u)) / 2, u = 0..1 over that time
   (0..180 degrees of the sinus). Open extrema are grade 0. Flexed extrema are grade 8 in
   the paper (`scale_extrema=False`); by default each gets 8 x its excursion from the open
   level relative to the movement's 95th-percentile excursion (capped at 8), so a stroke
   that stops short (fatigue, a half-hearted repeat) is not labelled fully flexed.
   Before the first and after the last extremum of a segment (a stroke cut off by a cue
   change) the grade is |B| mapped linearly between the open and flexed levels; those
   samples have `in_span` False (the paper scores only after an extremum has passed).
6. Type: the cue; rest segments are type `rest` with grade 0. Cued samples whose derived
   grade is below `rest_below_grade` are relabelled `rest` when `relabel_low` is set:
   at the open pose every movement produces the same field, so no decoder can tell them
   apart there (see docs/mcnn.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bridge.values.sample import DEGREES_PER_GRADE
from fist_and_ball.protocol_v1 import MAX_GRADE, REST

GRADE_MAX = float(MAX_GRADE)


@dataclass(frozen=True, slots=True)
class LabelParams:
    """Tuning of the labeller; defaults suit 42.7 Hz KMG with strokes of >= 1 s."""

    smooth_s: float = 0.4
    prominence: float = 0.3
    candidate_frac: float = 0.7
    rest_below_grade: float = 0.5
    relabel_low: bool = True
    min_segment_s: float = 1.0
    plateau_frac: float = 0.01
    min_snr: float = 10.0
    scale_extrema: bool = True


@dataclass(slots=True)
class SegmentLabel:
    """What the labeller decided for one cued segment (samples start..stop-1)."""

    start: int
    stop: int
    cue: str
    sensor: int | None = None
    rises_with_flexion: bool | None = None
    extrema: list[int] = field(default_factory=list)
    extrema_grade: list[float] = field(default_factory=list)
    peak_to_peak_ut: float = 0.0
    roughness: float = 0.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Labels:
    """Per-sample labels of one recording.

    `gesture`: type label per sample ('' where the cue is empty or unusable);
    `grade`: 0..8, NaN where no label could be derived; `in_span`: True between the first
    and last extremum of a movement segment and in rest segments (the scored region).
    """

    gesture: list[str]
    grade: np.ndarray
    in_span: np.ndarray
    segments: list[SegmentLabel]

    @property
    def valid(self) -> np.ndarray:
        """Samples with both a type and a grade label."""
        has_type = np.array([g != "" for g in self.gesture], dtype=bool)
        return has_type & ~np.isnan(self.grade)


def cue_segments(cues: Sequence[str]) -> list[tuple[int, int, str]]:
    """Maximal runs of an identical cue: [(start, stop, cue), ...] with stop exclusive."""
    out: list[tuple[int, int, str]] = []
    n = len(cues)
    i = 0
    while i < n:
        j = i + 1
        while j < n and cues[j] == cues[i]:
            j += 1
        out.append((i, j, cues[i]))
        i = j
    return out


def smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over `window` samples (odd), edges padded by reflection."""
    w = int(window)
    if w <= 1 or x.shape[0] < 3:
        return np.asarray(x, dtype=np.float64).copy()
    n = x.shape[0]
    w = min(w | 1, n if n % 2 else n - 1)  # odd, and no wider than the signal
    half = w // 2
    pad = np.pad(
        np.asarray(x, dtype=np.float64), [(half, half)] + [(0, 0)] * (x.ndim - 1), mode="reflect"
    )
    c = np.cumsum(pad, axis=0)
    c = np.concatenate([np.zeros((1, *x.shape[1:])), c], axis=0)
    return (c[w:] - c[:-w]) / w


def peak_to_peak(xs: np.ndarray) -> np.ndarray:
    """Robust peak-to-peak per column: 99.5th minus 0.5th percentile."""
    lo, hi = np.percentile(xs, [0.5, 99.5], axis=0)
    return np.asarray(hi - lo, dtype=np.float64)


def roughness(x: np.ndarray, p2p: np.ndarray) -> np.ndarray:
    """RMS of the second difference of the raw signal per column, relative to its swing."""
    if x.shape[0] < 3:
        return np.full(np.shape(p2p), np.inf)
    d2 = np.diff(x, n=2, axis=0)
    rms = np.sqrt(np.mean(d2 * d2, axis=0))
    return np.asarray(rms / np.maximum(p2p, 1e-12), dtype=np.float64)


def zigzag_extrema(xs: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Alternating extrema of a (smoothed) signal with hysteresis `threshold`.

    Returns (indices, kinds) with kind +1 for a maximum, -1 for a minimum. An extremum is
    confirmed when the signal has moved `threshold` away from it; the last pending
    candidate is kept if it lies `threshold` away from the last confirmed extremum. A
    segment's starting level counts as an extremum once the signal has left it by
    `threshold` (the movement starts there).
    """
    n = xs.shape[0]
    idx: list[int] = []
    kind: list[int] = []
    if n == 0 or not np.isfinite(threshold) or threshold <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    i_max = i_min = 0
    direction = 0  # +1 rising (seeking a max), -1 falling (seeking a min), 0 unknown
    for i in range(1, n):
        v = xs[i]
        if direction == 0:
            if v > xs[i_max]:
                i_max = i
            if v < xs[i_min]:
                i_min = i
            if xs[i_max] - xs[i_min] >= threshold:
                # whichever came first is the starting extremum
                if i_min < i_max:
                    idx.append(i_min)
                    kind.append(-1)
                    direction = 1
                else:
                    idx.append(i_max)
                    kind.append(1)
                    direction = -1
        elif direction == 1:
            if v > xs[i_max]:
                i_max = i
            elif xs[i_max] - v >= threshold:
                idx.append(i_max)
                kind.append(1)
                direction = -1
                i_min = i
        else:
            if v < xs[i_min]:
                i_min = i
            elif v - xs[i_min] >= threshold:
                idx.append(i_min)
                kind.append(-1)
                direction = 1
                i_max = i
    if direction == 1 and idx and xs[i_max] - xs[idx[-1]] >= threshold:
        idx.append(i_max)
        kind.append(1)
    elif direction == -1 and idx and xs[idx[-1]] - xs[i_min] >= threshold:
        idx.append(i_min)
        kind.append(-1)
    return np.asarray(idx, dtype=np.int64), np.asarray(kind, dtype=np.int64)


def plateaus(
    xs: np.ndarray, idx: np.ndarray, kinds: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """The flat top (hold) around each extremum: (first, last) sample index per extremum.

    The run of samples within `tol` of the plateau level (first the extreme value, then
    the run's median), contiguous with the extremum, never reaching the neighbouring
    extrema. A point turn gives a short run, a hold its whole
    length; the arg-max of a noisy flat top wanders, the run's edges do not.
    """
    n = xs.shape[0]
    first = idx.copy()
    last = idx.copy()
    for j, (i, k) in enumerate(zip(idx, kinds, strict=True)):
        lo_bound = int(idx[j - 1]) + 1 if j > 0 else 0
        hi_bound = int(idx[j + 1]) - 1 if j + 1 < idx.size else n - 1
        level = xs[i]
        for _ in range(2):
            near = (xs - level) * k >= -tol  # within tol of the plateau level, on its side
            a = int(i)
            while a > lo_bound and near[a - 1]:
                a -= 1
            b = int(i)
            while b < hi_bound and near[b + 1]:
                b += 1
            # The extreme sample of a noisy hold sits above the hold by the noise: measure
            # the hold by its median and grow the run once more from that level.
            level = float(np.median(xs[a : b + 1]))
        first[j], last[j] = a, b
    return first, last


def half_cosine(g0: float, g1: float, n: int) -> np.ndarray:
    """`n` samples from g0 (inclusive) towards g1 (exclusive) along a half cosine."""
    if n <= 0:
        return np.zeros(0)
    u = np.arange(n, dtype=np.float64) / n
    return g0 + (g1 - g0) * 0.5 * (1.0 - np.cos(np.pi * u))


def choose_sensor(
    raw: list[np.ndarray], smoothed: list[np.ndarray], params: LabelParams
) -> tuple[int, np.ndarray, np.ndarray]:
    """The labelling sensor of one movement from all its segments (lists of (m, c) arrays).

    Returns (column index, peak-to-peak per column, roughness per column).
    """
    p2p = peak_to_peak(np.concatenate(smoothed))
    w = np.array([r.shape[0] for r in raw], dtype=np.float64)
    rough = np.average(np.stack([roughness(r, p2p) for r in raw]), axis=0, weights=w)
    best = float(np.max(p2p))
    cand = np.flatnonzero(p2p >= params.candidate_frac * best)
    turns = np.array(
        [
            sum(zigzag_extrema(sm[:, c], params.prominence * p2p[c])[0].size for sm in smoothed)
            for c in cand
        ]
    )
    # Fewest turning points first (monotonic in the grade), then the least rough.
    order = np.lexsort((rough[cand], turns))
    return int(cand[order[0]]), p2p, rough


def _stroke_grades(
    xs: np.ndarray,
    idx: np.ndarray,
    kinds: np.ndarray,
    flexed_kind: int,
    tol: float,
    open_lvl: float,
    flex_lvl: float,
    ref_excursion: float | None,
) -> tuple[np.ndarray, np.ndarray, list[int], list[float]]:
    """Grades of one segment from its extrema: holds at 0 or 8, half cosines between.

    With `ref_excursion`, a flexed extremum gets 8 x (its excursion from the open level /
    the reference excursion), capped at 8, instead of 8.
    """
    n = xs.shape[0]
    grade = np.full(n, np.nan)
    in_span = np.zeros(n, dtype=bool)
    first, last = plateaus(xs, idx, kinds, tol)
    g_ext = np.where(kinds == flexed_kind, GRADE_MAX, 0.0)
    if ref_excursion:
        exc = np.abs(xs[idx] - open_lvl) / ref_excursion
        g_ext = np.where(kinds == flexed_kind, GRADE_MAX * np.minimum(exc, 1.0), 0.0)
    for j in range(idx.size - 1):
        a, b = int(last[j]), int(first[j + 1])
        grade[a:b] = half_cosine(float(g_ext[j]), float(g_ext[j + 1]), b - a)
    for j in range(idx.size):
        grade[first[j] : last[j] + 1] = g_ext[j]
    in_span[first[0] : last[-1] + 1] = True
    span = flex_lvl - open_lvl
    if abs(span) > 1e-12:
        # Head and tail (a stroke cut by the cue change): |B| mapped between the levels.
        amp = np.clip((xs - open_lvl) / span * GRADE_MAX, 0.0, GRADE_MAX)
        grade[: first[0]] = amp[: first[0]]
        grade[last[-1] + 1 :] = amp[last[-1] + 1 :]
    # The turn of each extremum is the middle of its plateau (for the record/plots).
    turns = [int((a + b) // 2) for a, b in zip(first, last, strict=True)]
    return grade, in_span, turns, [float(g) for g in g_ext]


def _label_movement(
    mags: np.ndarray, segs: list[SegmentLabel], rate_hz: float, params: LabelParams
) -> tuple[np.ndarray, np.ndarray]:
    """Grades and the scored mask over the whole recording for one movement's segments."""
    n_all = mags.shape[0]
    grade = np.full(n_all, np.nan)
    in_span = np.zeros(n_all, dtype=bool)
    min_len = max(3, int(params.min_segment_s * rate_hz))
    usable = []
    for seg in segs:
        if seg.stop - seg.start < min_len:
            seg.note = "segment too short"
        else:
            usable.append(seg)
    if not usable:
        return grade, in_span
    rows = np.concatenate([np.arange(s.start, s.stop) for s in usable])
    live = np.flatnonzero(np.isfinite(mags[rows]).all(axis=0))
    if live.size == 0:
        for seg in usable:
            seg.note = "no live sensor"
        return grade, in_span
    win = max(1, round(params.smooth_s * rate_hz))
    raw = [mags[s.start : s.stop][:, live] for s in usable]
    sm = [smooth(r, win) for r in raw]
    k, p2p, rough = choose_sensor(raw, sm, params)
    # Swing over noise: the second difference of white noise has RMS sqrt(6) sigma, so
    # p2p / sigma = sqrt(6) / roughness. Below `min_snr` there is no movement to label.
    if rough[k] > math.sqrt(6.0) / params.min_snr:
        for seg in usable:
            seg.note = f"no movement found (swing below {params.min_snr:g} x noise)"
        return grade, in_span
    sensor = int(live[k])
    thr = params.prominence * p2p[k]
    found = [zigzag_extrema(x[:, k], thr) for x in sm]
    lv_max = [x[:, k][i[kd == 1]] for x, (i, kd) in zip(sm, found, strict=True)]
    lv_min = [x[:, k][i[kd == -1]] for x, (i, kd) in zip(sm, found, strict=True)]
    all_max = np.concatenate(lv_max) if lv_max else np.zeros(0)
    all_min = np.concatenate(lv_min) if lv_min else np.zeros(0)
    if all_max.size == 0 or all_min.size == 0:
        for seg in usable:
            seg.note = "no movement found (fewer than two extrema)"
        return grade, in_span
    # Every cued stroke starts from the open hand: the extremum kind nearer the
    # starting levels is "open" (grade 0), the other "flexed" (grade 8).
    start = float(np.median([np.median(x[: max(1, win), k]) for x in sm]))
    mean_max, mean_min = float(np.median(all_max)), float(np.median(all_min))
    rises = abs(start - mean_min) <= abs(start - mean_max)
    flexed_kind = 1 if rises else -1
    open_lvl, flex_lvl = (mean_min, mean_max) if rises else (mean_max, mean_min)
    tol = params.plateau_frac * p2p[k]
    ref = None
    if params.scale_extrema:
        flexed = all_max if rises else all_min
        ref = float(np.percentile(np.abs(flexed - open_lvl), 95)) or None
    for seg, x, (idx, kinds) in zip(usable, sm, found, strict=True):
        seg.sensor = sensor
        seg.rises_with_flexion = bool(rises)
        seg.peak_to_peak_ut = float(p2p[k])
        seg.roughness = float(rough[k])
        if idx.size < 2:
            seg.note = "no movement found (fewer than two extrema)"
            continue
        g, span, turns, g_ext = _stroke_grades(
            x[:, k], idx, kinds, flexed_kind, tol, open_lvl, flex_lvl, ref
        )
        grade[seg.start : seg.stop] = g
        in_span[seg.start : seg.stop] = span
        seg.extrema = [t + seg.start for t in turns]
        seg.extrema_grade = g_ext
    return grade, in_span


def label_recording(
    mags: np.ndarray,
    cues: Sequence[str],
    rate_hz: float,
    params: LabelParams | None = None,
) -> Labels:
    """Derive type and grade labels for a recording of (N, n) magnitudes and N cues."""
    params = params or LabelParams()
    m = np.asarray(mags, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"magnitudes must be (N, n), got shape {m.shape}")
    if len(cues) != m.shape[0]:
        raise ValueError(f"{len(cues)} cues for {m.shape[0]} samples")
    if rate_hz <= 0:
        raise ValueError(f"rate must be positive, got {rate_hz}")
    n = m.shape[0]
    gesture = [""] * n
    grade = np.full(n, np.nan)
    in_span = np.zeros(n, dtype=bool)
    segments = [SegmentLabel(start=a, stop=b, cue=c) for a, b, c in cue_segments(list(cues))]
    by_cue: dict[str, list[SegmentLabel]] = {}
    for seg in segments:
        if seg.cue == "":
            seg.note = "no cue"
        elif seg.cue == REST:
            gesture[seg.start : seg.stop] = [REST] * (seg.stop - seg.start)
            grade[seg.start : seg.stop] = 0.0
            in_span[seg.start : seg.stop] = True
        else:
            by_cue.setdefault(seg.cue, []).append(seg)
    for cue, segs in by_cue.items():
        g, span = _label_movement(m, segs, rate_hz, params)
        for seg in segs:
            a, b = seg.start, seg.stop
            grade[a:b] = g[a:b]
            in_span[a:b] = span[a:b]
            for i in range(a, b):
                if np.isnan(grade[i]):
                    continue
                low = params.relabel_low and grade[i] < params.rest_below_grade
                gesture[i] = REST if low else cue
    return Labels(gesture=gesture, grade=grade, in_span=in_span, segments=segments)


def grade_error(
    derived: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None
) -> dict[str, float]:
    """MAE and RMSE (grades and degrees) of derived labels against a ground truth."""
    ok = ~np.isnan(derived) & ~np.isnan(truth)
    if mask is not None:
        ok &= mask
    if not ok.any():
        return {
            "n": 0,
            "mae": float("nan"),
            "rmse": float("nan"),
            "mae_deg": float("nan"),
            "rmse_deg": float("nan"),
        }
    e = derived[ok] - truth[ok]
    mae = float(np.mean(np.abs(e)))
    rmse = float(np.sqrt(np.mean(e * e)))
    return {
        "n": int(ok.sum()),
        "mae": mae,
        "rmse": rmse,
        "mae_deg": mae * DEGREES_PER_GRADE,
        "rmse_deg": rmse * DEGREES_PER_GRADE,
    }
