"""A clinic's recording of the prosthetic hand's own field on a foreign patient.

With the socket on and the patient relaxed, the clinic steps the hand through its poses
(every joint together, from open to closed and back, holding each pose) for about a
minute and records the socket's sensors. The hand's commanded closure is known to the
clinic (it commands it), so the recording carries it in an extra column,
`hand_closure` (contract 2 allows extra columns); `bridge.training.motor_pattern`
decodes it into the motor's field against the hand pose. The world (tags at rest, Earth
with the arm's slow wander, the motor, noise) is the simulator's; nothing here is read
at training time except the recording.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bridge.recording import RecordingWriter
from bridge.sim.foreign_patients import (
    FULL_SCALE_UT,
    HAND_SPEED_PER_S,
    LSB_UT,
    ForeignPatient,
    Placement,
    _earth,
    _motor_field,
    _tag_fields,
)
from bridge.values.sample import Sample
from bridge.values.source_info import SourceInfo

HAND_CLOSURE_COLUMN = "hand_closure"
SWEEP_POSES = 33
"""Poses stepped through: every 1/32 of a full closure."""


def sweep_schedule(rate_hz: float, hold_s: float = 0.75, closure_per_s: float = 0.25) -> np.ndarray:
    """The commanded closure per sample: open for 2 s, then every pose up and back down,
    each held `hold_s`, moving between poses at `closure_per_s` (slower than any joint's
    slew limit, so the hand follows the command exactly)."""
    poses = np.linspace(0.0, 1.0, SWEEP_POSES)
    order = np.concatenate([poses, poses[-2::-1]])
    out = [np.zeros(round(2.0 * rate_hz))]
    step = closure_per_s / rate_hz
    c = 0.0
    for target in order:
        n_move = int(np.ceil(abs(target - c) / step))
        if n_move:
            out.append(c + (target - c) * np.arange(1, n_move + 1) / n_move)
        out.append(np.full(round(hold_s * rate_hz), target))
        c = float(target)
    return np.concatenate(out)


def motor_sweep_recording(
    patient: ForeignPatient,
    path: str | Path,
    placement: Placement | None = None,
    session_seed: int = 41,
) -> Path:
    """Write the hand-sweep recording (contract 2 + `hand_closure`) for `patient`."""
    placement = placement or Placement()
    rate = patient.rate_hz
    closure = sweep_schedule(rate)
    t = np.arange(closure.size) / rate
    velocity = np.abs(np.diff(closure, prepend=closure[:1])) * rate
    speed = (velocity[:, None] / HAND_SPEED_PER_S[None, :]).max(axis=1)
    b = _tag_fields(patient, placement, np.zeros((closure.size, len(patient.tags))))
    b += _earth(patient, placement, t, patient.seed * 1000 + session_seed)[:, None, :]
    b += _motor_field(patient, placement, closure, speed)
    rng = np.random.default_rng([patient.seed, session_seed, 0x30708])
    b += rng.standard_normal(b.shape) * patient.noise_ut_rms
    saturated = (np.abs(b) > FULL_SCALE_UT).any(axis=(1, 2))
    b = np.rint(np.clip(b, -FULL_SCALE_UT, FULL_SCALE_UT) / LSB_UT) * LSB_UT
    info = SourceInfo(
        n_sensors=patient.n_sensors,
        rate_hz=rate,
        layout="foreign",
        full_scale_gauss=16.0,
        positions_mm=patient.sensors_mm.tolist(),
        source="foreign-patient hand sweep",
    )
    out = Path(path)
    with RecordingWriter(
        out, info, patient.n_sensors, extra_columns=(HAND_CLOSURE_COLUMN,)
    ) as writer:
        for i in range(closure.size):
            writer.write(
                Sample.from_field(i, float(t[i]), 0.0, b[i], bool(saturated[i]), "rest", 0.0),
                {HAND_CLOSURE_COLUMN: float(closure[i])},
            )
    return out
