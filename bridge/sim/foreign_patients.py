"""Foreign patients: randomised virtual forearms built independently of `bridge.sim.config`.

Each seed draws a patient: a socket (or band) of magnetometer rings of random radius,
count and spacing; three tags at random depths and angles, tilted off the forearm axis
and sliding along their own tilted axes, with random strokes, remanence and polarity;
a random coupling between movements (the thumb follows the fingers); an Earth field;
sensor noise; and a motor-like source in the prosthetic hand. Their fields come from
magpylib (`magpylib.magnet.Cylinder`, `magpylib.misc.Dipole`), the reference physics.

`cued_session` plays the paper's session (rest, then each movement flexed and
extended several times) and returns field vectors per sensor (uT) with ground truth
(per-tag displacement, cue, grade). `Placement` changes what a later day looks like:
socket shifted (mm) or turned (deg) on the arm, another Earth heading, the hand's
motors running (following the commanded hand pose), and the changing environment of
docs/environment.md: a soft-iron steel object carried past, the heading sweeping as the
arm turns, tags tilting as they slide. Every field defaults to the quiet day. Truth is
for scoring; decoders must never read it.

Frame: the socket's (mm): x along the forearm (distal +), z volar, y radial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import magpylib
import numpy as np
from scipy.signal import lfilter
from scipy.spatial.transform import Rotation

from bridge.recording import RecordingWriter
from bridge.values.sample import Sample
from bridge.values.source_info import SourceInfo

MOVEMENTS: tuple[str, ...] = ("fingers", "wrist", "thumb")
TAG_LENGTH_MM = 13.3
TAG_DIAMETER_MM = 5.0
FULL_SCALE_UT = 1600.0
LSB_UT = 100.0 / 1711.0
"""LIS3MDL at +-16 gauss."""
MIN_SENSOR_DISTANCE_MM = 27.0
"""Closer than this a tag can saturate the widest range: such draws are redrawn."""

_MM = 1e-3
_UT = 1e6


@dataclass(frozen=True)
class ForeignTag:
    """One implanted tag in the forearm frame: centre at level 0 (extended), slide axis
    (unit, positive = flexion), stroke, remanence along the slide axis (signed)."""

    gesture: str
    rest_mm: np.ndarray
    axis: np.ndarray
    stroke_mm: float
    polarization_t: float


@dataclass(frozen=True)
class Motor:
    """A dipole in the prosthetic hand whose moment turns as the hand closes."""

    position_mm: np.ndarray
    moment_am2: float
    turns_per_closure: float
    phase_rad: float


@dataclass(frozen=True)
class ForeignPatient:
    """Everything random about one patient (truth)."""

    seed: int
    sensors_mm: np.ndarray
    rings: int
    tags: tuple[ForeignTag, ...]
    coupling: np.ndarray
    """Row = movement, column = tag: share of each tag's stroke at full activation."""
    earth_ut: np.ndarray
    noise_ut_rms: float
    rate_hz: float
    motor: Motor
    kind: str = "socket"

    @property
    def n_sensors(self) -> int:
        return int(self.sensors_mm.shape[0])

    @property
    def strokes_mm(self) -> np.ndarray:
        return np.array([t.stroke_mm for t in self.tags])


MOTOR_MODELS: tuple[str, ...] = ("hand", "activation")
HAND_SPEED_PER_S = np.array([0.8, 0.4, 0.6])
"""The hand's slew limits (fingers, wrist, thumb) in full closures per second: the
`max_speed_pct_s` defaults of docs/hand.md (80, 40, 60 %/s)."""


