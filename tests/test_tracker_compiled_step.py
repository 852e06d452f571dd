"""The tracker's compiled step (`bridge/tracking/compiled_step.py`) equals its numpy step.

Both run the same Gauss-Newton iteration; on foreign patients, at the same placement
and re-donned, inside and outside the tables' travel, they must agree to rounding, and
the samples the compiled step declines (a dead sensor, a matrix that is not positive
definite) must come out as the numpy way gives them. numba is a dependency: these tests
also fail when the compiled step silently fell back to numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_tracker_speedups import PLACEMENTS, SHIFTED, Step, _ready_tracker, worst_difference

from bridge.tracking import compiled_step as cs
from bridge.tracking.tracker import Tracker
from tests.tracking_cases import SEEDS, later_session


def _run(tracker: Tracker, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, bool, int]:
    """The compiled step on its own, from the tracker's state (left unchanged)."""
    assert tracker.tables is not None
    proj = tracker._projected_tables(tracker.tables)
    d = tracker.d.copy()
    bg = np.full(tracker.n_bg, -7.0)
    assert cs.compiled_step is not None
    resid, inside, status = cs.compiled_step(
        proj.to_rows,
        proj.table,
        proj.lo_array,
        proj.inv_step_array,
        proj.points,
        np.ascontiguousarray(y),
        d,
        1.0 + tracker.cfg.damping,
        tracker.cfg.tolerance_mm,
        tracker.cfg.iterations,
        bg,
    )
    return d, bg, resid, inside, status


def test_numba_builds_the_step() -> None:
    assert cs.STEP_COMPILED, "numba missing or failing: the tracker runs its numpy step"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("where", sorted(PLACEMENTS))
def test_compiled_step_equals_the_numpy_step(seed: int, where: str) -> None:
    s = later_session(seed, PLACEMENTS[where])
    tracker = _ready_tracker(seed, s)
    assert tracker.tables is not None
    tables = tracker.tables

    def compiled(y: np.ndarray) -> Step:
        d, bg, resid, inside, status = _run(tracker, y)
        assert status == cs.OK
        return d, bg, resid, inside

    worst = worst_difference(tracker, s, compiled, lambda y: tracker._gauss_newton_numpy(tables, y))
    assert worst[0] < 1e-9, worst  # mm
    assert worst[1] < 1e-7, worst  # uT
    assert worst[2] < 1e-7, worst  # relative residual


def test_outside_the_travel_and_the_declined_samples() -> None:
    s = later_session(SEEDS[0], SHIFTED)
    tracker = _ready_tracker(SEEDS[0], s)
    assert tracker.tables is not None
    y = s.field_ut[len(s) // 2].reshape(-1).copy()
    for start in (-0.8, 0.0, 0.999, 1.0, 1.7):  # levels: below, at and above the table
        tracker.d = start * tracker.stroke
        d, _, _, inside, status = _run(tracker, y)
        ref = tracker._gauss_newton_numpy(tracker.tables, y)
        assert status == cs.OK and inside == ref[3]
        assert np.abs(d - ref[0]).max() < 1e-9
    # a dead sensor: declined untouched, and the tracker solves over the live rows
    tracker.d = np.zeros(tracker.k)
    dead = y.copy()
    dead[4] = np.nan
    d, bg, _, _, status = _run(tracker, dead)
    assert status == cs.NOT_FINITE
    assert np.array_equal(d, tracker.d) and (bg == -7.0).all()
    got = tracker._gauss_newton(tracker.tables, dead)
    want = tracker._gauss_newton_masked(tracker.tables, dead, np.isfinite(dead))
    assert np.array_equal(got[0], want[0]) and np.isfinite(got[0]).all()


def test_a_tag_whose_field_never_changes_is_declined() -> None:
    """Zero derivative rows for one tag: the damped normal matrix is singular, the
    compiled step declines, and the tracker's answer is the numpy way's."""
    s = later_session(SEEDS[1], SHIFTED)
    tracker = _ready_tracker(SEEDS[1], s)
    assert tracker.tables is not None
    proj = tracker._projected_tables(tracker.tables)
    per_tag = 2 * proj.points
    proj.table[0:per_tag:2] = 0.0  # tag 0's J rows (even rows) at every grid point
    tracker._projected = proj
    y = s.field_ut[len(s) // 3].reshape(-1)
    d, _, _, _, status = _run(tracker, y)
    assert status == cs.NOT_POSITIVE_DEFINITE
    assert np.array_equal(d, tracker.d)
    got, want = _outcome(tracker._gauss_newton, y), _outcome(tracker._gauss_newton_numpy, y)
    assert type(got) is type(want)
    if isinstance(want, tuple):
        np.testing.assert_array_equal(got[0], want[0])


def _outcome(step: Any, y: np.ndarray) -> Any:
    """What a step gives for `y`, or the exception it raises (numpy's solve refuses a
    singular matrix)."""
    try:
        return step(step.__self__.tables, y)
    except np.linalg.LinAlgError as exc:
        return exc


def test_a_strided_sample_gets_the_same_step() -> None:
    """The compiled signature takes contiguous arrays; the tracker hands it one whatever
    view of the sample it was given."""
    s = later_session(SEEDS[0], SHIFTED)
    tracker = _ready_tracker(SEEDS[0], s)
    assert tracker.tables is not None
    y = s.field_ut[len(s) // 2].reshape(-1)
    strided = np.empty(2 * y.size)
    strided[::2] = y
    view = strided[::2]
    assert not view.flags.c_contiguous
    got = tracker._gauss_newton(tracker.tables, view)
    want = tracker._gauss_newton(tracker.tables, y.copy())
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
