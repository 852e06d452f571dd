"""`fist-and-ball twin fit REC.csv [REC.csv ...] --out TWIN.json`: fit a patient twin;
`fist-and-ball twin fit --source URL --out TWIN.json`: record a guided cued session
first (like `calibrate`: prompts, a countdown before each hold), then fit it.

The twin (docs/tracking.md) is what `--decoder track:TWIN.json` tracks with. Progress
goes to stderr, the report (per tag position, axis, stroke, moment, their standard
errors, the fit residual) to stdout. A twin the data cannot support is refused: every
reason on its own line, exit code 2, no file written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bridge.cli.errors import CliError

REFUSED_EXIT = 2


def register(sub: Any) -> None:
    p = sub.add_parser(
        "twin",
        help="the patient twin for magnet tracking (fit)",
        description="Patient twins for the tracking decoder (--decoder track:TWIN.json).",
    )
    twin_sub = p.add_subparsers(dest="twin_command", metavar="ACTION", required=True)
    fit = twin_sub.add_parser(
        "fit",
        help="fit a twin to cued recordings",
        description=(
            "Fit a patient twin to cued recordings (contract 2, each movement flexed and "
            "extended several times, sidecar with positions_mm), all made with the same "
            "sensors. Writes TWIN.json, or refuses with the reasons (exit code 2)."
        ),
    )
    fit.add_argument("recordings", nargs="*", metavar="REC.csv", help="cued recordings")
    fit.add_argument("--out", required=True, metavar="TWIN.json", help="the twin file to write")
    fit.add_argument(
        "--source",
        metavar="URL",
        help="record a guided session from this source instead (serial:..., sim:socket16)",
    )
    fit.add_argument("--repeats", type=int, default=3, help="guided: flexions per movement (3)")
    fit.add_argument("--hold-s", type=float, default=2.0, help="guided: seconds per hold (2)")
    fit.add_argument(
        "--countdown-s", type=int, default=2, help="guided: countdown before each hold (2)"
    )
    fit.add_argument(
        "--save-recording",
        metavar="REC.csv",
        help="guided: also write the session as a recording (contract 2)",
    )
    fit.add_argument("--yes", action="store_true", help="guided: no questions, overwrite --out")
    fit.set_defaults(func=run_fit)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_fit(args: argparse.Namespace) -> int:
    from bridge.cli.out_path import check_out_parent
    from bridge.recording import read_recording
    from bridge.tracking.twin_fit import cued_data_from_recording

    out = check_out_parent(args.out)
    if out.suffix.lower() != ".json":
        raise CliError("--out must name a .json file")
    if bool(args.source) == bool(args.recordings):
        raise CliError("give either cued recordings (REC.csv ...) or --source URL, not both")
    if args.source:
        from bridge.cli.twin_session import record_guided_session

        data = [record_guided_session(args, out)]
        return _fit_and_save(data, out)
    data = []
    for path in args.recordings:
        if not Path(path).is_file():
            raise CliError(f"recording {path} not found")
        _say(f"reading {path}")
        try:
            data.append(cued_data_from_recording(read_recording(path)))
        except (ValueError, OSError) as exc:
            raise CliError(str(exc)) from None
    return _fit_and_save(data, out)


def _fit_and_save(data: list[Any], out: Path) -> int:
    from bridge.tracking.twin_fit import fit_twin

    def progress(stage: str, fraction: float) -> None:
        _say(f"[{fraction:4.0%}] {stage}")

    fit = fit_twin(data, progress=progress)
    if fit.report.get("tags"):
        print(format_report(fit.report))
    if fit.twin is None:
        _say("twin refused:")
        for reason in fit.refused:
            _say(f"  {reason}")
        return REFUSED_EXIT
    fit.twin.save(out)
    _say(f"wrote {out}")
    return 0


def format_report(report: dict[str, Any]) -> str:
    """The fit report as a text table: one line per tag, then coupling and residual."""
    lines = [
        f"twin fit: {report.get('n_sensors', '?')} sensors, "
        f"{report.get('samples_used', '?')} samples, "
        f"residual {report.get('residual_ut_rms', float('nan')):.2f} uT RMS",
        f"{'tag':<8} {'rest (mm)':<26} {'+-mm':>6}  {'axis':<22} {'+-':>6}  "
        f"{'stroke mm':>9} {'+-':>5}  {'moment A m^2':>12} {'+-%':>5}",
    ]
    for t in report["tags"]:
        rest = ", ".join(f"{v:6.2f}" for v in t["rest_mm"])
        axis = ", ".join(f"{v:5.2f}" for v in t["axis"])
        lines.append(
            f"{t['movement']:<8} ({rest}) {t['rest_se_mm']:6.3f}  ({axis}) "
            f"{t['axis_se']:6.4f}  {t['stroke_mm']:9.2f} {t['stroke_se_mm']:5.2f}  "
            f"{t['moment_am2']:12.4f} {100 * t['moment_rel_se']:5.2f}"
        )
    coupling = report.get("coupling")
    if coupling:
        names = [t["movement"] for t in report["tags"]]
        lines.append("coupling (row = movement, column = tag's share of its stroke):")
        for name, row in zip(names, coupling, strict=False):
            lines.append(f"  {name:<8} " + " ".join(f"{v:5.2f}" for v in row))
    return "\n".join(lines)
