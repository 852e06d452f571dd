"""`fist-and-ball report LOG_DIR --out report.html [--csv sessions.csv] [--patient NAME]`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bridge.cli.errors import CliError
from bridge.cli.out_path import check_out_parent


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="therapist progress report (HTML) and session table (CSV) from score logs",
        description=(
            "Read every Fist & Ball score log in LOG_DIR and write a self-contained HTML "
            "report: per patient the session table (the paper's Table 3 plus catches, "
            "misses and drops), trends per level, control metrics from the timelines and "
            "per-session charts. Unreadable logs are listed under 'Problems'."
        ),
    )
    p.add_argument("log_dir", help="folder of score logs (<session>.json + _timeline.csv)")
    p.add_argument("--out", default="report.html", help="HTML file to write (default: %(default)s)")
    p.add_argument("--csv", metavar="FILE", help="also write the session table as CSV")
    p.add_argument("--patient", metavar="NAME", help="only this patient (case-insensitive)")
    p.add_argument(
        "--details",
        default="12",
        metavar="N",
        help="recent sessions per patient with detail charts: a number or 'all' "
        "(default: %(default)s)",
    )
    p.add_argument("--title", default="Fist & Ball — progress report", help="report title")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def _details(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise CliError(f"--details must be a number or 'all'; got {text!r}") from None
    if n < 0:
        raise CliError(f"--details must be 0 or more; got {n}")
    return n


def run(args: argparse.Namespace) -> int:
    from fist_and_ball.report.html_report import ReportError, build_report

    folder = Path(args.log_dir).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "not found"
        raise CliError(f"log folder {folder} {what}")
    check_out_parent(args.out)
    if args.csv:
        check_out_parent(args.csv, "--csv")
    details = _details(args.details)
    last = [0.0]

    def progress(done: int, total: int, name: str) -> None:
        # One updating line on a terminal, a line every ~2 s otherwise (logs stay short).
        now = time.monotonic()
        if args.quiet or (done < total and now - last[0] < (0.1 if tty else 2.0)):
            return
        last[0] = now
        msg = f"reading timelines {done}/{total}" + (f": {name}" if name else "")
        if tty:
            print(f"\r\033[K{msg}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        else:
            print(msg, file=sys.stderr, flush=True)

    tty = sys.stderr.isatty()
    try:
        out = build_report(
            folder,
            args.out,
            patient=args.patient,
            csv_path=args.csv,
            details=details,
            progress=progress,
            title=args.title,
        )
    except ReportError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {out}", file=sys.stderr)
    if args.csv:
        print(f"wrote {args.csv}", file=sys.stderr)
    return 0
