"""Fields that do not come from the tags: Earth, sensor drift and optional disturbances.

Everything here is a deterministic function of time (random phases drawn once from the
seed), so blocks of any size give the same values and evaluation is vectorised.

- Earth: a uniform field (default 50 uT, 60 deg inclination) fixed in the room. The
  forearm turns in the room (roll = pronation/supination, pitch, yaw), so in the
  forearm frame the Earth field rotates; with `earth_rotation` the orientation wanders
  slowly (periods of 40-150 s, amplitude `arm_wander_deg`).
- Drift: a slow offset per sensor and axis (periods of 3-10 min), a common part
  (temperature) plus an individual part, `drift_ut` peak each; zero at t = 0.
- Disturbances (off by default): `mains` 50 Hz ripple from a nearby cable (0.4 uT with
  a small gradient across the layout); `object` a magnetised steel object (a tool, a
  phone, 0.4 A m^2) carried past the arm at 25-40 cm every 45 s; `step` a sudden 6 uT
  offset (a steel chair moved next to the arm) that appears, stays 70 s, disappears
  for 70 s, and returns with another direction; `steel` a soft-iron steel object (a
  20 mm-radius sphere, ~260 g: pliers, a wrench) carried past at `steel_cm` (5 cm)
  from the nearest sensor, 0.5 m/s, every 30 s: magnetised by the Earth field it is
  in (mu_r 200) plus a 0.005 A m^2 remanent moment (docs/environment.md).
  `disturbances=1` enables the ambient kinds (AMBIENT_DISTURBANCES); `steel` is near
  the arm by design and must be named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DISTURBANCE_KINDS: tuple[str, ...] = ("mains", "object", "step", "steel")
AMBIENT_DISTURBANCES: tuple[str, ...] = ("mains", "object", "step")
"""What `disturbances=1` enables: everything but the near steel object."""
STEEL_RADIUS_M = 0.02
STEEL_PERMEABILITY = 200.0
STEEL_REMANENCE_AM2 = 0.005
STEEL_SPEED_M_S = 0.5
STEEL_PERIOD_S = 30.0
STEEL_HALF_PATH_M = 1.0
_MU0_4PI = 1e-7  # T m / A


@dataclass(frozen=True, slots=True)
class EnvironmentParams:
    """Environment knobs (see SimConfig for the user-facing names)."""

    earth_ut: float = 50.0
    earth_inclination_deg: float = 60.0
    earth_rotation: bool = True
    arm_wander_deg: float = 10.0
    arm_roll_deg: float = 0.0
    arm_pitch_deg: float = 0.0
    arm_yaw_deg: float | None = None
    drift: bool = True
    drift_ut: float = 2.0
    disturbances: tuple[str, ...] = ()
    mains_hz: float = 50.0
    steel_cm: float = 5.0
    """Closest approach of the `steel` object's centre to the nearest sensor (cm)."""


class _Wander:
    """A smooth, bounded random signal: three sinusoids of random period and phase."""

    def __init__(self, rng: np.random.Generator, min_period_s: float, max_period_s: float) -> None:
        self.omega = 2 * np.pi / rng.uniform(min_period_s, max_period_s, 3)
        self.phase = rng.uniform(0, 2 * np.pi, 3)
        w = rng.uniform(0.5, 1.0, 3)
        self.weight = w / w.sum()  # peak |value| <= 1
        self.at_zero = float(np.sin(self.phase) @ self.weight)


class _WanderBank:
    """Several _Wander signals evaluated together (one vectorised call per block)."""

    def __init__(self, wanders: list[_Wander]) -> None:
        self.omega = np.stack([w.omega for w in wanders])  # (k, 3)
        self.phase = np.stack([w.phase for w in wanders])
        self.weight = np.stack([w.weight for w in wanders])
        self.at_zero = np.array([w.at_zero for w in wanders])

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """Values (m, k) at times `t` (m,)."""
        arg = t[:, None, None] * self.omega + self.phase
        out: np.ndarray = (np.sin(arg) * self.weight).sum(axis=2)
        return out


