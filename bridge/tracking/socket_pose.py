"""The socket's rigid pose relative to the tags: fitting it and the tables it implies.

Pure functions of their inputs (no tracker state), so they can run on a worker (a child
process) while the sample thread keeps tracking with the previous pose. A pose is
(rotation vector (rad), translation (mm)) applied to the twin's tags; the result of a
fit carries the per-tag travel tables for that pose, ready to swap in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from bridge.tracking.field_model import TagGeometry, background_design
from bridge.tracking.twin import Twin

START_TURNS_RAD = (0.0, -0.2, 0.2, -0.4, 0.4)
START_SHIFTS_MM = (0.0, -6.0, 6.0)
"""A re-donned socket may be turned or slid: the rest-pose fit starts from these."""


class TravelTables:
    """Per tag: field and d field / d displacement over its travel, linearly interpolated."""

    def __init__(
        self, geo: TagGeometry, sensors: np.ndarray, lo: np.ndarray, hi: np.ndarray, points: int
    ) -> None:
        self.lo, self.hi, self.points = lo, hi, points
        grid = np.linspace(0.0, 1.0, points)[:, None] * (hi - lo) + lo  # (p, k)
        self.step = (hi - lo) / (points - 1)
        per_tag = geo.field_per_tag(sensors, grid)  # (p, k, n, 3)
        jac = geo.jacobian(sensors, grid)
        k = geo.n_tags
        # field and derivative side by side, rows (tag, point): one gather per sample
        fj = np.stack([per_tag, jac], axis=2).transpose(1, 0, 2, 3, 4).reshape(k, points, 2, -1)
        self.fj = np.ascontiguousarray(fj.reshape(k * points, 2, -1))
        slope = np.diff(fj, axis=1)  # (k, p - 1, 2, 3n)
        slope = np.concatenate([slope, slope[:, -1:]], axis=1)  # the last point: same slope
        self.slope = np.ascontiguousarray(slope.reshape(k * points, 2, -1))
        self.row0 = np.arange(k) * points
        self.projected: ProjectedTables | None = None
        """The same tables with a background design taken out (`posed_tables` sets it)."""

    def lookup(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Summed field (3n,), Jacobian (3n, k), and whether every tag is inside the table."""
        u = (d - self.lo) / self.step
        top = self.points - 1
        inside = bool((u >= 0).all() and (u <= top).all())
        u = np.minimum(np.maximum(u, 0.0), top)
        i = u.astype(np.intp)
        rows = self.row0 + i
        frac = (u - i)[:, None, None]
        fj = self.fj.take(rows, axis=0) + self.slope.take(rows, axis=0) * frac  # (k, 2, 3n)
        return fj[:, 0].sum(axis=0), fj[:, 1].T, inside


class ProjectedTables:
    """The travel tables with a linear background (design D) taken out, for the
    per-sample Gauss-Newton step (`Tracker`): per tag and grid point two rows,
    `[P J | D+ J]` and `[P F | D+ F]` (F the tag's field, J its derivative,
    P = I - D D+). Linear interpolation commutes with these linear maps, so
    interpolating here equals projecting `TravelTables.lookup` (tests/test_tracker_speedups.py).

    `weights(d)` gives the gather rows and weights such that
    `W @ table[rows] (+ the sample's row)` yields, in one matrix product, every tag's
    interpolated `[P J | D+ J]` and `[P (y - f) | D+ (y - f)]` (see `Tracker`).
    """

    def __init__(self, tables: TravelTables, design: np.ndarray) -> None:
        self.design = np.array(design, dtype=np.float64)
        self.pinv = np.linalg.pinv(self.design)  # (n_bg, 3n)
        proj = np.eye(self.design.shape[0]) - self.design @ self.pinv
        self.to_rows = np.concatenate([proj, self.pinv])  # y -> [P y | D+ y]
        k, points = tables.lo.shape[0], tables.points
        fj = tables.fj.reshape(k, points, 2, -1)[:, :, ::-1]  # rows: J first, then F
        self.table = np.ascontiguousarray(fj @ self.to_rows.T).reshape(k * points * 2, -1)
        self.n_tags, self.points = k, points
        self.lo = [float(x) for x in tables.lo]
        self.inv_step = [float(1.0 / x) for x in tables.step]
        self.lo_array = np.array(self.lo)  # the same, for the compiled step
        self.inv_step_array = np.array(self.inv_step)
        self.top = float(points - 1)

    def weights(self, d: list[float], rows: list[int], w: list[float]) -> bool:
        """Fill `rows` (4k) and `w` (4k) for displacements `d`; whether all are inside.

        Tag t uses rows J(i), J(i+1), F(i), F(i+1) with weights 1-f, f, f-1, -f (the
        fields are subtracted from the sample). Pure Python: k is 2-4, and a numpy
        call on 3 numbers costs more than the arithmetic."""
        inside = True
        top, points = self.top, self.points
        for t in range(self.n_tags):
            u = (d[t] - self.lo[t]) * self.inv_step[t]
            if u < 0.0:
                u, inside = 0.0, False
            elif u > top:
                u, inside = top, False
            i = int(u)
            if i > points - 2:
                i = points - 2  # u at the top: the last interval with f = 1
            f = u - i
            base = 2 * (t * points + i)
            j = 4 * t
            rows[j], rows[j + 1], rows[j + 2], rows[j + 3] = base, base + 2, base + 1, base + 3
            w[j], w[j + 1], w[j + 2], w[j + 3] = 1.0 - f, f, f - 1.0, -f
        return inside


