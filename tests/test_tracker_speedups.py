"""The tracker's fast per-sample path equals the straightforward one on foreign patients.

The fast step (`Tracker._gauss_newton`: tables with the background projected out, one
gather and product, a Gram matrix, a k x k solve in plain Python) must give the same
displacements, background, residual and travel flag as the joint solve over every
sensor row (`Tracker._gauss_newton_masked` with every row live) from the same state;
stopping after one step once it is below `tolerance_mm` must not change the grades.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pytest

from bridge.sim.foreign_patients import Placement, Session, cued_session, draw_patient
from bridge.tracking.socket_pose import PoseResult, ProjectedTables
from bridge.tracking.tracker import Tracker, TrackerConfig, _solve_damped
from tests.tracking_cases import SEEDS, later_session, twin_fit

SHIFTED = Placement(shift_mm=5.0, turn_deg=10.0)
Step = tuple[np.ndarray, np.ndarray, float, bool]
PLACEMENTS = {"same": Placement(), "shifted": SHIFTED}


def _ready_tracker(seed: int, session: Session, config: TrackerConfig | None = None) -> Tracker:
    fit = twin_fit(seed)
    assert fit.twin is not None, fit.refused
    tracker = Tracker(fit.twin, config, rate_hz=session.rate_hz)
    rest = session.field_ut[: round(2.0 * session.rate_hz)]
    tracker.estimate_pose(rest)
    return tracker


def step_differences(got: Step, want: Step) -> list[float]:
    """How far two steps' (displacements, background, residual, inside) are apart: max
    mm, max uT, and the residual's relative difference."""
    return [
        float(np.abs(got[0] - want[0]).max()),
        float(np.abs(got[1] - want[1]).max()),
        abs(got[2] - want[2]) / max(want[2], 1e-9),
    ]


def worst_difference(
    tracker: Tracker,
    session: Session,
    got: Callable[[np.ndarray], Step],
    want: Callable[[np.ndarray], Step],
) -> np.ndarray:
    """`step_differences` at their worst over a session, walked warm on `got` (as decode
    does); the inside flags must agree on every sample."""
    worst = np.zeros(3)
    for f in session.field_ut:
        y = f.reshape(-1)
        a, b = got(y), want(y)
        assert a[3] == b[3]
        worst = np.maximum(worst, step_differences(a, b))
        tracker.d, tracker.bg = a[0], a[1]
    return worst


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("where", sorted(PLACEMENTS))
def test_fast_step_equals_joint_solve(seed: int, where: str) -> None:
    s = later_session(seed, PLACEMENTS[where])
    tracker = _ready_tracker(seed, s)
    assert tracker.tables is not None
    tables = tracker.tables
    every_row = np.ones(s.field_ut[0].size, bool)
    worst = worst_difference(
        tracker,
        s,
        lambda y: tracker._gauss_newton(tables, y),
        lambda y: tracker._gauss_newton_masked(tables, y, every_row),
    )
    # the joint solve damps the background too (1e-6): differences of that order
    assert worst[0] < 1e-5, worst  # mm
    assert worst[1] < 1e-3, worst  # uT
    assert worst[2] < 1e-4, worst  # relative residual