@dataclass(frozen=True)
class Placement:
    """How the socket sits on the arm on a given day, and the surroundings.

    Every field's default is the quiet day (no effect); see docs/environment.md.
    """

    shift_mm: float = 0.0
    turn_deg: float = 0.0
    earth_heading_deg: float = 0.0
    motor: bool = False
    """The prosthetic hand's motors run (a far dipole source, see `motor_model`)."""
    motor_model: str = "hand"
    """`hand`: the motor follows the commanded hand pose (the intended closure through the
    hand's slew limits); `activation`: the older model, it follows the muscle activation."""
    steel_cm: float | None = None
    """A soft-iron steel object carried past the socket: its closest approach (centre) to
    the nearest sensor, in cm. None: no object."""
    steel_speed_m_s: float = 0.5
    """Its speed along the straight path (0.3 a moved hand ... 1.4 walking)."""
    steel_period_s: float = 30.0
    """One pass (2 m of path) every this many seconds, the first 5-15 s into the session."""
    steel_radius_mm: float = 20.0
    """Radius of the equivalent steel sphere (20 mm: about 260 g, a wrench or pliers)."""
    steel_remanence_am2: float = 0.005
    """Its permanent (remanent) moment, A m^2, in a direction drawn per session."""
    heading_sweep_deg: float = 0.0
    """The arm turns in the room: heading = earth_heading_deg + this * sin(2 pi t / period)."""
    heading_period_s: float = 40.0
    tag_rotation_deg: float = 0.0
    """Each tag's magnetisation axis turns by up to this much over its full stroke
    (linear in the displacement) about an axis across it drawn per patient."""

    def __post_init__(self) -> None:
        if self.motor_model not in MOTOR_MODELS:
            raise ValueError(f"motor_model must be one of {MOTOR_MODELS}, got {self.motor_model!r}")
        if self.steel_cm is not None and not (
            math.isfinite(self.steel_cm) and self.steel_cm * 10.0 > self.steel_radius_mm + 5.0
        ):
            raise ValueError(
                f"steel_cm must keep the object's surface >= 5 mm off the sensors "
                f"(> {(self.steel_radius_mm + 5.0) / 10:g} cm), got {self.steel_cm!r}"
            )
        if not (0.05 <= self.steel_speed_m_s <= 5.0):
            raise ValueError(f"steel_speed_m_s must be within 0.05..5, got {self.steel_speed_m_s}")
        if not self.steel_period_s > 2 * STEEL_HALF_PATH_M / self.steel_speed_m_s:
            raise ValueError("steel_period_s must be longer than one pass (2 m at steel_speed_m_s)")
        if not (0.0 < self.steel_radius_mm <= 100.0 and self.steel_remanence_am2 >= 0.0):
            raise ValueError("steel_radius_mm must be within 0..100 and steel_remanence_am2 >= 0")
        if not (math.isfinite(self.heading_sweep_deg) and self.heading_period_s > 0.0):
            raise ValueError("heading_sweep_deg must be finite and heading_period_s > 0")
        if not (math.isfinite(self.tag_rotation_deg) and abs(self.tag_rotation_deg) <= 90.0):
            raise ValueError(
                f"tag_rotation_deg must be within -90..90, got {self.tag_rotation_deg}"
            )


STEEL_HALF_PATH_M = 1.0
"""A pass runs from 1 m before the closest approach to 1 m after (at 1 m a 5-cm object's
field has fallen by (5/100)^3 ~ 1e-4)."""
STEEL_PERMEABILITY = 200.0
"""Relative permeability of mild steel: with the sphere's demagnetisation the induced
moment is 4 pi a^3 (mu-1)/(mu+2) B/mu0, within 1.5 % of the mu -> infinity limit."""


@dataclass
class Session:
    """A cued session: fields (N, n, 3) uT and truth."""

    t_s: np.ndarray
    field_ut: np.ndarray
    gesture: list[str]
    grade_true: np.ndarray
    displacement_mm: np.ndarray
    """(N, 3) truth: each tag's displacement along its axis (scoring only)."""
    sensors_mm: np.ndarray
    rate_hz: float
    placement: Placement
    saturated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __len__(self) -> int:
        return int(self.t_s.shape[0])


def _ring_positions(
    x_mm: float, count: int, radius: float, start_deg: float, step_deg: float | None = None
) -> np.ndarray:
    step = 360.0 / count if step_deg is None else step_deg
    a = np.radians(start_deg + step * np.arange(count))
    return np.stack([np.full(count, x_mm), radius * np.sin(a), radius * np.cos(a)], axis=1)


def _tilted_axis(rng: np.random.Generator, max_tilt_deg: float) -> np.ndarray:
    tilt = math.radians(rng.uniform(0.0, max_tilt_deg))
    roll = rng.uniform(0.0, 2 * math.pi)
    sign = rng.choice([-1.0, 1.0])  # flexion pulls proximally (mostly), but either is drawn
    return np.array(
        [sign * math.cos(tilt), math.sin(tilt) * math.cos(roll), math.sin(tilt) * math.sin(roll)]
    )


