"""Per-sample magnet tracking with a patient twin.

Each sample: Gauss-Newton on the tags' displacements along their axes plus the
background (uniform, first-order gradient and second-order terms), warm-started from the
previous sample. The tag fields and their exact derivatives come from the twin's
multipole model, tabulated over each tag's travel for the current socket pose (so a
sample costs one gather, two small products and a 3x3 solve: docs/tracking.md,
"Cost per sample").

Socket pose: the twin lives in the socket frame of the fitting session. A re-donned
socket sits elsewhere on the arm, so for the first `settle_s` seconds (the patient
relaxed) the tracker collects the field and fits the rigid pose (rotation + translation
of the tags relative to the sensors) with every tag at rest; until then it reports
confidence 0 (no input). Afterwards it nudges the pose every `pose_update_s` from
recent confident samples, so a slowly slipping socket stays tracked. The pose fits run
on a `PoseWorker` (`pose_worker.py`): inline by default (reproducible offline), in a
child process for the live bridge, where the tracker keeps its old pose until the new
one arrives.

Outputs: every tag's displacement and normalised level; per movement a grade (8 x
level of its tag); the gesture = the movement whose activation (levels through the
inverse coupling) is largest; confidence from the residual against the twin's fit
residual, the conditioning and the travel range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bridge.tracking.compiled_step import NOT_FINITE, OK, compiled_step
from bridge.tracking.field_model import background_design
from bridge.tracking.pose_worker import InlinePoseWorker, PoseWorker
from bridge.tracking.socket_pose import (
    PoseResult,
    PoseSettings,
    ProjectedTables,
    TravelTables,
    fit_rest_pose,
    update_pose,
)
from bridge.tracking.twin import Twin

GRADES = 8


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker knobs; defaults suit 42.7-1000 Hz."""

    gradient: bool = True
    curvature: bool = True
    """Also fit the second-order background terms (7 more). The hand's motors sit
    100-130 mm from rings spread over 50-70 mm: their field changes too much across the
    socket for a gradient alone, and the rest (a few uT) read as an unexplained field,
    cutting confidence to 0.35-0.5 on 3 of 10 foreign patients. With these terms the
    lowest confidence is 0.81 and no grade gets worse (docs/tracking.md)."""
    iterations: int = 2
    settle_s: float = 2.0
    pose_update_s: float = 5.0
    pose_rate: float = 0.5
    table_points: int = 256
    travel_margin: float = 0.4
    """Tables span -margin..1+margin strokes; beyond that confidence drops."""
    residual_floor_ut: float = 0.5
    rest_threshold: float = 0.5 / GRADES
    damping: float = 1e-6
    tolerance_mm: float = 0.05
    """Gauss-Newton stops once no displacement step is larger. Convergence is quadratic:
    after a step of 0.05 mm the next would be below 0.0005 mm (measured: p99 0.0002,
    max 0.0003 mm over 23000 samples at 1000 Hz, whose noise alone moves the estimate
    ~0.01 mm a sample), so a warm sample costs one step. It was 0.002 mm, which the
    noise step almost always exceeded: two steps a sample for no change in any grade
    (tests/test_tracker_speedups.py)."""


@dataclass
class TrackEstimate:
    """One tracked sample."""

    displacement_mm: np.ndarray
    level: np.ndarray
    """Per tag: displacement / stroke, unclipped."""
    grades: dict[str, float]
    """Per movement: 8 x its tag's level, clipped to 0..8."""
    gesture: str
    grade: int
    confidence: float
    residual_ut: float
    background_ut: np.ndarray
    ready: bool
    """False while the pose is being estimated (confidence is then 0)."""
    activation: np.ndarray = field(default_factory=lambda: np.zeros(0))


