"""Session history per patient: the Table-3 table, control metrics, CSV export, trends.

No bpy and no matplotlib: the add-on's History panel calls `recent_sessions` inside
Blender. Reading is tolerant (`score_reader`): invalid logs become `Problem`s, never
exceptions.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..core.atomic_file import write_text_atomic
from ..core.score_reader import SessionRecord, list_sessions, read_session
from .metrics import (
    MetricsError,
    SessionMetrics,
    TimelineArrays,
    arrays_from_timeline,
    compute_metrics,
)
from .wording import readable_reason

Progress = Callable[[int, int, str], None]
"""`progress(done, total, what)`: called while reading logs (CLI progress line)."""

LEVEL_ORDER = ("easy", "medium", "hard", "auto")


@dataclass(slots=True)
class Problem:
    """A log (or part of one) the report could not use fully, with the reason."""

    file: str
    reason: str
    severity: str = "error"
    """`error` (the log is not in the report) or `warning` (shown, but with a caveat)."""


@dataclass(slots=True)
class SessionRow:
    """One session in the history table (the paper's Table 3 plus our counts)."""

    record: SessionRecord
    patient: str
    session_id: str
    started: datetime | None
    level: str
    minutes: float | None
    ball_speed: float
    up_down_movements: int
    held_s: float
    duration_s: float
    score: float
    catches: int
    misses: int | None
    drops: int | None
    completed: bool
    note: str
    decoder: str
    source: str
    metrics: SessionMetrics | None = None
    metrics_note: str = ""

    @property
    def held_fraction(self) -> float | None:
        """Share of the played time the ball was held (0..1)."""
        return self.held_s / self.duration_s if self.duration_s > 0 else None

    @property
    def speed_track(self) -> list[tuple[float, float]]:
        """The auto level's ball speed over play time, [(t_s, grade/s)], from the summary's
        `adaptive.speed_track`; [] for a fixed level or a missing/malformed track."""
        adaptive = self.record.summary.get("adaptive")
        raw = adaptive.get("speed_track") if isinstance(adaptive, dict) else None
        if not isinstance(raw, list):
            return []
        track: list[tuple[float, float]] = []
        for point in raw:
            if isinstance(point, list | tuple) and len(point) == 2:
                t, v = _float(point[0], math.nan), _float(point[1], math.nan)
                if math.isfinite(t) and math.isfinite(v):
                    track.append((t, v))
        return sorted(track)

    @property
    def speed_bounds(self) -> tuple[float, float] | None:
        """The auto level's slowest and fastest allowed ball speed, if the log says."""
        adaptive = self.record.summary.get("adaptive")
        raw = adaptive.get("speed_bounds") if isinstance(adaptive, dict) else None
        if isinstance(raw, list) and len(raw) == 2:
            lo, hi = _float(raw[0], math.nan), _float(raw[1], math.nan)
            if math.isfinite(lo) and math.isfinite(hi) and lo <= hi:
                return (lo, hi)
        return None

    @property
    def date_text(self) -> str:
        return self.started.strftime("%Y-%m-%d %H:%M") if self.started else "unknown"


@dataclass(slots=True)
class History:
    """Everything read from a log folder: sessions per patient plus the problems."""

    folder: Path
    patients: dict[str, list[SessionRow]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    other_patients: set[str] = field(default_factory=set)
    """Patients present in the folder but left out by the `patient` filter."""

    @property
    def rows(self) -> list[SessionRow]:
        """All sessions, patient by patient, oldest first."""
        return [r for rows in self.patients.values() for r in rows]


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)


def _float(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(value)


def row_from_record(record: SessionRecord) -> SessionRow:
    """The table row of a usable (complete or incomplete) session record."""
    s = record.summary
    started = record.started_at
    if started is not None and started.tzinfo is not None:
        started = started.astimezone()  # show the therapist's local time
    minutes = s.get("minutes")
    return SessionRow(
        record=record,
        patient=str(s.get("patient", "")).strip() or "anonymous",
        session_id=record.session_id,
        started=started,
        level=str(s.get("level", "?")),
        minutes=_float(minutes) if _int(minutes) is not None else None,
        ball_speed=_float(s.get("ball_speed")),
        up_down_movements=_int(s.get("up_down_movements")) or 0,
        held_s=_float(s.get("held_s")),
        duration_s=_float(s.get("duration_s")),
        score=_float(s.get("score")),
        catches=_int(s.get("catches")) or 0,
        misses=_int(s.get("misses")),
        drops=_int(s.get("drops")),
        completed=record.status == "complete",
        note=record.reason,
        decoder=str(s.get("decoder", "")),
        source=str(s.get("source", "")),
    )


def _sort_key(row: SessionRow) -> tuple[int, float, str]:
    if row.started is None:
        return (1, 0.0, row.session_id)
    return (0, row.started.timestamp(), row.session_id)


DetailHook = Callable[["SessionRow", TimelineArrays], None]
"""Called with a session and its timeline arrays (for per-session plots)."""


def load_history(
    folder: Path | str,
    *,
    patient: str | None = None,
    with_metrics: bool = True,
    detail: DetailHook | None = None,
    detail_latest: int | None = None,
    progress: Progress | None = None,
) -> History:
    """Read every session in `folder` and compute its control metrics.

    `patient` keeps one patient (case-insensitive). Invalid logs go to `problems`; so do
    incomplete sessions (as warnings: they stay in the table) and timelines that could
    not be analysed. `detail(row, arrays)` is called for the `detail_latest` most recent
    sessions of each patient (all if None) while their timeline is in memory. Never
    raises for bad log content; a missing folder gives an empty history.
    """
    folder = Path(folder).expanduser()
    paths = (
        sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))
        if folder.is_dir()
        else []
    )
    history = History(folder)
    wanted = patient.strip().casefold() if patient else None
    # Phase 1: the summaries (fast), so we know who and what before the timelines.
    rows: list[SessionRow] = []
    for path in paths:
        record = read_session(path)
        if not record.ok:
            history.problems.append(Problem(path.name, readable_reason(record.reason, path)))
            continue
        row = row_from_record(record)
        if wanted is not None and row.patient.casefold() != wanted:
            history.other_patients.add(row.patient)
            continue
        if record.status != "complete" or record.problems:
            history.problems.append(Problem(path.name, readable_reason(record.reason), "warning"))
        rows.append(row)
    for row in sorted(rows, key=_sort_key):
        history.patients.setdefault(row.patient, []).append(row)
    history.patients = dict(sorted(history.patients.items(), key=lambda kv: kv[0].casefold()))
    if not with_metrics:
        return history
    # Phase 2: the timelines (the slow part), with progress.
    detailed: set[int] = set()
    for prow in history.patients.values():
        if detail_latest is None:
            chosen = prow
        else:
            chosen = prow[-detail_latest:] if detail_latest > 0 else []
        detailed.update(id(r) for r in chosen)
    ordered = history.rows
    for k, row in enumerate(ordered):
        if progress is not None:
            progress(k, len(ordered), row.record.path.name)
        arrays = _attach_metrics(row, history)
        if arrays is not None and detail is not None and id(row) in detailed:
            detail(row, arrays)
    if progress is not None:
        progress(len(ordered), len(ordered), "")
    return history


