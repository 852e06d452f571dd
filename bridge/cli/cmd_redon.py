"""`fist-and-ball redon`: the re-don check after the band or socket is put back on.

A guided routine of 20-30 s (relax, then each calibrated movement once: flex fully,
hold, relax) with the prompts and a progress bar in the terminal, then the verdict
(bridge/redon/check.py): accepted, adapted (QG re-anchored, socket pose found) or
refused with the reasons and what to do. Exit codes: 0 accepted or adapted, 3 refused,
2 a usage or source error. A `sim:` patient follows the prompts at full speed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bridge.cli.cmd_calibrate import _drive, _Reader, _sim_url_for_calibration
from bridge.cli.errors import CliError
from bridge.cli.guided_start import confirm_start
from bridge.cues import Phase
from bridge.decoders.factory import open_decoder
from bridge.json_io import write_json_atomic
from bridge.redon.check import RedonResult, check_decoder, routine_movements
from bridge.redon.routine import RedonRoutine, RoutineStatus
from bridge.sources import open_source
from fist_and_ball.protocol_v1 import REST

EXIT_REFUSED = 3
"""Exit code of a refused placement (0: accepted or adapted; 2: usage/source errors)."""
POSE_SCHEMA = "fist-and-ball-redon-pose"
BAR = 30


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "redon",
        help="re-don check: is today's band/socket placement close enough for the decoder?",
        description=(
            "Guide the patient through a short routine (relax, then each calibrated movement "
            "once), then say whether the current decoder fits today's placement, adapt what "
            "can be adapted (QG thresholds, the socket pose) and say plainly when a new "
            f"calibration or training is needed. Exit 0 accepted/adapted, {EXIT_REFUSED} "
            "refused, 2 errors."
        ),
    )
    p.add_argument("--source", required=True, help="source URL, e.g. serial:/dev/ttyACM0, sim:myo3")
    p.add_argument("--decoder", required=True, help="qg:CAL.json, track:TWIN.json or mcnn:DIR")
    p.add_argument("--twin", default=None, help="patient twin for qg: (socket layouts)")
    p.add_argument(
        "--out",
        default=None,
        help="qg: the adapted calibration JSON to write (use it as --decoder qg:OUT); "
        "track: the estimated socket pose (JSON)",
    )
    p.add_argument("--yes", action="store_true", help="no questions (start at once, overwrite)")
    p.set_defaults(func=run)


def _say(text: str = "", end: str = "\n") -> None:
    print(text, end=end, flush=True)


def _bar(st: RoutineStatus) -> str:
    done = round(st.progress * BAR)
    return f"  [{'#' * done}{'.' * (BAR - done)}] {st.progress:4.0%}  {st.remaining_s:4.1f} s left"


def _drive_sim(sim: Any, st: RoutineStatus) -> None:
    """Cue a simulated patient like the prompt cues a person."""
    if st.phase in ("flex", "hold"):
        _drive(sim, Phase(st.step, "flexion", 0))
    else:
        sim.set_intent(REST, 0.0)


def _run_routine(reader: _Reader, routine: RedonRoutine, sim: Any) -> None:
    shown: tuple[str, str] | None = None
    next_bar = 0.0
    while True:
        st = routine.feed(reader.next())
        if st.done:
            _say(_bar(st))
            return
        if (st.step, st.phase) != shown:
            shown = (st.step, st.phase)
            if sim is not None:
                _drive_sim(sim, st)
            _say(f"\n>> {st.prompt}")
        if st.progress >= next_bar:
            _say(_bar(st))
            next_bar = st.progress + 0.1


def _write_out(result: RedonResult, out: Path) -> str | None:
    """Write what the bridge can use; returns what was written, or None."""
    if result.refused:
        return None
    if result.calibration is not None:
        result.calibration.save(out)
        return f"adapted calibration {out} (use --decoder qg:{out})"
    if result.pose is not None:
        p = result.pose
        write_json_atomic(
            out,
            {
                "schema": POSE_SCHEMA,
                "version": 1,
                "decoder": result.decoder,
                "shift_mm": p.shift_mm,
                "turn_deg": p.turn_deg,
                "rotvec": list(p.rotvec),
                "translation_mm": list(p.translation_mm),
                "residual_ut": p.residual_ut,
            },
        )
        return f"socket pose {out}"
    return None


def print_result(result: RedonResult) -> None:
    """The verdict for a person: summary, pose, one reason per line."""
    _say(f"\nRe-don check: {result.verdict.upper()}")
    _say(result.summary)
    if result.pose is not None:
        _say(
            f"  socket pose: {result.pose.shift_mm:.1f} mm, {result.pose.turn_deg:.1f} deg "
            "from the fitting session"
        )
    for r in result.reasons:
        _say(f"  - {r}")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else None
    if out is not None:
        if out.is_dir():
            raise CliError(f"--out {out} is a directory")
        if not out.parent.exists():
            raise CliError(f"--out: folder {out.parent} does not exist")
        if out.exists() and not args.yes:
            raise CliError(f"{out} exists: use --yes to overwrite")
    twin = None
    if args.twin:
        from bridge.tracking.twin import Twin, TwinError

        try:
            twin = Twin.load(args.twin)
        except TwinError as exc:
            raise CliError(str(exc)) from None
    try:
        source = open_source(_sim_url_for_calibration(args.source))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        decoder = open_decoder(args.decoder, source.info)
    except ValueError as exc:
        source.close()
        raise CliError(str(exc)) from None
    close = getattr(decoder, "close", None)
    if close is not None:
        close()  # no live decoding here: a tracker's pose worker is not needed
    movements = routine_movements(decoder)
    if not movements:
        source.close()
        raise CliError(f"decoder {args.decoder} has no movements to check")
    routine = RedonRoutine(movements)
    sim = getattr(source, "simulator", None)
    _say(
        f"Re-don check of {args.decoder} on {args.source}: {routine.total_s:.0f} s, "
        f"movements {', '.join(movements)}"
        + (" (simulated patient follows the prompts)" if sim else "")
    )
    if not args.yes and sim is None:
        confirm_start(
            "Put the band/socket on as usual, sit comfortably. Press Enter to start... ",
            source.close,
        )
    reader = _Reader(source, inline=sim is not None)
    reader.start()
    try:
        _run_routine(reader, routine, sim)
    finally:
        if sim is not None:
            sim.set_intent(REST, 0.0)
        reader.close()
        source.close()
    try:
        result = check_decoder(routine.recording(), decoder, args.decoder, twin)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print_result(result)
    if out is not None:
        try:
            written = _write_out(result, out)
        except OSError as exc:
            raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
        if written:
            _say(f"Saved {written}")
        elif not result.refused:
            _say(f"Nothing to save for {args.decoder}: {out} not written")
    _say(json.dumps(result.to_message()))
    return EXIT_REFUSED if result.refused else 0
