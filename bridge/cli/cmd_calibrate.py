"""`fist-and-ball calibrate`: guided QG calibration from any source, saved as JSON.

The patient is cued phase by phase (relax, close fully, open fully; repeated), with a
countdown before each hold. Samples stream on a reader thread into a bounded queue;
phases are timed by the device clock, so a simulated source at `?speed=max` runs the
whole calibration in a moment. A `sim:` source's patient is driven through the cues.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bridge.cli.errors import CliError
from bridge.cli.guided_start import confirm_start
from bridge.cues import CALIBRATABLE, CalibrationRefused, Phase, PhaseRecording, guided_phases
from bridge.decoders.qg_calibration import Calibration
from bridge.decoders.qg_fit import FitOptions, fit_calibration
from bridge.decoders.qg_input import channel_name
from bridge.sim.url import is_sim_url, parse_sim_url
from bridge.sources import open_source
from bridge.values.sample import Sample

NO_DATA_TIMEOUT_S = 10.0
"""Give up when the source yields nothing for this long (wall time)."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="guided QG calibration: record rest/flexion/extension and save CAL.json",
        description=(
            "Cue the patient through rest, full flexion and full extension (repeated), "
            "pick the sensor that moves most, place the 8 QG thresholds and save them. "
            "Refuses a recording that cannot separate 9 grades, saying why."
        ),
    )
    p.add_argument("--source", required=True, help="source URL, e.g. serial:/dev/ttyUSB0, sim:myo3")
    p.add_argument("--out", required=True, help="calibration JSON to write")
    p.add_argument(
        "--gestures",
        default="fingers",
        help=f"comma-separated gestures to calibrate ({','.join(CALIBRATABLE)}); default fingers",
    )
    p.add_argument("--hold-s", type=float, default=3.0, help="seconds recorded per hold (3)")
    p.add_argument("--repeats", type=int, default=2, help="repeats of the three phases (2)")
    p.add_argument(
        "--countdown-s", type=int, default=3, help="countdown before each hold, seconds (3)"
    )
    p.add_argument(
        "--hysteresis",
        default=None,
        help="hysteresis per threshold: '0.8' or '0.8ut' (uT) or '0.2step' (grade steps); "
        "default 2 x noise, at most 0.3 step",
    )
    p.add_argument(
        "--min-step-noise",
        type=float,
        default=3.0,
        help="refuse unless one grade step is at least this many noise RMS (3)",
    )
    p.add_argument(
        "--reference",
        choices=("auto", "none", "pair"),
        default="auto",
        help="QG input: a sensor minus a reference sensor ('pair', Earth-field drift "
        "cancels), one sensor's |B| ('none', the paper), or pairs below 6 sensors ('auto')",
    )
    p.add_argument(
        "--partial",
        action="store_true",
        help="save the gestures that calibrate even if others are refused",
    )
    p.add_argument("--yes", action="store_true", help="no questions (start at once, overwrite)")
    p.set_defaults(func=run)


def _parse_hysteresis(text: str | None) -> tuple[float | None, float | None]:
    if text is None:
        return None, None
    t = text.strip().lower()
    try:
        if t.endswith("step"):
            return None, float(t[:-4])
        return float(t.removesuffix("ut")), None
    except ValueError:
        raise CliError(f"--hysteresis {text!r}: use e.g. 0.8, 0.8ut or 0.2step") from None


def _sim_url_for_calibration(url: str) -> str:
    """A `sim:` URL in intent mode (the calibration cues the patient) and, unless a speed
    is given, at full speed (nobody waits for a simulated patient)."""
    if not is_sim_url(url):
        return url
    sim = parse_sim_url(url)  # ValueError: the caller reports it like any bad URL
    cues = sim.option("cue_script")
    if cues is not None and cues.strip().lower() != "intent":
        raise CliError(f"calibrate drives the simulated patient itself: drop cue_script={cues}")
    return sim.with_defaults(cue_script="intent", speed="max")


def _say(text: str = "", end: str = "\n") -> None:
    print(text, end=end, flush=True)