def _attach_metrics(row: SessionRow, history: History) -> TimelineArrays | None:
    if row.record.timeline_path is None:
        row.metrics_note = "no timeline"
        return None
    timeline = row.record.timeline()
    for p in timeline.problems:
        history.problems.append(Problem(timeline.path.name, readable_reason(p), "warning"))
    try:
        arrays = arrays_from_timeline(timeline)
        row.metrics = compute_metrics(arrays)
    except MetricsError as exc:
        row.metrics_note = str(exc)
        reason = readable_reason(f"no metrics: {exc}")
        history.problems.append(Problem(timeline.path.name, reason, "warning"))
        return None
    except (ValueError, IndexError, FloatingPointError) as exc:
        # A timeline the metrics code did not foresee must not sink the whole report.
        row.metrics_note = f"metrics failed: {exc}"
        reason = readable_reason(row.metrics_note)
        history.problems.append(Problem(timeline.path.name, reason, "warning"))
        return None
    return arrays


# -- CSV export ----------------------------------------------------------------------------
CSV_COLUMNS: tuple[str, ...] = (
    "patient",
    "session_id",
    "date",
    "level",
    "minutes",
    "ball_speed",
    "up_down_movements",
    "held_s",
    "held_fraction",
    "score",
    "catches",
    "misses",
    "drops",
    "completed",
    "duration_s",
    "decoder",
    "source",
    "trials",
    "trials_caught",
    "trials_carried",
    "trials_missed",
    "time_to_zone_median_s",
    "time_to_catch_median_s",
    "time_to_catch_mean_s",
    "recatch_median_s",
    "hold_sd",
    "hold_bias",
    "overshoot_mean",
    "overshoot_max",
    "overshoot_moves",
    "rms_error",
    "mae",
    "bias",
    "path_efficiency",
    "tracking_lag_s",
    "in_zone_fraction",
    "note",
)
"""Session CSV columns (docs/report.md describes each). Undefined values are empty."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def csv_record(row: SessionRow) -> dict[str, str]:
    """One session as CSV cells (text), keyed by CSV_COLUMNS."""
    base: dict[str, Any] = {
        "patient": row.patient,
        "session_id": row.session_id,
        "date": row.started.isoformat(timespec="seconds") if row.started else "",
        "level": row.level,
        "minutes": _int(row.minutes),
        "ball_speed": row.ball_speed,
        "up_down_movements": row.up_down_movements,
        "held_s": row.held_s,
        "held_fraction": row.held_fraction,
        "score": row.score,
        "catches": row.catches,
        "misses": row.misses,
        "drops": row.drops,
        "completed": row.completed,
        "duration_s": row.duration_s,
        "decoder": row.decoder,
        "source": row.source,
        "note": "; ".join(x for x in (row.note, row.metrics_note) if x),
    }
    m = row.metrics.as_dict() if row.metrics is not None else {}
    return {c: _cell(base[c] if c in base else m.get(c)) for c in CSV_COLUMNS}


def sessions_csv(rows: Iterable[SessionRow]) -> str:
    """The session table as CSV text (header + one line per session)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_safe_cell(v) for k, v in csv_record(row).items()})
    return buf.getvalue()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_cell(value: object) -> object:
    """Defuse a text cell a spreadsheet would run as a formula (`=HYPERLINK(...)`).

    Patient names and notes come from the game's log files; a cell starting with
    = + - @ (or tab/CR) gets a leading `'`. Numbers, negative ones too, stay numbers.
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def write_csv(rows: Iterable[SessionRow], path: Path | str) -> Path:
    """Write the session table CSV atomically; returns the path."""
    return write_text_atomic(Path(path), sessions_csv(rows))


# -- trends ---------------------------------------------------------------------------------
def group_key(row: SessionRow) -> tuple[str, int | None]:
    """Sessions are compared within a level *and* a session length: the score grows with
    the length, so a 4-min score is not comparable with a 2-min one."""
    return (row.level, _int(row.minutes))


def group_label(key: tuple[str, int | None]) -> str:
    """`medium · 4 min` (or just the level if the length is unknown)."""
    level, minutes = key
    return level if minutes is None else f"{level} · {minutes} min"


def ordered_groups(rows: list[SessionRow]) -> list[tuple[str, int | None]]:
    """The (level, minutes) groups present, easy to hard, short to long."""

    def order(key: tuple[str, int | None]) -> tuple[int, str, int]:
        level, minutes = key
        rank = LEVEL_ORDER.index(level) if level in LEVEL_ORDER else len(LEVEL_ORDER)
        return (rank, level, minutes or 0)

    return sorted({group_key(r) for r in rows}, key=order)


@dataclass(frozen=True, slots=True)
class Trend:
    """How one patient's results at one level and session length changed over time."""

    level: str
    minutes: int | None
    sessions: int
    first: datetime | None
    last: datetime | None
    mean_score: float
    first_score: float
    last_score: float
    score_per_week: float | None
    """Least-squares slope of score against date, points per week (None: < 2 dates)."""
    held_pct_per_week: float | None
    """Same for the held share of play time, percentage points per week."""

    @property
    def label(self) -> str:
        return group_label((self.level, self.minutes))