def _draw_tags(rng: np.random.Generator, skin_radius: float) -> tuple[ForeignTag, ...]:
    nominal_angle = {"fingers": 0.0, "wrist": -80.0, "thumb": 80.0}
    strokes = {"fingers": (4.5, 7.0), "wrist": (3.5, 6.0), "thumb": (2.0, 3.5)}
    tags = []
    for g in MOVEMENTS:
        angle = math.radians(nominal_angle[g] + rng.uniform(-20.0, 20.0))
        radius = skin_radius - rng.uniform(14.0, 21.0)
        rest = np.array(
            [rng.uniform(-6.0, 8.0), radius * math.sin(angle), radius * math.cos(angle)]
        )
        tags.append(
            ForeignTag(
                gesture=g,
                rest_mm=rest,
                axis=_tilted_axis(rng, 15.0),
                stroke_mm=float(rng.uniform(*strokes[g])),
                polarization_t=float(rng.choice([-1.0, 1.0]) * rng.uniform(1.2, 1.45)),
            )
        )
    return tuple(tags)


def _draw_coupling(rng: np.random.Generator) -> np.ndarray:
    c = np.eye(3)
    c[0, 2] = rng.uniform(0.05, 0.3)  # fingers drag the thumb tag
    c[1, 2] = rng.uniform(0.0, 0.25)  # wrist drags the thumb tag
    c[2, 0] = rng.uniform(0.15, 0.45)  # thumb drags the finger tag (adhesion)
    c[1, 0] = rng.uniform(0.0, 0.1)
    return c


def _min_distance(sensors: np.ndarray, tags: tuple[ForeignTag, ...], margin_mm: float) -> float:
    """Nearest sensor-tag distance over the whole stroke, sensors moved up to `margin_mm`."""
    best = math.inf
    for t in tags:
        for d in np.linspace(0.0, t.stroke_mm, 5):
            c = t.rest_mm + d * t.axis
            best = min(best, float(np.linalg.norm(sensors - c, axis=1).min()))
    return best - margin_mm


SATURATION_MARGIN_UT = 1450.0
"""Draws whose tags come within 150 uT of full scale on some axis (with the socket
shifted up to 6 mm and turned up to 12 deg) are redrawn: the judged sessions must not clip."""


def _peak_tag_field(sensors: np.ndarray, tags: tuple[ForeignTag, ...]) -> float:
    """Largest single-axis tag field (uT) over both stroke ends and displaced sockets."""
    probe = ForeignPatient(
        seed=0,
        sensors_mm=sensors,
        rings=0,
        tags=tags,
        coupling=np.eye(3),
        earth_ut=np.zeros(3),
        noise_ut_rms=0.0,
        rate_hz=1.0,
        motor=Motor(np.zeros(3), 0.0, 0.0, 0.0),
    )
    ends = np.array([[0.0, 0.0, 0.0], [t.stroke_mm for t in tags]])
    ends = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]) * ends[1]
    peak = 0.0
    for shift in (-6.0, 0.0, 6.0):
        for turn in (-12.0, 0.0, 12.0):
            b = _tag_fields(probe, Placement(shift_mm=shift, turn_deg=turn), ends)
            peak = max(peak, float(np.abs(b).max()) + 65.0)  # plus the strongest Earth field
    return peak


def draw_patient(seed: int, kind: str = "socket", rate_hz: float = 42.7) -> ForeignPatient:
    """A random patient. `kind`: `socket` (2-3 rings of 6-9 sensors) or `band` (3 sensors)."""
    if kind not in ("socket", "band"):
        raise ValueError(f"kind must be socket or band, got {kind!r}")
    rng = np.random.default_rng([seed, 0xF0E1])
    for _ in range(200):
        skin = rng.uniform(36.0, 45.0)
        ring_r = skin + rng.uniform(3.0, 5.0)
        if kind == "band":
            rings = 1
            # the paper's Myo band: three sensors 40 deg apart, proximal of the tags
            sensors = _ring_positions(rng.uniform(-34.0, -26.0), 3, ring_r, -40.0, 40.0)
        else:
            rings = int(rng.choice([2, 2, 3]))
            half = rng.uniform(26.0, 36.0)
            xs = np.linspace(-half, half, rings)
            per = int(rng.integers(6, 10))
            sensors = np.vstack(
                [_ring_positions(x, per, ring_r, rng.uniform(0, 360.0 / per)) for x in xs]
            )
        tags = _draw_tags(rng, skin)
        if _min_distance(sensors, tags, margin_mm=4.0) >= MIN_SENSOR_DISTANCE_MM and (
            _peak_tag_field(sensors, tags) < SATURATION_MARGIN_UT
        ):
            break
    else:  # pragma: no cover - the ranges above make this practically impossible
        raise RuntimeError(f"seed {seed}: no geometry without saturation")
    earth_dir = rng.standard_normal(3)
    earth = earth_dir / np.linalg.norm(earth_dir) * rng.uniform(25.0, 65.0)
    motor = Motor(
        position_mm=np.array(
            [rng.uniform(100.0, 130.0), rng.uniform(-15.0, 15.0), rng.uniform(-15.0, 15.0)]
        ),
        moment_am2=float(rng.uniform(0.04, 0.1)),
        turns_per_closure=float(rng.uniform(0.5, 2.0)),
        phase_rad=float(rng.uniform(0.0, 2 * math.pi)),
    )
    return ForeignPatient(
        seed=seed,
        sensors_mm=sensors,
        rings=rings,
        tags=tags,
        coupling=_draw_coupling(rng),
        earth_ut=earth,
        noise_ut_rms=float(rng.uniform(0.3, 0.6)),
        rate_hz=rate_hz,
        motor=motor,
        kind=kind,
    )