def test_fast_step_outside_the_table_and_with_dead_sensors() -> None:
    s = later_session(SEEDS[0], SHIFTED)
    tracker = _ready_tracker(SEEDS[0], s)
    assert tracker.tables is not None
    y = s.field_ut[len(s) // 2].reshape(-1).copy()
    every_row = np.ones(y.size, bool)
    for start in (-0.8, 0.0, 0.999, 1.0, 1.7):  # levels: below, at and above the table
        tracker.d = start * tracker.stroke
        fast = tracker._gauss_newton(tracker.tables, y)
        joint = tracker._gauss_newton_masked(tracker.tables, y, every_row)
        assert fast[3] == joint[3]
        assert np.abs(fast[0] - joint[0]).max() < 1e-5
    tracker.d = np.zeros(tracker.k)
    y[4] = np.nan  # a dead sensor: the joint solve over the live rows
    dead = tracker._gauss_newton(tracker.tables, y)
    live = np.isfinite(y)
    joint = tracker._gauss_newton_masked(tracker.tables, y, live)
    assert np.array_equal(dead[0], joint[0])
    assert np.isfinite(dead[0]).all()


def test_projected_tables_follow_the_trackers_background() -> None:
    s = later_session(SEEDS[0], Placement())
    tracker = _ready_tracker(SEEDS[0], s)
    tables = tracker.tables
    assert tables is not None and tables.projected is not None
    # built with the pose (on the worker) for this tracker's design: used as is
    assert tracker._projected is tables.projected
    # a tracker with another background model rebuilds them for its own design
    fit = twin_fit(SEEDS[0])
    assert fit.twin is not None
    flat = Tracker(fit.twin, TrackerConfig(curvature=False), rate_hz=s.rate_hz)
    built = tables.projected
    flat._apply(_result(tracker))
    assert flat._projected is not None and flat._projected is not built
    assert flat._projected.design.shape == flat.design.shape
    assert np.array_equal(flat._projected.design, flat.design)
    every_row = np.ones(s.field_ut[0].size, bool)
    y = s.field_ut[len(s) // 2].reshape(-1)
    assert flat.tables is not None
    fast = flat._gauss_newton(flat.tables, y)
    joint = flat._gauss_newton_masked(flat.tables, y, every_row)
    assert np.abs(fast[0] - joint[0]).max() < 1e-5


def _result(tracker: Tracker) -> PoseResult:
    """The tracker's current pose as a pose fit's result (tables included)."""
    assert tracker.tables is not None
    return PoseResult(tracker.pose, None, 0.5, tracker.tables, tracker.condition)


def test_projected_interpolation_equals_projecting_the_lookup() -> None:
    s = later_session(SEEDS[1], SHIFTED)
    tracker = _ready_tracker(SEEDS[1], s)
    tables = tracker.tables
    assert tables is not None
    proj = ProjectedTables(tables, tracker.design)
    n3 = tracker.design.shape[0]
    p = proj.to_rows[:n3]
    pinv = proj.to_rows[n3:]
    rng = np.random.default_rng(7)
    k = tracker.k
    rows, w = [0] * (4 * k), [0.0] * (4 * k)
    for _ in range(200):
        d = rng.uniform(-0.6, 1.6, k) * tracker.stroke
        f, j, inside = tables.lookup(d)
        assert proj.weights(d.tolist(), rows, w) == inside
        gathered = proj.table[rows]  # (4k, 3n + n_bg)
        wj = np.array(w).reshape(k, 4)
        jac = np.einsum("tc,tcw->tw", wj[:, :2], gathered.reshape(k, 4, -1)[:, :2])
        fld = -np.einsum("tc,tcw->w", wj[:, 2:], gathered.reshape(k, 4, -1)[:, 2:])
        np.testing.assert_allclose(jac[:, :n3], (p @ j).T, atol=1e-9, rtol=1e-9)
        np.testing.assert_allclose(jac[:, n3:], (pinv @ j).T, atol=1e-9, rtol=1e-9)
        np.testing.assert_allclose(fld[:n3], p @ f, atol=1e-8, rtol=1e-9)
        np.testing.assert_allclose(fld[n3:], pinv @ f, atol=1e-8, rtol=1e-9)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_small_solve_matches_numpy(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(50):
        a = rng.normal(size=(k + 1, 48)) * rng.uniform(0.1, 100, size=(k + 1, 1))
        gram: np.ndarray = a @ a.T
        damping = 1.0 + 1e-6
        m = gram[:k, :k] + np.diag(np.diag(gram)[:k] * (damping - 1.0))
        want = np.linalg.solve(m, gram[:k, k])
        got = np.array(_solve_damped(gram.tolist(), k, damping))
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)
    # a tag whose field does not change: numpy's solve decides, as before
    singular = np.zeros((k + 1, k + 1))
    singular[k, k] = 1.0
    with pytest.raises(np.linalg.LinAlgError):
        _solve_damped(singular.tolist(), k, 1.0 + 1e-6)


@cache
def _fast_session(seed: int) -> Session:
    patient = draw_patient(seed, rate_hz=1000.0)
    return cued_session(patient, SHIFTED, repetitions=1, full_flexions=False, session_seed=9)


FAST_SAMPLES = 9000
"""Of the 1000 Hz session: 3 s relaxed, then 6 s of movements (keeps the test short)."""


def _grades(tracker: Tracker, s: Session) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d, grades, ready = [], [], []
    for f in s.field_ut[:FAST_SAMPLES]:
        e = tracker.decode(f)
        d.append(e.displacement_mm)
        grades.append(e.grade)
        ready.append(e.ready)
    return np.array(d), np.array(grades), np.array(ready)


@pytest.mark.parametrize("rate", ["42.7 Hz", "1000 Hz"])
def test_one_step_when_small_keeps_the_grades(rate: str) -> None:
    """Stopping after a step below `tolerance_mm` (0.05 mm) against always taking the
    second step: the same displacements to well under a micrometre of grade, the same
    grades, on foreign patients."""
    cases = (
        [(seed, later_session(seed, SHIFTED)) for seed in SEEDS]
        if rate == "42.7 Hz"
        else [(SEEDS[0], _fast_session(SEEDS[0]))]
    )
    for seed, s in cases:
        fast = _ready_tracker(seed, s)
        full = _ready_tracker(seed, s, TrackerConfig(tolerance_mm=0.0))
        d_fast, g_fast, ready = _grades(fast, s)
        d_full, g_full, _ = _grades(full, s)
        assert ready.all()
        assert np.abs(d_fast - d_full).max() < 0.005  # mm; a grade is ~0.3-0.9 mm
        true = s.grade_true[: len(g_fast)]
        err_fast = np.abs(g_fast - true).mean()
        err_full = np.abs(g_full - true).mean()
        assert err_fast <= err_full + 0.005, (err_fast, err_full)
        assert (g_fast != g_full).mean() < 0.002
