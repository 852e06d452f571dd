"""The prosthetic hand's own field, measured in a clinic, for the twin's synthesis.

A dipole guess for the hand's motor (`SynthConfig`'s prior) may miss a strong or oddly
placed motor. A clinic can measure it: with the socket on and the patient relaxed, the
hand is stepped through its poses for a minute while the socket records; the recording
carries the commanded closure in an extra column, `hand_closure`
(`bridge.sim.motor_sweep` makes one for a simulated patient). This module decodes such a
recording into a `MotorPattern`: one point source (position fitted) whose moment is
measured at every held pose, so the synthesis can play the patient's real motor at any
hand pose and move it with a re-donned socket.

Fit, per candidate position: every held pose's mean field minus the twin's tag field at
rest = a uniform background (a cubic in time: the arm wanders during the minute) + the
dipole field of that pose's moment; linear least squares given the position, the
position by nonlinear least squares from a few starts distal of the sensors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from bridge.recording import read_recording
from bridge.tracking.field_model import UT_MM3_PER_AM2
from bridge.tracking.twin import Twin

HAND_CLOSURE_COLUMN = "hand_closure"
MIN_POSES = 3
BACKGROUND_DEGREE = 3


@dataclass(frozen=True)
class MotorPattern:
    """The hand's motor as measured: a point source whose moment depends on the pose."""

    position_mm: np.ndarray
    """(3,) in the twin's (the sensors') frame."""
    closures: np.ndarray
    """(K,) held poses, increasing, 0 = open, 1 = closed."""
    moments_am2: np.ndarray
    """(K, 3) the moment at each held pose."""
    residual_ut: float
    """RMS of the fit over the held poses' mean fields."""
    source: str = ""
    source_sha256: str = ""

    def moment(self, closure: np.ndarray) -> np.ndarray:
        """Moments (N, 3) at closures (N,): between two measured poses the magnitude is
        interpolated linearly and the direction along the great circle (a turning rotor
        keeps its size)."""
        c = np.clip(np.asarray(closure, dtype=np.float64), self.closures[0], self.closures[-1])
        k = np.clip(np.searchsorted(self.closures, c, side="right") - 1, 0, len(self.closures) - 2)
        span = self.closures[k + 1] - self.closures[k]
        w = np.where(span > 0, (c - self.closures[k]) / np.where(span > 0, span, 1.0), 0.0)
        a, b = self.moments_am2[k], self.moments_am2[k + 1]
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        ua = a / np.maximum(na, 1e-12)[:, None]
        ub = b / np.maximum(nb, 1e-12)[:, None]
        cos = np.clip(np.sum(ua * ub, axis=1), -1.0, 1.0)
        theta = np.arccos(cos)
        sin = np.sin(theta)
        small = sin < 1e-6
        safe = np.where(small, 1.0, sin)
        fa = np.where(small, 1.0 - w, np.sin((1.0 - w) * theta) / safe)
        fb = np.where(small, w, np.sin(w * theta) / safe)
        u = fa[:, None] * ua + fb[:, None] * ub
        u /= np.maximum(np.linalg.norm(u, axis=1), 1e-12)[:, None]
        out: np.ndarray = u * ((1.0 - w) * na + w * nb)[:, None]
        return out

    def summary(self) -> dict[str, Any]:
        """What was measured, for model.json."""
        size = np.linalg.norm(self.moments_am2, axis=1)
        return {
            "recording": self.source,
            "recording_sha256": self.source_sha256,
            "position_mm": [round(float(v), 2) for v in self.position_mm],
            "poses": int(self.closures.size),
            "moment_am2": [round(float(size.min()), 4), round(float(size.max()), 4)],
            "residual_ut_rms": round(self.residual_ut, 3),
        }


def dipole_gain(sensors_mm: np.ndarray, position_mm: np.ndarray) -> np.ndarray:
    """(n, 3, 3) uT per A m^2: field component at each sensor per moment component."""
    rel = sensors_mm - position_mm
    r = np.linalg.norm(rel, axis=1)
    rhat = rel / r[:, None]
    eye = np.eye(3)[None]
    gain: np.ndarray = (3.0 * rhat[:, :, None] * rhat[:, None, :] - eye) * (UT_MM3_PER_AM2 / r**3)[
        :, None, None
    ]
    return gain