def _cue_schedule(
    rng: np.random.Generator, rate_hz: float, repetitions: int, full: bool
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Cue per sample and commanded activation (N, 3). `full`: every flexion reaches 1."""
    cues: list[str] = []
    acts: list[np.ndarray] = []

    def hold(seconds: float, cue: str, level: float, g: int) -> None:
        n = max(1, round(seconds * rate_hz))
        a = np.zeros((n, 3))
        if g >= 0:
            a[:, g] = level
        cues.extend([cue] * n)
        acts.append(a)

    def ramp(seconds: float, cue: str, lo: float, hi: float, g: int) -> None:
        n = max(2, round(seconds * rate_hz))
        x = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, n))
        a = np.zeros((n, 3))
        a[:, g] = lo + (hi - lo) * x
        cues.extend([cue] * n)
        acts.append(a)

    def jitter(s: float) -> float:
        return s * rng.uniform(0.85, 1.15)

    hold(3.0, "rest", 0.0, -1)
    for g, name in enumerate(MOVEMENTS):
        for _ in range(repetitions):
            peak = rng.uniform(0.97, 1.0) if full else rng.uniform(0.3, 1.0)
            ramp(jitter(1.8), name, 0.0, peak, g)
            hold(jitter(1.0), name, peak, g)
            ramp(jitter(1.8), name, peak, 0.0, g)
            hold(jitter(0.8), name, 0.0, g)
            hold(jitter(1.5), "rest", 0.0, -1)
    t = np.arange(len(cues)) / rate_hz
    return t, cues, np.vstack(acts)


def _muscle(act: np.ndarray, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Reaction delay, first-order lag and a little tremor, as a real muscle would add."""
    delay = round(rng.uniform(0.15, 0.25) * rate_hz)
    delayed = np.vstack([np.zeros((delay, 3)), act[: len(act) - delay]])
    alpha = 1.0 - math.exp(-1.0 / (rng.uniform(0.1, 0.2) * rate_hz))
    lagged = lfilter([alpha], [1.0, alpha - 1.0], delayed, axis=0)
    t = np.arange(len(act)) / rate_hz
    tremor = 0.008 * np.sin(2 * math.pi * rng.uniform(8, 12) * t + rng.uniform(0, 6.3))
    out: np.ndarray = np.clip(lagged + tremor[:, None] * np.sqrt(np.clip(lagged, 0, 1)), 0, 1)
    return out


def _socket_rotation(placement: Placement) -> Rotation:
    return Rotation.from_euler("x", placement.turn_deg, degrees=True)


def _tag_tilt_axes(patient: ForeignPatient) -> np.ndarray:
    """Per tag, the unit axis (arm frame, across the slide axis) its magnetisation turns
    about during a stroke: drawn from the patient's seed on its own stream, so drawing it
    leaves every other random number of the patient and its sessions unchanged."""
    rng = np.random.default_rng([patient.seed, 0x7A6])
    axes = []
    for tag in patient.tags:
        v = rng.standard_normal(3)
        v -= (v @ tag.axis) * tag.axis
        axes.append(v / np.linalg.norm(v))
    return np.array(axes)


def _tag_magnets(
    patient: ForeignPatient, placement: Placement, disp_mm: np.ndarray
) -> list[magpylib.magnet.Cylinder]:
    """One magpylib cylinder per tag, its path following `disp_mm` (N, 3), socket frame, m."""
    rot = _socket_rotation(placement)
    # the socket moved on the arm: in the socket's frame the arm moved the other way
    inv = rot.inv()
    shift = np.array([placement.shift_mm, 0.0, 0.0])
    tilts = _tag_tilt_axes(patient) if placement.tag_rotation_deg else None
    magnets = []
    for j, tag in enumerate(patient.tags):
        centres = tag.rest_mm + disp_mm[:, j : j + 1] * tag.axis  # arm frame
        centres_socket = inv.apply(centres - shift)
        axis_socket = inv.apply(tag.axis)
        orient, _ = Rotation.align_vectors([axis_socket], [[0.0, 0.0, 1.0]])
        if tilts is not None:
            # the tag tilts as it slides: linear in its share of the stroke
            angle = math.radians(placement.tag_rotation_deg) * disp_mm[:, j] / tag.stroke_mm
            orient = Rotation.from_rotvec(angle[:, None] * inv.apply(tilts[j])) * orient
        magnets.append(
            magpylib.magnet.Cylinder(
                dimension=(TAG_DIAMETER_MM * _MM, TAG_LENGTH_MM * _MM),
                polarization=(0.0, 0.0, tag.polarization_t),
                orientation=orient,
                position=centres_socket * _MM,
            )
        )
    return magnets


def _tag_fields(patient: ForeignPatient, placement: Placement, disp_mm: np.ndarray) -> np.ndarray:
    """magpylib field (N, n, 3) uT of all tags at the socket's sensors."""
    total = np.zeros((disp_mm.shape[0], patient.n_sensors, 3))
    for magnet in _tag_magnets(patient, placement, disp_mm):
        b = magpylib.getB(magnet, patient.sensors_mm * _MM)
        total += np.asarray(b).reshape(total.shape) * _UT
    return total


def _heading_deg(placement: Placement, t: np.ndarray) -> np.ndarray:
    """The arm's heading in the room (deg) per sample: fixed plus the sweep."""
    sweep = np.sin(2 * math.pi * t / placement.heading_period_s)
    out: np.ndarray = placement.earth_heading_deg + placement.heading_sweep_deg * sweep
    return out


def _earth(patient: ForeignPatient, placement: Placement, t: np.ndarray, seed: int) -> np.ndarray:
    """Earth field in the socket frame (N, 3): heading (fixed or swept) plus a slow arm
    wander."""
    rng = np.random.default_rng([seed, 0xEA])
    if placement.heading_sweep_deg:
        heading = Rotation.from_euler("z", _heading_deg(placement, t)[:, None], degrees=True)
    else:
        heading = Rotation.from_euler("z", placement.earth_heading_deg, degrees=True)
    base = _socket_rotation(placement).inv().apply(heading.apply(patient.earth_ut))
    angles = np.stack(
        [
            math.radians(8.0) * np.sin(2 * math.pi * t / rng.uniform(40, 150) + rng.uniform(0, 6))
            for _ in range(3)
        ],
        axis=1,
    )
    out: np.ndarray = Rotation.from_euler("xyz", angles).apply(base)
    return out


MOTOR_COIL_SHARE = 0.3
"""The windings' stray moment at full slew speed, as a share of the rotor magnet's."""


def intended_grades(closure: np.ndarray) -> np.ndarray:
    """The grades (0..8) a perfect decoder would send the hand for these closures: the
    hand is commanded in grades, so a tremor of a fraction of a grade does not move it."""
    out: np.ndarray = np.rint(8.0 * np.clip(closure, 0.0, 1.0))
    return out


def commanded_closure(closure: np.ndarray, rate_hz: float) -> np.ndarray:
    """The hand's commanded pose (N, 3): the intended closure of fingers, wrist and thumb
    followed at most at the hand's slew limits (HAND_SPEED_PER_S), from open."""
    step = HAND_SPEED_PER_S / rate_hz
    out = np.empty_like(closure)
    c = np.zeros(closure.shape[1])
    for i, target in enumerate(closure):
        c = c + np.clip(target - c, -step, step)
        out[i] = c
    return out


def _motor_moments(patient: ForeignPatient, level: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Motor moment (N, 3) A m^2 in the arm frame: the rotor magnet turning with closure
    (`level`) plus, with `speed` (share of the slew limit), the windings' stray field
    along the motor axis (x)."""
    m = patient.motor
    phi = m.phase_rad + 2 * math.pi * m.turns_per_closure * level
    moments = m.moment_am2 * np.stack([0.3 * np.ones_like(phi), np.cos(phi), np.sin(phi)], axis=1)
    moments[:, 0] += m.moment_am2 * MOTOR_COIL_SHARE * speed
    return moments


def _motor_levels(
    patient: ForeignPatient, placement: Placement, act: np.ndarray, norm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(level, speed) per sample driving the motor, per `placement.motor_model`."""
    if placement.motor_model == "activation":
        return act.max(axis=1), np.zeros(len(act))
    pose = commanded_closure(intended_grades(norm) / 8.0, patient.rate_hz)
    velocity = np.diff(pose, axis=0, prepend=pose[:1]) * patient.rate_hz
    # worm gears are self-locking: the motors draw current only while they move
    return pose.max(axis=1), (np.abs(velocity) / HAND_SPEED_PER_S).max(axis=1)


def _motor_field(
    patient: ForeignPatient,
    placement: Placement,
    level: np.ndarray,
    speed: np.ndarray | None = None,
) -> np.ndarray:
    """Field (N, n, 3) of the hand's motor: a dipole whose direction turns with closure."""
    m = patient.motor
    if speed is None:
        phi = m.phase_rad + 2 * math.pi * m.turns_per_closure * level
        moments = m.moment_am2 * np.stack(
            [0.3 * np.ones_like(phi), np.cos(phi), np.sin(phi)], axis=1
        )
    else:
        moments = _motor_moments(patient, level, speed)
    rot = _socket_rotation(placement).inv()
    pos = rot.apply(m.position_mm - np.array([placement.shift_mm, 0.0, 0.0]))
    dip = magpylib.misc.Dipole(
        moment=rot.apply(moments), position=np.tile(pos * _MM, (len(level), 1))
    )
    b = magpylib.getB(dip, patient.sensors_mm * _MM)
    return np.asarray(b).reshape(len(level), patient.n_sensors, 3) * _UT


@dataclass(frozen=True)
class SteelPath:
    """Where the steel object is (socket frame, mm) per sample; `active` marks the passes."""

    position_mm: np.ndarray
    active: np.ndarray
    nearest_sensor: int
    remanence_am2: np.ndarray


def steel_path(
    patient: ForeignPatient, placement: Placement, t: np.ndarray, session_seed: int
) -> SteelPath:
    """The straight passes of the steel object: each along the tangent of the ring at a
    sensor drawn per session, `steel_cm` radially outside it, alternating direction."""
    if placement.steel_cm is None:
        raise ValueError("no steel object in this placement")
    rng = np.random.default_rng([patient.seed, session_seed, 0x57EE1])
    k = int(rng.integers(patient.n_sensors))
    s = patient.sensors_mm[k]
    radial = np.array([0.0, s[1], s[2]]) / math.hypot(s[1], s[2])
    tangent = np.cross([1.0, 0.0, 0.0], radial)
    closest = s + placement.steel_cm * 10.0 * radial
    offset = rng.uniform(5.0, 15.0)
    rem = rng.standard_normal(3)
    rem *= placement.steel_remanence_am2 / np.linalg.norm(rem)
    duration = 2 * STEEL_HALF_PATH_M / placement.steel_speed_m_s
    since = t - offset
    n_pass = np.floor(since / placement.steel_period_s)
    phase = since - n_pass * placement.steel_period_s
    active = (since >= 0) & (phase < duration)
    along_mm = (phase - duration / 2) * placement.steel_speed_m_s * 1000.0
    along_mm *= np.where(n_pass % 2 == 0, 1.0, -1.0)  # walk back the other way
    pos = closest + along_mm[:, None] * tangent
    return SteelPath(pos, active, k, rem)


def _steel_field(
    patient: ForeignPatient,
    placement: Placement,
    path: SteelPath,
    disp_mm: np.ndarray,
    earth_ut: np.ndarray,
    motor: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """Field (N, n, 3) uT of the steel object: soft iron magnetised by the local field
    (Earth + tags + motor at its centre, taken as uniform over it) plus its remanence."""
    out = np.zeros((len(disp_mm), patient.n_sensors, 3))
    idx = np.flatnonzero(path.active)
    if idx.size == 0:
        return out
    where = magpylib.Sensor(position=path.position_mm[idx] * _MM)
    local_ut = earth_ut[idx].copy()
    for magnet in _tag_magnets(patient, placement, disp_mm[idx]):
        local_ut += np.asarray(magpylib.getB(magnet, where)).reshape(-1, 3) * _UT
    if motor is not None:
        rot = _socket_rotation(placement).inv()
        m_pos = rot.apply(patient.motor.position_mm - np.array([placement.shift_mm, 0.0, 0.0]))
        dip = magpylib.misc.Dipole(
            moment=rot.apply(_motor_moments(patient, motor[0][idx], motor[1][idx])),
            position=np.tile(m_pos * _MM, (idx.size, 1)),
        )
        local_ut += np.asarray(magpylib.getB(dip, where)).reshape(-1, 3) * _UT
    a = placement.steel_radius_mm * _MM
    mu = STEEL_PERMEABILITY
    # uniformly magnetised sphere: m = 4 pi a^3 (mu-1)/(mu+2) H, H = B / mu0
    per_tesla = 4 * math.pi * a**3 * (mu - 1) / (mu + 2) / (4e-7 * math.pi)
    moment = per_tesla * local_ut / _UT + path.remanence_am2
    dip = magpylib.misc.Dipole(moment=moment, position=path.position_mm[idx] * _MM)
    b = np.asarray(magpylib.getB(dip, patient.sensors_mm * _MM)).reshape(idx.size, -1, 3)
    out[idx] = b * _UT
    return out


def cued_session(
    patient: ForeignPatient,
    placement: Placement | None = None,
    *,
    repetitions: int = 5,
    full_flexions: bool = True,
    session_seed: int = 0,
) -> Session:
    """Play the cued session for `patient` on a day described by `placement`.

    `full_flexions` (a calibration/fitting session): every flexion reaches full
    closure; otherwise each repetition goes to a random depth (a day of use).
    """
    placement = placement or Placement()
    rng = np.random.default_rng([patient.seed, session_seed, 0x5E55])
    t, cues, commanded = _cue_schedule(rng, patient.rate_hz, repetitions, full_flexions)
    act = _muscle(commanded, patient.rate_hz, rng)
    norm = np.clip(act @ patient.coupling, 0.0, 1.0)
    disp = norm * patient.strokes_mm
    b = _tag_fields(patient, placement, disp)
    earth = _earth(patient, placement, t, patient.seed * 1000 + session_seed)
    b += earth[:, None, :]
    grade = np.empty(len(t))
    for i, cue in enumerate(cues):
        grade[i] = 8.0 * (norm[i].max() if cue == "rest" else norm[i, MOVEMENTS.index(cue)])
    motor = _motor_levels(patient, placement, act, norm) if placement.motor else None
    if motor is not None:
        hand = None if placement.motor_model == "activation" else motor[1]
        b += _motor_field(patient, placement, motor[0], hand)
    if placement.steel_cm is not None:
        path = steel_path(patient, placement, t, session_seed)
        b += _steel_field(patient, placement, path, disp, earth, motor)
    b += rng.standard_normal(b.shape) * patient.noise_ut_rms
    saturated = (np.abs(b) > FULL_SCALE_UT).any(axis=(1, 2))
    b = np.rint(np.clip(b, -FULL_SCALE_UT, FULL_SCALE_UT) / LSB_UT) * LSB_UT
    return Session(
        t_s=t,
        field_ut=b,
        gesture=cues,
        grade_true=grade,
        displacement_mm=disp,
        sensors_mm=patient.sensors_mm.copy(),
        rate_hz=patient.rate_hz,
        placement=placement,
        saturated=saturated,
    )


def write_recording(session: Session, path: str | Path, layout: str = "foreign") -> Path:
    """Write a session as a contract-2 recording (CSV + sidecar) with its labels."""
    info = SourceInfo(
        n_sensors=session.sensors_mm.shape[0],
        rate_hz=session.rate_hz,
        layout=layout,
        full_scale_gauss=16.0,
        positions_mm=session.sensors_mm.tolist(),
        source="foreign-patient",
    )
    out = Path(path)
    with RecordingWriter(out, info, session.sensors_mm.shape[0]) as writer:
        for i in range(len(session)):
            writer.write(
                Sample.from_field(
                    i,
                    float(session.t_s[i]),
                    0.0,
                    session.field_ut[i],
                    bool(session.saturated[i]),
                    session.gesture[i],
                    float(session.grade_true[i]),
                )
            )
    return out
