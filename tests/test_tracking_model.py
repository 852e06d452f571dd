"""The multipole tag model against magpylib, and its exact Jacobians."""

from __future__ import annotations

import magpylib
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bridge.tracking.field_model import (
    TagGeometry,
    background_design,
    cylinder_coefficients,
    cylinder_moment_ut_mm3,
)


def _magnet(axis: np.ndarray, br: float) -> magpylib.magnet.Cylinder:
    rot, _ = Rotation.align_vectors([axis], [[0.0, 0.0, 1.0]])
    return magpylib.magnet.Cylinder(
        dimension=(5e-3, 13.3e-3), polarization=(0, 0, br), orientation=rot
    )


@pytest.mark.parametrize("distance", [20.0, 27.0, 40.0])
def test_field_matches_magpylib(distance: float) -> None:
    rng = np.random.default_rng(1)
    axis = np.array([0.95, 0.25, -0.18])
    axis /= np.linalg.norm(axis)
    geo = TagGeometry(
        np.zeros((1, 3)),
        axis[None],
        np.array([cylinder_moment_ut_mm3(1.3, 13.3, 5)]),
        cylinder_coefficients(13.3, 5.0),
    )
    dirs = rng.standard_normal((300, 3))
    pts = dirs / np.linalg.norm(dirs, axis=1)[:, None] * distance
    truth = magpylib.getB(_magnet(axis, 1.3), pts * 1e-3) * 1e6
    err = np.linalg.norm(geo.field(pts, np.zeros(1)) - truth, axis=1)
    assert err.max() / np.linalg.norm(truth, axis=1).max() < 1e-4


def test_point_dipole_alone_is_not_enough_at_socket_distances() -> None:
    axis = np.array([1.0, 0.0, 0.0])
    pts = np.array([[0.0, 30.0, 0.0], [0.0, 0.0, 30.0]])
    truth = magpylib.getB(_magnet(axis, 1.3), pts * 1e-3) * 1e6
    dipole = TagGeometry(
        np.zeros((1, 3)),
        axis[None],
        np.array([cylinder_moment_ut_mm3(1.3, 13.3, 5)]),
        np.array([1.0, 0.0, 0.0, 0.0]),
    )
    assert np.abs(dipole.field(pts, np.zeros(1)) - truth).max() > 20.0  # uT: why l = 3..7


def test_displacement_jacobian_is_exact() -> None:
    rng = np.random.default_rng(2)
    axes = rng.standard_normal((3, 3))
    axes /= np.linalg.norm(axes, axis=1)[:, None]
    geo = TagGeometry(
        rng.normal(0, 5, (3, 3)),
        axes,
        np.array([2.7e7, -2.5e7, 3e7]),
        cylinder_coefficients(13.3, 5.0),
    )
    sensors = rng.standard_normal((16, 3))
    sensors = sensors / np.linalg.norm(sensors, axis=1)[:, None] * 45.0
    d = np.array([0.5, 2.0, -1.0])
    jac = geo.jacobian(sensors, d)
    h = 1e-4
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        num = (geo.field_per_tag(sensors, d + e)[j] - geo.field_per_tag(sensors, d - e)[j]) / (
            2 * h
        )
        assert np.abs(num - jac[j]).max() < 1e-5 * np.abs(num).max()


def test_background_gradient_is_source_free() -> None:
    sensors = np.random.default_rng(3).normal(0, 30, (16, 3))
    design = background_design(sensors, gradient=True)
    assert design.shape == (16, 3, 8)
    from bridge.tracking.field_model import GRADIENT_BASIS

    for g in GRADIENT_BASIS:
        assert np.allclose(g, g.T) and abs(np.trace(g)) < 1e-12  # curl- and divergence-free
