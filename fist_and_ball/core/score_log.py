"""Score log of one session (DESIGN contract 4): a JSON summary plus a timeline CSV.

    log = ScoreLog.open(folder, patient="P01", level="easy", minutes=2,
                        decoder="qg", source="sim")
    log.append(t, game.row())      # every tick (a GameView works too, with fewer columns)
    log.close(game.summary(), completed=game.completed)

Crash safety: the summary `<session_id>.json` is written at open (completed=false,
state=running) and rewritten atomically (temp file + os.replace) at least once a second
of wall time while rows are appended, and at the end. The timeline
`<session_id>_timeline.csv` is flushed just before each rewrite, so after a SIGKILL the
summary is readable, still says completed=false, its `ended_at` is the last update, and
the timeline holds at least everything the summary counts. Readers live in
`score_reader.py`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .atomic_file import write_json_atomic
from .levels import (
    BALL_SPEED_UNIT,
    MAX_GRADE,
    LevelSpec,
    check_minutes,
    get_level,
)
from .view import GameView

SCHEMA = "fist-and-ball.score-log/1"
"""Schema id written in every summary; readers accept any `.../1`."""

REQUIRED_FIELDS: tuple[str, ...] = (
    "schema",
    "session_id",
    "patient",
    "started_at",
    "ended_at",
    "completed",
    "level",
    "duration_s",
    "ball_speed",
    "up_down_movements",
    "held_s",
    "catches",
    "score",
    "decoder",
    "source",
)
"""Contract 4's minimum summary fields."""

TIMELINE_COLUMNS: tuple[str, ...] = (
    "t",
    "t_play",
    "ball_height",
    "target_grade",
    "grade",
    "level",
    "gesture",
    "holding",
    "in_zone",
    "score",
    "held_s",
    "catches",
    "drops",
    "misses",
    "up_down_movements",
    "paused",
    "connected",
    "ball_speed",
)
"""Timeline CSV header (`ball_speed`, the nominal speed now in grade/s, is an extra
column beyond contract 4's: it changes during an auto session). Booleans are 0/1; a value
the row did not carry is left empty."""

TIMELINE_SUFFIX = "_timeline.csv"

# Summary fields fixed at open that a final summary must not overwrite.
_IDENTITY = ("schema", "session_id", "patient", "started_at", "decoder", "source", "timeline")
# Cumulative row fields that keep the live summary current.
_LIVE_FROM_ROW = ("score", "held_s", "catches", "drops", "misses", "up_down_movements")
_SESSION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")


def _software_version() -> str:
    try:
        return metadata.version("fist-and-ball")
    except metadata.PackageNotFoundError:
        return "unknown"


SOFTWARE_VERSION = _software_version()


def _now_iso() -> str:
    """Local wall time with its UTC offset, to the millisecond."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def _slug(text: str, limit: int = 32) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return s[:limit].strip("-") or "anonymous"


def _fmt(value: Any, spec: str) -> str:
    """One CSV cell: empty for None, 0/1 for bools, `spec` for numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if spec == "s":
        return str(value).replace(",", "_").replace("\n", " ").replace("\r", " ")
    if spec == "d":
        return str(int(value))
    return format(float(value), spec)


_COLUMN_FORMATS = {
    "t": ".4f",
    "t_play": ".4f",
    "ball_height": ".4f",
    "target_grade": ".3f",
    "grade": "d",
    "level": ".4f",
    "ball_speed": ".4f",
    "gesture": "s",
    "holding": "d",
    "in_zone": "d",
    "score": ".2f",
    "held_s": ".3f",
    "catches": "d",
    "drops": "d",
    "misses": "d",
    "up_down_movements": "d",
    "paused": "d",
    "connected": "d",
}


class ScoreLogError(ValueError):
    """A score log could not be opened or written; the message says why."""


