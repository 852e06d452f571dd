"""Shared, cached foreign-patient cases for the tracking tests (fixed seeds, small sessions)."""

from __future__ import annotations

from functools import cache

from bridge.sim.foreign_patients import (
    ForeignPatient,
    Placement,
    Session,
    cued_session,
    draw_patient,
)
from bridge.tracking.twin_fit import CuedData, TwinFit, fit_twin

SEEDS = (2, 5)


@cache
def patient(seed: int) -> ForeignPatient:
    return draw_patient(seed)


@cache
def fitting_session(seed: int) -> Session:
    return cued_session(patient(seed), repetitions=2)


@cache
def twin_fit(seed: int) -> TwinFit:
    s = fitting_session(seed)
    return fit_twin([CuedData(s.field_ut, s.gesture, s.sensors_mm)])


@cache
def later_session(seed: int, placement: Placement) -> Session:
    return cued_session(
        patient(seed), placement, repetitions=2, full_flexions=False, session_seed=9
    )