class Tracker:
    """Stateful per-sample tracker for one stream (not thread-safe: one decoder thread)."""

    def __init__(
        self,
        twin: Twin,
        config: TrackerConfig | None = None,
        rate_hz: float = 42.7,
        worker: PoseWorker | None = None,
    ) -> None:
        self.twin = twin
        self.cfg = config or TrackerConfig()
        self.rate_hz = rate_hz
        self.sensors = twin.sensors_mm
        self.k = twin.n_tags
        self.design = background_design(
            self.sensors, self.cfg.gradient, self.cfg.gradient and self.cfg.curvature
        ).reshape(self.sensors.shape[0] * 3, -1)
        self.n_bg = self.design.shape[1]
        self._a = np.zeros((self.design.shape[0], self.k + self.n_bg))
        self._a[:, self.k :] = self.design
        self._diag = np.diag_indices(self.k + self.n_bg)
        self.pose = np.zeros(6)
        self.stroke = twin.stroke_mm
        inv = np.linalg.pinv(twin.coupling)
        self._uncouple = inv
        self._movements = tuple(twin.movements)
        self._residual_ref = max(twin.residual_ut_rms, self.cfg.residual_floor_ut)
        # the per-sample step's scratch (see _gauss_newton): gathered table rows plus
        # the sample's row, and the interpolation weights
        k, n3 = self.k, self.design.shape[0]
        self._projected: ProjectedTables | None = None
        self._stack = np.zeros((4 * k + 1, n3 + self.n_bg))
        self._weights = np.zeros((k + 1, 4 * k + 1))
        self._weights[k, 4 * k] = 1.0  # the sample's row enters the residual row once
        self._weight_at = [
            (t if c < 2 else k) * (4 * k + 1) + 4 * t + c for t in range(k) for c in range(4)
        ]
        self._rows = [0] * (4 * k)
        self._w = [0.0] * (4 * k)
        self._settle: list[np.ndarray] = []
        self._settle_n = max(1, round(self.cfg.settle_s * rate_hz))
        self._update_n = max(1, round(self.cfg.pose_update_s * rate_hz))
        self._recent: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._count = 0
        self.tables: TravelTables | None = None
        self.worker: PoseWorker = worker or InlinePoseWorker()
        """Runs the pose fits; a ProcessPoseWorker keeps them off the sample thread."""
        self.pose_updates = 0
        """Pose fits swapped in so far (the rest-pose fit counts)."""
        self.d = np.zeros(self.k)
        self.bg = np.zeros(self.n_bg)
        self.pose_residual_ut = float("nan")
        self.condition = float("inf")

    def set_rate(self, rate_hz: float) -> None:
        """The sample rate, once measured (a source that does not say it): the settle
        time and the pose-update period are counted in samples."""
        self.rate_hz = rate_hz
        self._settle_n = max(1, round(self.cfg.settle_s * rate_hz))
        self._update_n = max(1, round(self.cfg.pose_update_s * rate_hz))

    # --- pose -----------------------------------------------------------------------
    def _settings(self) -> PoseSettings:
        c = self.cfg
        return PoseSettings(
            c.gradient,
            c.table_points,
            c.travel_margin,
            3 * c.residual_floor_ut,
            c.pose_rate,
            c.gradient and c.curvature,
        )

    def pose_settings(self) -> PoseSettings:
        """The settings of this tracker's pose fits (for a fit made elsewhere)."""
        return self._settings()

    def adopt_pose(self, result: PoseResult) -> None:
        """Swap in a pose fitted elsewhere (the re-don check), between samples."""
        self._settle.clear()
        self._apply(result)

    def _apply(self, result: PoseResult) -> None:
        """Swap in a finished pose fit (between samples: d and bg stay warm)."""
        self.pose = result.pose.copy()
        if result.background is not None:
            self.bg = result.background.copy()
            self.pose_residual_ut = result.residual_ut
        self.tables = result.tables
        self._projected = self._projected_tables(result.tables)
        self.condition = result.condition
        self.pose_updates += 1

    def _collect(self) -> None:
        result = self.worker.poll()
        if result is not None:
            self._apply(result)

    def estimate_pose(self, rest_fields: np.ndarray) -> float:
        """Fit the socket pose to relaxed samples (m, n, 3) now, on this thread; returns
        the residual RMS (uT)."""
        self._apply(fit_rest_pose(self.twin, self._settings(), rest_fields))
        return self.pose_residual_ut

    def _submit_rest_pose(self) -> None:
        # the fit uses the mean rest field: send that, not seconds of samples
        mean = np.mean(self._settle, axis=0)[None]
        job = (fit_rest_pose, (self.twin, self._settings(), mean))
        self._settle.clear()
        self.worker.submit(job)
        self._collect()  # an inline worker has it already

    def _submit_pose_update(self) -> None:
        """One damped pose step from recent confident samples, on the worker."""
        if len(self._recent) < 4 or self.worker.busy:
            return
        fields = np.array([r[0] for r in self._recent])
        disp = np.array([r[1] for r in self._recent])
        bgs = np.array([r[2] for r in self._recent])
        self._recent.clear()
        args = (self.twin, self._settings(), self.pose.copy(), fields, disp, bgs)
        self.worker.submit((update_pose, args))
        self._collect()

    # --- per sample -----------------------------------------------------------------
    def decode(self, field_ut: np.ndarray) -> TrackEstimate:
        """Track one sample of all sensors (n, 3) uT."""
        y = np.asarray(field_ut, dtype=np.float64).reshape(-1)
        if self.worker.busy:
            self._collect()
        if self.tables is None:
            if not self.worker.busy:
                self._settle.append(y.reshape(-1, 3))
                if len(self._settle) >= self._settle_n:
                    self._submit_rest_pose()
            if self.tables is None:
                return self._not_ready()
        d, bg, resid, inside = self._gauss_newton(self.tables, y)
        self.d, self.bg = d, bg
        est = self._estimate(d, bg, resid, inside)
        self._count += 1
        if est.confidence > 0.5 and self._count % max(1, self._update_n // 24) == 0:
            self._recent.append((y.reshape(-1, 3), d.copy(), bg.copy()))
        if self._count % self._update_n == 0:
            self._submit_pose_update()
        return est

    def _projected_tables(self, tables: TravelTables) -> ProjectedTables:
        """The pose's tables with this tracker's background taken out: built by the pose
        worker with the same design (checked), else here."""
        p = tables.projected
        if (
            p is None
            or p.design.shape != self.design.shape
            or not np.array_equal(p.design, self.design)
        ):
            p = ProjectedTables(tables, self.design)
            tables.projected = p
        return p

    def _gauss_newton(
        self, tables: TravelTables, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float, bool]:
        """The per-sample step: compiled (`compiled_step.py`) where numba is installed,
        else `_gauss_newton_numpy`; a sample the compiled step declines (dead sensors,
        a matrix that is not positive definite) takes the numpy way."""
        step = compiled_step
        if step is None:
            return self._gauss_newton_numpy(tables, y)
        proj = self._projected
        if proj is None or proj is not tables.projected:
            proj = self._projected = self._projected_tables(tables)
        d = np.array(self.d, dtype=np.float64)  # the compiled signature: contiguous float64
        bg = np.empty(self.n_bg)
        resid, inside, status = step(
            proj.to_rows,
            proj.table,
            proj.lo_array,
            proj.inv_step_array,
            proj.points,
            np.ascontiguousarray(y, dtype=np.float64),
            d,
            1.0 + self.cfg.damping,
            self.cfg.tolerance_mm,
            self.cfg.iterations,
            bg,
        )
        if status == OK:
            return d, bg, resid, inside
        if status == NOT_FINITE:
            return self._gauss_newton_masked(tables, y, np.isfinite(y))
        return self._gauss_newton_numpy(tables, y)

    def _gauss_newton_numpy(
        self, tables: TravelTables, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float, bool]:
        """Warm-started Gauss-Newton on displacements + background; stops early once the
        step is below `tolerance_mm` (the usual case at high rates: one iteration).

        The background enters linearly through a constant design D, so it is projected
        out (P = I - D D+): each step solves k x k for the displacements, and the
        background follows as D+ (y - f - J dd), the same step as the joint solve
        (`_gauss_newton_masked`). The tables already hold P and D+ applied to every
        tag's field and derivative (`ProjectedTables`), so a step is one gather, one
        product `W @ rows` giving every tag's [P J | D+ J] and [P (y - f) | D+ (y - f)],
        one Gram matrix of [P J; P (y - f)] (the normal equations and |P (y - f)|^2 at
        once) and a k x k solve in plain Python: about a dozen numpy calls on
        tiny arrays instead of ~40 with their allocations. With dead sensors the
        projector changes, so that (rare) case solves jointly."""
        proj = self._projected
        if proj is None or proj is not tables.projected:
            proj = self._projected = self._projected_tables(tables)
        k = self.k
        n3 = self.design.shape[0]
        stack, weights, rows, w = self._stack, self._weights, self._rows, self._w
        np.matmul(proj.to_rows, y, out=stack[4 * k])  # [P y | D+ y]
        damping = 1.0 + self.cfg.damping
        tol = self.cfg.tolerance_mm
        d = self.d.tolist()
        dd = [0.0] * k
        inside = True
        combined = stack[: k + 1]
        gram: list[list[float]] = []
        for _ in range(max(1, self.cfg.iterations)):
            inside = proj.weights(d, rows, w)
            np.take(proj.table, rows, axis=0, out=stack[: 4 * k], mode="clip")
            weights.put(self._weight_at, w)
            combined = weights @ stack  # rows: [P J_t | D+ J_t] per tag, [P e | D+ e]
            v = combined[:, :n3]
            gram = (v @ v.T).tolist()
            if not math.isfinite(gram[k][k]):
                # a NaN or inf reading reaches every entry of P y: dead sensors
                return self._gauss_newton_masked(tables, y, np.isfinite(y))
            dd = _solve_damped(gram, k, damping)
            d = [a + b for a, b in zip(d, dd, strict=True)]
            if max(map(abs, dd)) < tol:
                break
        # |P (y - f) - P J dd|^2 from the Gram matrix: the residual after the step,
        # linearised (rounding ~1e-16 of |P (y - f)|^2, far below the noise)
        quad = gram[k][k]
        for i in range(k):
            row = gram[i]
            quad += dd[i] * (sum([row[j] * dd[j] for j in range(k)]) - 2.0 * row[k])
        resid = math.sqrt(max(0.0, quad) / n3)
        # background D+ (y - f - J dd)
        bg = np.dot([-x for x in dd] + [1.0], combined[:, n3:])
        return np.array(d), bg, resid, inside

    def _gauss_newton_masked(
        self, tables: TravelTables, y: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float, bool]:
        """The joint solve over the live sensors' rows only."""
        d, bg = self.d, self.bg
        k = self.k
        a = self._a
        yv = y[valid]
        r_after = yv
        inside = True
        for _ in range(self.cfg.iterations):
            f, j, inside = tables.lookup(d)
            a[:, :k] = j
            av = a[valid]
            r = yv - f[valid] - self.design[valid] @ bg
            ata = av.T @ av
            ata[self._diag] *= 1.0 + self.cfg.damping
            step = np.linalg.solve(ata, av.T @ r)
            d = d + step[:k]
            bg = bg + step[k:]
            r_after = r - av @ step
            if np.abs(step[:k]).max() < self.cfg.tolerance_mm:
                break
        resid = float(np.sqrt(np.dot(r_after, r_after) / max(1, r_after.size)))
        return d, bg, resid, inside

    def _not_ready(self) -> TrackEstimate:
        return TrackEstimate(
            np.zeros(self.k),
            np.zeros(self.k),
            dict.fromkeys(self.twin.movements, 0.0),
            "rest",
            0,
            0.0,
            float("nan"),
            np.zeros(3),
            False,
        )

    def _estimate(self, d: np.ndarray, bg: np.ndarray, resid: float, inside: bool) -> TrackEstimate:
        level = d / self.stroke
        clipped = [min(max(x, 0.0), 1.0) for x in level.tolist()]
        activation = np.dot(clipped, self._uncouple)
        grades = {g: GRADES * c for g, c in zip(self._movements, clipped, strict=True)}
        if max(clipped) < self.cfg.rest_threshold:
            gesture, grade = "rest", 0
        else:
            gesture = self._movements[int(activation.argmax())]
            grade = round(grades[gesture])
        excess = resid / self._residual_ref
        # a far disturbance (motors) leaves a few times the fit residual; a magnet at the
        # socket or a failing sensor leaves tens of times more
        conf = 1.0 if excess <= 4.0 else math.exp(-(excess - 4.0) / 4.0)
        if not inside:
            conf *= 0.3
        if self.condition > 1e6:
            conf *= 0.3
        return TrackEstimate(
            d.copy(), level, grades, gesture, grade, conf, resid, bg[:3].copy(), True, activation
        )


def _solve_damped(gram: list[list[float]], k: int, damping: float) -> list[float]:
    """Solve (M + (damping - 1) diag M) x = b, M = gram[:k][:k], b = gram[i][k], in
    plain Python (k is 2-4: cheaper than a LAPACK call through numpy): the adjugate for
    3 tags, else a Cholesky. A matrix that is not positive definite (a tag whose field
    does not change) goes to numpy's solve, as before."""
    if k == 3:
        (a, b, c, r0), (_, d, e, r1), (_, _, f, r2) = gram[0], gram[1], gram[2]
        a, d, f = a * damping, d * damping, f * damping
        c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
        det = a * c00 + b * c01 + c * c02
        if det > 0.0:
            c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
            return [
                (c00 * r0 + c01 * r1 + c02 * r2) / det,
                (c01 * r0 + c11 * r1 + c12 * r2) / det,
                (c02 * r0 + c12 * r1 + c22 * r2) / det,
            ]
        return _solve_numpy(gram, k, damping)
    low = [[0.0] * k for _ in range(k)]
    for i in range(k):
        gi, li = gram[i], low[i]
        for j in range(i + 1):
            lj = low[j]
            s = gi[j] * damping if i == j else gi[j]
            for t in range(j):
                s -= li[t] * lj[t]
            if i == j:
                if not s > 0.0:
                    return _solve_numpy(gram, k, damping)
                li[i] = math.sqrt(s)
            else:
                li[j] = s / lj[j]
    z = [0.0] * k
    for i in range(k):
        s = gram[i][k]
        li = low[i]
        for t in range(i):
            s -= li[t] * z[t]
        z[i] = s / li[i]
    x = [0.0] * k
    for i in range(k - 1, -1, -1):
        s = z[i]
        for t in range(i + 1, k):
            s -= low[t][i] * x[t]
        x[i] = s / low[i][i]
    return x


def _solve_numpy(gram: list[list[float]], k: int, damping: float) -> list[float]:
    m = np.array([row[:k] for row in gram[:k]])
    m[np.diag_indices(k)] *= damping
    out: list[float] = np.linalg.solve(m, [row[k] for row in gram[:k]]).tolist()
    return out
