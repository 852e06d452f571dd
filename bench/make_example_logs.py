"""Make example score logs for the therapist report: three virtual patients over several weeks.

    python bench/make_example_logs.py /tmp/example-logs [--weeks 6] [--start 2025-03-03]
    fist-and-ball report /tmp/example-logs --out report.html --csv sessions.csv

Every session is a real headless game (`play_autopilot_session`: autopilot patient +
simple plant, 60 Hz) written by the real `ScoreLog`. Only the dates are simulated: each
summary's `started_at`/`ended_at` is set to a session day (weeks apart), since a log
always records the wall time at which it was written.

- P01 starts as a novice and improves week by week; moves up from easy to medium and,
  from week 4, tries hard.
- P02 is an average player who improves slowly; one of P02's sessions is cut short.
- P03 plays the adaptive level `auto` once a week: the game sets the ball speed from
  the hold share, and the report draws that speed (`adaptive.speed_track`).
- Two broken files show the report's Problems section: a truncated summary and a JSON
  file that is not a score log.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fist_and_ball.core.autopilot import Autopilot, SimplePlant
from fist_and_ball.core.game import Game
from fist_and_ball.core.quick_play import play_autopilot_session
from fist_and_ball.core.score_log import ScoreLog


def _redate(json_path: Path, started: datetime, duration_s: float) -> None:
    """Put a simulated session day into a finished log (the writer uses the wall clock)."""
    data = json.loads(json_path.read_text(encoding="utf-8"))
    data["started_at"] = started.isoformat(timespec="milliseconds")
    data["ended_at"] = (started + timedelta(seconds=duration_s + 2)).isoformat(
        timespec="milliseconds"
    )
    json_path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def _cut_short(
    log: ScoreLog, level: str, minutes: int, skill: float, seed: int, stop_s: float
) -> dict[str, Any]:
    """A session the therapist stopped early (completed = false)."""
    game = Game(level, minutes, seed)
    pilot = Autopilot(skill, seed)
    hand = SimplePlant()
    view = game.start(0.0)
    k = 0
    while game.played_s < stop_s:
        k += 1
        t = k / 60.0
        gesture, intent = pilot.intent(t, view)
        grade, closure = hand.step(t, intent)
        view = game.step(t, grade, closure, gesture)
        log.append(t, game.row())
    game.stop(k / 60.0, "stopped by therapist")
    return log.close(game.summary(), completed=False)


def plan(weeks: int) -> list[tuple[str, int, str, int, float]]:
    """(patient, week, level, minutes, skill) for every session."""
    out: list[tuple[str, int, str, int, float]] = []
    for w in range(weeks):
        p1 = min(0.12 + 0.16 * w, 0.95)  # a fast learner
        p2 = min(0.45 + 0.04 * w, 0.95)  # steady, slower progress
        if w < 3:
            out.append(("P01", w, "easy", 2, p1))
        out.append(("P01", w, "medium", 2, p1))
        if w >= 3:
            out.append(("P01", w, "hard", 2, p1))
        out.append(("P02", w, "easy", 2, p2))
        out.append(("P02", w, "medium", 4 if w % 2 else 2, p2))
        out.append(("P03", w, "auto", 2, min(0.35 + 0.1 * w, 0.95)))
    return out


def make_logs(folder: Path, weeks: int, start: datetime, verbose: bool = True) -> list[Path]:
    """Write the example sessions (and two broken files) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    sessions = plan(weeks)
    written: list[Path] = []
    for k, (patient, week, level, minutes, skill) in enumerate(sessions):
        day = start + timedelta(weeks=week, days={"P01": 0, "P02": 2}.get(patient, 3))
        when = day.replace(hour=10 + (k % 3), minute=15 * (k % 4))
        sid = f"{when:%Y%m%d-%H%M}-{patient.lower()}-{level}-{minutes}min"
        log = ScoreLog.open(
            folder,
            patient=patient,
            level=level,
            minutes=minutes,
            decoder="qg (autopilot)",
            source="example: autopilot + simple plant",
            session_id=sid,
            seed=100 + k,
            extra={"skill": round(skill, 2)},
        )
        if patient == "P02" and week == 2 and level == "medium":
            summary = _cut_short(log, level, minutes, skill, 100 + k, stop_s=75.0)
        else:
            summary = play_autopilot_session(level, minutes, skill=skill, seed=100 + k, log=log)
        _redate(log.json_path, when.astimezone(), float(summary["duration_s"]))
        written.append(log.json_path)
        if verbose:
            print(
                f"[{k + 1}/{len(sessions)}] {sid}: score {summary['score']:.0f}",
                file=sys.stderr,
                flush=True,
            )
    # Broken files for the Problems section.
    good = written[0].read_text(encoding="utf-8")
    (folder / "20990101-0000-p01-crashed-copy.json").write_text(good[: len(good) // 2])
    (folder / "settings-backup.json").write_text('{"theme": "dark"}\n')
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--weeks", type=int, default=6)
    ap.add_argument("--start", default="2025-03-03", help="first session day (YYYY-MM-DD)")
    args = ap.parse_args(argv)
    try:
        start = datetime.strptime(args.start, "%Y-%m-%d")
    except ValueError:
        ap.error(f"--start must be YYYY-MM-DD; got {args.start!r}")
    if args.weeks < 1:
        ap.error("--weeks must be at least 1")
    if args.folder.exists() and any(args.folder.glob("*.json")):
        ap.error(f"{args.folder} already holds score logs; use an empty folder")
    paths = make_logs(args.folder, args.weeks, start)
    print(f"wrote {len(paths)} sessions to {args.folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
