"""Sensor layouts of the virtual forearm (positions in mm, forearm frame of bridge.sim.tags).

`myo3` is the paper's Myo band (three LIS3MDL in a row around the forearm; QG uses the
middle one, which sits over the finger tag). `socket16` is the prosthesis socket: two
rings of eight sensors, one proximal and one distal of the implants (MCNN-TG input).
Sensors ride 4 mm outside the skin (band/socket liner), so no sensor comes closer than
~27 mm to a tag even with the band shifted 5 mm and turned 15 degrees: nearer than
~25 mm broadside, a tag saturates the widest +-16 gauss range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bridge.sim.tags import SKIN_RADIUS_MM

SENSOR_RADIUS_MM = SKIN_RADIUS_MM + 4.0
"""Sensor distance from the forearm axis: skin plus band/socket liner."""


@dataclass(frozen=True)
class Layout:
    """A named set of sensor positions (n, 3) in mm, with the default full scale."""

    name: str
    positions_mm: np.ndarray
    description: str
    full_scale_gauss: float = 16.0
    qg_sensor: int = 0
    """Sensor a single-sensor decoder (QG) should use by default."""
    labels: tuple[str, ...] = field(default=())

    @property
    def n_sensors(self) -> int:
        return int(self.positions_mm.shape[0])


def ring(x_mm: float, count: int, start_deg: float, step_deg: float) -> np.ndarray:
    """`count` sensor positions at axial position x, every `step_deg` from `start_deg`."""
    a = np.radians(start_deg + step_deg * np.arange(count))
    r = SENSOR_RADIUS_MM
    return np.stack([np.full(count, x_mm), r * np.sin(a), r * np.cos(a)], axis=1)


def displaced(positions_mm: np.ndarray, shift_mm: float, rotation_deg: float) -> np.ndarray:
    """Band/socket displacement: turn `rotation_deg` about the forearm axis, then slide
    `shift_mm` along it (positive distally). Returns new (n, 3) positions."""
    a = math.radians(rotation_deg)
    c, s = math.cos(a), math.sin(a)
    p = np.asarray(positions_mm, dtype=np.float64)
    # rotation about +x: y' = c*y - s*z, z' = s*y + c*z
    out = np.empty_like(p)
    out[:, 0] = p[:, 0] + shift_mm
    out[:, 1] = c * p[:, 1] - s * p[:, 2]
    out[:, 2] = s * p[:, 1] + c * p[:, 2]
    return out


def _myo3() -> Layout:
    pos = ring(-30.0, 3, -40.0, 40.0)
    return Layout(
        name="myo3",
        positions_mm=pos,
        description=(
            "Myo band: 3 sensors 40 deg apart around the forearm at x = -30 mm, 30 mm "
            "proximal of the implants; the middle one (index 1) is over the finger tag."
        ),
        full_scale_gauss=16.0,
        qg_sensor=1,
        labels=("ulnar", "middle", "radial"),
    )


def _socket16() -> Layout:
    proximal = ring(-32.0, 8, 22.5, 45.0)
    distal = ring(32.0, 8, 0.0, 45.0)
    return Layout(
        name="socket16",
        positions_mm=np.vstack([proximal, distal]),
        description=(
            "Prosthesis socket: two rings of 8 sensors, 45 deg apart; sensors 0-7 at "
            "x = -32 mm (starting 22.5 deg radial of the volar midline), 8-15 at "
            "x = +32 mm (starting on the volar midline)."
        ),
        full_scale_gauss=16.0,
        qg_sensor=8,
        labels=tuple(f"p{i}" for i in range(8)) + tuple(f"d{i}" for i in range(8)),
    )


LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (_myo3(), _socket16())}


def get_layout(name: str) -> Layout:
    """Look a layout up by name; ValueError listing the valid names otherwise."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(
            f"unknown sensor layout {name!r}; choose one of {', '.join(sorted(LAYOUTS))}"
        ) from None
