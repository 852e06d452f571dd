"""Environment rejection for decoders without a physical model (QG, MCNN-TG).

A socket has many more sensors than tags, so its field has more equations than the
movements explain (docs/environment_rejection.md). The calibration records, per
sensor, the rest field vector and each movement's field pattern (flexion minus rest).
Per sample the stage solves

    B_i - rest_i  =  sum_g a_g * pattern_g,i  +  u        (least squares, all sensors)

for the movement amounts a_g and one uniform field u, then

- **rejects** u (an Earth field turned as the arm turns, a far source): every sensor's
  vector gets u subtracted before the decoder takes magnitudes;
- **reports** what neither explains: the residual at each sensor beyond what the linear
  patterns leave anyway (a share of that sensor's own pattern) and beyond the noise is
  the *excess*; a steel object or a motor close by raises it, and `disturbance_factor`
  turns it into a confidence factor that reaches 0 when the excess is one grade step.

Why not the "spare" sensors alone: on the foreign patients every sensor of a socket
sees 15-60 uT of tag change when the hand closes (99th percentile), as much as an Earth
heading change; a reference made of far sensors would subtract the movement itself.

The first `settle_samples` (patient relaxed, as the tracker's settle) check that today's
rest matches the calibration's up to a uniform field. It does not when the socket was
re-donned elsewhere (the patterns then no longer fit): the stage turns itself off for
that run (`off_reason`) and the decoder works as without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bridge.cues import PhaseRecording

MIN_SENSORS = 6
"""Fewer sensors (a 3-sensor band) leave too few spare equations: no stage."""
SETTLE_S = 2.0
"""The relaxed start averaged as today's rest (the tracker's settle time)."""


@dataclass(frozen=True)
class ReferenceModel:
    """What the calibration saw: rest vectors (n, 3), movement patterns (k, n, 3), noise."""

    rest_ut: np.ndarray
    patterns_ut: np.ndarray
    movements: tuple[str, ...]
    noise_ut_rms: float

    @property
    def n_sensors(self) -> int:
        return int(self.rest_ut.shape[0])

    @staticmethod
    def from_holds(recordings: list[PhaseRecording], trim: float) -> ReferenceModel | None:
        """Rest vectors and per-movement patterns from the guided holds; None without a
        rest hold and a flexion hold of at least one movement, or with dead sensors."""
        held = [r.held(trim) for r in recordings]
        rests = [np.median(r.field_ut, axis=0) for r in held if r.phase.kind == "rest"]
        if not rests:
            return None
        rest = np.median(rests, axis=0)
        movements: list[str] = []
        patterns = []
        for g in dict.fromkeys(r.phase.gesture for r in held):
            flex = [
                np.median(r.field_ut, axis=0)
                for r in held
                if r.phase.gesture == g and r.phase.kind == "flexion"
            ]
            if flex:
                movements.append(g)
                patterns.append(np.median(flex, axis=0) - rest)
        if not patterns or not np.isfinite(rest).all() or not np.isfinite(patterns).all():
            return None
        dev = np.concatenate(
            [
                (r.field_ut - np.median(r.field_ut, axis=0)).reshape(-1)
                for r in held
                if r.phase.kind == "rest"
            ]
        )
        # robust std (MAD) of the rest holds: the noise the residual floor is scaled by
        noise = float(1.4826 * np.median(np.abs(dev[np.isfinite(dev)])))
        return ReferenceModel(rest, np.stack(patterns), tuple(movements), max(noise, 1e-3))

    def to_dict(self) -> dict[str, Any]:
        return {
            "rest_ut": np.round(self.rest_ut, 4).tolist(),
            "patterns_ut": {
                g: np.round(p, 4).tolist()
                for g, p in zip(self.movements, self.patterns_ut, strict=True)
            },
            "noise_ut_rms": round(self.noise_ut_rms, 4),
        }

    @staticmethod
    def from_dict(d: dict[str, Any], n_sensors: int) -> ReferenceModel:
        """Parse the calibration's `field_reference` block; ValueError says what is wrong."""
        rest = np.asarray(d["rest_ut"], dtype=np.float64)
        pats = d["patterns_ut"]
        if not isinstance(pats, dict) or not pats:
            raise ValueError("field_reference.patterns_ut must be a non-empty object")
        stack = np.asarray(list(pats.values()), dtype=np.float64)
        if rest.shape != (n_sensors, 3) or stack.shape[1:] != (n_sensors, 3):
            raise ValueError(f"field_reference: vectors must be {n_sensors} x 3 per entry")
        noise = float(d.get("noise_ut_rms", 0.5))
        if not (np.isfinite(rest).all() and np.isfinite(stack).all() and noise > 0):
            raise ValueError("field_reference: values must be finite, noise positive")
        return ReferenceModel(rest, stack, tuple(str(g) for g in pats), noise)


