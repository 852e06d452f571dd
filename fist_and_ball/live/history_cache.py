"""Cached list of recent sessions for the panel's History (no bpy).

Reading the log folder means opening files, which a panel's draw() must never do. The
add-on refreshes this cache when the user asks, when a session ends and when a report
is written; draw() only reads `rows`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HISTORY_ROWS = 10


@dataclass(slots=True)
class HistoryRow:
    """One session as the panel shows it (pre-formatted text, nothing to compute)."""

    date: str
    level: str
    minutes: int | None
    score: float
    completed: bool
    session_id: str

    @property
    def short_date(self) -> str:
        """`05-04 10:31`: the year is dropped to fit the sidebar."""
        return self.date[5:] if len(self.date) >= 16 and self.date[4] == "-" else self.date

    @property
    def level_text(self) -> str:
        """`easy 2m`."""
        return f"{self.level} {self.minutes}m" if self.minutes else self.level

    @property
    def text(self) -> str:
        """`2026-05-04 10:31  easy 2 min  score 143` (the completed mark is an icon)."""
        mins = f" {self.minutes} min" if self.minutes else ""
        return f"{self.date}  {self.level}{mins}  score {round(self.score)}"


class HistoryCache:
    """The `n` most recent sessions of one log folder, read on `refresh()` only."""

    def __init__(self, n: int = HISTORY_ROWS) -> None:
        self.n = n
        self.rows: list[HistoryRow] = []
        self.folder = ""
        self.error = ""
        self.loaded = False
        self.version = 0
        """Bumped on every refresh: the panel redraws when it changes."""

    def refresh(self, folder: Path | str) -> list[HistoryRow]:
        """Read the folder's recent sessions (a missing folder is an empty history)."""
        from ..report import recent_sessions

        self.folder = str(folder)
        try:
            raw = recent_sessions(folder, n=self.n)
            self.rows = [_row(r) for r in raw]
            self.error = ""
        except (OSError, ValueError) as exc:
            # Keep the last good rows; the panel shows the reason beside them.
            self.error = f"cannot read {folder}: {exc}"
            log.warning("Fist & Ball history: %s", self.error)
        self.loaded = True
        self.version += 1
        return self.rows


def _row(r: dict[str, Any]) -> HistoryRow:
    minutes = r.get("minutes")
    try:
        score = float(r.get("score") or 0.0)
    except (TypeError, ValueError):
        score = 0.0
    return HistoryRow(
        date=str(r.get("date") or "?"),
        level=str(r.get("level") or "?"),
        minutes=minutes if isinstance(minutes, int) else None,
        score=score,
        completed=bool(r.get("completed")),
        session_id=str(r.get("session_id") or ""),
    )
