"""Per-time-step min-max normalisation across channels (the paper's MCNN-TG input).

At every time step the 16 magnitudes are mapped to 0..1 by that step's own minimum and
maximum, so the largest channel is 1 and the smallest 0. The absolute field level (the
Earth field offset, the band's gain) drops out; only the shape across sensors remains.
"""

from __future__ import annotations

import numpy as np

EPS_UT = 1e-6
"""A time step whose channels span less than this (uT) maps to all zeros (no shape)."""


def minmax_per_step(mags: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Normalise (..., n) magnitudes to 0..1 along the last axis, per time step.

    NaN channels (dead sensors) are imputed with that step's minimum, so they read 0
    and do not stretch the range. A step with every channel NaN becomes all zeros.
    `out` (same shape, float32 or float64) may be passed to avoid an allocation on the
    hot path.
    """
    x = np.asarray(mags, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError("minmax_per_step needs at least one channel")
    nan = np.isnan(x)
    if nan.any():
        lo_fill = np.where(nan, np.inf, x).min(axis=-1, keepdims=True)
        lo_fill[np.isinf(lo_fill)] = 0.0  # a step with no live channel at all
        x = np.where(nan, lo_fill, x)
    lo = x.min(axis=-1, keepdims=True)
    hi = x.max(axis=-1, keepdims=True)
    span = hi - lo
    scale = np.where(span > EPS_UT, 1.0 / np.maximum(span, EPS_UT), 0.0)
    res = (x - lo) * scale
    if out is None:
        return res
    out[...] = res
    return out


def minmax_one(mags: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Fast path for one time step: (n,) magnitudes into a preallocated (n,) or (1, n) buffer.

    Same result as `minmax_per_step` for one row; avoids the NaN bookkeeping when no
    sensor is dead, which is the common case on the bridge's per-sample hot path.
    """
    x = mags
    if np.isnan(x).any():
        return minmax_per_step(x.reshape(1, -1), out.reshape(1, -1)).reshape(out.shape)
    lo = x.min()
    span = x.max() - lo
    flat = out.reshape(-1)
    if span <= EPS_UT:
        flat[:] = 0.0
    else:
        np.subtract(x, lo, out=flat, casting="unsafe")
        flat *= 1.0 / span
    return out
