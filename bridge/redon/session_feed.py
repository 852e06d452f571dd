"""Synthetic routine data: a cued foreign-patient session replayed as if the patient
followed the re-don routine's prompts (tests and benches only).

A cued session with one repetition is close to the routine: 3 s rest, then per movement
a flexion to full, a short hold and a relaxation. Each routine step gets the session's
samples of the same part (the first rest block; for a movement, its cue block and the
rest after it), starting when the step's prompt appears, cut or padded (with the last
second of that part, i.e. relaxed samples) to the step's length. Times are re-stamped
at the session's rate. Ground truth is dropped: the check never sees it.
"""

from __future__ import annotations

import numpy as np

from bridge.cues import cue_runs
from bridge.redon.routine import RoutineTiming
from bridge.sim.foreign_patients import Session
from bridge.values.sample import Sample
from fist_and_ball.protocol_v1 import REST


def _fit_length(idx: np.ndarray, n: int, tail: int) -> np.ndarray:
    """`idx` cut to n, or padded by cycling its last `tail` samples."""
    if len(idx) >= n:
        return idx[:n]
    pad = idx[-tail:]
    reps = int(np.ceil((n - len(idx)) / len(pad)))
    return np.concatenate([idx, np.tile(pad, reps)])[:n]


def routine_samples(
    session: Session, movements: tuple[str, ...], timing: RoutineTiming | None = None
) -> list[Sample]:
    """The samples a routine over `movements` would receive from this patient and day."""
    timing = timing or RoutineTiming()
    rate = session.rate_hz
    blocks = cue_runs(session.gesture)
    if blocks[0][0] != REST:
        raise ValueError("the session does not start at rest")
    tail = max(1, round(rate))
    parts = [_fit_length(np.arange(blocks[0][1], blocks[0][2]), round(timing.rest_s * rate), tail)]
    for m in movements:
        k = next((i for i, b in enumerate(blocks) if b[0] == m), None)
        if k is None:
            raise ValueError(f"the session has no '{m}' movement")
        end = blocks[k + 1][2] if k + 1 < len(blocks) and blocks[k + 1][0] == REST else blocks[k][2]
        idx = np.arange(blocks[k][1], end)
        parts.append(_fit_length(idx, round(timing.movement_s * rate), tail))
    # one sample more: the routine ends with the first sample at or after its length
    order = np.concatenate([*parts, parts[-1][-1:]])
    return [
        Sample.from_field(k, k / rate, 0.0, session.field_ut[i], bool(session.saturated[i]))
        for k, i in enumerate(order)
    ]
