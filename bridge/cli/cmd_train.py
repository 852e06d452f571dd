"""`fist-and-ball train REC.csv... --out MODEL_DIR`: train MCNN-TG and write a model bundle.

Needs the `train` extra (torch, onnx); the rest of the bridge never imports torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from bridge.cli.errors import CliError
from bridge.cli.out_path import check_out_parent


def _channels(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected three integers like 8,16,16, got {text!r}"
        ) from None
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(
            f"expected three positive integers like 8,16,16, got {text!r}"
        )
    return parts  # type: ignore[return-value]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train the MCNN-TG network on labelled recordings (needs torch)",
        description=(
            "Label the recordings, split each cue chronologically (first 80%% train, last 20%% "
            "held out), train MCNN-TG with Adam and write MODEL_DIR/model.onnx + model.json "
            "(plus linear.json, the linear baseline fitted on the same data)."
        ),
    )
    p.add_argument("recordings", nargs="+", help="recording CSVs (contract 2) with gesture cues")
    p.add_argument("--out", required=True, help="model bundle directory to write")
    p.add_argument("--epochs", type=int, default=500, help="training epochs (500, as the paper)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--batch", type=int, default=1024, help="batch size (1024)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (0.001)")
    p.add_argument(
        "--grade-weight", type=float, default=10.0, help="weight of the grade MSE in the loss (10)"
    )
    p.add_argument(
        "--channels",
        type=_channels,
        default=(8, 16, 16),
        help="conv channels of the three packs (8,16,16)",
    )
    p.add_argument("--hidden", type=int, default=32, help="hidden units of each head (32)")
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: fastest for this small net)"
    )
    p.add_argument("--split", type=float, default=0.8, help="training fraction of each cue (0.8)")
    p.add_argument(
        "--cosine",
        action="store_true",
        help="anneal the learning rate to 2%% along a cosine (beyond the paper: constant lr)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing bundle in --out")
    p.add_argument(
        "--normalisation",
        choices=("minmax_per_step", "standard_per_channel"),
        default="minmax_per_step",
        help="network input: per-step min-max (the paper) or per-channel standardisation",
    )
    t = p.add_argument_group(
        "twin synthesis",
        "add sessions synthesised from the patient's fitted twin (fist-and-ball twin fit): "
        "socket shifts and turns, Earth headings, motor-like disturbances, device noise",
    )
    t.add_argument("--twin", help="twin JSON fitted on these recordings' sensors")
    t.add_argument(
        "--synth-sessions",
        type=int,
        default=960,
        help="synthesised sessions (960, ~120 samples each at 1/8 of the recording's rate)",
    )
    t.add_argument("--synth-seed", type=int, help="seed of the synthesis (default: --seed)")
    t.add_argument("--synth-shift-mm", type=float, default=7.0, help="socket shift range +- mm (7)")
    t.add_argument(
        "--synth-turn-deg", type=float, default=15.0, help="socket turn range +- degrees (15)"
    )
    t.add_argument(
        "--synth-motor-share",
        type=float,
        default=0.5,
        help="share of synthesised sessions with a motor-like dipole in the hand (0.5)",
    )
    t.add_argument(
        "--motor-recording",
        help="the hand stepped through its poses with the patient relaxed (a recording with a "
        "hand_closure column): half the motor sessions play this measured motor",
    )
    p.set_defaults(func=run)


def _check_training_extra() -> None:
    """Fail in a second, not after the training: torch trains, onnx writes the bundle."""
    missing = []
    for module in ("torch", "onnx"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise CliError(
            f"training needs {' and '.join(missing)}, which are not installed: "
            'pip install "fist-and-ball[train]"'
        )


def _twin_augment(args: argparse.Namespace) -> tuple[str, Any, str | None] | None:
    """(twin path, SynthConfig, motor recording) from the options, checked before any
    work; None without --twin. The twin is loaded here so a bad file fails in a second,
    not after labelling."""
    if args.twin is None:
        if args.motor_recording is not None:
            raise CliError("--motor-recording needs --twin (the synthesis plays it)")
        return None
    from bridge.tracking.twin import Twin
    from bridge.training.twin_sessions import SynthConfig

    if not os.path.isfile(args.twin):
        raise CliError(f"twin {args.twin} not found")
    if args.motor_recording is not None and not os.path.isfile(args.motor_recording):
        raise CliError(f"motor recording {args.motor_recording} not found")
    try:
        Twin.load(args.twin)
        synth = SynthConfig(
            sessions=args.synth_sessions,
            seed=args.seed if args.synth_seed is None else args.synth_seed,
            shift_mm=args.synth_shift_mm,
            turn_deg=args.synth_turn_deg,
            motor_share=args.synth_motor_share,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return args.twin, synth, args.motor_recording


def run(args: argparse.Namespace) -> int:
    if args.epochs < 1 or args.batch < 2 or args.threads < 1 or args.hidden < 1:
        raise CliError("--epochs, --threads and --hidden must be >= 1 and --batch >= 2")
    if not 0.0 < args.split < 1.0:
        raise CliError("--split must be between 0 and 1")
    for p in args.recordings:
        if not os.path.isfile(p):
            raise CliError(f"recording {p} not found")
    twin_aug = _twin_augment(args)
    out = check_out_parent(args.out)
    if (out / "model.json").exists() and not args.force:
        raise CliError(f"{out} already holds a model bundle; pass --force to overwrite")
    if out.exists() and not out.is_dir():
        raise CliError(f"{out} exists and is not a directory")
    # Idle OpenMP workers sleep instead of spinning: on a shared machine a spinning
    # second thread makes small-batch training several times slower. Must be set
    # before torch loads its OpenMP runtime (torch is imported lazily, just below).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _check_training_extra()
    # lazy: torch (the optional training extra), checked just above
    from bridge.training.model import ModelConfig
    from bridge.training.train import ProgressBar, TrainConfig, TwinAugment, train_bundle

    cfg = TrainConfig(
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
        grade_weight=args.grade_weight,
        seed=args.seed,
        threads=args.threads,
        cosine=args.cosine,
        normalisation=args.normalisation,
    )
    mcfg = ModelConfig(channels=args.channels, hidden=args.hidden)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        meta = train_bundle(
            list(args.recordings),
            str(out),
            cfg,
            mcfg,
            split=args.split,
            progress=ProgressBar(),
            log=log,
            synth=TwinAugment(*twin_aug) if twin_aug is not None else None,
        )
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    m = meta.get("metrics", {}).get("mcnn", {})
    o = m.get("overall", {})
    print(f"model bundle: {out}")
    acc = o.get("type_acc_moving")
    mae = o.get("grade_truth", {}).get("mae")
    if acc is not None:
        print(f"held-out type accuracy (grade >= 1): {100 * acc:.2f}%")
    if mae is not None:
        print(f"held-out grade MAE: {mae:.3f} grade ({m.get('truth', '')})")
    for name, row in m.get("movements", {}).items():
        a = row.get("type_acc_moving")
        e = row.get("grade_truth", {}).get("mae")
        a_s = "n/a" if a is None else f"{100 * a:.2f}%"
        e_s = "n/a" if e is None else f"{e:.3f}"
        print(f"  {name:<8} type acc {a_s:>8}  grade MAE {e_s}")
    return 0