class _Reader:
    """Pulls samples from a source.

    A device source runs `source.samples` on a thread into a bounded queue, so a slow
    terminal never stalls the device. A simulator is iterated inline instead: its
    patient is cued (`set_intent`) between samples on the same thread, so cue and
    generation never race.
    """

    def __init__(self, source: Any, inline: bool) -> None:
        self.source = source
        self.stop = threading.Event()
        self.q: queue.Queue[Sample | None] = queue.Queue(maxsize=64)
        self.error: BaseException | None = None
        self.inline = inline
        self._it = source.samples(self.stop) if inline else None
        self.thread = threading.Thread(target=self._run, name="calibrate-reader", daemon=True)

    def start(self) -> None:
        if not self.inline:
            self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5.0)

    def _run(self) -> None:
        try:
            for s in self.source.samples(self.stop):
                while not self.stop.is_set():
                    try:
                        self.q.put(s, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self.stop.is_set():
                    break
        except Exception as exc:  # surfaced to the main thread as a CLI error
            self.error = exc
        finally:
            with contextlib.suppress(queue.Full):
                self.q.put_nowait(None)

    def next(self) -> Sample:
        if self._it is not None:
            try:
                return next(self._it)
            except StopIteration:
                raise CliError("the source ended before the calibration was complete") from None
        deadline = time.monotonic() + NO_DATA_TIMEOUT_S
        while True:
            try:
                s = self.q.get(timeout=0.5)
            except queue.Empty:
                if time.monotonic() > deadline:
                    st = getattr(self.source, "status", None)
                    why = f" (source {st.state}: {st.detail})" if st is not None else ""
                    raise CliError(f"no samples for {NO_DATA_TIMEOUT_S:g} s{why}") from None
                continue
            if s is None:
                if self.error is not None:
                    raise CliError(f"source failed: {self.error}")
                raise CliError("the source ended before the calibration was complete")
            return s


def _drive(sim: Any, phase: Phase) -> None:
    """Cue the simulated patient like a person would be cued."""
    if phase.kind == "rest":
        sim.set_intent("rest", 0.0)
    else:
        sim.set_intent(phase.gesture, phase.intent_level)


def _record_phase(
    reader: _Reader,
    phase: Phase,
    countdown_s: int,
    hold_s: float,
    sim: Any | None,
    total: int,
    index: int,
) -> PhaseRecording:
    _say(f"\n[{index + 1}/{total}] {phase.gesture} #{phase.repeat + 1}: {phase.prompt}...")
    first = reader.next()
    if sim is not None:
        _drive(sim, phase)
        # The simulator may have generated frames ahead; the cue holds from t_cue on.
        t_cue = sim.t_next_s
        while first.t_device < t_cue:
            first = reader.next()
    t0 = first.t_device
    # Countdown on the device clock: the hand gets there before recording starts.
    for k in range(countdown_s, 0, -1):
        _say(f"  {k}", end="")
        while True:
            s = reader.next()
            if s.t_device - t0 >= countdown_s - k + 1:
                break
    _say("  recording", end="")
    fields: list[np.ndarray] = []
    flags: list[bool] = []
    s = reader.next()
    t1 = s.t_device
    dots = 0
    while s.t_device - t1 < hold_s:
        fields.append(s.field_ut)
        flags.append(bool(s.saturated))
        if s.t_device - t1 >= dots * 0.5 + 0.5:
            dots += 1
            _say(".", end="")
        s = reader.next()
    _say(f" done ({len(fields)} samples)")
    return PhaseRecording.from_samples(phase, fields, flags)


def _fmt(x: Any, nd: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def print_calibration_table(cal: Calibration | None, report: dict[str, Any], chosen: dict) -> None:
    """Per gesture: every sensor's anchors, range and problem; then the chosen thresholds."""
    for g, rows in report.items():
        _say(f"\n{g}: sensor  extension     rest  flexion   range  x-talk  noise  problem")
        for r in rows:
            mark = "*" if str(chosen.get(g)) == str(r["sensor"]) else " "
            _say(
                f"   {mark} {r['sensor']:>6} {_fmt(r['extension_ut']):>10} "
                f"{_fmt(r['rest_ut']):>8} {_fmt(r['flexion_ut']):>8} {_fmt(r['range_ut']):>7} "
                f"{_fmt(r['crosstalk_ut']):>7} {_fmt(r['noise_ut']):>6}  {r['problem']}"
            )
    if cal is None:
        return
    for g, p in cal.gestures.items():
        d = "rises" if p.direction > 0 else "falls"
        what = f"sensor {p.sensor_index}" + (
            "" if p.reference_index is None else f" minus sensor {p.reference_index}"
        )
        _say(
            f"\n{g}: {what}, |B| {d} with flexion, "
            f"{p.extension_ut:.2f} -> {p.flexion_ut:.2f} uT (range {p.range_ut:.2f} uT, "
            f"grade step {p.grade_step_ut:.2f} uT = {p.grade_step_ut / p.noise_ut_rms:.1f} x "
            f"noise {p.noise_ut_rms:.2f} uT), hysteresis {p.hysteresis_ut:.2f} uT"
        )
        _say("   unit  threshold uT  weight     bias  on => grade >=")
        for k, (t, w, b) in enumerate(
            zip(p.thresholds_ut, p.hidden_weights, p.hidden_biases, strict=True)
        ):
            _say(f"   h{k + 1:<3} {t:>12.2f} {w:>7.2f} {b:>8.2f}  {k + 1:>13}")


def run(args: argparse.Namespace) -> int:
    gestures = [g.strip() for g in args.gestures.split(",") if g.strip()]
    try:
        phases = guided_phases(gestures, args.repeats)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not 0.5 <= args.hold_s <= 60:
        raise CliError("--hold-s must be between 0.5 and 60 seconds")
    if not 0 <= args.countdown_s <= 10:
        raise CliError("--countdown-s must be between 0 and 10")
    hyst_ut, hyst_step = _parse_hysteresis(args.hysteresis)
    out = Path(args.out)
    if out.is_dir():
        raise CliError(f"--out {out} is a directory")
    if not out.parent.exists():
        raise CliError(f"--out: folder {out.parent} does not exist")
    if out.exists() and not args.yes:
        try:
            ans = input(f"{out} exists. Overwrite? [y/N] ").strip().lower()
        except EOFError:
            _say()  # end the unanswered prompt's line
            raise CliError(f"{out} exists and there is no terminal to ask: use --yes") from None
        if ans not in ("y", "yes"):
            _say("not overwritten")
            return 1
    try:
        source = open_source(_sim_url_for_calibration(args.source))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    sim = getattr(source, "simulator", None)
    _say(
        f"Calibrating {', '.join(gestures)} from {args.source}: {len(phases)} holds of "
        f"{args.hold_s:g} s" + (" (simulated patient follows the cues)" if sim else "")
    )
    if not args.yes and sim is None:
        confirm_start("Sit comfortably with the band on. Press Enter to start... ", source.close)
    reader = _Reader(source, inline=sim is not None)
    reader.start()
    recordings: list[PhaseRecording] = []
    try:
        for i, ph in enumerate(phases):
            recordings.append(
                _record_phase(reader, ph, args.countdown_s, args.hold_s, sim, len(phases), i)
            )
    except CalibrationRefused as exc:
        raise CliError(f"calibration refused: {exc}") from None
    finally:
        reader.close()
        source.close()
    if sim is not None:
        _drive(sim, Phase(gestures[0], "rest", 0))
    _say("\nRelax. Fitting...")
    opts = FitOptions(
        min_step_noise=args.min_step_noise,
        hysteresis_ut=hyst_ut,
        hysteresis_step=hyst_step,
        reference=args.reference,
    )
    try:
        cal = fit_calibration(recordings, source.info, opts, partial=args.partial)
    except CalibrationRefused as exc:
        # The table tells the user what each sensor did; the reason is printed last.
        print_calibration_table(None, exc.report, {})
        raise CliError(f"calibration refused: {exc}") from None
    chosen = {g: channel_name(p.sensor_index, p.reference_index) for g, p in cal.gestures.items()}
    print_calibration_table(cal, cal.report, chosen)
    for g, why in cal.refused.items():
        _say(f"\nwarning: {g} not calibrated: {why}", end="\n")
    try:
        cal.save(out)
    except OSError as exc:  # read-only folder, disk full: the fit is lost, say so plainly
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
    _say(
        f"\nSaved {out} ({', '.join(cal.gestures)}; layout {cal.layout or 'unknown'}, "
        f"{cal.n_sensors} sensors)"
    )
    sys.stdout.flush()
    return 0