@dataclass(frozen=True)
class PoseSettings:
    """What a pose fit needs besides the twin (taken from the TrackerConfig)."""

    gradient: bool
    table_points: int
    travel_margin: float
    good_residual_ut: float
    """A rest-pose start below this residual RMS ends the search."""
    pose_rate: float
    """Share of a pose update's step that is applied (damps a slipping socket)."""
    curvature: bool = False


@dataclass(frozen=True)
class PoseResult:
    """A fitted pose with its tables; `background` only from the rest-pose fit."""

    pose: np.ndarray
    background: np.ndarray | None
    residual_ut: float
    tables: TravelTables
    condition: float


def pose_geometry(twin: Twin, pose: np.ndarray) -> TagGeometry:
    """Tags of the twin moved by pose = (rotation vector (rad), translation (mm))."""
    rot = Rotation.from_rotvec(pose[:3])
    geo = twin.geometry()
    return TagGeometry(
        rot.apply(geo.rest_mm) + pose[3:], rot.apply(geo.axis), geo.moment, geo.shape
    )


def posed_tables(
    twin: Twin, settings: PoseSettings, pose: np.ndarray
) -> tuple[TravelTables, float]:
    """Travel tables for `pose` and the worst normalised condition number along the travel."""
    m = settings.travel_margin
    stroke = twin.stroke_mm
    tables = TravelTables(
        pose_geometry(twin, pose),
        twin.sensors_mm,
        -m * stroke,
        (1 + m) * stroke,
        settings.table_points,
    )
    design = _design(twin, settings)
    # built here (on the pose worker), not on the sample thread when the pose swaps in
    tables.projected = ProjectedTables(tables, design)
    # conditioning hardly changes along the travel: checked here, not per sample
    worst = 0.0
    for level in (0.0, 0.5, 1.0):
        _, j, _ = tables.lookup(level * stroke)
        a = np.concatenate([j, design], axis=1)
        ata = a.T @ a
        diag = np.sqrt(np.diag(ata))
        worst = max(worst, float(np.linalg.cond(ata / np.outer(diag, diag))))
    return tables, worst


def _design(twin: Twin, settings: PoseSettings) -> np.ndarray:
    return background_design(twin.sensors_mm, settings.gradient, settings.curvature).reshape(
        twin.n_sensors * 3, -1
    )


def _residual(
    x: np.ndarray, twin: Twin, design: np.ndarray, fields: np.ndarray, disp: np.ndarray
) -> np.ndarray:
    """Model minus measurement for pose x[:6] and per-sample backgrounds x[6:]."""
    m = fields.shape[0]
    model = pose_geometry(twin, x[:6]).field(twin.sensors_mm, disp).reshape(m, -1)
    bg = x[6:].reshape(m, design.shape[1]) @ design.T
    out: np.ndarray = (model + bg - fields.reshape(m, -1)).reshape(-1)
    return out


def _rms(r: object) -> float:
    fun = r.fun  # type: ignore[attr-defined]
    return float(np.sqrt(2 * r.cost / fun.size))  # type: ignore[attr-defined]


def fit_rest_pose(twin: Twin, settings: PoseSettings, rest_fields: np.ndarray) -> PoseResult:
    """Pose and background from relaxed samples (m, n, 3), every tag at rest."""
    mean = np.asarray(rest_fields, dtype=np.float64).mean(axis=0)[None]
    disp = np.zeros((1, twin.n_tags))
    design = _design(twin, settings)
    best = None
    for turn in START_TURNS_RAD:
        for shift in START_SHIFTS_MM:
            x0 = np.zeros(6 + design.shape[1])
            x0[0], x0[3] = turn, shift
            r = least_squares(
                _residual,
                x0,
                args=(twin, design, mean, disp),
                method="lm",
                x_scale="jac",
                max_nfev=300,
            )
            if best is None or r.cost < best.cost:
                best = r
            if _rms(best) < settings.good_residual_ut:
                break
        if best is not None and _rms(best) < settings.good_residual_ut:
            break
    assert best is not None
    pose = best.x[:6].copy()
    tables, condition = posed_tables(twin, settings, pose)
    return PoseResult(pose, best.x[6:].copy(), _rms(best), tables, condition)


def update_pose(
    twin: Twin,
    settings: PoseSettings,
    pose: np.ndarray,
    fields: np.ndarray,
    disp: np.ndarray,
    backgrounds: np.ndarray,
) -> PoseResult:
    """One damped pose step from recent tracked samples (their displacements and
    backgrounds held): a slowly slipping socket stays tracked."""
    design = _design(twin, settings)
    bgs = np.asarray(backgrounds, dtype=np.float64).reshape(-1)

    def resid(x: np.ndarray) -> np.ndarray:
        return _residual(np.concatenate([x, bgs]), twin, design, fields, disp)

    r = least_squares(resid, pose, method="lm", x_scale="jac", max_nfev=20)
    new = pose + settings.pose_rate * (r.x - pose)
    tables, condition = posed_tables(twin, settings, new)
    return PoseResult(new, None, _rms(r), tables, condition)
