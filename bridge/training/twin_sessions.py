"""Training sessions synthesised from a patient's fitted twin (numpy only, no torch).

MCNN-TG learns a field-to-grade map for the socket placements it has seen; a re-donned
socket (shifted, turned), another Earth heading or the hand's motors put it off its
training distribution. The twin (`bridge.tracking.twin.Twin`) is the patient's physics,
fitted from a cued recording without ground truth, so it can play sessions the patient
never recorded: the socket moved along and turned about the forearm, the uniform
background in another direction, a motor-like dipole in the hand, and the noise and
quantisation of the device (LIS3MDL at +-16 gauss). Labels come from the synthesis: the
cued movement and 8 x its own tag's level.

Frame: the twin's (the sensors' at fitting time). The forearm axis is the common axis of
the sensor rings (found from the positions; its sign is chosen along +x, the project's
distal direction); the socket turns about it and slides along it. Every range below is a
prior for any patient, never a value of the simulator.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from bridge.signal.normalise import minmax_per_step
from bridge.tracking.field_model import UT_MM3_PER_AM2
from bridge.tracking.socket_pose import pose_geometry
from bridge.tracking.twin import Twin
from bridge.training.dataset import CLASSES, Arrays
from bridge.training.motor_pattern import MotorPattern

REST = "rest"
LSB_UT = 100.0 / 1711.0
"""LIS3MDL at +-16 gauss: 1711 LSB per gauss (100 uT)."""
FULL_SCALE_UT = 1600.0
SENSOR_POSITION_TOLERANCE_MM = 1.0
"""The same tolerance the tracking decoder applies between a twin and a source."""


MOTOR_FOLLOWS = ("hand", "activation")


@dataclass(frozen=True)
class SynthConfig:
    """What is synthesised and over which ranges (uniform draws; +- ranges symmetric)."""

    sessions: int = 960
    """Many short sessions: each is one placement, background and motor; with 240 the
    network learnt those placements (thumb within-1 97% on its own sessions of patient
    3's twin, 70% on fresh ones), so the same samples are spread over 4x the sessions."""
    seed: int = 0
    strokes_per_movement: int = 1
    shift_mm: float = 7.0
    """Socket slid along the forearm by up to this much either way."""
    turn_deg: float = 15.0
    """Socket turned about the forearm axis by up to this much either way."""
    earth_scale: tuple[float, float] = (0.8, 1.25)
    """Background magnitude relative to the one measured in the recordings."""
    earth_near_share: float = 0.7
    """Share of sessions whose background is the measured one turned by at most
    `earth_near_deg` (the arm held roughly as when recording); the others draw its
    direction uniformly over the sphere (any heading, any arm posture)."""
    earth_near_deg: float = 25.0
    earth_wander_deg: float = 8.0
    """Slow wander of the background direction within a session (the arm moves)."""
    motor_share: float = 0.5
    """Share of sessions with a motor-like dipole in the hand."""
    motor_distance_mm: tuple[float, float] = (50.0, 110.0)
    """Motor distal of the most distal sensor."""
    motor_lateral_mm: float = 20.0
    motor_moment_am2: tuple[float, float] = (0.02, 0.15)
    motor_turns: tuple[float, float] = (0.3, 2.5)
    """Turns of the motor's moment from open to closed hand."""
    motor_follows: str = "hand"
    """`hand`: the motor turns with the prosthetic hand's commanded pose (the decoded
    grades followed at the hand's slew limits), which lags the muscle and stays put
    between grades; `activation`: with the muscle activation itself (the earlier rule,
    which ties the motor's angle to the tags' displacement one to one)."""
    hand_speed_per_s: tuple[float, float] = (0.3, 1.5)
    """Slew limit of each hand joint, full closures per second (drawn per session and
    joint): how fast the hand can follow a command."""
    motor_coil_share: tuple[float, float] = (0.0, 0.5)
    """Stray moment of the windings along the motor axis (the forearm axis) while the
    hand moves at its slew limit, as a share of the rotor magnet's moment."""
    measured_motor_share: float = 2.0 / 3.0
    """With a measured motor (`synthesise(motor=...)`): the share of the motor sessions
    that play it instead of a drawn dipole (the prior stays for a hand that changes)."""
    motor_share_measured: float = 0.75
    """`motor_share` when a measured motor is given: the patient's own hand is the motor
    the decoder will meet, so more sessions carry a motor (half of all the sessions play
    the measured one, a quarter a drawn one)."""
    measured_motor_scale: tuple[float, float] = (0.8, 1.25)
    """Its moment x this (battery, temperature, a socket that sits closer or further)."""
    measured_motor_with_arm: float = 0.5
    """Share of those sessions where the motor moves with the arm like the tags when the
    socket is re-donned (the others keep it where it was measured, fixed to the socket)."""
    measured_motor_jitter_mm: float = 2.0
    """Its position moved by up to this much along each axis."""
    depth: tuple[float, float] = (0.25, 1.0)
    """Peak activation of a stroke (later days rarely flex fully)."""
    noise_ut: tuple[float, float] = (0.3, 0.6)
    lsb_ut: float = LSB_UT
    full_scale_ut: float = FULL_SCALE_UT
    rate_factor: float = 0.125
    """Synthesised sessions are sampled at this fraction of the recordings' rate: the
    network sees single time steps, so fewer samples per stroke buy more placements."""

    def __post_init__(self) -> None:
        if self.sessions < 1 or self.strokes_per_movement < 1:
            raise ValueError("sessions and strokes per movement must be >= 1")
        if not 0.0 <= self.motor_share <= 1.0 or not 0.0 <= self.earth_near_share <= 1.0:
            raise ValueError("motor_share and earth_near_share must be between 0 and 1")
        if not self.rate_factor > 0:
            raise ValueError("rate_factor must be > 0")
        if self.shift_mm < 0 or self.turn_deg < 0:
            raise ValueError("shift and turn ranges must be >= 0")
        if self.motor_follows not in MOTOR_FOLLOWS:
            raise ValueError(
                f"motor_follows must be one of {MOTOR_FOLLOWS}, got {self.motor_follows!r}"
            )
        if not 0.0 <= self.motor_share_measured <= 1.0:
            raise ValueError("motor_share_measured must be between 0 and 1")
        if not 0.0 <= self.measured_motor_share <= 1.0:
            raise ValueError("measured_motor_share must be between 0 and 1")
        if not 0.0 <= self.measured_motor_with_arm <= 1.0:
            raise ValueError("measured_motor_with_arm must be between 0 and 1")
        if not 0.0 < self.hand_speed_per_s[0] <= self.hand_speed_per_s[1]:
            raise ValueError("hand_speed_per_s must be an increasing range of positive speeds")


@dataclass
class SynthSessions:
    """Synthesised samples (M rows) with their labels and per-session placements."""

    field_ut: np.ndarray  # (M, n, 3) as the device would report it
    cue: np.ndarray  # (M,) str: the cue played
    gesture: np.ndarray  # (M,) str: label (the cue, or rest below grade 0.5)
    level: np.ndarray  # (M,) grade / 8 of the cued movement's own tag
    displacement_mm: np.ndarray  # (M, k) every tag's displacement along its axis
    session: np.ndarray  # (M,) session index
    placements: list[dict[str, Any]]
    summary: dict[str, Any]

    def __len__(self) -> int:
        return int(self.cue.shape[0])

    @property
    def magnitudes(self) -> np.ndarray:
        out: np.ndarray = np.linalg.norm(self.field_ut, axis=2)
        return out


def twin_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a twin file (provenance in model.json)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_twin_fits(
    twin: Twin, n_sensors: int, positions_mm: Sequence[Sequence[float]] | None, where: str
) -> None:
    """One-line ValueError when the twin is not for the recording's sensors (the rule
    the tracking decoder applies at open: sensor count, positions within 1 mm)."""
    if twin.n_sensors != n_sensors:
        raise ValueError(
            f"twin {where} is for {twin.n_sensors} sensors, the recording has {n_sensors}"
        )
    if positions_mm is None:
        return
    pos = np.asarray(positions_mm, dtype=np.float64)
    if pos.shape != twin.sensors_mm.shape:
        raise ValueError(f"twin {where}: the recording's positions_mm do not match its sensors")
    off = float(np.max(np.linalg.norm(pos - twin.sensors_mm, axis=1)))
    if off > SENSOR_POSITION_TOLERANCE_MM:
        raise ValueError(
            f"twin {where} was fitted with other sensor positions (up to {off:.1f} mm apart "
            "from the recording's): fit a twin for this device (fist-and-ball twin fit)"
        )


def forearm_axis(sensors_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit axis, a point on it): the common axis of the sensor rings.

    For evenly spaced rings the axis is a principal direction of the positions; of the
    three, it is the one about which the sensors' distances vary least. Sign: along +x.
    """
    s = np.asarray(sensors_mm, dtype=np.float64)
    centre = s.mean(axis=0)
    rel = s - centre
    _, vecs = np.linalg.eigh(rel.T @ rel)
    best, spread = vecs[:, 0], math.inf
    for i in range(3):
        a = vecs[:, i]
        radial = np.linalg.norm(rel - np.outer(rel @ a, a), axis=1)
        if radial.std() < spread:
            best, spread = a, float(radial.std())
    if best[0] < 0:
        best = -best
    return best / np.linalg.norm(best), centre


def socket_pose(
    axis: np.ndarray, centre: np.ndarray, shift_mm: float, turn_deg: float
) -> np.ndarray:
    """The twin pose (rotation vector, translation) of the tags seen from a socket slid
    `shift_mm` along (distal +) and turned `turn_deg` about the forearm axis: the arm
    moves the other way in the socket's frame."""
    rot = Rotation.from_rotvec(-math.radians(turn_deg) * axis)
    translation = centre - rot.apply(centre) - shift_mm * axis
    return np.concatenate([rot.as_rotvec(), translation])


def background_ut(twin: Twin, field_ut: np.ndarray, cues: Sequence[str]) -> np.ndarray:
    """The uniform background (3,) in a recording: the mean relaxed field minus the
    twin's tag field at rest, averaged over the sensors."""
    f = np.asarray(field_ut, dtype=np.float64)
    rest = np.array([c == REST for c in cues])
    if not rest.any():
        raise ValueError("the recording has no rest-cued samples to measure the background")
    tags = twin.geometry().field(twin.sensors_mm, np.zeros(twin.n_tags))
    out: np.ndarray = (np.nanmean(f[rest], axis=0) - tags).mean(axis=0)
    return out


def earth_magnitude_ut(twin: Twin, field_ut: np.ndarray, cues: Sequence[str]) -> float:
    """Magnitude of the recording's uniform background (`background_ut`)."""
    return float(np.linalg.norm(background_ut(twin, field_ut, cues)))


def _protocol(
    rng: np.random.Generator, cfg: SynthConfig, rate_hz: float, movements: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """The cued protocol's shape: rest, then per movement raised-cosine strokes to a
    random depth with holds; returns (cue per sample, activation (N, movements))."""
    cues: list[str] = []
    acts: list[np.ndarray] = []
    g_n = len(movements)

    def n_of(seconds: float) -> int:
        return max(2, round(seconds * rng.uniform(0.8, 1.2) * rate_hz))

    def put(cue: str, g: int, values: np.ndarray) -> None:
        a = np.zeros((values.size, g_n))
        if g >= 0:
            a[:, g] = values
        cues.extend([cue] * values.size)
        acts.append(a)

    put(REST, -1, np.zeros(n_of(1.5)))
    for g, name in enumerate(movements):
        for _ in range(cfg.strokes_per_movement):
            peak = rng.uniform(*cfg.depth)
            up = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, n_of(1.8)))
            put(name, g, peak * up)
            put(name, g, np.full(n_of(1.0), peak))
            put(name, g, peak * up[::-1])
            put(name, g, np.zeros(n_of(0.8)))
            put(REST, -1, np.zeros(n_of(1.5)))
    return cues, np.vstack(acts)


