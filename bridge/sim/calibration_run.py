"""Drive the guided QG calibration on a simulated patient, offline (no real-time wait).

Returns the phase recordings and the source info; the caller fits them
(`bridge.decoders.qg_fit.fit_calibration`). The simulator sits below the decoders,
so it records the cue script (`bridge.cues`) but never fits: that keeps `sim` free of
any import of `decoders`.
"""

from __future__ import annotations

from bridge.cues import PhaseRecording, guided_phases
from bridge.sim.config import SimConfig
from bridge.sim.simulator import Simulator
from bridge.values.source_info import SourceInfo
from fist_and_ball.protocol_v1 import REST


def record_guided_calibration(
    config: SimConfig,
    gestures: tuple[str, ...] | list[str] = ("fingers",),
    *,
    hold_s: float = 3.0,
    repeats: int = 3,
    settle_s: float = 1.5,
) -> tuple[list[PhaseRecording], SourceInfo]:
    """Record the guided calibration's holds on a simulated patient.

    The simulator is switched to intent mode and cued phase by phase exactly as a
    person would be: `settle_s` to get there (the countdown), then `hold_s` recorded.
    `config` is the session to calibrate for (layout, seed, band position...).
    Returns (recordings, source info), the two inputs of `fit_calibration`.
    """
    sim = Simulator(config.replace(cue_script="intent"))
    rate = sim.rate_hz
    settle_n = max(1, round(settle_s * rate))
    hold_n = max(4, round(hold_s * rate))
    recs: list[PhaseRecording] = []
    for ph in guided_phases(tuple(gestures), repeats):
        if ph.kind == "rest":
            sim.set_intent(REST, 0.0)
        else:
            sim.set_intent(ph.gesture, ph.intent_level)
        sim.generate_block(settle_n)
        block = sim.generate_block(hold_n)
        recs.append(PhaseRecording(ph, block.field_ut.copy(), block.saturated.copy()))
    sim.set_intent(REST, 0.0)
    return recs, sim.info
