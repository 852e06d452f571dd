"""Cached list of recent sessions for the panel's History (no bpy).

Reading the log folder means opening files, which a panel's draw() must never do and
the main thread should not wait for. The add-on reads the folder on a worker thread
(`read_history`, pure) when the user asks, when a session ends and when a report is
written, and applies the result on the main thread (`HistoryCache.apply`); draw() only
reads `rows`. `refresh()` does both at once for plain-Python callers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..core.session_briefs import SessionBrief, read_briefs

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


@dataclass(slots=True)
class HistoryRead:
    """One reading of a log folder: the rows, or why it failed."""

    folder: str
    rows: list[HistoryRow]
    error: str = ""


def read_history(folder: Path | str, n: int = HISTORY_ROWS) -> HistoryRead:
    """Read the folder's `n` recent sessions (any thread; a missing folder is empty).

    Only the summaries are read (`core.session_briefs`, no numpy), so History works in
    a Blender without numpy."""
    try:
        briefs = read_briefs(folder)
    except (OSError, ValueError) as exc:
        return HistoryRead(str(folder), [], f"cannot read {folder}: {exc}")
    return HistoryRead(str(folder), [_row(b) for b in reversed(briefs[-max(n, 0) :] if n else [])])


class HistoryCache:
    """The `n` most recent sessions of one log folder, changed by `apply()` only."""

    def __init__(self, n: int = HISTORY_ROWS) -> None:
        self.n = n
        self.rows: list[HistoryRow] = []
        self.folder = ""
        self.error = ""
        self.loaded = False
        self.version = 0
        """Bumped on every refresh: the panel redraws when it changes."""

    def refresh(self, folder: Path | str) -> list[HistoryRow]:
        """Read the folder's recent sessions now, on this thread, and apply them."""
        return self.apply(read_history(folder, self.n))

    def apply(self, read: HistoryRead) -> list[HistoryRow]:
        """Take a reading made by `read_history` (main thread)."""
        self.folder = read.folder
        if read.error:
            # Keep the last good rows; the panel shows the reason beside them.
            self.error = read.error
            log.warning("Fist & Ball history: %s", self.error)
        else:
            self.rows, self.error = read.rows, ""
        self.loaded = True
        self.version += 1
        return self.rows


def _row(b: SessionBrief) -> HistoryRow:
    return HistoryRow(
        date=b.date_text,
        level=b.level,
        minutes=b.minutes,
        score=round(b.score, 1),
        completed=b.completed,
        session_id=b.session_id,
    )