def commanded_hand(
    levels: np.ndarray, limit_per_sample: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The prosthetic hand's pose driven by decoded levels (N, joints): commanded in whole
    grades, followed from open at most `limit_per_sample` (joints,) closure per sample.
    Returns (closure of the most closed joint (N,), speed as a share of the slew limit
    (N,), the fastest joint): what turns the motors and drives their windings."""
    target = np.rint(8.0 * np.clip(levels, 0.0, 1.0)) / 8.0
    pose = np.empty_like(target)
    c = np.zeros(target.shape[1])
    for i, goal in enumerate(target):
        c = c + np.clip(goal - c, -limit_per_sample, limit_per_sample)
        pose[i] = c
    step = np.abs(np.diff(pose, axis=0, prepend=np.zeros((1, pose.shape[1]))))
    speed: np.ndarray = (step / limit_per_sample).max(axis=1)
    closure: np.ndarray = pose.max(axis=1)
    return closure, speed


def _dipole_field(sensors: np.ndarray, position: np.ndarray, moments: np.ndarray) -> np.ndarray:
    """Point-dipole field (N, n, 3) uT for moments (N, 3) A m^2 at one position (mm)."""
    rel = sensors - position  # (n, 3)
    r = np.linalg.norm(rel, axis=1)
    rhat = rel / r[:, None]
    mr = moments @ rhat.T  # (N, n)
    b = 3.0 * mr[..., None] * rhat[None] - moments[:, None, :]
    out: np.ndarray = UT_MM3_PER_AM2 * b / (r**3)[None, :, None]
    return out


def _basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to `axis` and to each other."""
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(axis, e1)


def _random_unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(3)
    out: np.ndarray = v / np.linalg.norm(v)
    return out


def _earth(rng: np.random.Generator, cfg: SynthConfig, measured: np.ndarray) -> np.ndarray:
    """One session's background: near the measured direction, or any direction."""
    size = float(np.linalg.norm(measured)) * rng.uniform(*cfg.earth_scale)
    if rng.uniform() < cfg.earth_near_share and np.linalg.norm(measured) > 0:
        turn = Rotation.from_rotvec(
            _random_unit(rng) * math.radians(rng.uniform(0.0, cfg.earth_near_deg))
        )
        out: np.ndarray = turn.apply(measured / np.linalg.norm(measured)) * size
        return out
    return _random_unit(rng) * size


def _drawn_motor_field(
    rng: np.random.Generator,
    cfg: SynthConfig,
    frame: tuple[np.ndarray, np.ndarray, float],
    sensors: np.ndarray,
    norm: np.ndarray,
    act: np.ndarray,
    rate: float,
) -> tuple[np.ndarray, dict[str, Any]]:
    """A motor drawn from the prior: a dipole distal of the sensors whose moment turns
    with the hand's pose (or the activation). Returns (field (N, n, 3), what was drawn)."""
    axis, centre, distal_end = frame
    e1, e2 = _basis(axis)
    n = norm.shape[0]
    dist = distal_end + rng.uniform(*cfg.motor_distance_mm)
    lateral = rng.uniform(-1.0, 1.0, 2) * cfg.motor_lateral_mm
    pos = centre + dist * axis + lateral[0] * e1 + lateral[1] * e2
    moment = rng.uniform(*cfg.motor_moment_am2)
    turns = rng.uniform(*cfg.motor_turns)
    phase = rng.uniform(0.0, 2 * math.pi)
    axial = rng.uniform(-0.5, 0.5)
    if cfg.motor_follows == "hand":
        limits = rng.uniform(*cfg.hand_speed_per_s, size=norm.shape[1])
        closure, speed = commanded_hand(norm, limits / rate)
        coil = rng.uniform(*cfg.motor_coil_share)
    else:
        closure, speed, coil = act.max(axis=1), np.zeros(n), 0.0
    phi = phase + 2 * math.pi * turns * closure
    dirs = axial * axis[None] + np.cos(phi)[:, None] * e1[None] + np.sin(phi)[:, None] * e2[None]
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    dirs += coil * speed[:, None] * axis[None]
    info: dict[str, Any] = {
        "position_mm": [round(float(v), 2) for v in pos],
        "moment_am2": round(float(moment), 4),
        "turns_per_closure": round(float(turns), 3),
        "follows": cfg.motor_follows,
    }
    if cfg.motor_follows == "hand":
        info["hand_speed_per_s"] = [round(float(v), 3) for v in limits]
        info["coil_share"] = round(float(coil), 3)
    return _dipole_field(sensors, pos, moment * dirs), info


def _measured_motor_field(
    rng: np.random.Generator,
    cfg: SynthConfig,
    motor: MotorPattern,
    pose: np.ndarray,
    frame: tuple[np.ndarray, np.ndarray],
    sensors: np.ndarray,
    norm: np.ndarray,
    rate: float,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The measured motor at the hand's commanded pose: its moment scaled, its position
    jittered, moved with the arm (the session's socket `pose`, like the tags) in
    `measured_motor_with_arm` of the sessions, plus the windings' stray moment while the
    hand moves. Returns (field (N, n, 3), what was drawn)."""
    axis, _centre = frame
    limits = rng.uniform(*cfg.hand_speed_per_s, size=norm.shape[1])
    closure, speed = commanded_hand(norm, limits / rate)
    scale = rng.uniform(*cfg.measured_motor_scale)
    coil = rng.uniform(*cfg.motor_coil_share)
    with_arm = bool(rng.uniform() < cfg.measured_motor_with_arm)
    jitter = rng.uniform(-1.0, 1.0, 3) * cfg.measured_motor_jitter_mm
    moments = motor.moment(closure) * scale
    size = float(np.linalg.norm(motor.moments_am2, axis=1).mean()) * scale
    moments += (coil * size * speed)[:, None] * axis[None]
    pos = motor.position_mm + jitter
    if with_arm:
        rot = Rotation.from_rotvec(pose[:3])
        pos = rot.apply(pos) + pose[3:]
        moments = rot.apply(moments)
    info: dict[str, Any] = {
        "measured": True,
        "position_mm": [round(float(v), 2) for v in pos],
        "scale": round(float(scale), 3),
        "with_arm": with_arm,
        "hand_speed_per_s": [round(float(v), 3) for v in limits],
        "coil_share": round(float(coil), 3),
    }
    return _dipole_field(sensors, pos, moments), info


def synthesise(
    twin: Twin,
    cfg: SynthConfig,
    *,
    earth_ut: float | np.ndarray,
    rate_hz: float,
    motor: MotorPattern | None = None,
) -> SynthSessions:
    """Play `cfg.sessions` short cued sessions through the twin (deterministic per seed).

    `earth_ut`: the background measured in the recordings (`background_ut`), or only
    its magnitude (then every direction is drawn uniformly). `motor`: the hand's motor
    as measured in a clinic (`bridge.training.motor_pattern`); it plays in
    `cfg.measured_motor_share` of the motor sessions (needs `motor_follows="hand"`)."""
    measured = np.atleast_1d(np.asarray(earth_ut, dtype=np.float64))
    if not np.isfinite(measured).all() or measured.shape not in ((1,), (3,)):
        raise ValueError(f"background must be a finite magnitude or vector, got {earth_ut}")
    if measured.shape == (1,):
        if measured[0] < 0:
            raise ValueError(f"background magnitude must be >= 0, got {earth_ut}")
        cfg = replace(cfg, earth_near_share=0.0)
        measured = np.array([measured[0], 0.0, 0.0])
    rate = float(rate_hz * cfg.rate_factor)
    if not rate > 0:
        raise ValueError("the synthesis needs a positive sample rate")
    rng = np.random.default_rng([cfg.seed, 0x7A1])
    sensors = twin.sensors_mm
    axis, centre = forearm_axis(sensors)
    distal_end = float(((sensors - centre) @ axis).max())
    own_tag = {g: j for j, g in enumerate(twin.movements)}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("f", "cue", "lvl", "disp", "sess")}
    placements: list[dict[str, Any]] = []
    for s in range(cfg.sessions):
        cues, act = _protocol(rng, cfg, rate, twin.movements)
        n = len(cues)
        norm = np.clip(act @ twin.coupling, 0.0, 1.0)
        disp = norm * twin.stroke_mm
        shift = rng.uniform(-cfg.shift_mm, cfg.shift_mm)
        turn = rng.uniform(-cfg.turn_deg, cfg.turn_deg)
        pose = socket_pose(axis, centre, shift, turn)
        geo = pose_geometry(twin, pose)
        b = geo.field(sensors, disp)
        # the background: any direction, a slow wander of the arm within the session
        earth = _earth(rng, cfg, measured)
        t = np.arange(n) / rate
        wander = np.stack(
            [
                math.radians(cfg.earth_wander_deg)
                * np.sin(2 * math.pi * t / rng.uniform(20.0, 120.0) + rng.uniform(0, 2 * math.pi))
                for _ in range(3)
            ],
            axis=1,
        )
        b += Rotation.from_rotvec(wander).apply(earth)[:, None, :]
        place: dict[str, Any] = {
            "shift_mm": round(float(shift), 3),
            "turn_deg": round(float(turn), 3),
            "earth_ut": [round(float(v), 3) for v in earth],
        }
        if rng.uniform() < (cfg.motor_share if motor is None else cfg.motor_share_measured):
            if motor is not None and rng.uniform() < cfg.measured_motor_share:
                field, info = _measured_motor_field(
                    rng, cfg, motor, pose, (axis, centre), sensors, norm, rate
                )
            else:
                field, info = _drawn_motor_field(
                    rng, cfg, (axis, centre, distal_end), sensors, norm, act, rate
                )
            b += field
            place["motor"] = info
        noise = rng.uniform(*cfg.noise_ut)
        b += rng.standard_normal(b.shape) * noise
        b = np.rint(np.clip(b, -cfg.full_scale_ut, cfg.full_scale_ut) / cfg.lsb_ut) * cfg.lsb_ut
        place["noise_ut_rms"] = round(float(noise), 3)
        placements.append(place)
        cue_arr = np.asarray(cues, dtype=object)
        level = np.zeros(n)
        for g, j in own_tag.items():
            rows = cue_arr == g
            level[rows] = norm[rows, j]
        parts["f"].append(b)
        parts["cue"].append(cue_arr)
        parts["lvl"].append(level)
        parts["disp"].append(disp)
        parts["sess"].append(np.full(n, s, dtype=np.int64))
    cue_all = np.concatenate(parts["cue"])
    level_all = np.concatenate(parts["lvl"])
    gesture = cue_all.copy()
    gesture[level_all * 8.0 < 0.5] = REST
    result = SynthSessions(
        field_ut=np.concatenate(parts["f"]),
        cue=cue_all,
        gesture=gesture,
        level=level_all,
        displacement_mm=np.concatenate(parts["disp"]),
        session=np.concatenate(parts["sess"]),
        placements=placements,
        summary={},
    )
    result.summary = _summary(cfg, result, measured, rate, axis)
    if motor is not None:
        result.summary["measured_motor"] = motor.summary()
    return result


def _summary(
    cfg: SynthConfig, syn: SynthSessions, earth: np.ndarray, rate: float, axis: np.ndarray
) -> dict[str, Any]:
    """What was synthesised, for model.json."""
    shifts = [p["shift_mm"] for p in syn.placements]
    turns = [p["turn_deg"] for p in syn.placements]
    return {
        "config": {
            **asdict(cfg),
            "earth_scale": list(cfg.earth_scale),
            "motor_distance_mm": list(cfg.motor_distance_mm),
            "motor_moment_am2": list(cfg.motor_moment_am2),
            "motor_turns": list(cfg.motor_turns),
            "hand_speed_per_s": list(cfg.hand_speed_per_s),
            "motor_coil_share": list(cfg.motor_coil_share),
            "measured_motor_scale": list(cfg.measured_motor_scale),
            "depth": list(cfg.depth),
            "noise_ut": list(cfg.noise_ut),
        },
        "sessions": len(syn.placements),
        "samples": len(syn),
        "samples_per_gesture": {
            str(g): int(np.sum(syn.gesture == g)) for g in sorted(set(syn.gesture.tolist()))
        },
        "rate_hz": rate,
        "background_ut_measured": round(float(np.linalg.norm(earth)), 3),
        "background_direction_used": cfg.earth_near_share > 0,
        "forearm_axis": [round(float(v), 5) for v in axis],
        "shift_mm_drawn": [min(shifts), max(shifts)],
        "turn_deg_drawn": [min(turns), max(turns)],
        "motor_sessions": sum(1 for p in syn.placements if "motor" in p),
        "measured_motor_sessions": sum(
            1 for p in syn.placements if p.get("motor", {}).get("measured")
        ),
    }


def synth_arrays(syn: SynthSessions, classes: tuple[str, ...] = CLASSES) -> Arrays:
    """Model-ready arrays of synthesised sessions (all of them train; labels from the
    synthesis, the grade truth column = the synthesised grade)."""
    index = {c: i for i, c in enumerate(classes)}
    mags = syn.magnitudes
    return Arrays(
        x=minmax_per_step(mags).astype(np.float32),
        y_type=np.array([index[g] for g in syn.gesture], dtype=np.int64),
        y_level=syn.level.astype(np.float32),
        grade_true=8.0 * syn.level,
        cue=syn.cue,
        in_span=np.ones(len(syn), dtype=bool),
        mags=mags,
    )


def concat_arrays(a: Arrays, b: Arrays) -> Arrays:
    """Rows of `a` then `b`."""
    return Arrays(
        x=np.concatenate([a.x, b.x]),
        y_type=np.concatenate([a.y_type, b.y_type]),
        y_level=np.concatenate([a.y_level, b.y_level]),
        grade_true=np.concatenate([a.grade_true, b.grade_true]),
        cue=np.concatenate([a.cue, b.cue]),
        in_span=np.concatenate([a.in_span, b.in_span]),
        mags=np.concatenate([a.mags, b.mags]),
    )
