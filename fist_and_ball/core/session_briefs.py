"""Session summaries in brief, read from a score log folder without numpy (no bpy).

The History panel and the patient end screen only need each session's summary (date,
level, length, score, held time, completed); reading those must work in a Blender whose
Python has no numpy (Debian's 3.4), so this module uses `score_reader`'s summary
reading only, never the report's metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .score_reader import SessionRecord, list_sessions


@dataclass(frozen=True, slots=True)
class SessionBrief:
    """One usable session's summary values (local start time)."""

    session_id: str
    started: datetime | None
    level: str
    minutes: int | None
    score: float
    held_s: float
    duration_s: float
    completed: bool

    @property
    def held_fraction(self) -> float | None:
        """Share of the played time the ball was held (None without play time)."""
        return self.held_s / self.duration_s if self.duration_s > 0 else None

    @property
    def date_text(self) -> str:
        """`2026-05-04 10:31` (local), or `unknown`."""
        return self.started.strftime("%Y-%m-%d %H:%M") if self.started else "unknown"


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(value)


def brief_of(record: SessionRecord) -> SessionBrief:
    """The brief of a usable (complete or incomplete) record."""
    s = record.summary
    started = record.started_at
    if started is not None and started.tzinfo is not None:
        started = started.astimezone()  # the user's local time
    minutes = s.get("minutes")
    return SessionBrief(
        session_id=record.session_id,
        started=started,
        level=str(s.get("level") or "?"),
        minutes=int(minutes)
        if isinstance(minutes, int | float) and not isinstance(minutes, bool)
        else None,
        score=_number(s.get("score")),
        held_s=_number(s.get("held_s")),
        duration_s=_number(s.get("duration_s")),
        completed=record.status == "complete",
    )


def read_briefs(folder: Path | str) -> list[SessionBrief]:
    """Every usable session in `folder`, oldest first; a missing folder gives []."""
    return [brief_of(r) for r in list_sessions(folder, include_invalid=False)]
