"""`fist-and-ball play`: a whole Fist & Ball session in background Blender."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.cli.errors import CliError
from bridge.cli.extras import require_extra


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "play",
        help="play a session headless in real Blender (virtual patient or a running bridge)",
        description=(
            "Play one Fist & Ball session in background Blender (bpy). By default a virtual "
            "patient watches the ball and drives the simulator; its frames go through a real "
            "bridge subprocess and come back over the websocket, faster than real time. With "
            "--bridge the grades come from a running bridge in real time."
        ),
    )
    add_play_arguments(p)
    p.set_defaults(func=run)


def add_play_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by `play` and `demo`."""
    p.add_argument("--level", choices=("easy", "medium", "hard", "auto"), default="easy")
    p.add_argument("--minutes", type=int, choices=(2, 4, 6), default=2)
    p.add_argument(
        "--patient",
        default="average",
        metavar="SKILL",
        help="virtual patient skill: novice, average, expert or 0..1 (default average)",
    )
    p.add_argument("--patient-name", default="virtual-patient", help="name in the score log")
    p.add_argument("--bridge", metavar="URL", help="play against a running bridge, ws://HOST:PORT")
    p.add_argument(
        "--intent-port",
        type=int,
        metavar="P",
        help="with --bridge: drive `fist-and-ball simulate --intent-port P` "
        "with the virtual patient",
    )
    p.add_argument("--layout", default="myo3", help="simulated sensor layout (myo3, socket16)")
    p.add_argument("--decoder", default="qg", help="decoder spec for the bridge (default qg)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the ball and the virtual patient (default 0)"
    )
    p.add_argument(
        "--log-dir",
        type=Path,
        default=Path("fist-and-ball-sessions"),
        help="folder for the score logs (default ./fist-and-ball-sessions)",
    )
    p.add_argument("--render", type=Path, metavar="DIR", help="render PNG frames into DIR")
    p.add_argument(
        "--video",
        type=Path,
        metavar="FILE",
        help="also write the frames as an animated FILE.webp or FILE.gif",
    )
    p.add_argument("--fps", type=float, default=2.0, help="rendered frames per game second")
    p.add_argument(
        "--no-scene", action="store_true", help="skip the Blender scene (game core and log only)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")  # fmt: skip


def options_from_args(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Build PlayOptions; imports the game lazily so `--help` works without bpy."""
    from fist_and_ball_app.headless.play import PlayOptions

    # against a running bridge the virtual patient can only play through --intent-port
    patient = None if args.bridge and args.intent_port is None else args.patient
    return PlayOptions(
        level=args.level,
        minutes=args.minutes,
        seed=args.seed,
        patient=patient,
        patient_name=args.patient_name,
        bridge_url=args.bridge,
        intent_port=args.intent_port,
        layout=args.layout,
        decoder=args.decoder,
        log_dir=args.log_dir,
        render_dir=args.render,
        render_fps=args.fps,
        video=getattr(args, "video", None),
        scene_updates=not args.no_scene,
    )


def check_scene_extra(args: argparse.Namespace) -> None:
    """One line naming the `blender` extra when the scene needs bpy and it is missing."""
    if not args.no_scene:
        require_extra("blender", ("bpy",), "the Blender scene", "or pass --no-scene")


def play(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Run the session with a progress line; returns the PlayResult."""
    check_scene_extra(args)
    try:
        from fist_and_ball_app.headless.play import print_progress, run_play
        from fist_and_ball_app.headless.sim_chain import ChainError
    except ImportError as exc:
        raise CliError(
            f"{exc}: install the game extras with pip install 'fist-and-ball[blender]'"
        ) from exc
    opts = options_from_args(args)
    progress = None if args.quiet else print_progress(opts.minutes)
    try:
        result = run_play(opts, progress)
    except (ChainError, OSError, ValueError) as exc:  # OSError includes ConnectionError
        raise CliError(str(exc)) from exc
    finally:
        if not args.quiet:
            sys.stderr.write("\n")
    return result


def run(args: argparse.Namespace) -> int:
    result = play(args)
    print_result(result)
    return 0


def print_result(result) -> None:  # type: ignore[no-untyped-def]
    """The session's Table-3 line and where its files are."""
    s = result.summary
    print(
        f"session {'completed' if s.get('completed') else 'INCOMPLETE'}: level {s.get('level')}, "
        f"ball speed {s.get('ball_speed')} {s.get('ball_speed_unit', '')}, "
        f"up-and-down movements {s.get('up_down_movements')}, held {s.get('held_s')} s, "
        f"catches {s.get('catches')}, misses {s.get('misses')}, score {s.get('score')}"
    )
    print(f"{result.samples} samples in {result.wall_s:.1f} s of wall time")
    print(f"score log: {result.log_json.resolve()}")
    print(f"timeline:  {result.log_timeline.resolve()}")
    if result.frames_dir is not None:
        print(f"frames:    {result.frames_dir.resolve()} ({result.frames} PNG)")
    if result.video is not None:
        print(f"video:     {result.video.resolve()}")
