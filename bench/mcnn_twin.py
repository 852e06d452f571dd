"""Twin-trained MCNN-TG on foreign patients (docs/mcnn.md, "Twin-trained MCNN-TG").

Per foreign socket patient (bridge/sim/foreign_patients.py): one cued fitting session
(3 full flexions per movement) is recorded; the twin is fitted on it exactly as
bench/tracking_compare.py does; MCNN-TG is trained on that recording alone (plain) and
on that recording plus sessions synthesised from the twin (`train_bundle(...,
synth=TwinAugment(...))`, what `fist-and-ball train REC --twin TWIN` runs). Later
sessions (random depths, session_seed 1) are decoded by `run_decoder_evaluation`;
ground truth only scores.

    python bench/mcnn_twin.py --seeds 0,3,7 --epochs 60 --sessions 960 [--plain]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads

import numpy as np

from bridge.evaluation import run_decoder_evaluation
from bridge.sim.foreign_patients import Placement, cued_session, draw_patient, write_recording
from bridge.tracking.twin_fit import CuedData, fit_twin

SCENARIOS: dict[str, Placement] = {
    "same placement": Placement(),
    "+5 mm, +10 deg, motors": Placement(shift_mm=5.0, turn_deg=10.0, motor=True),
    "-5 mm, -10 deg, motors": Placement(shift_mm=-5.0, turn_deg=-10.0, motor=True),
    "Earth heading +90 deg": Placement(earth_heading_deg=90.0),
}


def _log(msg: str) -> None:
    print(f"[mcnn-twin] {msg}", file=sys.stderr, flush=True)


def run_patient(
    seed: int,
    work: Path,
    epochs: int,
    sessions: int,
    plain: bool,
    train_seed: int,
    motor_share: float = 0.5,
    normalisation: str = "minmax_per_step",
) -> dict[str, dict[str, dict[str, float]]]:
    """scenario -> model -> {accuracy, mae, within1} for one foreign patient."""
    from bridge.training.train import TrainConfig, TwinAugment, train_bundle
    from bridge.training.twin_sessions import SynthConfig

    folder = work / f"p{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    patient = draw_patient(seed)
    fitting = cued_session(patient, repetitions=3)
    rec = write_recording(fitting, folder / "fitting.csv")
    fit = fit_twin([CuedData(fitting.field_ut, fitting.gesture, fitting.sensors_mm)])
    if fit.twin is None:
        raise SystemExit(f"patient {seed}: twin refused: {fit.refused}")
    twin_path = fit.twin.save(folder / "twin.json")
    cfg = TrainConfig(epochs=epochs, cosine=True, seed=train_seed, normalisation=normalisation)
    models = {}
    t0 = time.perf_counter()
    train_bundle(
        [str(rec)],
        str(folder / "twin-mcnn"),
        cfg,
        synth=TwinAugment(
            str(twin_path), SynthConfig(sessions=sessions, seed=train_seed, motor_share=motor_share)
        ),
        log=_log,
    )
    _log(f"patient {seed}: twin-trained in {time.perf_counter() - t0:.0f} s")
    models["twin-trained"] = f"mcnn:{folder / 'twin-mcnn'}"
    if plain:
        train_bundle([str(rec)], str(folder / "plain-mcnn"), cfg)
        models["plain"] = f"mcnn:{folder / 'plain-mcnn'}"
    names = {spec: name for name, spec in models.items()}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for k, (scenario, placement) in enumerate(SCENARIOS.items()):
        later = cued_session(patient, placement, full_flexions=False, session_seed=1)
        path = write_recording(later, folder / f"later_{k}.csv")
        res = run_decoder_evaluation(list(models.values()), path)
        out[scenario] = {}
        for r in res["results"]:
            o = r["overall"]
            out[scenario][names[r["decoder"]]] = {
                "accuracy": o["type_acc_moving"],
                "mae": o["grade_truth"]["mae"],
                "within1": o["within1"],
            }
    return out


def table(scores: dict[int, dict[str, dict[str, dict[str, float]]]]) -> str:
    rows = [
        "| session | model | patients | type accuracy (min / median) | within-1 (min / median) "
        "| grade MAE (median / max) |",
        "|---|---|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        for model in ("plain", "twin-trained"):
            got = [s[scenario][model] for s in scores.values() if model in s[scenario]]
            if not got:
                continue
            acc = np.array([g["accuracy"] for g in got])
            w1 = np.array([g["within1"] for g in got])
            mae = np.array([g["mae"] for g in got])
            rows.append(
                f"| {scenario} | {model} | {len(got)} | {100 * acc.min():.1f}% / "
                f"{100 * np.median(acc):.1f}% | {100 * w1.min():.1f}% / {100 * np.median(w1):.1f}% "
                f"| {np.median(mae):.2f} / {mae.max():.2f} |"
            )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="0,3,7", help="foreign patient seeds, comma-separated")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--sessions", type=int, default=960, help="synthesised sessions (960)")
    ap.add_argument("--train-seed", type=int, default=0)
    ap.add_argument("--plain", action="store_true", help="also train without --twin")
    ap.add_argument("--motor-share", type=float, default=0.5, help="synthesised motor sessions")
    ap.add_argument("--normalisation", default="minmax_per_step")
    ap.add_argument("--work", default="build/bench/mcnn_twin")
    args = ap.parse_args()
    work = Path(args.work)
    scores = {}
    t0 = time.perf_counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        scores[seed] = run_patient(
            seed,
            work,
            args.epochs,
            args.sessions,
            args.plain,
            args.train_seed,
            args.motor_share,
            args.normalisation,
        )
        _log(f"patient {seed}: {json.dumps(scores[seed])}")
    print(
        f"`python bench/mcnn_twin.py --seeds {args.seeds} --epochs {args.epochs} --sessions "
        f"{args.sessions} --motor-share {args.motor_share} --normalisation "
        f"{args.normalisation}{' --plain' if args.plain else ''}` "
        f"({(time.perf_counter() - t0) / 60:.0f} min, load {os.getloadavg()[0]:.1f})\n"
    )
    print(table(scores))
    (work / "scores.json").write_text(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
