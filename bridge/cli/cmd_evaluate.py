"""`fist-and-ball evaluate MODEL_DIR REC.csv [--out DIR]`: the paper's Table 2 for a model;
`fist-and-ball evaluate --decoder SPEC [--decoder SPEC ...] REC.csv`: for any bridge decoders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bridge.cli.errors import CliError
from bridge.cli.out_path import check_out_parent


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="Table 2 (type accuracy, grade error) of an MCNN-TG model on a recording",
        description=(
            "Score an MCNN-TG bundle on a labelled recording, next to the linear baseline of "
            "the bundle and QG (a calibration file via --qg, or calibrated on the simulated "
            "patient for a sim recording). Prints the tables; with --out also writes "
            "table2.md, table2.json, confusion.png and grade_timeline.png."
        ),
    )
    p.add_argument("model_dir", nargs="?", help="model bundle directory (model.onnx + model.json)")
    p.add_argument("recording", nargs="?", help="recording CSV (contract 2) with gesture cues")
    p.add_argument(
        "--decoder",
        action="append",
        metavar="SPEC",
        help="a decoder as the bridge takes it (qg:CAL.json, mcnn:DIR, linear:MODEL.json, "
        "track:TWIN.json); repeat to compare; then give only the recording",
    )
    p.add_argument("--out", help="directory for the table and plots")
    p.add_argument("--qg", metavar="CAL.json", help="QG calibration file for the QG column")
    p.add_argument("--no-qg", action="store_true", help="leave QG out")
    p.add_argument("--no-linear", action="store_true", help="leave the linear baseline out")
    p.add_argument(
        "--part",
        choices=("auto", "test", "all"),
        default="auto",
        help="samples to score: test = last 20%% of each cue, all, or auto (test when the "
        "model was trained on this recording, else all)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # lazy: evaluation loads the decoders and the simulator; `--help` stays fast
    from bridge.evaluation import run_evaluation

    if args.decoder:
        return _run_specs(args)
    if args.recording is None:
        raise CliError("give MODEL_DIR RECORDING, or --decoder SPEC RECORDING")
    if not Path(args.recording).is_file():
        raise CliError(f"recording {args.recording} not found")
    if args.qg and not Path(args.qg).is_file():
        raise CliError(f"QG calibration {args.qg} not found")
    if args.out:
        check_out_parent(args.out)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        res = run_evaluation(
            args.model_dir,
            args.recording,
            args.out,
            qg=args.qg,
            with_qg=not args.no_qg,
            with_linear=not args.no_linear,
            part=args.part,
            log=log,
        )
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    print(res["markdown"])
    for f in res["files"]:
        print(f"wrote {f}", file=sys.stderr)
    return 0


def _run_specs(args: argparse.Namespace) -> int:
    """`evaluate --decoder SPEC ... RECORDING`: every decoder over the whole recording."""
    from bridge.evaluation import run_decoder_evaluation  # lazy, as in run()

    if args.recording is not None:
        raise CliError("with --decoder give only the recording, not a model directory")
    recording = args.model_dir
    if recording is None or not Path(recording).is_file():
        raise CliError(f"recording {recording} not found")
    if args.out:
        check_out_parent(args.out)
    try:
        res = run_decoder_evaluation(
            args.decoder,
            recording,
            args.out,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    print(res["markdown"])
    for f in res["files"]:
        print(f"wrote {f}", file=sys.stderr)
    return 0
