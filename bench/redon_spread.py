"""The re-don check's verdicts over many foreign patients (docs/redon.md).

QG on the 3-sensor band: calibrated (fingers, the `calibrate` default) the documented way
on a same-placement cued session (the calibration fit on its holds, as
bench/tracking_compare.py does); the routine on the re-donned day (a one-repetition
cued session replayed as the routine's samples); a later day's session (random depths)
decoded with the calibration the check leaves (accepted or adapted), with the old one,
and with a fresh calibration at that day's placement (what a refusal asks for: the same
procedure on a cued calibration session there), each scored against the truth: fingers
within +-1 grade. Tracking on socket
patients: the twin fitted on one cued session, the routine on the re-donned day; the
verdict and the pose error.

    python bench/redon_spread.py --qg-seeds 12 --track-seeds 6
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from machine import cpu_model  # noqa: E402
from tracking_compare import _info, qg_holds  # noqa: E402

from bridge.decoders.qg_calibration import Calibration  # noqa: E402
from bridge.decoders.qg_fit import fit_calibration  # noqa: E402
from bridge.evaluation import run_decoder_evaluation  # noqa: E402
from bridge.redon.check import check_qg, check_track  # noqa: E402
from bridge.redon.routine import RedonRoutine, RoutineRecording  # noqa: E402
from bridge.redon.session_feed import routine_samples  # noqa: E402
from bridge.sim.foreign_patients import (  # noqa: E402
    ForeignPatient,
    Placement,
    Session,
    cued_session,
    draw_patient,
    write_recording,
)
from bridge.tracking.twin_fit import CuedData, fit_twin  # noqa: E402

QG_PLACES = {
    "same placement": Placement(),
    "shifted +5 mm": Placement(shift_mm=5.0),
    "shifted -5 mm": Placement(shift_mm=-5.0),
    "turned +10 deg": Placement(turn_deg=10.0),
    "turned -10 deg": Placement(turn_deg=-10.0),
    "turned +45 deg": Placement(turn_deg=45.0),
    "turned -45 deg": Placement(turn_deg=-45.0),
}
TRACK_PLACES = {
    "same placement": Placement(),
    "shifted +5 mm, turned +10 deg": Placement(5.0, 10.0),
    "shifted -5 mm, turned -10 deg": Placement(-5.0, -10.0),
    "shifted 10 mm": Placement(shift_mm=10.0),
    "turned 20 deg": Placement(turn_deg=20.0),
    "turned 45 deg": Placement(turn_deg=45.0),
}


def _log(msg: str) -> None:
    print(f"[redon] {msg}", file=sys.stderr, flush=True)


def _routine(patient: ForeignPatient, placement: Placement, movements: tuple[str, ...]):
    day = cued_session(patient, placement, repetitions=1, session_seed=7)
    routine = RedonRoutine(movements)
    for s in routine_samples(day, movements):
        routine.feed(s)
    rec: RoutineRecording = routine.recording()
    return rec


RECALIBRATION_SESSION_SEED = 31
"""A refused placement's fresh calibration: a cued calibration session at that placement."""

QGRow = tuple[str, float, float, float]
"""(verdict, within-1 with the old calibration, with the check's (NaN when refused),
with a fresh calibration at that placement)."""


def _fingers_calibration(session: Session, path: Path) -> Path:
    holds = [h for h in qg_holds(session) if h.phase.gesture == "fingers"]
    return fit_calibration(holds, _info(session)).save(path)


def qg_rows(seeds: int, tmp: Path) -> dict[str, list[QGRow]]:
    """placement -> per patient QGRow."""
    out: dict[str, list[QGRow]] = {k: [] for k in QG_PLACES}
    for seed in range(seeds):
        patient = draw_patient(seed, kind="band")
        old = _fingers_calibration(cued_session(patient, repetitions=3), tmp / f"cal{seed}.json")
        cal = Calibration.load(old)
        for k, (name, place) in enumerate(QG_PLACES.items()):
            res = check_qg(_routine(patient, place, ("fingers",)), cal)
            later = cued_session(
                patient, place, repetitions=3, full_flexions=False, session_seed=11
            )
            rec = write_recording(later, tmp / f"later{seed}_{k}.csv")
            recal = cued_session(
                patient, place, repetitions=3, session_seed=RECALIBRATION_SESSION_SEED
            )
            specs = [
                f"qg:{old}",
                f"qg:{_fingers_calibration(recal, tmp / f'fresh{seed}_{k}.json')}",
            ]
            if res.calibration is not None and not res.refused:
                specs.append(f"qg:{res.calibration.save(tmp / f'new{seed}_{k}.json')}")
            ev = run_decoder_evaluation(specs, rec)["results"]
            w = [r["movements"]["fingers"]["within1"] for r in ev]
            after = w[2] if len(w) > 2 else float("nan")
            out[name].append((res.verdict, w[0], after, w[1]))
        _log(f"QG patient {seed} done")
    return out