class ScoreLog:
    """Writer of one session's summary and timeline. Create it with `ScoreLog.open`."""

    def __init__(
        self,
        folder: Path,
        session_id: str,
        summary: dict[str, Any],
        timeline: IO[str],
        *,
        flush_interval_s: float,
        wall_clock: Callable[[], float],
    ) -> None:
        self.folder = folder
        self.session_id = session_id
        self.json_path = folder / f"{session_id}.json"
        self.timeline_path = folder / f"{session_id}{TIMELINE_SUFFIX}"
        self._summary = summary
        self._timeline = timeline
        self._flush_interval = flush_interval_s
        self._wall = wall_clock
        self._last_flush = wall_clock()
        self._rows = 0
        self._t_first: float | None = None
        self._closed = False

    # -- opening ----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        folder: Path | str,
        *,
        patient: str,
        level: str | LevelSpec,
        minutes: int,
        decoder: str,
        source: str,
        session_id: str | None = None,
        seed: int | None = None,
        extra: Mapping[str, Any] | None = None,
        flush_interval_s: float = 1.0,
        wall_clock: Callable[[], float] = time.monotonic,
    ) -> ScoreLog:
        """Create the session's files in `folder` and write the first summary.

        `session_id` defaults to `<date>-<time>-<patient>-<level>-<minutes>min`; a given
        one must be a plain file name part. `extra` fields are added to the summary.
        Raises ScoreLogError (a ValueError) with a readable reason on bad arguments or
        when the folder cannot be written.
        """
        try:
            spec = get_level(level)
            mins = check_minutes(minutes)
        except ValueError as exc:
            raise ScoreLogError(str(exc)) from None
        if not isinstance(patient, str):
            raise ScoreLogError(f"patient must be a name or ID string; got {patient!r}")
        patient = patient.strip() or "anonymous"
        if not 0.0 < flush_interval_s <= 1.0:
            raise ScoreLogError("flush_interval_s must be in (0, 1] s (contract 4: once a second)")
        folder = Path(folder).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ScoreLogError(f"cannot create the score log folder {folder}: {exc}") from None
        started = datetime.now().astimezone()
        if session_id is None:
            base = f"{started:%Y%m%d-%H%M%S}-{_slug(patient)}-{spec.name}-{mins}min"
            session_id, n = base, 1
            while (folder / f"{session_id}.json").exists() or (
                folder / f"{session_id}{TIMELINE_SUFFIX}"
            ).exists():
                n += 1
                session_id = f"{base}-{n}"
        else:
            if not isinstance(session_id, str) or not _SESSION_ID_RE.match(session_id):
                raise ScoreLogError(
                    f"session id {session_id!r} is not usable as a file name: use letters, "
                    "digits, '.', '_' and '-' (max 120 characters)"
                )
            if (folder / f"{session_id}.json").exists():
                raise ScoreLogError(
                    f"a session {session_id!r} already exists in {folder}; not overwriting it"
                )
        now = started.isoformat(timespec="milliseconds")
        summary: dict[str, Any] = {
            "schema": SCHEMA,
            "session_id": session_id,
            "patient": patient,
            "started_at": now,
            "ended_at": now,
            "completed": False,
            "state": "running",
            "end_reason": "running",
            "level": spec.name,
            "minutes": mins,
            "planned_s": 60.0 * mins,
            "duration_s": 0.0,
            "ball_speed": round(spec.ball_speed, 4),
            "ball_speed_unit": BALL_SPEED_UNIT,
            "up_down_movements": 0,
            "held_s": 0.0,
            "catches": 0,
            "misses": 0,
            "drops": 0,
            "score": 0.0,
            "decoder": str(decoder),
            "source": str(source),
            "seed": seed,
            "software": "fist-and-ball",
            "software_version": SOFTWARE_VERSION,
            "timeline": f"{session_id}{TIMELINE_SUFFIX}",
            "timeline_rows": 0,
        }
        if extra:
            for key, value in extra.items():
                summary.setdefault(str(key), value)
        try:
            timeline = open(  # noqa: SIM115 - kept open for the whole session
                folder / f"{session_id}{TIMELINE_SUFFIX}", "x", encoding="utf-8", newline=""
            )
        except OSError as exc:
            raise ScoreLogError(f"cannot create the timeline in {folder}: {exc}") from None
        log = cls(
            folder,
            session_id,
            summary,
            timeline,
            flush_interval_s=flush_interval_s,
            wall_clock=wall_clock,
        )
        try:
            timeline.write(",".join(TIMELINE_COLUMNS) + "\n")
            log.flush()
        except OSError as exc:
            timeline.close()
            raise ScoreLogError(f"cannot write the score log in {folder}: {exc}") from None
        return log

    # -- during play ------------------------------------------------------------------
    def append(self, t: float, view_or_row: GameView | Mapping[str, Any]) -> None:
        """Append one timeline row: a `Game.row()` dict (all columns) or a GameView.

        Cumulative fields of the row (score, held_s, catches, ...) also keep the live
        summary current; both files are brought up to date once a second of wall time.
        """
        if self._closed:
            raise ScoreLogError(f"score log {self.session_id} is already closed")
        if self._t_first is None:
            self._t_first = float(t)
        if isinstance(view_or_row, GameView):
            row: Mapping[str, Any] = {
                "ball_height": view_or_row.ball_height,
                "target_grade": MAX_GRADE * view_or_row.ball_height,
                "grade": view_or_row.grade,
                "level": view_or_row.closure,  # the column's contract name
                "gesture": view_or_row.gesture,
                "holding": view_or_row.holding,
                "in_zone": view_or_row.in_catch_zone,
                "score": view_or_row.score,
                "paused": view_or_row.paused,
                "connected": view_or_row.connected,
            }
        else:
            row = view_or_row
        cells = [_fmt(t, ".4f")]
        for name in TIMELINE_COLUMNS[1:]:
            cells.append(_fmt(row.get(name), _COLUMN_FORMATS[name]))
        self._timeline.write(",".join(cells) + "\n")
        self._rows += 1
        live = self._summary
        for key in _LIVE_FROM_ROW:
            value = row.get(key)
            if value is not None:
                live[key] = round(value, 3) if isinstance(value, float) else value
        t_play = row.get("t_play")
        live["duration_s"] = round(
            float(t_play) if t_play is not None else float(t) - self._t_first, 3
        )
        if self._wall() - self._last_flush >= self._flush_interval:
            self.flush()

    def update(self, fields: Mapping[str, Any]) -> None:
        """Merge fields into the live summary (written at the next flush)."""
        for key, value in fields.items():
            if key not in _IDENTITY:
                self._summary[key] = value

    def flush(self) -> None:
        """Flush the timeline, then rewrite the summary atomically (ended_at = now)."""
        self._timeline.flush()
        self._summary["ended_at"] = _now_iso()
        self._summary["timeline_rows"] = self._rows
        self._write_summary(sync=False)
        self._last_flush = self._wall()

    def _write_summary(self, sync: bool) -> None:
        # fsync only at the end (sync=True): an fsync per second could stall Blender's
        # main thread on a busy disk, and SIGKILL (the likely crash) keeps the page cache.
        write_json_atomic(self.json_path, self._summary, sync=sync, default=str)

    # -- the end ----------------------------------------------------------------------
    def close(
        self, summary: Mapping[str, Any], completed: bool, *, end_reason: str | None = None
    ) -> dict[str, Any]:
        """Write the final summary (the game's, over the live one) and close the files.

        `completed` is False when the session was cut short. Identity fields set at open
        (session_id, patient, started_at, decoder, source) are kept. Returns the summary
        as written. Closing twice does nothing more.
        """
        if self._closed:
            return dict(self._summary)
        final = self._summary
        for key, value in summary.items():
            if key not in _IDENTITY:
                final[key] = value
        final["completed"] = bool(completed)
        final["state"] = "closed"
        if end_reason is not None:
            final["end_reason"] = end_reason
        elif final.get("end_reason") in (None, "", "running"):
            final["end_reason"] = "completed" if completed else "stopped"
        try:
            self._timeline.flush()
            os.fsync(self._timeline.fileno())
        finally:
            self._timeline.close()
        self._closed = True
        final["ended_at"] = _now_iso()
        final["timeline_rows"] = self._rows
        self._write_summary(sync=True)
        return dict(final)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def rows(self) -> int:
        """Timeline rows appended so far."""
        return self._rows

    @property
    def live_summary(self) -> dict[str, Any]:
        """A copy of the summary as it would be written now."""
        return dict(self._summary)

    def __enter__(self) -> ScoreLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Leaving the block without close() means the session did not end normally.
        if not self._closed:
            reason = f"error: {exc_type.__name__}" if exc_type is not None else "not closed"
            self.close({}, completed=False, end_reason=reason)
