"""A bank of QGs, one per gesture on its own sensor, behind the Decoder interface.

The paper switched the gesture by hand (`set_gesture`); every QG in the bank still
runs on every sample, so a switched-to QG has current hysteresis state, and
`simultaneous` gives all gestures' grades at once (the paper's proposed extension).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bridge.decoders.base import Decoder
from bridge.decoders.field_reference import FieldReference, disturbance_factor, reference_for
from bridge.decoders.qg import QG
from bridge.decoders.qg_calibration import Calibration
from bridge.decoders.qg_input import channel_value
from bridge.values.sample import Decoded, Sample


class QGBank(Decoder):
    """QG decoder: `decode` reports the manually selected gesture's grade."""

    name = "qg"

    def __init__(
        self, calibration: Calibration | None, path: str | None = None, reference: bool = True
    ) -> None:
        self.calibration = calibration
        self.path = path
        # Environment rejection (socket calibrations with a field_reference block only).
        self.reference: FieldReference | None = (
            reference_for(calibration.field_reference, calibration.n_sensors)
            if reference and calibration is not None
            else None
        )
        self._qgs: dict[str, QG] = {}
        self._sensors: dict[str, int] = {}
        if calibration is not None:
            for g, p in calibration.gestures.items():
                self._qgs[g] = QG(p)
                self._sensors[g] = p.sensor_index
        self.gestures = tuple(self._qgs)
        self._active = (
            calibration.default_gesture
            if calibration is not None and calibration.default_gesture in self._qgs
            else (self.gestures[0] if self.gestures else "")
        )
        # Unrolled (gesture, qg, sensor, reference) items: the hot loop avoids dict lookups.
        self._items = self._unrolled()
        self._latest: dict[str, tuple[int, tuple[int, float, float]]] = {}
        self._latest_key: tuple[int, float, float] = (0, 0.0, 1.0)
        # A device source learns its sensor count only from its first frame, after
        # the calibration was checked at open: each sample is checked here instead.
        self._n_sensors = calibration.n_sensors if calibration is not None else None
        self._excess = 0.0
        self.wrong_device: str | None = None
        """Why the last sample could not be decoded (sensor count), or None."""

    @staticmethod
    def load(path: str, info: Any = None, reference: bool = True) -> QGBank:
        """A bank from a calibration file (checked against the source `info` if given)."""
        return QGBank(Calibration.load(path, info), path=str(path), reference=reference)

    @property
    def ready(self) -> bool:
        return bool(self._qgs) and self.wrong_device is None

    @property
    def active_gesture(self) -> str:
        return self._active

    def set_gesture(self, name: str) -> None:
        """Switch which calibrated gesture drives the output."""
        if name not in self._qgs:
            have = ", ".join(self.gestures) or "none (no calibration)"
            raise ValueError(f"gesture {name!r} is not calibrated; calibrated: {have}")
        self._active = name

    def decode(self, sample: Sample) -> Decoded:
        """Run every QG on its sensor; return the active gesture's result."""
        if not self._items:
            return Decoded(sample.seq, sample.t_host, self._active or "rest", 0, 0.0, 0.0)
        mags = sample.magnitudes
        field = sample.field_ut
        ref = self.reference
        if ref is not None and len(mags) == self._n_sensors:
            mags, field = self._reject(ref, sample)
        if len(mags) != self._n_sensors:
            self.wrong_device = (
                f"the calibration is for {self._n_sensors} sensors "
                f"({self.calibration.layout if self.calibration else '?'}) but the source "
                f"sends {len(mags)}: calibrate this device (fist-and-ball calibrate)"
            )
            raise ValueError(self.wrong_device)
        self.wrong_device = None
        # Some sensor clipped (the frame flag does not say which): trust the grade less.
        trust = 0.5 if sample.saturated else 1.0
        latest = self._latest
        for g, qg, i, r in self._items:
            b = float(mags[i]) if r is None else channel_value(field, i, r)
            latest[g] = (i, qg.step(b))
        self._latest_key = (sample.seq, sample.t_host, trust)
        i, (grade, level, conf) = latest[self._active]
        if ref is not None:
            conf *= self._factor(self._active)
        return Decoded(sample.seq, sample.t_host, self._active, grade, level, conf * trust, i)

    def _unrolled(self) -> list[tuple[str, QG, int, int | None]]:
        return [(g, q, self._sensors[g], q.params.reference_index) for g, q in self._qgs.items()]

    def _reject(self, ref: FieldReference, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        """Magnitudes and field with the uniform change removed (unchanged while settling)."""
        was_active = ref.active
        field, excess = ref.step(sample.field_ut)
        if not ref.active:
            return sample.magnitudes, sample.field_ut
        if not was_active:
            # Settled: the QGs tare again on the corrected rest (patient still relaxed).
            for q in self._qgs.values():
                q.reset()
        self._excess = excess
        mags: np.ndarray = np.sqrt(np.einsum("ij,ij->i", field, field))
        return mags, field

    @property
    def simultaneous(self) -> dict[str, Decoded]:
        """The latest result of every calibrated gesture (updated by each `decode`).

        Built on demand: the hot path keeps plain tuples for the inactive gestures.
        """
        seq, t_host, trust = self._latest_key
        return {
            g: Decoded(seq, t_host, g, grade, level, conf * trust * self._factor(g), i)
            for g, (i, (grade, level, conf)) in self._latest.items()
        }

    def _factor(self, gesture: str) -> float:
        """Confidence factor of the environment excess for one gesture: 1 down to 0 at
        one grade step of its QG."""
        if self.reference is None or not self.reference.active:
            return 1.0
        return disturbance_factor(self._excess, self._qgs[gesture].params.grade_step_ut)

    def adopt_calibration(self, calibration: Calibration) -> None:
        """Decode with `calibration` from the next sample on: the re-don check's adapted
        one (same device and gestures). Call under the decoder lock."""
        if calibration.n_sensors != self._n_sensors:
            raise ValueError(
                f"calibration is for {calibration.n_sensors} sensors, not {self._n_sensors}"
            )
        qgs = {g: QG(p) for g, p in calibration.gestures.items()}
        if set(qgs) != set(self._qgs):
            raise ValueError("the adapted calibration has other gestures than the running one")
        self.calibration = calibration
        self._qgs = qgs
        self._sensors = {g: p.sensor_index for g, p in calibration.gestures.items()}
        self._items = self._unrolled()
        self._latest.clear()

    def reset(self) -> None:
        for q in self._qgs.values():
            q.reset()
        self._latest.clear()
        if self.reference is not None:
            self.reference.reset()

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(
            active_gesture=self._active,
            ready=self.ready,
            calibration=self.path,
            sensors={g: i for g, i in self._sensors.items()},
            environment_rejection=self._reference_state(),
        )
        if self.calibration is not None:
            d["layout"] = self.calibration.layout
        return d

    def _reference_state(self) -> str:
        ref = self.reference
        if ref is None:
            return "none"
        if ref.off_reason:
            return f"off: {ref.off_reason}"
        return "active" if ref.active else "settling"
