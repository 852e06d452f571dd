"""The guided cued session of `fist-and-ball twin fit --source URL`.

Like `calibrate` (and with its reader and cueing): per movement (fingers, wrist,
thumb), `--repeats` x (relax, close fully, open fully), a countdown before each hold.
Unlike the QG calibration every sample is kept, the movements in between included: the
twin fit wants the field over the whole travel. Labels: a hold is labelled with its cue
("rest" or the movement); the countdown into a hold with the movement being made (into
a rest hold: the movement just finished, as the hand may still be opening), so only
settled samples count as rest. A `sim:` patient follows the cues at full speed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bridge.cli.cmd_calibrate import _drive, _Reader, _sim_url_for_calibration
from bridge.cli.errors import CliError
from bridge.cli.guided_start import confirm_start
from bridge.cues import Phase, guided_phases
from bridge.recording import RecordingWriter
from bridge.sources import open_source
from bridge.tracking.twin_fit import CuedData
from bridge.values.sample import Sample
from fist_and_ball.protocol_v1 import ACTIVE_GESTURES


def _say(text: str = "", end: str = "\n") -> None:
    print(text, end=end, flush=True)


def _check_args(args: argparse.Namespace, out: Path) -> None:
    if not 1 <= args.repeats <= 10:
        raise CliError("--repeats must be between 1 and 10")
    if not 0.5 <= args.hold_s <= 60:
        raise CliError("--hold-s must be between 0.5 and 60 seconds")
    if not 0 <= args.countdown_s <= 10:
        raise CliError("--countdown-s must be between 0 and 10")
    if out.exists() and not args.yes:
        try:
            answer = input(f"{out} exists. Overwrite? [y/N] ").strip().lower()
        except EOFError:
            _say()
            raise CliError(f"{out} exists and there is no terminal to ask: use --yes") from None
        if answer not in ("y", "yes"):
            raise CliError(f"{out} not overwritten")


def _record_phase(
    reader: _Reader,
    phase: Phase,
    before: str,
    args: argparse.Namespace,
    sim: object | None,
    where: str,
) -> list[tuple[Sample, str]]:
    """Countdown and hold of one phase, every sample with its label."""
    _say(f"\n[{where}] {phase.gesture} #{phase.repeat + 1}: {phase.prompt}...")
    moving = phase.gesture if phase.kind != "rest" else before
    hold = "rest" if phase.kind == "rest" else phase.gesture
    out: list[tuple[Sample, str]] = []
    s = reader.next()
    if sim is not None:
        _drive(sim, phase)
        t_cue = sim.t_next_s  # type: ignore[attr-defined]
        while s.t_device < t_cue:  # generated before the cue: still the last phase
            out.append((s, before))
            s = reader.next()
    t0 = s.t_device
    for k in range(args.countdown_s, 0, -1):
        _say(f"  {k}", end="")
        while s.t_device - t0 < args.countdown_s - k + 1:
            out.append((s, moving))
            s = reader.next()
    _say("  recording", end="")
    t1 = s.t_device
    while s.t_device - t1 < args.hold_s:
        out.append((s, hold))
        s = reader.next()
    out.append((s, hold))
    _say(" done")
    return out


def record_guided_session(args: argparse.Namespace, out: Path) -> CuedData:
    """Cue the patient through every movement, record, return the cued data (and write
    it as a recording with --save-recording)."""
    _check_args(args, out)
    phases = guided_phases(ACTIVE_GESTURES, args.repeats)
    try:
        source = open_source(_sim_url_for_calibration(args.source))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    sim = getattr(source, "simulator", None)
    _say(
        f"Twin session from {args.source}: {', '.join(ACTIVE_GESTURES)}, {args.repeats} x "
        f"(relax, close, open) each, {args.hold_s:g} s holds"
        + (" (simulated patient follows the cues)" if sim else "")
    )
    if not args.yes and sim is None:
        confirm_start(
            "Sit comfortably with the socket on, arm still. Press Enter to start... ",
            source.close,
        )
    reader = _Reader(source, inline=sim is not None)
    reader.start()
    rows: list[tuple[Sample, str]] = []
    before = ""
    try:
        for i, ph in enumerate(phases):
            rows += _record_phase(reader, ph, before, args, sim, f"{i + 1}/{len(phases)}")
            before = ph.gesture
    finally:
        reader.close()
        source.close()
    if sim is not None:
        _drive(sim, Phase(ACTIVE_GESTURES[0], "rest", 0))
    info = source.info
    if info.positions_mm is None:
        raise CliError(
            "the source does not report its sensor positions (positions_mm), which a twin "
            "needs: record with a layout that has them and fit the recording"
        )
    _say(f"\nRelax. {len(rows)} samples recorded. Fitting...")
    if args.save_recording:
        _save(rows, args.save_recording, info)
    fields = np.array([s.field_ut for s, _ in rows])
    labels = [label for _, label in rows]
    return CuedData(fields, labels, np.asarray(info.positions_mm, dtype=np.float64))


def _save(rows: list[tuple[Sample, str]], path: str, info: object) -> None:
    n = rows[0][0].n_sensors
    with RecordingWriter(Path(path), info, n) as writer:  # type: ignore[arg-type]
        for i, (s, label) in enumerate(rows):
            writer.write(
                Sample.from_field(i, s.t_device, s.t_host, s.field_ut, s.saturated, label or None)
            )
    _say(f"recorded to {path}")
