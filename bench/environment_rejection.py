"""QG with and without the environment rejection stage (bridge/decoders/field_reference.py)
on foreign socket patients: grade MAE and within-1, and how often the hand would hold
(confidence < 0.2) during a steel object's pass vs on undisturbed samples.

Per patient one cued fitting session calibrates QG the way bench/tracking_compare.py
does; later sessions (random depths) run per condition. Ground truth only scores.

    python bench/environment_rejection.py --seeds 8
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from machine import cpu_model, replace_docs_section  # noqa: E402
from tracking_compare import _info, qg_holds  # noqa: E402

from bridge.decoders.qg_bank import QGBank  # noqa: E402
from bridge.decoders.qg_calibration import Calibration  # noqa: E402
from bridge.decoders.qg_fit import fit_calibration  # noqa: E402
from bridge.evaluation import qg_predictions  # noqa: E402
from bridge.sim.foreign_patients import (  # noqa: E402
    ForeignPatient,
    Placement,
    Session,
    cued_session,
    draw_patient,
)

MIN_CONFIDENCE = 0.2
"""The hand's default min_confidence (docs/hand.md)."""
DISTURBED_UT = 5.0
"""A sample is disturbed when the steel object adds at least this at some sensor ..."""
QUIET_UT = 0.5
"""... and undisturbed when it adds less than this everywhere."""
CONDITIONS: dict[str, Placement] = {
    "same placement": Placement(),
    "Earth heading +90 deg": Placement(earth_heading_deg=90.0),
    "arm turning (heading swept +-90 deg, 40 s)": Placement(heading_sweep_deg=90.0),
    "hand motors running": Placement(motor=True),
    "steel object passing at 5 cm": Placement(steel_cm=5.0),
    "steel object passing at 3 cm": Placement(steel_cm=3.0),
    "large steel object (40 mm) at 5 cm": Placement(steel_cm=5.0, steel_radius_mm=40.0),
    "shifted +5 mm, turned +10 deg": Placement(shift_mm=5.0, turn_deg=10.0),
    "tags tilting 10 deg over a stroke, in the calibration too": Placement(tag_rotation_deg=10.0),
    "tags tilting 10 deg over a stroke, not in the calibration": Placement(tag_rotation_deg=10.0),
}
CALIBRATED_WITH: dict[str, Placement] = {
    "tags tilting 10 deg over a stroke, in the calibration too": Placement(tag_rotation_deg=10.0)
}
"""Conditions whose fitting session differs from the quiet one (the tilt is anatomy)."""


def _log(msg: str) -> None:
    print(f"[environment] {msg}", file=sys.stderr, flush=True)


def run_qg(cal: Calibration, session: Session, reference: bool) -> tuple[np.ndarray, np.ndarray]:
    """(grade, confidence) per sample of a fresh bank over the session."""
    bank = QGBank(cal, reference=reference)
    cues = np.asarray(session.gesture, dtype=object)
    p = qg_predictions(bank, session.field_ut, session.t_s, cues)
    return p.grade, p.confidence


def calibrate(patient: ForeignPatient, placement: Placement) -> Calibration:
    """QG calibrated on one cued fitting session (3 full flexions per movement)."""
    fitting = cued_session(patient, placement, repetitions=3)
    return fit_calibration(qg_holds(fitting), _info(fitting), partial=True)