@dataclass(frozen=True)
class ReferenceConfig:
    """Tuning of the stage; the defaults were measured on foreign patients (docs)."""

    settle_samples: int = 85
    """Relaxed samples averaged at start (2 s at 42.7 Hz, as the tracker's settle)."""
    placement_tolerance_ut: float = 4.0
    """RMS over sensors of today's rest minus the calibration's, after a uniform field,
    above which the socket is taken to sit elsewhere and the stage turns off."""
    pattern_share: float = 0.25
    """Residual a sensor may show, as a share of its largest movement pattern: the
    linear patterns miss the bend of the dipole field along the stroke."""
    floor_noise: float = 6.0
    """... plus this many noise RMS (the residual of noise alone stays below)."""
    release_per_s: float = 4.0
    """After a disturbance the excess decays by e**-1 in 1/release_per_s seconds, so
    the confidence does not flicker back between two noisy samples."""
    rate_hz: float = 42.7


class FieldReference:
    """The running stage: `step(field)` -> (field with the uniform change removed, excess uT)."""

    def __init__(self, model: ReferenceModel, config: ReferenceConfig | None = None) -> None:
        self.model = model
        self.cfg = config or ReferenceConfig()
        n = model.n_sensors
        k = model.patterns_ut.shape[0]
        # columns: the k movement patterns, then the uniform field (x, y, z)
        self._A = np.concatenate(
            [model.patterns_ut.reshape(k, 3 * n).T, np.tile(np.eye(3), (n, 1))], axis=1
        )
        # One matrix gives the fit's coefficients and its residual: [P; I - A P] d.
        pinv = np.linalg.pinv(self._A)
        self._W = np.vstack([pinv, np.eye(3 * n) - self._A @ pinv])
        self._n_coef = pinv.shape[0]
        # bend allowance per sensor = share * sum_g 4 a_g (1 - a_g) |pattern_g,i|
        self._bend = 4.0 * self.cfg.pattern_share * np.linalg.norm(model.patterns_ut, axis=2)
        self._k = k
        # (k, n): each movement's pattern size per sensor, for the bend allowance
        self._size = np.linalg.norm(model.patterns_ut, axis=2)
        self._floor = self.cfg.floor_noise * model.noise_ut_rms
        self._decay = math.exp(-self.cfg.release_per_s / self.cfg.rate_hz)
        # A grade step of the weakest movement at its most moving sensor: the confidence
        # span of decoders without their own grade step (MCNN-TG).
        self.span_ut = float(self._size.max(axis=1).min()) / 8.0
        self.reset()

    def set_rate(self, rate_hz: float | None) -> None:
        """Count the settle time and the release at the source's sample rate (unknown or
        invalid: the defaults, 42.7 Hz)."""
        if rate_hz is None or not (math.isfinite(rate_hz) and rate_hz > 0):
            return
        self.cfg = replace(
            self.cfg, rate_hz=rate_hz, settle_samples=max(1, round(SETTLE_S * rate_hz))
        )
        self._decay = math.exp(-self.cfg.release_per_s / rate_hz)

    def reset(self) -> None:
        """Settle again (a new run, the patient relaxed)."""
        self._settle: list[np.ndarray] = []
        self.active = False
        self.off_reason: str | None = None
        self.uniform_ut = np.zeros(3)
        self.excess_ut = 0.0
        self.placement_rms_ut = float("nan")

    @property
    def settling(self) -> bool:
        return not self.active and self.off_reason is None

    def step(self, field_ut: np.ndarray) -> tuple[np.ndarray, float]:
        """One sample (n, 3): (corrected field, excess in uT). Passes the field through
        unchanged (excess 0) while settling and when off."""
        if self.active:
            return self._correct(field_ut)
        if self.off_reason is None and np.isfinite(field_ut).all():
            self._settle.append(field_ut)
            if len(self._settle) >= self.cfg.settle_samples:
                self._finish_settle(np.mean(self._settle, axis=0))
                if self.active:  # the settle's last sample is the first corrected one
                    return self._correct(field_ut)
        return field_ut, 0.0

    def _finish_settle(self, rest_today: np.ndarray) -> None:
        diff = rest_today - self.model.rest_ut
        mismatch = diff - diff.mean(axis=0)
        self.placement_rms_ut = float(np.sqrt((mismatch**2).sum(axis=1).mean()))
        self._settle.clear()
        if self.placement_rms_ut > self.cfg.placement_tolerance_ut:
            self.off_reason = (
                f"today's rest field differs from the calibration's by "
                f"{self.placement_rms_ut:.1f} uT RMS beyond a uniform field (the socket sits "
                "elsewhere?): environment rejection off; run the re-don check"
            )
            return
        self.active = True

    def _correct(self, field_ut: np.ndarray) -> tuple[np.ndarray, float]:
        d = (field_ut - self.model.rest_ut).reshape(-1)
        if math.isfinite(float(d.sum())):  # one call: NaN or inf anywhere shows in the sum
            out = self._W @ d
            coef, res = out[: self._n_coef], out[self._n_coef :]
        else:  # a dead sensor: solve on the live ones (rare path)
            ok = np.isfinite(d)
            coef = np.linalg.lstsq(self._A[ok], d[ok], rcond=None)[0]
            res = np.where(ok, d - self._A @ coef, 0.0)
        u = coef[self._k :]
        self.uniform_ut = u
        # The linear patterns are exact at rest and at full flexion and miss the bend of
        # the field in between, most at half a stroke: 4 a (1 - a) peaks there at 1.
        a = np.minimum(np.maximum(coef[: self._k], 0.0), 1.0)
        allow = (a * (1.0 - a)) @ self._bend
        r = res.reshape(-1, 3)
        per_sensor = np.sqrt(np.einsum("ij,ij->i", r, r)) - allow
        now = max(float(per_sensor.max()) - self._floor, 0.0)
        self.excess_ut = max(now, self.excess_ut * self._decay)
        return field_ut - u, self.excess_ut


def disturbance_factor(excess_ut: float, span_ut: float) -> float:
    """Confidence factor: 1 without excess, 0 at `span_ut` (one grade step), smooth
    (half a cosine) between, so the hand holds before a disturbance is a grade."""
    if excess_ut <= 0.0:
        return 1.0
    if excess_ut >= span_ut:
        return 0.0
    return 0.5 * (1.0 + math.cos(math.pi * excess_ut / span_ut))


def reference_for(
    block: dict[str, Any] | None, n_sensors: int, config: ReferenceConfig | None = None
) -> FieldReference | None:
    """The stage for a calibration's `field_reference` block, or None when there is none
    or the device has fewer than MIN_SENSORS sensors (a band: nothing changes)."""
    if not block or n_sensors < MIN_SENSORS:
        return None
    return FieldReference(ReferenceModel.from_dict(block, n_sensors), config)
