"""`fist-and-ball label REC.csv --out LABELS.csv [--plot labels.png]`: MCNN-TG grade labels."""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from bridge.cli.errors import CliError
from bridge.cli.out_path import check_out_parent
from bridge.signal.labels import LabelParams, grade_error
from bridge.training.dataset import load_labelled


def register(sub: Any) -> None:
    p = sub.add_parser(
        "label",
        help="derive MCNN-TG type and grade labels from a cued recording",
        description=(
            "Label a recording as the paper does: per cued movement, the sensor with the largest "
            "peak-to-peak and smoothest |B|; its extrema joined by half-cosine grade curves "
            "(0..8 = 0..180 degrees). Writes a CSV of labels and, with --plot, a figure "
            "comparing them with grade_true where the recording has it."
        ),
    )
    p.add_argument("recording", help="recording CSV (contract 2) with a gesture cue column")
    p.add_argument("--out", required=True, help="labels CSV to write")
    p.add_argument("--plot", help="PNG figure of the labelling (optional)")
    p.add_argument("--smooth-s", type=float, default=0.4, help="smoothing window in seconds (0.4)")
    p.add_argument(
        "--prominence",
        type=float,
        default=0.3,
        help="extremum hysteresis, fraction of peak-to-peak (0.3)",
    )
    p.add_argument(
        "--paper-extrema",
        action="store_true",
        help="every flexed extremum is grade 8 (the paper) instead of scaled by its excursion",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    if not 0 < args.prominence < 1:
        raise CliError("--prominence must be between 0 and 1")
    if args.smooth_s < 0:
        raise CliError("--smooth-s must be >= 0")
    params = LabelParams(
        smooth_s=args.smooth_s, prominence=args.prominence, scale_extrema=not args.paper_extrema
    )
    try:
        rec = load_labelled(args.recording, params)
    except FileNotFoundError as exc:
        raise CliError(f"{args.recording}: not found ({exc.filename})") from None
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    lab = rec.labels
    out = check_out_parent(args.out)
    t_s, seq = rec.t_s, rec.seq
    try:
        with open(out, "w", encoding="utf-8", newline="\n") as f:
            f.write("t_s,seq,cue,type_label,grade_label,in_span,grade_true\n")
            for i in range(rec.mags.shape[0]):
                g = lab.grade[i]
                gt = rec.grade_true[i]
                f.write(
                    f"{t_s[i]:.6f},{int(seq[i])},{rec.cues[i]},{lab.gesture[i]},"
                    f"{'' if math.isnan(g) else f'{g:.4f}'},{int(lab.in_span[i])},"
                    f"{'' if math.isnan(gt) else f'{gt:.4f}'}\n"
                )
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc}") from None
    print(f"{out}: {rec.mags.shape[0]} samples labelled")
    print("segment           samples  sensor  |B| vs flexion  extrema  p2p (uT)  note")
    for s in lab.segments:
        if s.cue in ("", "rest"):
            continue
        sign = (
            "-" if s.rises_with_flexion is None else ("rises" if s.rises_with_flexion else "falls")
        )
        sensor = "-" if s.sensor is None else str(s.sensor)
        print(
            f"{s.cue:<8} @{s.start:<7} {s.stop - s.start:>7}  {sensor:>6}  {sign:>14}  "
            f"{len(s.extrema):>7}  {s.peak_to_peak_ut:>8.1f}  {s.note}"
        )
    if np.isfinite(rec.grade_true).any():
        moving = np.array([c not in ("", "rest") for c in rec.cues])
        e = grade_error(lab.grade, rec.grade_true, moving)
        print(
            f"derived vs grade_true over movements: MAE {e['mae']:.3f} grade "
            f"({e['mae_deg']:.1f} deg), RMSE {e['rmse']:.3f} grade, n={e['n']}"
        )
        for name in ("fingers", "wrist", "thumb"):
            sel = np.array([c == name for c in rec.cues])
            if sel.any():
                e = grade_error(lab.grade, rec.grade_true, sel)
                print(f"  {name:<8} MAE {e['mae']:.3f} grade, RMSE {e['rmse']:.3f} grade")
    if args.plot:
        from bridge.evaluation import plot_labels  # lazy: matplotlib, only for --plot

        gt = rec.grade_true if np.isfinite(rec.grade_true).any() else None
        try:
            plot_labels(args.plot, t_s, rec.mags, rec.cues, lab.grade, gt, lab.segments)
        except OSError as exc:
            raise CliError(f"cannot write {args.plot}: {exc}") from None
        print(f"plot: {args.plot}")
    return 0