def score_patient(seed: int) -> dict[str, dict[str, float]]:
    patient = draw_patient(seed)
    quiet_cal = calibrate(patient, Placement())
    out: dict[str, dict[str, float]] = {}
    for name, placement in CONDITIONS.items():
        cal = calibrate(patient, CALIBRATED_WITH[name]) if name in CALIBRATED_WITH else quiet_cal
        later = cued_session(
            patient, placement, repetitions=3, full_flexions=False, session_seed=11
        )
        cued = np.array([c != "rest" for c in later.gesture])
        row: dict[str, float] = {}
        for label, ref in (("off", False), ("on", True)):
            grade, conf = run_qg(cal, later, ref)
            err = np.abs(grade - later.grade_true)[cued]
            row[f"mae_{label}"] = float(err.mean())
            row[f"within1_{label}"] = float((err <= 1.0).mean())
            row[f"held_{label}"] = float((conf < MIN_CONFIDENCE).mean())
            if placement.steel_cm is not None:
                quiet = cued_session(
                    patient,
                    replace(placement, steel_cm=None),
                    repetitions=3,
                    full_flexions=False,
                    session_seed=11,
                )
                steel = np.linalg.norm(later.field_ut - quiet.field_ut, axis=2).max(axis=1)
                hit, calm = steel >= DISTURBED_UT, steel < QUIET_UT
                row[f"held_disturbed_{label}"] = float((conf[hit] < MIN_CONFIDENCE).mean())
                row[f"held_quiet_{label}"] = float((conf[calm] < MIN_CONFIDENCE).mean())
                e_all = np.abs(grade - later.grade_true)
                row[f"mae_disturbed_{label}"] = (
                    float(e_all[hit & cued].mean()) if (hit & cued).any() else float("nan")
                )
                row["n_disturbed"] = float(hit.sum())
        out[name] = row
    return out


def _cell(values: list[float], pct: bool, digits: int = 2) -> str:
    v = np.array([x for x in values if np.isfinite(x)])
    if v.size == 0:
        return "-"
    f = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.{digits}f}")
    return f"{f(np.median(v))} ({f(v.min())}-{f(v.max())})"


def tables(scores: dict[int, dict[str, dict[str, float]]]) -> str:
    rows = [
        "| condition | grade MAE off | grade MAE on | within-1 off | within-1 on "
        "| conf < 0.2 off | conf < 0.2 on |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in CONDITIONS:
        got = [s[name] for s in scores.values()]
        cells = [
            _cell([g[k] for g in got], pct)
            for k, pct in (
                ("mae_off", False),
                ("mae_on", False),
                ("within1_off", True),
                ("within1_on", True),
                ("held_off", True),
                ("held_on", True),
            )
        ]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    rows += [
        "",
        f"Steel passes: disturbed samples (the object adds >= {DISTURBED_UT:g} uT at some "
        f"sensor) vs undisturbed ones (< {QUIET_UT:g} uT everywhere) of the same sessions:",
        "",
        "| object | stage | disturbed samples | conf < 0.2 on disturbed "
        "| conf < 0.2 on undisturbed | grade MAE on disturbed movement samples |",
        "|---|---|---|---|---|---|",
    ]
    for name, placement in CONDITIONS.items():
        if placement.steel_cm is None:
            continue
        steel = [s[name] for s in scores.values()]
        for label in ("off", "on"):
            rows.append(
                f"| {name} | {label} | {_cell([g['n_disturbed'] for g in steel], False, 0)} | "
                f"{_cell([g[f'held_disturbed_{label}'] for g in steel], True)} | "
                f"{_cell([g[f'held_quiet_{label}'] for g in steel], True)} | "
                f"{_cell([g[f'mae_disturbed_{label}'] for g in steel], False)} |"
            )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=8, help="foreign patients (seeds 0..N-1)")
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()
    scores = {}
    for seed in range(args.seeds):
        scores[seed] = score_patient(seed)
        _log(f"patient {seed} done")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        "## Measured (bench/environment_rejection.py)\n\n"
        f"Regenerated by `python bench/environment_rejection.py --seeds {args.seeds}` "
        f"({when}, {cpu_model()}). Foreign socket patients, seeds 0-{args.seeds - 1}; QG "
        "calibrated as in bench/tracking_compare.py on a quiet fitting session (on one with "
        "the tags tilting for the row that says so); later sessions of 3 repetitions per "
        "movement to random depths. Cells: median (min-max) over patients; MAE and "
        "within-1 over the cued movement samples; conf < 0.2: share of all samples where "
        "the hand would hold.\n\n" + tables(scores) + "\n"
    )
    print(body)
    if not args.no_docs:
        replace_docs_section(
            "Measured (bench/environment_rejection.py)",
            body,
            ROOT / "docs" / "environment_rejection.md",
        )


if __name__ == "__main__":
    main()
