"""The tracker's per-sample Gauss-Newton step, compiled with numba.

Same arithmetic as `Tracker._gauss_newton_numpy` (see its docstring for the method): per
tag the interpolated `[P J | D+ J]` row, the residual row `[P (y - f) | D+ (y - f)]`,
their Gram matrix, a damped k x k solve, repeated until the step is below the
tolerance. In numpy each of those is a call with its own overhead on arrays of 3-63
numbers, about 85 us per sample for 16 sensors and 3 tags; compiled it is a few us of
arithmetic, and it runs without the interpreter lock (`nogil`), so the server loop can
run meanwhile.

Compiled once per machine, eagerly at import (an explicit signature), and cached
beside this file or in numba's cache directory: never on the first sample. Without
numba (`STEP_COMPILED` False) the tracker keeps its numpy step; the two agree to
rounding (tests/test_tracker_compiled_step.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

OK, NOT_FINITE, NOT_POSITIVE_DEFINITE = 0, 1, 2
"""Status of a compiled step. The two failures leave `d` and `bg` untouched: the caller
solves that sample the numpy way (dead sensors: the joint solve over live rows; a
matrix that is not positive definite: numpy's solve)."""

_SIGNATURE = (
    "Tuple((float64, boolean, int64))("
    "float64[:, ::1], float64[:, ::1], float64[::1], float64[::1], int64, "
    "float64[::1], float64[::1], float64, float64, int64, float64[::1])"
)


def _step(
    to_rows: np.ndarray,
    table: np.ndarray,
    lo: np.ndarray,
    inv_step: np.ndarray,
    points: int,
    y: np.ndarray,
    d: np.ndarray,
    damping: float,
    tol: float,
    iterations: int,
    bg: np.ndarray,
) -> tuple[float, bool, int]:
    """Warm-started steps from displacements `d` (updated in place) for sample `y`;
    writes the background into `bg`. Returns (residual rms, all inside the tables,
    status)."""
    k = lo.shape[0]
    m = to_rows.shape[0]
    n3 = y.shape[0]
    py = to_rows @ y  # [P y | D+ y]
    comb = np.empty((k + 1, m))
    gram = np.empty((k + 1, k + 1))
    dd = np.zeros(k)
    x = np.empty(k)
    low = np.empty((k, k))
    top = float(points - 1)
    inside = True
    for _ in range(max(1, iterations)):
        inside = True
        comb[k, :] = py
        for t in range(k):
            u = (d[t] - lo[t]) * inv_step[t]
            if u < 0.0:
                u = 0.0
                inside = False
            elif u > top:
                u = top
                inside = False
            i = int(u)
            if i > points - 2:
                i = points - 2
            f = u - i
            base = 2 * (t * points + i)
            # rows base, base + 2: J at i, i + 1; base + 1, base + 3: F at i, i + 1
            for c in range(m):
                comb[t, c] = (1.0 - f) * table[base, c] + f * table[base + 2, c]
                comb[k, c] -= (1.0 - f) * table[base + 1, c] + f * table[base + 3, c]
        for a in range(k + 1):
            for b in range(a + 1):
                s = 0.0
                for c in range(n3):
                    s += comb[a, c] * comb[b, c]
                gram[a, b] = s
                gram[b, a] = s
        if not math.isfinite(gram[k, k]):
            return 0.0, inside, NOT_FINITE
        # damped normal equations by Cholesky (positive definite when every tag's
        # field changes along its travel)
        for i in range(k):
            for j in range(i + 1):
                s = gram[i, j] * damping if i == j else gram[i, j]
                for t in range(j):
                    s -= low[i, t] * low[j, t]
                if i == j:
                    if not s > 0.0:
                        return 0.0, inside, NOT_POSITIVE_DEFINITE
                    low[i, i] = math.sqrt(s)
                else:
                    low[i, j] = s / low[j, j]
        for i in range(k):
            s = gram[i, k]
            for t in range(i):
                s -= low[i, t] * x[t]
            x[i] = s / low[i, i]
        biggest = 0.0
        for i in range(k - 1, -1, -1):
            s = x[i]
            for t in range(i + 1, k):
                s -= low[t, i] * dd[t]
            dd[i] = s / low[i, i]
            biggest = max(biggest, abs(dd[i]))
        for i in range(k):
            d[i] += dd[i]
        if biggest < tol:
            break
    # |P (y - f) - P J dd|^2 from the Gram matrix: the residual after the last step
    quad = gram[k, k]
    for i in range(k):
        s = 0.0
        for j in range(k):
            s += gram[i, j] * dd[j]
        quad += dd[i] * (s - 2.0 * gram[i, k])
    for c in range(m - n3):  # background D+ (y - f - J dd)
        s = comb[k, n3 + c]
        for i in range(k):
            s -= dd[i] * comb[i, n3 + c]
        bg[c] = s
    return math.sqrt(max(0.0, quad) / n3), inside, OK


def _compile() -> Callable[..., tuple[float, bool, int]] | None:
    try:
        import numba
    except ImportError:
        log.info("numba is not installed: the tracker uses its numpy step")
        return None
    try:
        compiled: Any = numba.njit(_SIGNATURE, cache=True, nogil=True)(_step)
    except Exception as exc:  # a numba that cannot compile here: the numpy step works
        log.warning("the tracker's compiled step failed to build (%s); using numpy", exc)
        return None
    return compiled  # type: ignore[no-any-return]


compiled_step = _compile()
"""`_step` compiled, or None (no numba): then the tracker takes its numpy step."""
STEP_COMPILED = compiled_step is not None
