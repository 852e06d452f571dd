"""Forward model: the field of N axially magnetised cylinder tags at the sensors.

Units: millimetres and microtesla. Each tag is an axisymmetric multipole expansion of a
uniformly magnetised cylinder about its own axis u: dipole (l = 1) plus the l = 3, 5
and 7 finite-size terms (even orders vanish by symmetry). The magnetic
scalar potential is

    Phi(r) = sum_l Q_l P_l(cos theta) / r^(l+1),   B = -grad Phi,

with Q_1 = 1e8 * m (m in A m^2 gives uT mm^3) and Q_l = Q_1 * k_l from the cylinder's
length and diameter. A tag slides along its axis (centre p + d u); since
d/dz [P_l / r^(l+1)] = -(l+1) P_(l+1) / r^(l+2), the derivative of the field with
respect to d is the field of the next multipole order: the Jacobian is exact and costs
one more term. Background: a uniform field plus an optional first-order gradient
(symmetric, traceless: 5 numbers, a far source such as the hand's motors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

UT_MM3_PER_AM2 = 1e8
"""mu0 / 4 pi in uT mm^3 per A m^2: a dipole of m A m^2 gives 1e8 m / r^3 uT at r mm."""

MU0 = 4e-7 * math.pi

ORDERS = (1, 3, 5, 7)
"""Multipole orders kept: the model is within 0.02 % of magpylib beyond 25 mm (docs/tracking.md)."""


def cylinder_coefficients(length_mm: float, diameter_mm: float) -> np.ndarray:
    """Q_l / Q_1 for l in ORDERS of a uniformly magnetised cylinder (from its axial series)."""
    a2 = (diameter_mm / 2.0) ** 2
    c2 = (length_mm / 2.0) ** 2
    k3 = (4.0 * c2 - 3.0 * a2) / 4.0
    k5 = (5.0 * a2 * a2 - 20.0 * a2 * c2 + 8.0 * c2 * c2) / 8.0
    k7 = -(35.0 * a2**3 - 280.0 * a2 * a2 * c2 + 336.0 * a2 * c2 * c2 - 64.0 * c2**3) / 64.0
    return np.array([1.0, k3, k5, k7])


def cylinder_moment_ut_mm3(remanence_t: float, length_mm: float, diameter_mm: float) -> float:
    """Q_1 of a cylinder magnet with remanence Br (T): 1e8 * Br / mu0 * volume."""
    volume_m3 = math.pi * (diameter_mm / 2e3) ** 2 * (length_mm / 1e3)
    return UT_MM3_PER_AM2 * remanence_t / MU0 * volume_m3


def _legendre(c: np.ndarray, lmax: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """P_l(c) and P_l'(c) for l = 0..lmax (Bonnet recurrences; no division by 1 - c^2)."""
    p = [np.ones_like(c), c]
    dp = [np.zeros_like(c), np.ones_like(c)]
    for n in range(1, lmax):
        p.append(((2 * n + 1) * c * p[n] - n * p[n - 1]) / (n + 1))
        dp.append(dp[n - 1] + (2 * n + 1) * p[n])
    return p, dp


def _multipole_sum(
    rel: np.ndarray, axis: np.ndarray, terms: list[tuple[int, np.ndarray]]
) -> np.ndarray:
    """-grad of sum_l Q_l P_l(c) / r^(l+1) at `rel` (..., 3) from the centre; Q_l broadcast."""
    r2 = np.einsum("...i,...i->...", rel, rel)
    r = np.sqrt(r2)
    rhat = rel / r[..., None]
    c = np.einsum("...i,...i->...", rhat, axis)
    lmax = max(order for order, _ in terms)
    p, dp = _legendre(c, lmax)
    coef_u = np.zeros_like(r)
    coef_r = np.zeros_like(r)
    inv_r = 1.0 / r
    for order, q in terms:
        scale = q * inv_r ** (order + 2)
        coef_u = coef_u + scale * dp[order]
        coef_r = coef_r + scale * (dp[order] * c + (order + 1) * p[order])
    out: np.ndarray = coef_r[..., None] * rhat - coef_u[..., None] * axis
    return out


