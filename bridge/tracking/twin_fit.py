"""Fit a patient twin to cued recordings (3-axis field vectors, cue labels, no truth).

Unknowns: per tag its rest centre (3), slide axis (2: u ~ (1, a, b)), moment (1); per
selected sample the tags' displacements along their axes and the background field (3).
Samples cued `rest` are taken as relaxed (displacement 0): they fix where "rest" is.
Strokes and coupling come from the fitted displacements: the tag that moves most,
relative to how it moves in the other movements, belongs to a movement; its stroke is
its largest displacement there (the protocol flexes fully); coupling = how far every
other tag moves per unit of that tag's normalised displacement.

1. Start per movement: a one-tag fit to the field changes during its cue, from a few
   starts around the sensor that changed most (both polarities, both directions).
2. Joint fit of all tags and all selected samples (scipy least_squares, sparse Jacobian).
3. Determinability: standard errors from (J^T J)^-1 scaled by the residual variance.
   A twin is refused (with reasons) when the sensors cannot localise the tags, a
   movement or rest is missing, the model does not explain the field, or a parameter
   is not determined well enough to track with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import permutations, product
from typing import Any

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix

from bridge.tracking.field_model import (
    TagGeometry,
    cylinder_coefficients,
    cylinder_moment_ut_mm3,
)
from bridge.tracking.twin import DEFAULT_TAG_DIAMETER_MM, DEFAULT_TAG_LENGTH_MM, Twin

MOVEMENTS: tuple[str, ...] = ("fingers", "wrist", "thumb")

Progress = Callable[[str, float], None]
"""progress(stage description, fraction done 0..1)."""


@dataclass(frozen=True)
class CuedData:
    """One cued session: fields (N, n, 3) in uT, the cue per sample, sensor positions (mm)."""

    field_ut: np.ndarray
    gesture: Sequence[str]
    sensors_mm: np.ndarray


@dataclass(frozen=True)
class FitConfig:
    """Knobs of the twin fit (defaults suit 42.7 Hz sessions of a few repetitions)."""

    movements: tuple[str, ...] = MOVEMENTS
    samples_per_movement: int = 60
    rest_samples: int = 30
    tag_length_mm: float = DEFAULT_TAG_LENGTH_MM
    tag_diameter_mm: float = DEFAULT_TAG_DIAMETER_MM
    nominal_remanence_t: float = 1.3
    min_sensors: int = 6
    max_residual_ut: float = 3.0
    max_position_se_mm: float = 0.3
    max_stroke_rel_se: float = 0.03
    signs_per_start: int = 2
    good_residual_ut: float = 1.5


@dataclass
class TwinFit:
    """The outcome: a twin, or None with the reasons it was refused; always a report."""

    twin: Twin | None
    refused: list[str]
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.twin is not None


def cued_data_from_recording(rec: Any) -> CuedData:
    """A `bridge.recording.Recording` as CuedData; ValueError if it lacks sensor positions."""
    pos = rec.meta.get("positions_mm")
    if pos is None:
        raise ValueError(f"{rec.path}: the sidecar has no positions_mm; a twin needs them")
    sensors = np.asarray(pos, dtype=np.float64)
    if sensors.shape != (rec.n_sensors, 3):
        raise ValueError(f"{rec.path}: positions_mm does not match {rec.n_sensors} sensors")
    return CuedData(rec.field_ut, list(rec.gesture), sensors)


def _axis(ab: np.ndarray) -> np.ndarray:
    v = np.concatenate([np.ones((ab.shape[0], 1)), ab], axis=1)
    out: np.ndarray = v / np.linalg.norm(v, axis=1)[:, None]
    return out


@dataclass
class _Selection:
    field_ut: np.ndarray  # (m, n, 3)
    moving: np.ndarray  # (m,) bool: displacement unknown (not cued rest)
    cue: list[str]


def _select(data: CuedData, cfg: FitConfig) -> _Selection:
    """Rest samples evenly through the session; per movement samples spread over the
    range of field change (so full flexion and the states in between are all present)."""
    f = np.asarray(data.field_ut, dtype=np.float64)
    cues = list(data.gesture)
    rest_idx = np.array([i for i, c in enumerate(cues) if c == "rest"])
    rest_mean = f[rest_idx].mean(axis=0)
    chosen = list(rest_idx[np.linspace(0, len(rest_idx) - 1, cfg.rest_samples).astype(int)])
    for g in cfg.movements:
        idx = np.array([i for i, c in enumerate(cues) if c == g])
        change = np.linalg.norm((f[idx] - rest_mean).reshape(len(idx), -1), axis=1)
        order = idx[np.argsort(change)]
        picks = np.linspace(0, len(order) - 1, cfg.samples_per_movement).astype(int)
        chosen.extend(order[np.unique(picks)])
    sel = np.array(chosen)
    return _Selection(f[sel], np.array([cues[i] != "rest" for i in sel]), [cues[i] for i in sel])


def _check_inputs(data: CuedData, cfg: FitConfig) -> list[str]:
    reasons = []
    n = data.sensors_mm.shape[0]
    k = len(cfg.movements)
    if n < cfg.min_sensors:
        reasons.append(
            f"{n} sensors cannot localise {k} tags: each sample gives {3 * n} numbers for "
            f"{k} displacements + 3 background, and the {6 * k} tag parameters need sensors "
            f"around the arm on both sides of the tags (at least {cfg.min_sensors}); "
            "use a per-placement decoder (QG, MCNN-TG) on this band"
        )
    if not np.isfinite(data.field_ut).all():
        reasons.append("the recording has dead sensors (NaN): fit on a session without them")
    cues = set(data.gesture)
    if "rest" not in cues or sum(1 for c in data.gesture if c == "rest") < cfg.rest_samples:
        reasons.append(f"fewer than {cfg.rest_samples} samples cued 'rest'")
    for g in cfg.movements:
        if sum(1 for c in data.gesture if c == g) < cfg.samples_per_movement:
            reasons.append(f"movement {g!r}: fewer than {cfg.samples_per_movement} cued samples")
    return reasons


class _Problem:
    """The joint least-squares problem: globals (6 per tag) then latents per sample."""

    def __init__(self, sel: _Selection, sensors: np.ndarray, shape: np.ndarray, q0: float):
        self.sel = sel
        self.sensors = sensors
        self.shape = shape
        self.q0 = q0
        self.k = 3
        self.m = sel.field_ut.shape[0]
        self.moving_idx = np.flatnonzero(sel.moving)
        self.n_moving = self.moving_idx.size
        self.n_glob = 6 * self.k

    def unpack(self, x: np.ndarray) -> tuple[TagGeometry, np.ndarray, np.ndarray]:
        k = self.k
        g = x[: self.n_glob].reshape(k, 6)
        geo = TagGeometry(g[:, :3], _axis(g[:, 3:5]), g[:, 5] * self.q0, self.shape)
        rest = x[self.n_glob :]
        disp = np.zeros((self.m, k))
        disp[self.moving_idx] = rest[: self.n_moving * k].reshape(self.n_moving, k)
        bg = rest[self.n_moving * k :].reshape(self.m, 3)
        return geo, disp, bg

    def residual(self, x: np.ndarray) -> np.ndarray:
        geo, disp, bg = self.unpack(x)
        model = geo.field(self.sensors, disp) + bg[:, None, :]
        out: np.ndarray = (model - self.sel.field_ut).reshape(-1)
        return out

    def sparsity(self) -> lil_matrix:
        n3 = self.sensors.shape[0] * 3
        total = self.n_glob + self.n_moving * self.k + self.m * 3
        s = lil_matrix((self.m * n3, total), dtype=np.int8)
        s[:, : self.n_glob] = 1
        for r, i in enumerate(self.moving_idx):
            c = self.n_glob + r * self.k
            s[i * n3 : (i + 1) * n3, c : c + self.k] = 1
        base = self.n_glob + self.n_moving * self.k
        for i in range(self.m):
            s[i * n3 : (i + 1) * n3, base + 3 * i : base + 3 * i + 3] = 1
        return s


def _peak_change(sel: _Selection, g: str) -> np.ndarray:
    """|field change| per sensor at the strongest sample of cue g, from the rest mean."""
    rest = sel.field_ut[~sel.moving].mean(axis=0)
    rows = [i for i, c in enumerate(sel.cue) if c == g]
    delta = sel.field_ut[rows] - rest
    amount = np.linalg.norm(delta.reshape(len(rows), -1), axis=1)
    out: np.ndarray = np.linalg.norm(delta[int(np.argmax(amount))], axis=1)
    return out


def _crude_start(
    sel: _Selection,
    movements: Sequence[str],
    g: str,
    sensors: np.ndarray,
    turn: float = 0.0,
    depth: float = 0.5,
) -> np.ndarray:
    """(rest centre, a, b, 1) of the tag of cue g: under the sensor whose field changes
    most in g relative to the other movements (a coupled tag moves in several), halfway
    to the axis, axis along the forearm (moment sign chosen later)."""
    peaks = {m: _peak_change(sel, m) for m in movements}
    own = peaks[g]
    others = np.max([peaks[m] for m in movements], axis=0)
    score = own / np.maximum(others, 1e-9) * np.sqrt(own / max(float(own.max()), 1e-9))
    s_best = sensors[int(np.argmax(score))]
    ring_r = float(np.median(np.hypot(sensors[:, 1], sensors[:, 2])))
    ang = math.atan2(s_best[1], s_best[2]) + turn
    x_mid = float(sensors[:, 0].mean())
    r = depth * ring_r
    return np.array([x_mid, r * math.sin(ang), r * math.cos(ang), 0.0, 0.0, 1.0])


_START_OFFSETS = ((0.0, 0.5), (0.4, 0.5), (-0.4, 0.5), (0.0, 0.35), (0.0, 0.65))
"""(turn in rad, depth as a share of the ring radius) of the successive starts."""


def _choose_signs(prob: _Problem, starts: np.ndarray) -> list[np.ndarray]:
    """The static rest field decides each moment's sign: rank the 2^k sign choices by how
    well tags + a uniform background explain the mean rest field."""
    rest = prob.sel.field_ut[~prob.sel.moving].mean(axis=0)
    scored = []
    for signs in product((1.0, -1.0), repeat=prob.k):
        x = starts.copy()
        x[:, 5] = signs
        geo = TagGeometry(x[:, :3], _axis(x[:, 3:5]), x[:, 5] * prob.q0, prob.shape)
        r = rest - geo.field(prob.sensors, np.zeros((1, prob.k)))[0]
        r = r - r.mean(axis=0)
        scored.append((float((r**2).sum()), x))
    scored.sort(key=lambda t: t[0])
    return [x for _, x in scored]


def _assign(ranges: np.ndarray) -> tuple[int, ...]:
    """ranges[g, j] = how far tag j moves in movement g; returns the tag of each movement."""
    rel = ranges / np.maximum(ranges.max(axis=0, keepdims=True), 1e-9)
    best = max(
        permutations(range(ranges.shape[1])), key=lambda p: sum(rel[g, p[g]] for g in range(len(p)))
    )
    return tuple(best)


def fit_twin(
    recordings: Sequence[CuedData],
    config: FitConfig | None = None,
    progress: Progress | None = None,
) -> TwinFit:
    """Fit a twin to one or more cued sessions recorded with the same sensors."""
    cfg = config or FitConfig()
    say: Progress = progress or (lambda _s, _f: None)
    if not recordings:
        return TwinFit(None, ["no recordings given"])
    sensors = np.asarray(recordings[0].sensors_mm, dtype=np.float64)
    for r in recordings[1:]:
        if r.sensors_mm.shape != sensors.shape or not np.allclose(r.sensors_mm, sensors):
            return TwinFit(None, ["the recordings were made with different sensor positions"])
    data = CuedData(
        np.concatenate([r.field_ut for r in recordings]),
        [c for r in recordings for c in r.gesture],
        sensors,
    )
    reasons = _check_inputs(data, cfg)
    if reasons:
        return TwinFit(None, reasons, {"n_sensors": int(sensors.shape[0])})
    shape = cylinder_coefficients(cfg.tag_length_mm, cfg.tag_diameter_mm)
    q0 = cylinder_moment_ut_mm3(cfg.nominal_remanence_t, cfg.tag_length_mm, cfg.tag_diameter_mm)
    sel = _select(data, cfg)
    prob = _Problem(sel, sensors, shape, q0)
    best: Any = None
    candidates = []
    for turn, depth in _START_OFFSETS:
        crude = np.array(
            [_crude_start(sel, cfg.movements, g, sensors, turn, depth) for g in cfg.movements]
        )
        candidates.extend(_choose_signs(prob, crude)[: cfg.signs_per_start])
    for i, start in enumerate(candidates):
        say("fitting all tags together", (i + 1) / (len(candidates) + 2))
        x0 = np.concatenate([start.reshape(-1), _initial_latents(prob, start)])
        res = least_squares(
            prob.residual,
            x0,
            jac_sparsity=prob.sparsity(),
            method="trf",
            x_scale="jac",
            max_nfev=200,
        )
        if best is None or res.cost < best.cost:
            best = res
        if np.sqrt(2 * best.cost / best.fun.size) < cfg.good_residual_ut:
            break
    res = best
    say("checking what the data determine", (len(cfg.movements) + 1) / (len(cfg.movements) + 2))
    fit = _finish(prob, res, cfg)
    say("done", 1.0)
    return fit


def _initial_latents(prob: _Problem, starts: np.ndarray) -> np.ndarray:
    """Per-sample displacements and background, each solved with the globals held."""
    geo = TagGeometry(starts[:, :3], _axis(starts[:, 3:5]), starts[:, 5] * prob.q0, prob.shape)
    rest_field = geo.field(prob.sensors, np.zeros((1, prob.k)))[0]
    disp = np.zeros((prob.m, prob.k))
    bg = (prob.sel.field_ut - rest_field).mean(axis=1)
    for _ in range(5):  # a few Gauss-Newton steps per sample, vectorised
        f = geo.field(prob.sensors, disp)
        jac = geo.jacobian(prob.sensors, disp)  # (m, k, n, 3)
        r = prob.sel.field_ut - f - bg[:, None, :]
        n3 = prob.sensors.shape[0] * 3
        a = np.concatenate(
            [
                jac.reshape(prob.m, prob.k, n3).transpose(0, 2, 1),
                np.tile(np.eye(3), (prob.sensors.shape[0], 1))[None].repeat(prob.m, 0),
            ],
            axis=2,
        )
        ata = np.einsum("mri,mrj->mij", a, a) + 1e-6 * np.eye(prob.k + 3)
        atb = np.einsum("mri,mr->mi", a, r.reshape(prob.m, -1))
        dx = np.linalg.solve(ata, atb[..., None])[..., 0]
        disp = np.where(prob.sel.moving[:, None], disp + dx[:, : prob.k], 0.0)
        bg = bg + dx[:, prob.k :]
    return np.concatenate([disp[prob.moving_idx].reshape(-1), bg.reshape(-1)])


def _finish(prob: _Problem, res: Any, cfg: FitConfig) -> TwinFit:
    geo, disp, _bg = prob.unpack(res.x)
    resid_rms = float(np.sqrt(np.mean(res.fun**2)))
    k = prob.k
    ranges = np.zeros((len(cfg.movements), k))
    signs = np.ones(k)
    cue = np.array(prob.sel.cue)
    for g, name in enumerate(cfg.movements):
        rows = cue == name
        ranges[g] = np.abs(disp[rows]).max(axis=0)
    owner = _assign(ranges)  # tag index per movement
    order = list(owner)
    for g, j in enumerate(owner):
        rows = cue == cfg.movements[g]
        signs[j] = 1.0 if np.median(disp[rows, j]) >= 0 else -1.0
    axis = geo.axis * signs[:, None]
    moment = geo.moment * signs
    d = disp * signs
    stroke = np.array([d[cue == cfg.movements[g], j].max() for g, j in enumerate(owner)])
    coupling = np.zeros((len(cfg.movements), k))
    for g, name in enumerate(cfg.movements):
        rows = cue == name
        own = d[rows, owner[g]] / stroke[g]
        for c, j in enumerate(order):
            coupling[g, c] = float(own @ (d[rows, j] / stroke[c]) / max(float(own @ own), 1e-9))
    se = _standard_errors(res, resid_rms)
    glob = se[: prob.n_glob].reshape(k, 6)
    pos_se = np.linalg.norm(glob[:, :3], axis=1)
    # the stroke is a fitted displacement: its error is that latent's error
    stroke_se = np.zeros(k)
    for g, j in enumerate(owner):
        rows = np.flatnonzero(cue == cfg.movements[g])
        best_row = rows[int(np.argmax(d[rows, j]))]
        r_m = int(np.searchsorted(prob.moving_idx, best_row))
        stroke_se[g] = se[prob.n_glob + r_m * k + j]
    report: dict[str, Any] = {
        "n_sensors": int(prob.sensors.shape[0]),
        "samples_used": int(prob.m),
        "residual_ut_rms": resid_rms,
        "iterations": int(res.nfev),
        "tags": [
            {
                "movement": name,
                "rest_mm": geo.rest_mm[owner[g]].tolist(),
                "rest_se_mm": float(pos_se[owner[g]]),
                "axis": axis[owner[g]].tolist(),
                "axis_se": float(np.linalg.norm(glob[owner[g], 3:5])),
                "stroke_mm": float(stroke[g]),
                "stroke_se_mm": float(stroke_se[g]),
                "moment_am2": float(moment[owner[g]] / 1e8),
                "moment_rel_se": float(
                    glob[owner[g], 5] / max(abs(geo.moment[owner[g]] / prob.q0), 1e-9)
                ),
            }
            for g, name in enumerate(cfg.movements)
        ],
        "coupling": coupling.tolist(),
    }
    refused = []
    if resid_rms > cfg.max_residual_ut:
        refused.append(
            f"the model leaves {resid_rms:.2f} uT RMS unexplained (limit {cfg.max_residual_ut}): "
            "the tags or the sensor positions are not what the model assumes"
        )
    for g, name in enumerate(cfg.movements):
        j = owner[g]
        if pos_se[j] > cfg.max_position_se_mm:
            refused.append(f"{name} tag: position determined only to {pos_se[j]:.2f} mm")
        if stroke_se[g] > cfg.max_stroke_rel_se * stroke[g]:
            refused.append(f"{name} tag: stroke determined only to {stroke_se[g]:.2f} mm")
        if stroke[g] < 0.5:
            refused.append(f"{name} tag: moves only {stroke[g]:.2f} mm in its own movement")
    if refused:
        return TwinFit(None, refused, report)
    idx = list(owner)
    twin = Twin(
        sensors_mm=prob.sensors.copy(),
        movements=tuple(cfg.movements),
        rest_mm=geo.rest_mm[idx].copy(),
        axis=axis[idx],
        stroke_mm=stroke,
        moment=moment[idx],
        coupling=coupling,
        tag_length_mm=cfg.tag_length_mm,
        tag_diameter_mm=cfg.tag_diameter_mm,
        residual_ut_rms=resid_rms,
        report=report,
    )
    return TwinFit(twin, [], report)


def _standard_errors(res: Any, resid_rms: float) -> np.ndarray:
    """sqrt(diag((J^T J)^-1)) * sigma, from the solver's final Jacobian."""
    jac = res.jac.toarray() if hasattr(res.jac, "toarray") else np.asarray(res.jac)
    jtj = jac.T @ jac
    scale = np.sqrt(np.maximum(np.diag(jtj), 1e-300))
    norm = jtj / np.outer(scale, scale)
    cov = np.linalg.pinv(norm, rcond=1e-12) / np.outer(scale, scale)
    out: np.ndarray = np.sqrt(np.maximum(np.diag(cov), 0.0)) * resid_rms
    return out
