"""The guided QG calibration cue script: which holds are cued, in what order, with what
prompt, and the samples recorded during each (`PhaseRecording`).

Per gesture and repeat, three held phases: rest, full flexion, full extension. Both the
CLI (a person) and the simulator driver (`bridge.sim.calibration_run`) follow it; the
fit (`bridge.decoders.qg_fit`) reads its recordings. It sits low (values only) so the
simulator can follow it without importing decoders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fist_and_ball.protocol_v1 import ACTIVE_GESTURES

PHASES: tuple[str, ...] = ("rest", "flexion", "extension")
"""The guided phases of one repeat, in the order they are cued."""

CALIBRATABLE: tuple[str, ...] = ACTIVE_GESTURES

TRIM_FRACTION = 0.2
"""Leading part of each hold dropped: the hand is still settling."""

_PROMPTS: dict[tuple[str, str], str] = {
    ("fingers", "flexion"): "Close your fist fully and hold",
    ("fingers", "extension"): "Open your hand fully, fingers stretched, and hold",
    ("wrist", "flexion"): "Bend your wrist fully down (palm side) and hold",
    ("wrist", "extension"): "Bend your wrist fully back and hold",
    ("thumb", "flexion"): "Bend your thumb fully into the palm and hold",
    ("thumb", "extension"): "Stretch your thumb fully out and hold",
}


class CalibrationRefused(Exception):
    """The recording cannot make a usable QG; `reason` says why, `advice` what to do."""

    def __init__(self, reason: str, advice: str, gesture: str | None = None) -> None:
        self.reason = reason
        self.advice = advice
        self.gesture = gesture
        self.report: dict[str, Any] = {}
        """Per gesture, every sensor's stats (SensorStats.to_dict), when a fit got that far."""
        where = f"{gesture}: " if gesture else ""
        super().__init__(f"{where}{reason}. {advice}")


@dataclass(frozen=True, slots=True)
class Phase:
    """One cued hold of the guided protocol."""

    gesture: str
    kind: str  # rest | flexion | extension
    repeat: int

    @property
    def prompt(self) -> str:
        if self.kind == "rest":
            return "Relax your hand and arm"
        return _PROMPTS[(self.gesture, self.kind)]

    @property
    def intent_level(self) -> float:
        """The hand level the cue asks for (rest: relaxed, counted as open)."""
        return 1.0 if self.kind == "flexion" else 0.0


def guided_phases(gestures: tuple[str, ...] | list[str], repeats: int) -> list[Phase]:
    """The cue sequence: per gesture, `repeats` x (rest, flexion, extension)."""
    bad = [g for g in gestures if g not in CALIBRATABLE]
    if bad or not gestures:
        raise ValueError(f"gestures must be among {', '.join(CALIBRATABLE)}; got {list(gestures)}")
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    return [Phase(g, kind, r) for g in gestures for r in range(repeats) for kind in PHASES]


@dataclass(slots=True)
class PhaseRecording:
    """The samples of one held phase: field (m, n, 3) in uT, per-sample saturation flag."""

    phase: Phase
    field_ut: np.ndarray
    saturated: np.ndarray

    @staticmethod
    def from_samples(phase: Phase, fields: list[np.ndarray], flags: list[bool]) -> PhaseRecording:
        f = np.asarray(fields, dtype=np.float64)
        if f.ndim != 3 or f.shape[0] == 0:
            raise CalibrationRefused(
                f"no samples were recorded during '{phase.prompt}'",
                "check that the source is streaming (fist-and-ball record) and try again",
                phase.gesture,
            )
        return PhaseRecording(phase, f, np.asarray(flags, dtype=bool))

    @property
    def magnitudes(self) -> np.ndarray:
        return np.sqrt(np.einsum("mij,mij->mi", self.field_ut, self.field_ut))

    def held(self, trim: float = TRIM_FRACTION) -> PhaseRecording:
        """The hold without its leading settling part."""
        start = int(len(self.field_ut) * trim)
        return PhaseRecording(self.phase, self.field_ut[start:], self.saturated[start:])


def cue_runs(cues: list[str]) -> list[tuple[str, int, int]]:
    """Contiguous runs of one cue in a per-sample cue column: (cue, start, end)."""
    out, start = [], 0
    for i in range(1, len(cues) + 1):
        if i == len(cues) or cues[i] != cues[start]:
            out.append((cues[start], start, i))
            start = i
    return out
