"""The values that flow down the bridge pipeline: source -> Sample -> decoder -> Decoded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

# The gesture and grade vocabulary is protocol v1's (contracts 2 and 3), defined once
# there; the bridge takes it from here. `fingers` is the paper's clenching.
from fist_and_ball.protocol_v1 import GESTURES, MAX_GRADE, N_GRADES

__all__ = ["DEGREES_PER_GRADE", "GESTURES", "N_GRADES", "Decoded", "Sample"]

DEGREES_PER_GRADE = 180.0 / MAX_GRADE
"""The hand's 180 degrees over grades 0..MAX_GRADE: grade g <-> g * 22.5 degrees."""


@dataclass(slots=True)
class Sample:
    """One time step of all sensors, in microtesla.

    `field_ut` has shape (n, 3); a dead sensor's row is NaN. `magnitudes` is |B| per
    sensor (NaN for dead ones). `t_device` is the device clock in seconds, unwrapped;
    `t_host` is `time.monotonic()` when the bytes were decoded (latency reference).
    `gesture` and `grade_true` carry labels when the source knows them (simulator,
    recordings); they are never used by decoders at run time.
    """

    seq: int
    t_device: float
    t_host: float
    field_ut: np.ndarray
    magnitudes: np.ndarray
    saturated: bool = False
    gesture: str | None = None
    grade_true: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def n_sensors(self) -> int:
        return int(self.field_ut.shape[0])

    @staticmethod
    def from_field(
        seq: int,
        t_device: float,
        t_host: float,
        field_ut: np.ndarray,
        saturated: bool = False,
        gesture: str | None = None,
        grade_true: float | None = None,
    ) -> Sample:
        """Build a sample from an (n, 3) field array, computing the magnitudes."""
        f = np.asarray(field_ut, dtype=np.float64).reshape(-1, 3)
        mags = np.sqrt(np.einsum("ij,ij->i", f, f))
        return Sample(seq, t_device, t_host, f, mags, saturated, gesture, grade_true)


@dataclass(slots=True)
class Decoded:
    """A decoder's output for one sample (the body of a websocket `grade` message)."""

    seq: int
    t_host: float
    gesture: str
    grade: int
    level: float
    confidence: float
    sensor_index: int | None = None
    """The sensor the decoder leaned on (QG), for live views; None when not meaningful."""
    grades: Mapping[str, tuple[int, float, float]] | None = None
    """Simultaneous results per gesture, (grade, level, confidence), from decoders that
    see several tags at once (tracking); None otherwise. Sent as `grade`'s `grades`."""

    def __post_init__(self) -> None:
        self.grade = int(min(max(self.grade, 0), N_GRADES - 1))
        self.level = float(min(max(self.level, 0.0), 1.0))
        self.confidence = float(min(max(self.confidence, 0.0), 1.0))
