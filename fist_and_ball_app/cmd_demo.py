"""`fist-and-ball demo`: the whole system on a simulated patient, end to end."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bridge.cli.out_path import check_out_parent
from bridge.decoders.shipped import SHIPPED_MCNN_LAYOUT, shipped_model_dir
from fist_and_ball_app.cmd_play import add_play_arguments, check_scene_extra, play, print_result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="end-to-end demo on a virtual patient: bridge live view, a game session, a report",
        description=(
            "1) the bridge decoding a simulated forearm, with its live terminal view; "
            "2) a 2-minute Fist & Ball session in real Blender played by a virtual patient "
            "through the whole chain (simulator -> pty -> bridge -> websocket -> game -> score "
            "log), with rendered frames; 3) the therapist report of the sessions so far."
        ),
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("fist-and-ball-demo"),
        help="folder for logs, frames and the report (default ./fist-and-ball-demo)",
    )
    p.add_argument("--live-seconds", type=float, default=8.0,
                   help="seconds of live view before the game (0 skips it)")  # fmt: skip
    add_play_arguments(p)
    p.set_defaults(func=run, fps=0.1, log_dir=None, render=None)
    demo_help = {
        "log_dir": "folder for the score logs (default OUT/sessions)",
        "render": "render PNG frames into DIR (default OUT/frames)",
        "fps": "rendered frames per game second (default 0.1)",
    }
    for action in p._actions:  # the shared options' help states play's defaults
        if action.dest in demo_help:
            action.help = demo_help[action.dest]


def run(args: argparse.Namespace) -> int:
    check_scene_extra(args)  # before the live view: fail in a second, not after it
    out: Path = check_out_parent(args.out)
    args.log_dir = args.log_dir or out / "sessions"
    if not args.no_scene:
        args.render = args.render or out / "frames"
    if args.live_seconds > 0:
        _live_view(args.live_seconds)
    print(f"== 2/3  Fist & Ball, level {args.level}, {args.minutes} min, virtual patient "
          f"'{args.patient}' through simulator -> pty -> bridge -> websocket -> Blender",
          flush=True)  # fmt: skip
    result = play(args)
    print_result(result)
    report = _report(args.log_dir, out / "report.html")
    print("== done")
    print(f"score log:  {result.log_json.resolve()}")
    if result.frames_dir is not None:
        print(f"frames:     {result.frames_dir.resolve()} ({result.frames} PNG)")
    if report:
        print(f"report:     {report.resolve()}")
    return 0


def _live_view(seconds: float) -> None:
    """The bridge's live view: the shipped MCNN-TG bundle (package data) on the 16-sensor
    socket; QG on the Myo band only if an installation lost the bundle."""
    try:
        shipped_model_dir()
    except FileNotFoundError as exc:
        print(f"({exc}; the live view uses QG instead)", file=sys.stderr)
        source, decoder, what = "sim:myo3", "qg", "myo3 band, QG"
    else:
        source, decoder = f"sim:{SHIPPED_MCNN_LAYOUT}", "mcnn:default"
        what = f"{SHIPPED_MCNN_LAYOUT}, MCNN-TG (ONNX)"
    print(f"== 1/3  bridge live view: simulated {what} decoder ({seconds:g} s)", flush=True)
    cmd = [sys.executable, "-m", "fist_and_ball_app.main", "bridge", "--source", source,
           "--decoder", decoder, "--port", "0", "--duration", str(seconds)]  # fmt: skip
    done = subprocess.run(cmd, check=False)
    if done.returncode != 0:
        print(f"(the live view exited with code {done.returncode}; going on)", file=sys.stderr)


def _report(log_dir: Path, out: Path) -> Path | None:
    try:
        from fist_and_ball.report import ReportError, build_report
    except ImportError:
        return None
    print("== 3/3  therapist report", flush=True)
    try:
        return Path(build_report(log_dir, out))
    except ReportError as exc:  # the session and its log are done: say so and finish
        print(f"(no report: {exc})", file=sys.stderr)
        return None