class Environment:
    """Background field at each sensor, in the forearm frame, in uT."""

    def __init__(
        self, params: EnvironmentParams, sensors_mm: np.ndarray, rng: np.random.Generator
    ) -> None:
        unknown = set(params.disturbances) - set(DISTURBANCE_KINDS)
        if unknown:
            raise ValueError(
                f"unknown disturbance {sorted(unknown)[0]!r}; "
                f"choose from {', '.join(DISTURBANCE_KINDS)}"
            )
        self.params = params
        self.sensors_mm = np.asarray(sensors_mm, dtype=np.float64)
        n = self.sensors_mm.shape[0]
        # Draw every random number up front and in a fixed order, whatever the options,
        # so switching one effect on or off leaves the others unchanged.
        inc = math.radians(params.earth_inclination_deg)
        # room frame: X north, Y east, Z down
        self.earth_room = params.earth_ut * np.array([math.cos(inc), 0.0, math.sin(inc)])
        yaw0 = rng.uniform(0, 360)
        self.yaw0 = math.radians(params.arm_yaw_deg if params.arm_yaw_deg is not None else yaw0)
        self.roll0 = math.radians(params.arm_roll_deg)
        self.pitch0 = math.radians(params.arm_pitch_deg)
        self._wander = [_Wander(rng, 40.0, 150.0) for _ in range(3)]
        self._drift_common = _Wander(rng, 180.0, 600.0)
        self._drift_dir = rng.standard_normal(3)
        self._drift_dir /= np.linalg.norm(self._drift_dir)
        self._drift_each = [_Wander(rng, 180.0, 600.0) for _ in range(3)]
        self._drift_gain = rng.uniform(-1.0, 1.0, (n, 3))
        # arm roll, pitch, yaw, then common drift, then drift per axis
        self._bank = _WanderBank([*self._wander, self._drift_common, *self._drift_each])
        self._mains_dir = rng.standard_normal(3)
        self._mains_dir /= np.linalg.norm(self._mains_dir)
        self._mains_phase = rng.uniform(0, 2 * np.pi)
        self._object_period = 45.0
        self._object_offset = rng.uniform(5.0, 30.0)
        self._object_moment = rng.standard_normal(3)
        self._object_moment *= 0.4 / np.linalg.norm(self._object_moment)  # A m^2
        self._object_miss_m = rng.uniform(0.25, 0.40)
        self._step_period = 70.0
        self._step_offset = rng.uniform(10.0, 40.0)
        self._step_dirs = rng.standard_normal((64, 3))
        self._step_dirs *= 6.0 / np.linalg.norm(self._step_dirs, axis=1, keepdims=True)
        # drawn last: the draws above (and so every other effect) stay as they were
        self._steel_sensor = int(rng.integers(n))
        self._steel_offset = rng.uniform(5.0, 15.0)
        self._steel_remanence = rng.standard_normal(3)
        self._steel_remanence *= STEEL_REMANENCE_AM2 / np.linalg.norm(self._steel_remanence)

    def _angles(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        amp = math.radians(self.params.arm_wander_deg) if self.params.earth_rotation else 0.0
        return self.roll0 + amp * w[:, 0], self.pitch0 + amp * w[:, 1], self.yaw0 + amp * w[:, 2]

    def _earth(self, w: np.ndarray) -> np.ndarray:
        roll, pitch, yaw = self._angles(w)
        # arm = (Rz(yaw) Ry(pitch) Rx(roll))^T @ room, applied one axis at a time
        ex, ey, ez = self.earth_room
        c, s = np.cos(yaw), np.sin(yaw)
        x1, y1 = c * ex + s * ey, c * ey - s * ex
        c, s = np.cos(pitch), np.sin(pitch)
        x2, z2 = c * x1 - s * ez, s * x1 + c * ez
        c, s = np.cos(roll), np.sin(roll)
        y3, z3 = c * y1 + s * z2, c * z2 - s * y1
        return np.stack([x2, y3, z3], axis=-1)

    def field_ut(self, t: np.ndarray) -> np.ndarray:
        """Background field (m, n_sensors, 3) in uT at times `t` (s)."""
        t = np.asarray(t, dtype=np.float64)
        w = self._bank(t)
        earth = self._earth(w)
        out = np.repeat(earth[:, None, :], self.sensors_mm.shape[0], axis=1)
        p = self.params
        if p.drift and p.drift_ut:
            d = p.drift_ut * (w[:, 3:7] - self._bank.at_zero[3:7])  # common, x, y, z
            out += d[:, 0, None, None] * self._drift_dir
            out += d[:, None, 1:4] * self._drift_gain[None, :, :]
        if "mains" in p.disturbances:
            out += self._mains(t)
        if "object" in p.disturbances:
            out += self._object(t)
        if "step" in p.disturbances:
            out += self._step(t)
        if "steel" in p.disturbances:
            out += self._steel(t, earth)
        return out

    def steel_position_mm(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where the `steel` object is (m, 3) mm and whether it is passing (m,) at `t`:
        straight passes along the ring's tangent, `steel_cm` radially outside the drawn
        sensor (so that sensor is the nearest), alternating direction."""
        t = np.asarray(t, dtype=np.float64)
        s = self.sensors_mm[self._steel_sensor]
        radial = np.array([0.0, s[1], s[2]]) / math.hypot(s[1], s[2])
        tangent = np.cross([1.0, 0.0, 0.0], radial)
        duration = 2 * STEEL_HALF_PATH_M / STEEL_SPEED_M_S
        since = t - self._steel_offset
        n_pass = np.floor(since / STEEL_PERIOD_S)
        phase = since - n_pass * STEEL_PERIOD_S
        active = (since >= 0) & (phase < duration)
        along = (phase - duration / 2) * STEEL_SPEED_M_S * 1000.0
        along *= np.where(n_pass % 2 == 0, 1.0, -1.0)
        closest = s + self.params.steel_cm * 10.0 * radial
        return closest + along[:, None] * tangent, active

    def _steel(self, t: np.ndarray, earth_ut: np.ndarray) -> np.ndarray:
        # soft iron in the Earth field (uniform over it) plus its remanence; the tags'
        # own field at the object is left out here (the foreign simulator has it)
        pos_mm, active = self.steel_position_mm(t)
        mu = STEEL_PERMEABILITY
        per_tesla = STEEL_RADIUS_M**3 * (mu - 1) / (mu + 2) / _MU0_4PI  # 4 pi a^3 K / mu0
        moment = per_tesla * earth_ut * 1e-6 + self._steel_remanence  # (m, 3) A m^2
        r = (self.sensors_mm[None, :, :] - pos_mm[:, None, :]) * 1e-3
        dist = np.linalg.norm(r, axis=2, keepdims=True)
        rhat = r / dist
        mdotr = np.einsum("mnk,mk->mn", rhat, moment)
        b = _MU0_4PI * (3 * rhat * mdotr[..., None] - moment[:, None, :]) / dist**3
        out: np.ndarray = b * 1e6 * active[:, None, None]
        return out

    def _mains(self, t: np.ndarray) -> np.ndarray:
        # a cable beside the arm: 0.4 uT at the layout centre, falling off across it
        wave = 0.4 * np.sin(2 * np.pi * self.params.mains_hz * t + self._mains_phase)
        gradient = 1.0 + 0.004 * self.sensors_mm[:, 1]  # +-0.2 over the forearm
        out: np.ndarray = wave[:, None, None] * gradient[None, :, None] * self._mains_dir
        return out

    def _object(self, t: np.ndarray) -> np.ndarray:
        # each pass: straight line along x at the miss distance, 0.5 m/s, +-1.5 m
        phase = (t - self._object_offset) % self._object_period
        along = (phase - 3.0) * 0.5  # metres from closest approach; passes last 6 s
        active = (phase < 6.0) & (t >= self._object_offset)
        obj = np.zeros((t.shape[0], 3))
        obj[:, 0] = along
        obj[:, 1] = self._object_miss_m
        r = self.sensors_mm[None, :, :] * 1e-3 - obj[:, None, :]  # (m, n, 3) m
        dist = np.linalg.norm(r, axis=2, keepdims=True)
        rhat = r / dist
        mdotr = rhat @ self._object_moment
        b = _MU0_4PI * (3 * rhat * mdotr[..., None] - self._object_moment) / dist**3
        out: np.ndarray = b * 1e6 * active[:, None, None]
        return out

    def _step(self, t: np.ndarray) -> np.ndarray:
        k = np.floor((t - self._step_offset) / self._step_period).astype(np.int64)
        on = k >= 0
        # even periods: the object is there (a new direction each time); odd: it is gone
        idx = np.clip(k, 0, None) % self._step_dirs.shape[0]
        level = np.where((idx % 2 == 0)[:, None], self._step_dirs[idx], 0.0)
        out: np.ndarray = np.where(on[:, None], level, 0.0)[:, None, :]
        return np.broadcast_to(out, (t.shape[0], self.sensors_mm.shape[0], 3))
