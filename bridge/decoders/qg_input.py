"""What a QG reads: |B| of its sensor, or |B_s - B_r| against a reference sensor.

The paper's QG reads the magnitude of one sensor. A field that is the same at every
sensor (the Earth's, turning as the arm moves; a far source) adds to that magnitude
and shifts every grade with it: on a 3-sensor band the arm's wander moves the fingers
sensor's |B| by 6-15 uT within a session, one to three grade steps once the band sits
a little further from the tag. The difference of two sensors' vectors cancels any
uniform field exactly (a gradiometer), while the tag, much closer to one sensor than
to the other, still moves it: its magnitude is a QG input free of that drift
(docs/qg.md "Reference sensor").
"""

from __future__ import annotations

import math

import numpy as np


def channel_name(sensor: int, reference: int | None) -> str:
    """`"1"` for a sensor's own |B|, `"1-0"` for sensor 1 minus reference sensor 0."""
    return str(sensor) if reference is None else f"{sensor}-{reference}"


def channel_magnitudes(field_ut: np.ndarray, sensor: int, reference: int | None) -> np.ndarray:
    """|B| of `sensor` (or of `sensor` minus `reference`) for fields (..., n, 3) uT."""
    v = field_ut[..., sensor, :]
    if reference is not None:
        v = v - field_ut[..., reference, :]
    return np.asarray(np.sqrt(np.sum(v * v, axis=-1)))


def channel_value(field_ut: np.ndarray, sensor: int, reference: int) -> float:
    """One sample's |B_sensor - B_reference| (the decoder's hot path: no numpy reductions)."""
    item = field_ut.item  # plain floats: cheaper than row views and numpy scalars
    dx = item(sensor, 0) - item(reference, 0)
    dy = item(sensor, 1) - item(reference, 1)
    dz = item(sensor, 2) - item(reference, 2)
    return math.sqrt(dx * dx + dy * dy + dz * dz)