def _held_poses(
    closure: np.ndarray, t_s: np.ndarray, field_ut: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pose closure (H,), mid time (H,), mean field (H, n, 3)) of every hold: a run of
    samples at one commanded closure, its first and last sample dropped (the hand may
    still be arriving)."""
    change = np.flatnonzero(np.diff(closure) != 0) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [closure.size]])
    poses, times, means = [], [], []
    for s, e in zip(starts, ends, strict=True):
        if e - s < 4 or not np.isfinite(closure[s]):
            continue
        block = field_ut[s + 1 : e - 1]
        if not np.isfinite(block).all():
            continue
        poses.append(closure[s])
        times.append(t_s[s:e].mean())
        means.append(block.mean(axis=0))
    return np.asarray(poses), np.asarray(times), np.asarray(means)


def _solve(
    gain: np.ndarray, pose_index: np.ndarray, n_poses: int, time_basis: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of the held means y (H, n, 3) = uniform cubic + gain @ moment(pose).
    Returns (moments (K, 3), residual (H*n*3,))."""
    h, n, _ = y.shape
    d = time_basis.shape[1]
    a = np.zeros((h, n, 3, 3 * d + 3 * n_poses))
    for c in range(3):
        a[:, :, c, c * d : (c + 1) * d] = time_basis[:, None, :]
    for i in range(h):
        k = pose_index[i]
        a[i, :, :, 3 * d + 3 * k : 3 * d + 3 * k + 3] = gain
    a2 = a.reshape(h * n * 3, -1)
    coef, *_ = np.linalg.lstsq(a2, y.reshape(-1), rcond=None)
    return coef[3 * d :].reshape(n_poses, 3), y.reshape(-1) - a2 @ coef


def fit_motor_pattern(path: str | Path, twin: Twin) -> MotorPattern:
    """Decode a hand-sweep recording (contract 2 with `hand_closure`) against the twin.
    One-line ValueError when the recording is not one."""
    rec = read_recording(path)
    if rec.n_sensors != twin.n_sensors:
        raise ValueError(
            f"motor recording {path} has {rec.n_sensors} sensors, the twin {twin.n_sensors}"
        )
    closure = rec.extra.get(HAND_CLOSURE_COLUMN)
    if closure is None:
        raise ValueError(
            f"motor recording {path} has no {HAND_CLOSURE_COLUMN} column "
            "(the hand's commanded closure per sample)"
        )
    poses, times, means = _held_poses(np.asarray(closure), np.asarray(rec.t_s), rec.field_ut)
    grid = np.unique(poses)
    if grid.size < MIN_POSES:
        raise ValueError(f"motor recording {path} holds fewer than {MIN_POSES} hand poses")
    pose_index = np.searchsorted(grid, poses)
    sensors = twin.sensors_mm
    y = means - twin.geometry().field(sensors, np.zeros(twin.n_tags))[None]
    span = max(float(np.ptp(times)), 1e-9)
    tn = 2.0 * (times - times.min()) / span - 1.0
    basis = np.stack([tn**p for p in range(BACKGROUND_DEGREE + 1)], axis=1)
    centre = sensors.mean(axis=0)
    rel = sensors - centre
    _, vecs = np.linalg.eigh(rel.T @ rel)
    # the forearm axis: the rings' common axis, along +x (as twin_sessions finds it)
    axis = min(
        (vecs[:, i] for i in range(3)),
        key=lambda a: float(np.linalg.norm(rel - np.outer(rel @ a, a), axis=1).std()),
    )
    axis = axis if axis[0] >= 0 else -axis
    distal = float((rel @ axis).max())

    def residual(p: np.ndarray) -> np.ndarray:
        return _solve(dipole_gain(sensors, p), pose_index, grid.size, basis, y)[1]

    best: Any = None
    for ahead in (30.0, 60.0, 100.0, 150.0):
        start = centre + (distal + ahead) * axis
        fit = least_squares(residual, start, x_scale=10.0, max_nfev=200)
        if best is None or fit.cost < best.cost:
            best = fit
    moments, res = _solve(dipole_gain(sensors, best.x), pose_index, grid.size, basis, y)
    return MotorPattern(
        position_mm=np.asarray(best.x, dtype=np.float64),
        closures=grid.astype(np.float64),
        moments_am2=moments,
        residual_ut=float(np.sqrt(np.mean(res**2))),
        source=Path(path).name,
        source_sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest(),
    )