def _slope_per_week(days: list[float], values: list[float]) -> float | None:
    if len(days) < 2 or max(days) - min(days) < 1e-6:
        return None
    x = np.asarray(days)
    y = np.asarray(values)
    x = x - x.mean()
    return float(7.0 * (x * (y - y.mean())).sum() / (x * x).sum())


def level_trends(rows: list[SessionRow]) -> list[Trend]:
    """Per (level, session length): session count, mean/first/last score and weekly
    slopes, over completed sessions only (a cut-short session's score is not comparable)."""
    out: list[Trend] = []
    for key in ordered_groups(rows):
        done = [r for r in rows if group_key(r) == key and r.completed]
        if not done:
            continue
        dated = [r for r in done if r.started is not None]
        days = [r.started.timestamp() / 86400.0 for r in dated if r.started is not None]
        held = [100.0 * (r.held_fraction or 0.0) for r in dated]
        out.append(
            Trend(
                level=key[0],
                minutes=key[1],
                sessions=len(done),
                first=dated[0].started if dated else None,
                last=dated[-1].started if dated else None,
                mean_score=float(np.mean([r.score for r in done])),
                first_score=done[0].score,
                last_score=done[-1].score,
                score_per_week=_slope_per_week(days, [r.score for r in dated]),
                held_pct_per_week=_slope_per_week(days, held),
            )
        )
    return out


# -- for the add-on's History panel ------------------------------------------------------------
def recent_sessions(folder: Path | str, n: int = 10) -> list[dict[str, Any]]:
    """The `n` most recent usable sessions in `folder`, newest first, for the add-on.

    Each dict has `date` ("YYYY-MM-DD HH:MM", local), `started_at` (ISO text), `patient`,
    `level`, `minutes`, `score`, `held_s`, `completed` (bool), `status` and `session_id`.
    Reads only the summaries (fast); invalid logs are skipped. A missing folder gives [].
    """
    records = [r for r in list_sessions(folder, include_invalid=False)]
    out: list[dict[str, Any]] = []
    for record in reversed(records):
        if len(out) >= max(int(n), 0):
            break
        row = row_from_record(record)
        out.append(
            {
                "date": row.date_text,
                "started_at": row.started.isoformat(timespec="seconds") if row.started else "",
                "patient": row.patient,
                "level": row.level,
                "minutes": _int(row.minutes),
                "score": round(row.score, 1),
                "held_s": round(row.held_s, 1),
                "completed": row.completed,
                "status": record.status,
                "session_id": row.session_id,
            }
        )
    return out
