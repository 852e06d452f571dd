"""Magnetometer models: full-scale codes, LSB sensitivity, saturation.

The LIS3MDL is obsolete at ST; the LIS2MDL successor has one range. Models are data,
so adding a part means adding an entry here, not touching the frame code.
"""

from __future__ import annotations

from dataclasses import dataclass

UT_PER_GAUSS = 100.0


@dataclass(frozen=True, slots=True)
class FullScale:
    """One full-scale setting of a magnetometer."""

    code: int
    gauss: float
    lsb_per_gauss: float

    @property
    def ut_per_lsb(self) -> float:
        return UT_PER_GAUSS / self.lsb_per_gauss

    @property
    def limit_ut(self) -> float:
        """Largest field the part reports before it clips, in microtesla."""
        return self.gauss * UT_PER_GAUSS


@dataclass(frozen=True, slots=True)
class SensorModel:
    """A magnetometer part: its ranges, noise and output data rates."""

    name: str
    full_scales: tuple[FullScale, ...]
    noise_ut_rms: float
    odr_hz: tuple[float, ...]

    def full_scale(self, code: int) -> FullScale:
        for fs in self.full_scales:
            if fs.code == code:
                return fs
        raise ValueError(f"{self.name}: unknown full-scale code {code}")

    def by_gauss(self, gauss: float) -> FullScale:
        for fs in self.full_scales:
            if abs(fs.gauss - gauss) < 1e-9:
                return fs
        choices = ", ".join(f"{f.gauss:g}" for f in self.full_scales)
        raise ValueError(f"{self.name}: no +-{gauss:g} gauss range (choose {choices})")


LIS3MDL = SensorModel(
    name="LIS3MDL",
    full_scales=(
        FullScale(0, 4.0, 6842.0),
        FullScale(1, 8.0, 3421.0),
        FullScale(2, 12.0, 2281.0),
        FullScale(3, 16.0, 1711.0),
    ),
    noise_ut_rms=0.32,  # 3.2 mG RMS (X/Y, ultra-high-performance mode)
    odr_hz=(155.0, 300.0, 560.0, 1000.0),
)

LIS2MDL = SensorModel(
    name="LIS2MDL",
    full_scales=(FullScale(0, 50.0, 1.0 / 1.5e-3),),  # 1.5 mG/LSB
    noise_ut_rms=0.3,
    odr_hz=(10.0, 20.0, 50.0, 100.0),
)

SENSOR_MODELS: dict[str, SensorModel] = {m.name: m for m in (LIS3MDL, LIS2MDL)}

FRAME_SENSOR_MODEL = LIS3MDL
"""Contract 1's fs_code values are the LIS3MDL's four ranges."""
