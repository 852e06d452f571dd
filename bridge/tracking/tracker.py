"""Per-sample magnet tracking with a patient twin.

Each sample: Gauss-Newton on the tags' displacements along their axes plus the
background (uniform, first-order gradient and second-order terms), warm-started from the
previous sample. The tag fields and their exact derivatives come from the twin's
multipole model, tabulated over each tag's travel for the current socket pose (so a
sample costs a table lookup and an 11x11 solve).

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

from dataclasses import dataclass, field

import numpy as np

from bridge.tracking.field_model import background_design
from bridge.tracking.pose_worker import InlinePoseWorker, PoseWorker
from bridge.tracking.socket_pose import (
    PoseResult,
    PoseSettings,
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
    tolerance_mm: float = 0.002
    """Gauss-Newton stops once no displacement step is larger (warm samples: one step)."""


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
        self._diag_k = np.diag_indices(self.k)
        self._pinv = np.linalg.pinv(self.design)  # (n_bg, 3n)
        self._proj = np.eye(self.design.shape[0]) - self.design @ self._pinv
        self.pose = np.zeros(6)
        self.stroke = twin.stroke_mm
        inv = np.linalg.pinv(twin.coupling)
        self._uncouple = inv
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

    def _gauss_newton(
        self, tables: TravelTables, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float, bool]:
        """Warm-started Gauss-Newton on displacements + background; stops early once the
        step is below `tolerance_mm` (the usual case at high rates: one iteration).

        The background enters linearly through a constant design D, so it is projected
        out (P = I - D D+): each step solves k x k for the displacements, then the
        background follows as D+ (r - J dd). Same step as the joint solve, without an
        (k + 15)-square LAPACK call per sample (whose run time had a long tail here).
        With dead sensors the projector changes, so that (rare) case solves jointly."""
        valid = np.isfinite(y)
        if not valid.all():
            return self._gauss_newton_masked(tables, y, valid)
        d, bg = self.d, self.bg
        proj, pinv = self._proj, self._pinv
        r_after = y
        inside = True
        for _ in range(self.cfg.iterations):
            f, j, inside = tables.lookup(d)
            r = y - f - self.design @ bg
            pj = proj @ j
            m = j.T @ pj
            m[self._diag_k] *= 1.0 + self.cfg.damping
            dd = np.linalg.solve(m, pj.T @ r)
            rest = r - j @ dd
            d = d + dd
            bg = bg + pinv @ rest
            r_after = proj @ rest  # residual after the step, linearised
            if np.abs(dd).max() < self.cfg.tolerance_mm:
                break
        resid = float(np.sqrt(np.dot(r_after, r_after) / r_after.size))
        return d, bg, resid, inside

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
        clipped = np.clip(level, 0.0, 1.0)
        activation = clipped @ self._uncouple
        grades = {g: float(GRADES * clipped[i]) for i, g in enumerate(self.twin.movements)}
        g_i = int(np.argmax(activation))
        if clipped.max() < self.cfg.rest_threshold:
            gesture, grade = "rest", 0
        else:
            gesture = self.twin.movements[g_i]
            grade = round(grades[gesture])
        ref = max(self.twin.residual_ut_rms, self.cfg.residual_floor_ut)
        excess = resid / ref
        # a far disturbance (motors) leaves a few times the fit residual; a magnet at the
        # socket or a failing sensor leaves tens of times more
        conf = 1.0 if excess <= 4.0 else float(np.exp(-(excess - 4.0) / 4.0))
        if not inside:
            conf *= 0.3
        if self.condition > 1e6:
            conf *= 0.3
        return TrackEstimate(
            d.copy(), level, grades, gesture, grade, conf, resid, bg[:3].copy(), True, activation
        )
