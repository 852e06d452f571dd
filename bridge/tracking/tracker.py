"""Per-sample magnet tracking with a patient twin.

Each sample: Gauss-Newton on the tags' displacements along their axes plus the
background (uniform, optionally a first-order gradient), warm-started from the
previous sample. The tag fields and their exact derivatives come from the twin's
multipole model, tabulated over each tag's travel for the current socket pose (so a
sample costs a table lookup and an 11x11 solve).

Socket pose: the twin lives in the socket frame of the fitting session. A re-donned
socket sits elsewhere on the arm, so for the first `settle_s` seconds (the patient
relaxed) the tracker collects the field and fits the rigid pose (rotation + translation
of the tags relative to the sensors) with every tag at rest; until then it reports
confidence 0 (no input). Afterwards it nudges the pose every `pose_update_s` from
recent confident samples, so a slowly slipping socket stays tracked.

Outputs: every tag's displacement and normalised level; per movement a grade (8 x
level of its tag); the gesture = the movement whose activation (levels through the
inverse coupling) is largest; confidence from the residual against the twin's fit
residual, the conditioning and the travel range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from bridge.tracking.field_model import TagGeometry, background_design
from bridge.tracking.twin import Twin

GRADES = 8


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker knobs; defaults suit 42.7-1000 Hz."""

    gradient: bool = True
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