@dataclass(frozen=True)
class TagGeometry:
    """The tags as the model sees them (k tags), in the frame of the sensors (mm).

    `rest_mm` (k, 3): centre at displacement 0; `axis` (k, 3): unit slide direction
    (positive displacement = flexion); `moment` (k,): Q_1 along `axis` in uT mm^3
    (signed: the north pole may point either way); `shape` (4,) or (k, 4): Q_l / Q_1.
    """

    rest_mm: np.ndarray
    axis: np.ndarray
    moment: np.ndarray
    shape: np.ndarray

    @property
    def n_tags(self) -> int:
        return int(self.rest_mm.shape[0])

    def _coeffs(self) -> np.ndarray:
        shape = np.broadcast_to(
            np.asarray(self.shape, dtype=np.float64), (self.n_tags, len(ORDERS))
        )
        return shape * np.asarray(self.moment, dtype=np.float64)[:, None]  # (k, orders)

    def centres(self, displacement_mm: np.ndarray) -> np.ndarray:
        """Tag centres (..., k, 3) for displacements (..., k)."""
        d = np.asarray(displacement_mm, dtype=np.float64)
        return self.rest_mm + d[..., None] * self.axis

    def field(self, sensors_mm: np.ndarray, displacement_mm: np.ndarray) -> np.ndarray:
        """Summed tag field (..., n, 3) in uT at sensors (n, 3) for displacements (..., k)."""
        return self.field_per_tag(sensors_mm, displacement_mm).sum(axis=-3)

    def field_per_tag(self, sensors_mm: np.ndarray, displacement_mm: np.ndarray) -> np.ndarray:
        """Field of each tag separately, (..., k, n, 3) uT."""
        centres = self.centres(displacement_mm)  # (..., k, 3)
        rel = np.asarray(sensors_mm)[..., None, :, :] - centres[..., :, None, :]  # (..., k, n, 3)
        q = self._coeffs()[:, None, :]  # (k, 1, 3)
        terms = [(order, q[..., i]) for i, order in enumerate(ORDERS)]
        return _multipole_sum(rel, self.axis[:, None, :], terms)

    def jacobian(self, sensors_mm: np.ndarray, displacement_mm: np.ndarray) -> np.ndarray:
        """d field / d displacement of each tag: (..., k, n, 3) in uT per mm (exact)."""
        centres = self.centres(displacement_mm)
        rel = np.asarray(sensors_mm)[..., None, :, :] - centres[..., :, None, :]
        q = self._coeffs()[:, None, :]
        # moving the centre by +d u: d/dd Phi_l = (l+1) Q_l P_(l+1) / r^(l+2)
        terms = [(order + 1, (order + 1) * q[..., i]) for i, order in enumerate(ORDERS)]
        return _multipole_sum(rel, self.axis[:, None, :], terms)


GRADIENT_BASIS = np.array(
    [
        [[1, 0, 0], [0, -1, 0], [0, 0, 0]],
        [[0, 0, 0], [0, 1, 0], [0, 0, -1]],
        [[0, 1, 0], [1, 0, 0], [0, 0, 0]],
        [[0, 0, 1], [0, 0, 0], [1, 0, 0]],
        [[0, 0, 0], [0, 0, 1], [0, 1, 0]],
    ],
    dtype=np.float64,
)
"""A basis of symmetric traceless 3x3 matrices: the gradients a source-free field can have."""


CURVATURE_SCALE_MM = 50.0
"""Second-order terms are in uT per (50 mm)^2: columns of a size like the others."""


def _cubic_harmonics() -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """Exponents of the 10 cubic monomials and a basis (7, 10) of the harmonic ones
    (Laplacian zero): their gradients are the second-order fields a far source adds."""
    mono = [(a, b, 3 - a - b) for a in range(4) for b in range(4 - a)]
    lap = np.zeros((3, len(mono)))  # the Laplacian of a cubic is linear in x, y, z
    for m, e in enumerate(mono):
        for axis in range(3):
            if e[axis] >= 2:
                lin = list(e)
                lin[axis] -= 2
                lap[int(np.argmax(lin)), m] += e[axis] * (e[axis] - 1)
    _, _, vt = np.linalg.svd(lap)
    return mono, vt[3:]


def _curvature_design(rel: np.ndarray) -> np.ndarray:
    """(n, 3, 7): the gradients of the harmonic cubics at `rel` (mm, scaled)."""
    mono, basis = _cubic_harmonics()
    x = rel / CURVATURE_SCALE_MM
    grads = np.zeros((rel.shape[0], 3, len(mono)))
    for m, e in enumerate(mono):
        for axis in range(3):
            if e[axis] == 0:
                continue
            d = list(e)
            d[axis] -= 1
            grads[:, axis, m] = e[axis] * np.prod(x ** np.array(d), axis=1)
    return np.asarray(grads @ basis.T)


def background_design(
    sensors_mm: np.ndarray, gradient: bool, curvature: bool = False
) -> np.ndarray:
    """Linear map from background parameters to the field: (n, 3, 3 [+ 5 [+ 7]]).

    Columns 0-2: uniform field (uT); 3-7: gradient (uT per mm) about the sensors'
    centroid; 8-14 (`curvature`, with `gradient`): second-order terms of a source-free
    field (the next term of a far source such as the hand's motors).
    """
    s = np.asarray(sensors_mm, dtype=np.float64)
    n = s.shape[0]
    uniform = np.broadcast_to(np.eye(3), (n, 3, 3))
    if not gradient:
        return np.array(uniform)
    rel = s - s.mean(axis=0)
    grad = np.einsum("gij,nj->nig", GRADIENT_BASIS, rel)  # (n, 3, 5)
    parts = [uniform, grad]
    if curvature:
        parts.append(_curvature_design(rel))
    return np.concatenate(parts, axis=2)
