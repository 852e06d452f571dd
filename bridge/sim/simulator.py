"""The virtual forearm + virtual patient: produces KMG frames with ground-truth labels.

Per frame k at t = seq / rate_hz:
  cue(t) -> patient (delay, lag, fatigue, tremor) -> muscle activations (3)
  -> normalised tag displacements (COUPLING) -> field of each tag at each sensor
  (lookup tables built with magpylib) + Earth/drift/disturbances at the sensor's ODR
  tick + noise -> clip, quantise (the magnetometer) -> raw int16 frame.
Readings hold between ODR ticks: at frame rates above the ODR, frames repeat values.
Everything is vectorised over blocks of frames; `step()` is a block of one.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from bridge.frame import encode_frame
from bridge.sensor_model import SENSOR_MODELS
from bridge.sim.config import SimConfig
from bridge.sim.cue_script import (
    CueScript,
    IntentCueScript,
    calibration_cue_script,
    scripted_cue_script,
)
from bridge.sim.environment import Environment
from bridge.sim.layouts import Layout, displaced, get_layout
from bridge.sim.magnetometer import Magnetometer, choose_odr
from bridge.sim.patient import VirtualPatient
from bridge.sim.tag_field import TagFieldTable, TagFieldTables
from bridge.sim.tags import TAGS, normalised_displacements, strokes_mm
from bridge.values.sample import GESTURES, Sample
from bridge.values.source_info import SourceInfo

N_GRADE_STEPS = 8.0
"""grade_true = 8 x normalised displacement (grades 0..8)."""

_STROKES = strokes_mm()


@dataclass(slots=True)
class SimFrame:
    """One simulated sample: the frame's raw values plus ground truth.

    `field_ut` is the quantised reading in uT (what a decoder of the frame sees);
    `tag_mm` the true displacement of each tag (flexion positive), for diagnostics.
    """

    seq: int
    t_s: float
    raw: np.ndarray
    fs_code: int
    saturated: bool
    field_ut: np.ndarray
    gesture: str
    grade_true: float
    tag_mm: np.ndarray


@dataclass(slots=True)
class SimBlock:
    """A block of m frames as arrays (the vectorised form of a list of SimFrame)."""

    seq: np.ndarray  # (m,) int64
    t_s: np.ndarray  # (m,)
    raw: np.ndarray  # (m, n, 3) int16
    fs_code: int
    saturated: np.ndarray  # (m,) bool
    field_ut: np.ndarray  # (m, n, 3)
    gesture: np.ndarray  # (m,) int index into bridge.values.sample.GESTURES
    grade_true: np.ndarray  # (m,)
    tag_mm: np.ndarray  # (m, 3)

    def __len__(self) -> int:
        return int(self.seq.shape[0])

    @property
    def magnitudes(self) -> np.ndarray:
        """|B| per sensor (m, n) in uT."""
        out: np.ndarray = np.sqrt(np.einsum("mij,mij->mi", self.field_ut, self.field_ut))
        return out

    @property
    def gesture_names(self) -> list[str]:
        return [GESTURES[i] for i in self.gesture.tolist()]

    def frame(self, k: int) -> SimFrame:
        return SimFrame(
            seq=int(self.seq[k]),
            t_s=float(self.t_s[k]),
            raw=self.raw[k],
            fs_code=self.fs_code,
            saturated=bool(self.saturated[k]),
            field_ut=self.field_ut[k],
            gesture=GESTURES[int(self.gesture[k])],
            grade_true=float(self.grade_true[k]),
            tag_mm=self.tag_mm[k],
        )

    def frames(self) -> list[SimFrame]:
        return [self.frame(k) for k in range(len(self))]


class Simulator:
    """A deterministic (per seed) virtual forearm with implanted tags and a virtual patient."""

    def __init__(self, config: SimConfig | None = None, *, loop: bool = False) -> None:
        self.config = cfg = config or SimConfig()
        self.layout: Layout = get_layout(cfg.layout)
        self.rate_hz = float(cfg.rate_hz)
        model = SENSOR_MODELS[cfg.sensor]
        odr = cfg.odr_hz if cfg.odr_hz is not None else choose_odr(model, self.rate_hz)
        self.magnetometer = Magnetometer(
            model, cfg.effective_full_scale_gauss, cfg.noise_ut_rms, odr
        )
        # independent streams, so e.g. turning noise off leaves the patient unchanged
        seeds = np.random.SeedSequence(cfg.seed).spawn(4)
        rng_cues, rng_patient, rng_env, self._rng_noise = (np.random.default_rng(s) for s in seeds)
        self.cue_script: CueScript
        if cfg.cue_script == "intent":
            self.cue_script = IntentCueScript()
        elif cfg.cue_script == "calibration":
            self.cue_script = calibration_cue_script(cfg.gestures, rng_cues, loop=loop)
        else:
            self.cue_script = scripted_cue_script(
                cfg.gestures,
                cfg.repetitions,
                self.rate_hz,
                rng_cues,
                samples_per_gesture=cfg.samples_per_gesture,
                loop=loop,
            )
        self.loop = loop
        self.patient = VirtualPatient(cfg.patient_params(), rng_patient)
        self._rng_env = rng_env
        self.positions_mm = displaced(self.layout.positions_mm, cfg.shift_mm, cfg.rotation_deg)
        self.shift_mm = cfg.shift_mm
        self.rotation_deg = cfg.rotation_deg
        self.environment = Environment(cfg.environment_params(), self.positions_mm, rng_env)
        self.tables = self._build_tables()
        self._next_seq = 0
        # set_intent may come from another thread (a game autopilot) while frames are made
        self._lock = threading.Lock()
        self._last_tick: int | None = None
        self._last_total: np.ndarray | None = None

    # ---- geometry -------------------------------------------------------------------
    def _build_tables(self) -> TagFieldTables:
        cfg = self.config
        return TagFieldTables(
            [
                TagFieldTable(tag, self.positions_mm, cfg.remanence_t, cfg.table_points)
                for tag in TAGS
            ]
        )

    def set_band(self, shift_mm: float, rotation_deg: float) -> None:
        """Displace the band/socket (relative to the layout) from the next frame on.

        Rebuilds the field tables (a few ms)."""
        for name, v, lim in (("shift_mm", shift_mm, 20.0), ("rotation_deg", rotation_deg, 180.0)):
            if not (math.isfinite(v) and abs(v) <= lim):
                raise ValueError(f"{name} must be within -{lim:g}..{lim:g}, got {v!r}")
        positions = displaced(self.layout.positions_mm, shift_mm, rotation_deg)
        with self._lock:
            self.shift_mm, self.rotation_deg = float(shift_mm), float(rotation_deg)
            self.positions_mm = positions
            self.environment.sensors_mm = positions
            self.tables = self._build_tables()

    # ---- public info ----------------------------------------------------------------
    @property
    def n_sensors(self) -> int:
        return self.layout.n_sensors

    @property
    def info(self) -> SourceInfo:
        """Recording/stream metadata; positions are where the sensors really are (displaced)."""
        return SourceInfo(
            n_sensors=self.n_sensors,
            rate_hz=self.rate_hz,
            layout=self.layout.name,
            sensor_model=self.magnetometer.model.name,
            full_scale_gauss=self.magnetometer.full_scale.gauss,
            positions_mm=np.round(self.positions_mm, 3).tolist(),
            source=self.config.to_url(),
        )

    @property
    def next_seq(self) -> int:
        """Sequence number (= index) of the next frame to be generated."""
        return self._next_seq

    @property
    def t_next_s(self) -> float:
        """Time of the next frame to be generated."""
        return self._next_seq / self.rate_hz

    @property
    def duration_s(self) -> float:
        """Length of the scripted/calibration cue script (inf for intent or looping)."""
        return math.inf if self.loop else self.cue_script.duration_s

    @property
    def n_frames_total(self) -> int | None:
        """Frames in the whole cue script, or None when open-ended."""
        d = self.duration_s
        return None if math.isinf(d) else math.ceil(d * self.rate_hz)

    @property
    def done(self) -> bool:
        """True once the scripted cue script has been fully generated."""
        total = self.n_frames_total
        return total is not None and self._next_seq >= total

    # ---- intent ---------------------------------------------------------------------
    def set_intent(self, gesture: str, level: float) -> None:
        """Cue `gesture` (rest, fingers, wrist, thumb) at `level` 0..1 from the next frame on.

        Only in intent mode; the patient reacts after its reaction delay.
        """
        if not isinstance(self.cue_script, IntentCueScript):
            raise RuntimeError("set_intent needs cue_script='intent'")
        with self._lock:
            t = self.t_next_s
            self.cue_script.set(t, gesture, level)
            self.cue_script.prune(t - self.patient.params.reaction_s - 1.0)

    # ---- generation -----------------------------------------------------------------
    def generate_block(self, n: int) -> SimBlock:
        """The next `n` frames as arrays."""
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            return self._generate_block(n)

    def _generate_block(self, n: int) -> SimBlock:
        seq = np.arange(self._next_seq, self._next_seq + n, dtype=np.int64)
        self._next_seq += n
        t = seq / self.rate_hz
        cue_g, _ = self.cue_script.cue(t)
        act = self.patient.run(t, self.cue_script)
        disp = normalised_displacements(act)  # (m, 3) 0..1
        total = self.environment.field_ut(self.magnetometer.tick_time(t))
        total += self.tables.lookup(disp)
        total += self.magnetometer.noise(self._rng_noise, total.shape)
        self._hold(t, total)
        q = self.magnetometer.quantise(total)
        grade = self._grade(cue_g, disp)
        return SimBlock(
            seq=seq,
            t_s=t,
            raw=q.raw,
            fs_code=self.magnetometer.fs_code,
            saturated=q.saturated,
            field_ut=q.field_ut,
            gesture=cue_g,
            grade_true=grade,
            tag_mm=disp * _STROKES,
        )

    def _hold(self, t: np.ndarray, total: np.ndarray) -> None:
        """Frames that fall in the same ODR tick as the one before show the same reading."""
        if t.shape[0] == 0:
            return
        tick = self.magnetometer.tick_index(t)
        prev = np.empty_like(tick)
        prev[0] = self._last_tick if self._last_tick is not None else tick[0] - 1
        prev[1:] = tick[:-1]
        fresh = tick != prev
        if not fresh.all():
            src = np.where(fresh, np.arange(tick.shape[0]), -1)
            src = np.maximum.accumulate(src)
            carry = src < 0  # same tick as the previous block's last frame
            if carry.any() and self._last_total is not None:
                total[carry] = self._last_total
            rows = ~carry
            total[rows] = total[src[rows]]
        self._last_tick = int(tick[-1])
        self._last_total = total[-1].copy()

    @staticmethod
    def _grade(cue_g: np.ndarray, disp: np.ndarray) -> np.ndarray:
        """8 x the cued movement's tag displacement; at rest, 8 x the largest displacement."""
        idx = np.clip(cue_g - 1, 0, 2)
        own = np.take_along_axis(disp, idx[:, None], axis=1)[:, 0]
        out: np.ndarray = N_GRADE_STEPS * np.where(cue_g == 0, disp.max(axis=1), own)
        return out

    def generate(self, n: int) -> list[SimFrame]:
        """The next `n` frames as SimFrame objects."""
        return self.generate_block(n).frames()

    def generate_all(self, block: int = 4096) -> SimBlock:
        """The whole scripted/calibration cue script from the current position, as one block."""
        total = self.n_frames_total
        if total is None:
            raise RuntimeError("generate_all needs a finite (scripted, non-looping) cue script")
        parts = []
        while self._next_seq < total:
            parts.append(self.generate_block(min(block, total - self._next_seq)))
        return concat_blocks(parts, self.magnetometer.fs_code, self.n_sensors)

    def step(self) -> SimFrame:
        """The next frame."""
        return self.generate_block(1).frame(0)

    # ---- conversions ----------------------------------------------------------------
    @staticmethod
    def frame_bytes(f: SimFrame) -> bytes:
        """KMG frame v1 bytes of a simulated frame (device clock = t_s in microseconds)."""
        return encode_frame(
            f.seq, round(f.t_s * 1e6), f.fs_code, f.raw, flags=1 if f.saturated else 0
        )

    @staticmethod
    def to_sample(f: SimFrame, t_host: float) -> Sample:
        """A pipeline Sample with the ground-truth labels filled in."""
        s = Sample.from_field(
            seq=f.seq,
            t_device=f.t_s,
            t_host=t_host,
            field_ut=f.field_ut,
            saturated=f.saturated,
            gesture=f.gesture,
            grade_true=f.grade_true,
        )
        return s


def concat_blocks(parts: list[SimBlock], fs_code: int, n_sensors: int) -> SimBlock:
    """Join consecutive blocks into one."""
    if not parts:
        return SimBlock(
            seq=np.zeros(0, np.int64),
            t_s=np.zeros(0),
            raw=np.zeros((0, n_sensors, 3), np.int16),
            fs_code=fs_code,
            saturated=np.zeros(0, bool),
            field_ut=np.zeros((0, n_sensors, 3)),
            gesture=np.zeros(0, np.int64),
            grade_true=np.zeros(0),
            tag_mm=np.zeros((0, 3)),
        )
    return SimBlock(
        seq=np.concatenate([p.seq for p in parts]),
        t_s=np.concatenate([p.t_s for p in parts]),
        raw=np.concatenate([p.raw for p in parts]),
        fs_code=fs_code,
        saturated=np.concatenate([p.saturated for p in parts]),
        field_ut=np.concatenate([p.field_ut for p in parts]),
        gesture=np.concatenate([p.gesture for p in parts]),
        grade_true=np.concatenate([p.grade_true for p in parts]),
        tag_mm=np.concatenate([p.tag_mm for p in parts]),
    )