class _Tables:
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
        self.f = per_tag.transpose(1, 0, 2, 3).reshape(k, points, -1)  # (k, p, 3n)
        self.j = jac.transpose(1, 0, 2, 3).reshape(k, points, -1)
        self.df = np.diff(self.f, axis=1)
        self.dj = np.diff(self.j, axis=1)
        self.k_index = np.arange(k)

    def lookup(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Summed field (3n,), Jacobian (3n, k), and whether every tag is inside the table."""
        u = (d - self.lo) / self.step
        inside = bool(((u >= 0) & (u <= self.points - 1)).all())
        u = np.clip(u, 0.0, self.points - 1 - 1e-9)
        i = u.astype(np.intp)
        frac = (u - i)[:, None]
        f = self.f[self.k_index, i] + self.df[self.k_index, i] * frac
        j = self.j[self.k_index, i] + self.dj[self.k_index, i] * frac
        return f.sum(axis=0), j.T, inside


def _pose_geometry(twin: Twin, pose: np.ndarray) -> TagGeometry:
    """Tags of the twin moved by pose = (rotation vector (rad), translation (mm))."""
    rot = Rotation.from_rotvec(pose[:3])
    geo = twin.geometry()
    return TagGeometry(
        rot.apply(geo.rest_mm) + pose[3:], rot.apply(geo.axis), geo.moment, geo.shape
    )


class Tracker:
    """Stateful per-sample tracker for one stream (not thread-safe: one decoder thread)."""

    def __init__(
        self, twin: Twin, config: TrackerConfig | None = None, rate_hz: float = 42.7
    ) -> None:
        self.twin = twin
        self.cfg = config or TrackerConfig()
        self.rate_hz = rate_hz
        self.sensors = twin.sensors_mm
        self.k = twin.n_tags
        self.design = background_design(self.sensors, self.cfg.gradient).reshape(
            self.sensors.shape[0] * 3, -1
        )
        self.n_bg = self.design.shape[1]
        self.pose = np.zeros(6)
        self.stroke = twin.stroke_mm
        inv = np.linalg.pinv(twin.coupling)
        self._uncouple = inv
        self._settle: list[np.ndarray] = []
        self._settle_n = max(1, round(self.cfg.settle_s * rate_hz))
        self._update_n = max(1, round(self.cfg.pose_update_s * rate_hz))
        self._recent: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._count = 0
        self.tables: _Tables | None = None
        self.d = np.zeros(self.k)
        self.bg = np.zeros(self.n_bg)
        self.pose_residual_ut = float("nan")
        self.condition = float("inf")

    # --- pose -----------------------------------------------------------------------
    def _build_tables(self) -> None:
        m = self.cfg.travel_margin
        geo = _pose_geometry(self.twin, self.pose)
        self.tables = _Tables(
            geo, self.sensors, -m * self.stroke, (1 + m) * self.stroke, self.cfg.table_points
        )
        # conditioning hardly changes along the travel: check it here, not per sample
        worst = 0.0
        for level in (0.0, 0.5, 1.0):
            _, j, _ = self.tables.lookup(level * self.stroke)
            a = np.concatenate([j, self.design], axis=1)
            ata = a.T @ a
            diag = np.sqrt(np.diag(ata))
            worst = max(worst, float(np.linalg.cond(ata / np.outer(diag, diag))))
        self.condition = worst

    def _pose_residual(self, x: np.ndarray, fields: np.ndarray, disp: np.ndarray) -> np.ndarray:
        geo = _pose_geometry(self.twin, x[:6])
        model = geo.field(self.sensors, disp).reshape(fields.shape[0], -1)
        bg = x[6:].reshape(fields.shape[0], self.n_bg) @ self.design.T
        out: np.ndarray = (model + bg - fields.reshape(fields.shape[0], -1)).reshape(-1)
        return out

    def estimate_pose(self, rest_fields: np.ndarray) -> float:
        """Fit the socket pose to relaxed samples (m, n, 3); returns the residual RMS (uT)."""
        mean = np.asarray(rest_fields, dtype=np.float64).mean(axis=0)[None]
        disp = np.zeros((1, self.k))
        best = None
        # a re-donned socket may be turned or slid: start from a few poses around the arm
        for turn in (0.0, -0.2, 0.2, -0.4, 0.4):
            for shift in (0.0, -6.0, 6.0):
                x0 = np.zeros(6 + self.n_bg)
                x0[0], x0[3] = turn, shift
                r = least_squares(
                    self._pose_residual,
                    x0,
                    args=(mean, disp),
                    method="lm",
                    x_scale="jac",
                    max_nfev=300,
                )
                if best is None or r.cost < best.cost:
                    best = r
                if np.sqrt(2 * best.cost / best.fun.size) < 3 * self.cfg.residual_floor_ut:
                    break
            if (
                best is not None
                and np.sqrt(2 * best.cost / best.fun.size) < 3 * self.cfg.residual_floor_ut
            ):
                break
        assert best is not None
        self.pose = best.x[:6].copy()
        self.bg = best.x[6:].copy()
        self._build_tables()
        self.pose_residual_ut = float(np.sqrt(2 * best.cost / best.fun.size))
        return self.pose_residual_ut

    def _nudge_pose(self) -> None:
        """One damped step of the pose from recent confident samples (d and bg held)."""
        if len(self._recent) < 4:
            return
        fields = np.array([r[0] for r in self._recent])
        disp = np.array([r[1] for r in self._recent])
        bgs = np.array([r[2] for r in self._recent]).reshape(-1)

        def resid(pose: np.ndarray) -> np.ndarray:
            return self._pose_residual(np.concatenate([pose, bgs]), fields, disp)

        r = least_squares(resid, self.pose, method="lm", x_scale="jac", max_nfev=20)
        self.pose = self.pose + self.cfg.pose_rate * (r.x - self.pose)
        self._build_tables()
        self._recent.clear()

    # --- per sample -----------------------------------------------------------------
    def decode(self, field_ut: np.ndarray) -> TrackEstimate:
        """Track one sample of all sensors (n, 3) uT."""
        y = np.asarray(field_ut, dtype=np.float64).reshape(-1)
        if self.tables is None:
            self._settle.append(y.reshape(-1, 3))
            if len(self._settle) >= self._settle_n:
                self.estimate_pose(np.array(self._settle))
                self._settle.clear()
            return self._not_ready()
        valid = np.isfinite(y)
        tables = self.tables
        d, bg = self.d, self.bg
        a_bg = self.design
        for _ in range(self.cfg.iterations):
            f, j, inside = tables.lookup(d)
            r = y - f - a_bg @ bg
            a = np.concatenate([j, a_bg], axis=1)
            if not valid.all():
                r, a = r[valid], a[valid]
            ata = a.T @ a
            ata[np.diag_indices_from(ata)] *= 1.0 + self.cfg.damping
            step = np.linalg.solve(ata, a.T @ r)
            d = d + step[: self.k]
            bg = bg + step[self.k :]
        f, j, inside = tables.lookup(d)
        r = (y - f - a_bg @ bg)[valid]
        resid = float(np.sqrt(np.mean(r * r)))
        self.d, self.bg = d, bg
        est = self._estimate(d, bg, resid, inside)
        self._count += 1
        if est.confidence > 0.5 and self._count % max(1, self._update_n // 24) == 0:
            self._recent.append((y.reshape(-1, 3), d.copy(), bg.copy()))
        if self._count % self._update_n == 0:
            self._nudge_pose()
        return est

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
