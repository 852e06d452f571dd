"""The magnetometer as the simulator sees it: output data rate, noise, range, LSB.

The part samples at its own output data rate (ODR) and the firmware reads the latest
sample when it builds a frame, so a frame shows the field at the most recent ODR tick
(sample and hold). Readings clip at the part's full scale, are quantised to its LSB
and then expressed on the wire (KMG frame v1, whose fs_code values are the LIS3MDL
ranges) with bridge.frame.field_to_raw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bridge.frame import field_to_raw
from bridge.sensor_model import FRAME_SENSOR_MODEL, FullScale, SensorModel


@dataclass(frozen=True, slots=True)
class Quantised:
    """A block of readings: raw LSB (m, n, 3) int16, per-frame flags, and the wire value in uT."""

    raw: np.ndarray
    saturated: np.ndarray
    field_ut: np.ndarray


def choose_odr(model: SensorModel, frame_rate_hz: float) -> float:
    """The slowest ODR that is at least the frame rate (lowest noise); else the fastest."""
    fitting = [f for f in sorted(model.odr_hz) if f >= frame_rate_hz]
    return fitting[0] if fitting else max(model.odr_hz)


class Magnetometer:
    """One model of magnetometer, shared by all sensors of a layout.

    `full_scale_gauss` selects the part's range (saturation); the wire range is the
    LIS3MDL range with the same gauss value, or +-16 gauss for parts (LIS2MDL) whose
    range has no frame code: their readings beyond +-16 gauss then clip on the wire.
    """

    def __init__(
        self,
        model: SensorModel,
        full_scale_gauss: float,
        noise_ut_rms: float,
        odr_hz: float,
    ) -> None:
        if noise_ut_rms < 0:
            raise ValueError("noise_ut_rms must be >= 0")
        if odr_hz <= 0:
            raise ValueError("odr_hz must be > 0")
        self.model = model
        self.full_scale: FullScale = model.by_gauss(full_scale_gauss)
        self.noise_ut_rms = float(noise_ut_rms)
        self.odr_hz = float(odr_hz)
        if model.name == FRAME_SENSOR_MODEL.name:
            self.wire: FullScale = self.full_scale
        else:
            self.wire = max(FRAME_SENSOR_MODEL.full_scales, key=lambda f: f.gauss)

    @property
    def fs_code(self) -> int:
        """The frame's fs_code (contract 1)."""
        return self.wire.code

    def tick_index(self, t_s: np.ndarray) -> np.ndarray:
        """Index of the latest ODR tick at or before each frame time."""
        # the small epsilon keeps a frame that lands exactly on a tick on that tick
        return np.floor(np.asarray(t_s) * self.odr_hz + 1e-9).astype(np.int64)

    def tick_time(self, t_s: np.ndarray) -> np.ndarray:
        """Time (s) of the sample a frame read at `t_s` shows."""
        return self.tick_index(t_s) / self.odr_hz

    def noise(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """White Gaussian noise per axis in uT (drawn even when zero: keeps streams aligned)."""
        return rng.standard_normal(shape) * self.noise_ut_rms

    def quantise(self, field_ut: np.ndarray) -> Quantised:
        """True field + noise (m, n, 3) uT -> clipped, quantised readings and frame flags."""
        f = np.asarray(field_ut, dtype=np.float64)
        limit = self.full_scale.limit_ut
        over = np.abs(f) > limit
        part = np.clip(f, -limit, limit)
        if self.wire is not self.full_scale:
            # the part's own LSB first, then the wire's range and LSB
            step = self.full_scale.ut_per_lsb
            part = np.rint(part / step) * step
            wire_limit = self.wire.limit_ut
            over |= np.abs(part) > wire_limit
            part = np.clip(part, -wire_limit, wire_limit)
        m = f.shape[0]
        raw, _ = field_to_raw(part.reshape(-1, 3), self.wire.code)
        raw = raw.reshape(f.shape)
        saturated = over.reshape(m, -1).any(axis=1)
        return Quantised(raw, saturated, raw.astype(np.float64) * self.wire.ut_per_lsb)
