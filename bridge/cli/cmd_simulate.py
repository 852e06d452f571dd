"""`fist-and-ball simulate`: run the virtual forearm + patient; emit frames and/or record."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from bridge.cli.errors import CliError
from bridge.recording import RecordingWriter, check_new_recording, sidecar_path
from bridge.sim.config import CUE_SCRIPTS, SimConfig
from bridge.sim.emitter import EMIT_FORMS, Emitter, open_emitter
from bridge.sim.frames_ahead import FramesAhead
from bridge.sim.intent_listener import IntentListener
from bridge.sim.layouts import LAYOUTS
from bridge.sim.pacing import Pacer
from bridge.sim.simulator import SimFrame, Simulator

PROGRESS_INTERVAL_S = 0.5
PLAIN_PROGRESS_INTERVAL_S = 5.0
_MAX_BLOCK = 2048
_REALTIME_BLOCK_S = 0.02


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="run the virtual forearm + patient: emit KMG frames and/or record",
        description=(
            "Simulate a forearm with three implanted magnetic tags, a sensor band or socket "
            "and a patient following a cue script. Emits KMG frames v1 (pty, TCP server, "
            "UDP) and/or writes a recording with ground-truth labels. Scripted and "
            "calibration cue scripts end by themselves; intent mode runs until Ctrl-C or "
            "--seconds. See docs/simulator.md."
        ),
    )
    p.add_argument("--layout", default="socket16", choices=sorted(LAYOUTS))
    p.add_argument(
        "--emit",
        action="append",
        default=[],
        metavar="WHERE",
        help=f"where to send frames: {', '.join(EMIT_FORMS)} (repeatable)",
    )
    p.add_argument("--link", metavar="PATH", help="with --emit pty: symlink PATH -> the pty")
    p.add_argument("--out", metavar="FILE.csv", help="write a recording (CSV + JSON sidecar)")
    p.add_argument("--force", action="store_true", help="overwrite an existing recording")
    p.add_argument("--rate", type=float, metavar="HZ", help="frame rate (default 42.7)")
    p.add_argument("--seconds", type=float, metavar="S", help="stop after S simulated seconds")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--cue-script",
        "--protocol",  # the former name, kept working
        dest="cue_script",
        choices=CUE_SCRIPTS,
        default="scripted",
        help="what the patient is cued to do (default scripted)",
    )
    p.add_argument(
        "--gestures",
        metavar="LIST",
        help="movements, comma-separated (default fingers,wrist,thumb)",
    )
    p.add_argument("--repetitions", type=int, metavar="N", help="repetitions per movement")
    p.add_argument(
        "--samples-per-gesture", type=int, metavar="N", help="at least N labelled samples each"
    )
    p.add_argument(
        "--intent-port",
        type=int,
        metavar="PORT",
        help='intent mode: listen on UDP 127.0.0.1:PORT for {"gesture": ..., "level": ...}',
    )
    p.add_argument("--shift-mm", type=float, help="band displacement along the arm (mm)")
    p.add_argument("--rotation-deg", type=float, help="band rotation around the arm (deg)")
    p.add_argument(
        "--speed", default="1", metavar="X|max", help="1 = real time (default), a factor, or max"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other simulator option (as in sim: URLs), e.g. --set disturbances=mains",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> SimConfig:
    parts: list[str] = []
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--set needs KEY=VALUE, got {item!r}")
        parts.append(f"{key}={value}")
    try:
        cfg = SimConfig.from_query(args.layout, "&".join(parts))
        changes: dict[str, Any] = {"seed": args.seed, "cue_script": args.cue_script}
        if args.rate is not None:
            changes["rate_hz"] = args.rate
        if args.gestures is not None:
            changes["gestures"] = tuple(g.strip() for g in args.gestures.split(",") if g.strip())
        if args.repetitions is not None:
            changes["repetitions"] = args.repetitions
        if args.samples_per_gesture is not None:
            changes["samples_per_gesture"] = args.samples_per_gesture
        if args.shift_mm is not None:
            changes["shift_mm"] = args.shift_mm
        if args.rotation_deg is not None:
            changes["rotation_deg"] = args.rotation_deg
        return cfg.replace(**changes)
    except (ValueError, TypeError) as exc:
        raise CliError(str(exc)) from None


def _speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        v = float(text)
    except ValueError:
        raise CliError(f"--speed must be a number > 0 or max, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise CliError(f"--speed must be a number > 0 or max, got {text!r}")
    return v


def _check(args: argparse.Namespace, cfg: SimConfig) -> None:
    if args.intent_port is not None:
        if cfg.cue_script != "intent":
            raise CliError("--intent-port needs --cue-script intent")
        if not 1 <= args.intent_port <= 65535:
            raise CliError(f"--intent-port must be 1..65535, got {args.intent_port}")
    if args.link and not any(e.strip().lower() == "pty" for e in args.emit):
        raise CliError("--link needs --emit pty")
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise CliError(f"--seconds must be > 0, got {args.seconds}")
    if not args.emit and not args.out:
        raise CliError("nothing to do: give --emit and/or --out")
    if cfg.cue_script == "intent" and args.seconds is None and not args.emit:
        raise CliError("intent mode with only --out never ends: add --seconds")
    if args.out:
        try:
            check_new_recording(args.out, "--out", overwrite=args.force)
        except (ValueError, OSError) as exc:
            raise CliError(str(exc)) from None


class _Progress:
    """One status line on stderr: \\r-updated on a terminal, a plain line now and then otherwise."""

    def __init__(self, err: TextIO, quiet: bool) -> None:
        self.err = err
        self.quiet = quiet
        self.tty = err.isatty()
        self.width = 0
        self.last = 0.0
        self.last_plain = time.monotonic()

    def show(self, line: str, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        if self.tty:
            self.width = max(self.width, len(line))
            self.err.write("\r" + line.ljust(self.width))
            self.err.flush()
        elif force or now - self.last_plain >= PLAIN_PROGRESS_INTERVAL_S:
            self.last_plain = now
            self.err.write(line + "\n")
            self.err.flush()

    def end(self) -> None:
        if self.tty and self.width and not self.quiet:
            self.err.write("\n")
            self.err.flush()


def run(args: argparse.Namespace) -> int:
    cfg = _config(args)
    speed = _speed(args.speed)
    _check(args, cfg)
    sim = Simulator(cfg)
    limit = None if args.seconds is None else math.ceil(args.seconds * sim.rate_hz)
    total = sim.n_frames_total
    if total is not None:
        limit = total if limit is None else min(limit, total)

    emitters: list[Emitter] = []
    listener: IntentListener | None = None
    writer: RecordingWriter | None = None
    progress = _Progress(sys.stderr, args.quiet)
    interrupted = False
    ahead: FramesAhead | None = None
    try:
        try:
            for spec in args.emit:
                emitters.append(open_emitter(spec, args.link if spec.strip() == "pty" else None))
            if args.intent_port is not None:
                listener = IntentListener(args.intent_port)
            if args.out:
                writer = RecordingWriter(args.out, sim.info, sim.n_sensors)
        except (OSError, ValueError) as exc:
            raise CliError(str(exc)) from None

        length = "until Ctrl-C" if limit is None else f"{limit / sim.rate_hz:.1f} s"
        print(
            f"simulating {cfg.to_url()}: {sim.n_sensors} sensors, {sim.rate_hz:g} Hz, "
            f"{cfg.cue_script} cue script, {length}",
            file=sys.stderr,
        )
        for e in emitters:
            # stdout, one line each, flushed: scripts read the pty path from here
            print(f"emitting frames v1 on {e.description}", flush=True)
        if listener is not None:
            print(f"listening for intents on udp://127.0.0.1:{listener.port}", flush=True)
        if writer is not None:
            print(f"recording to {args.out}", file=sys.stderr)

        if cfg.cue_script == "intent":
            # intents arrive between blocks: keep blocks short (5 ms) so they act promptly
            block_cap = max(1, int(0.005 * sim.rate_hz * (speed or 1.0)))
        elif speed is None:
            block_cap = _MAX_BLOCK
        else:
            block_cap = max(1, int(_REALTIME_BLOCK_S * sim.rate_hz * speed))
        pacer = Pacer(sim.rate_hz, speed, max_block=block_cap)
        ahead = FramesAhead(sim, block_cap, limit)
        wall0 = time.monotonic()
        while not ahead.exhausted:
            if listener is not None:
                intents, errors = listener.poll()
                for it in intents:
                    sim.set_intent(it.gesture, it.level)
                for msg in errors[:3]:
                    print(msg, file=sys.stderr)
            for e in emitters:
                e.pump()
            n = pacer.due()
            if n == 0:
                pacer.wait(limit_s=0.05)
                continue
            now = time.monotonic()
            f = None
            for _ in range(n):
                f = ahead.next()
                if f is None:
                    break
                pacer.sent(1)
                if emitters:
                    data = sim.frame_bytes(f)
                    for e in emitters:
                        e.send(data)
                if writer is not None:
                    writer.write(sim.to_sample(f, now))
            if f is not None:
                progress.show(_status(ahead.handed_out, sim.rate_hz, limit, f, emitters, wall0))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.end()
        for e in emitters:
            e.close()
        if listener is not None:
            listener.close()
        if writer is not None:
            writer.close()
    frames = ahead.handed_out if ahead is not None else 0
    sent = sum(e.sent_frames for e in emitters)
    dropped = sum(e.dropped_frames for e in emitters)
    summary = f"simulated {frames} frames ({frames / sim.rate_hz:.1f} s)"
    if emitters:
        summary += f", emitted {sent}, dropped {dropped}"
    if writer is not None:
        summary += f", recorded to {args.out} (+ {sidecar_path(Path(args.out)).name})"
    if interrupted:
        summary += " (stopped by Ctrl-C)"
    print(summary, file=sys.stderr)
    return 0


def _status(
    frames: int,
    rate_hz: float,
    limit: int | None,
    last: SimFrame,
    emitters: list[Emitter],
    wall0: float,
) -> str:
    t = frames / rate_hz
    wall = max(time.monotonic() - wall0, 1e-9)
    of = "" if limit is None else f" / {limit / rate_hz:.1f} s ({100 * frames / limit:3.0f}%)"
    listeners = [e.listeners for e in emitters if e.listeners >= 0]
    clients = f"  clients {sum(listeners)}" if listeners else ""
    return (
        f"t {t:8.1f} s{of}  {frames:8d} frames  x{t / wall:6.1f} real time  "
        f"cue {last.gesture:7s} grade {last.grade_true:3.1f}{clients}"
    )