def track_rows(seeds: int) -> dict[str, list[tuple[str, float, float]]]:
    """placement -> per patient (verdict, shift error mm, turn error deg)."""
    out: dict[str, list[tuple[str, float, float]]] = {k: [] for k in TRACK_PLACES}
    for seed in range(seeds):
        patient = draw_patient(seed)
        fitting = cued_session(patient, repetitions=3)
        twin = fit_twin([CuedData(fitting.field_ut, fitting.gesture, fitting.sensors_mm)]).twin
        if twin is None:
            continue
        for name, place in TRACK_PLACES.items():
            res = check_track(_routine(patient, place, twin.movements), twin)
            p = res.pose
            ds = abs(p.shift_mm - abs(place.shift_mm)) if p else float("nan")
            dt = abs(p.turn_deg - abs(place.turn_deg)) if p else float("nan")
            out[name].append((res.verdict, ds, dt))
        _log(f"tracking patient {seed} done")
    return out


def _count(verdicts: list[str]) -> str:
    return ", ".join(
        f"{v} {verdicts.count(v)}" for v in ("accepted", "adapted", "refused") if v in verdicts
    )


def _pct(values: list[float]) -> str:
    v = np.array([x for x in values if np.isfinite(x)])
    if v.size == 0:
        return "-"
    return f"{100 * np.median(v):.1f}% ({100 * v.min():.1f}-{100 * v.max():.1f}%)"


def qg_table(rows: dict[str, list[QGRow]]) -> str:
    lines = [
        "| day | verdicts | old calibration | after the check (accepted, adapted) | "
        "refused: old calibration | refused: fresh calibration | as the patient goes on |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, got in rows.items():
        kept = [a for v, _o, a, _f in got if v != "refused"]
        refused_old = [o for v, o, _a, _f in got if v == "refused"]
        refused_fresh = [f for v, _o, _a, f in got if v == "refused"]
        goes_on = [f if v == "refused" else a for v, _o, a, f in got]
        lines.append(
            f"| {name} | {_count([r[0] for r in got])} | {_pct([r[1] for r in got])} | "
            f"{_pct(kept)} | {_pct(refused_old)} | {_pct(refused_fresh)} | {_pct(goes_on)} |"
        )
    return "\n".join(lines)


def track_table(rows: dict[str, list[tuple[str, float, float]]]) -> str:
    lines = ["| day | verdicts | pose error: shift (max) | turn (max) |", "|---|---|---|---|"]
    for name, got in rows.items():
        ds = [d for _, d, _ in got]
        dt = [t for _, _, t in got]
        lines.append(
            f"| {name} | {_count([v for v, _, _ in got])} | {max(ds):.2f} mm | {max(dt):.2f} deg |"
        )
    return "\n".join(lines)


def replace_marked(path: Path, body: str) -> None:
    start, end = "<!-- redon-spread:start -->", "<!-- redon-spread:end -->"
    text = path.read_text()
    i, j = text.index(start) + len(start), text.index(end)
    path.write_text(text[:i] + "\n" + body + "\n" + text[j:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--qg-seeds", type=int, default=12)
    ap.add_argument("--track-seeds", type=int, default=6)
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fab-redon-") as tmp:
        qg = qg_rows(args.qg_seeds, Path(tmp))
    track = track_rows(args.track_seeds)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f"Regenerated by `python bench/redon_spread.py --qg-seeds {args.qg_seeds} "
        f"--track-seeds {args.track_seeds}` ({when}, {cpu_model()}, "
        f"{(time.perf_counter() - t0) / 60:.0f} min, load {os.getloadavg()[0]:.1f}).\n\n"
        f"QG on the 3-sensor band, fingers, foreign patients 0-{args.qg_seeds - 1}; a later "
        "day's session (random depths) scored against the truth: within-1, median "
        "(min-max), with the old calibration, with the check's (accepted or adapted), and "
        "where refused with the old one and with the fresh calibration the refusal asks "
        "for (one cued calibration session at that placement); the last column is what "
        "the patient decodes with after the check:\n\n"
        + qg_table(qg)
        + f"\n\nTracking, foreign socket patients 0-{args.track_seeds - 1}; pose error = "
        "|estimated - true| of the shift and turn magnitudes:\n\n" + track_table(track)
    )
    print(body)
    if not args.no_docs:
        replace_marked(ROOT / "docs" / "redon.md", body)


if __name__ == "__main__":
    main()
