""" "Held 12% longer than last week": a session against the same level a week earlier.

Pure Python (no numpy, no bpy): the patient's end screen calls it with the briefs of
the log folder (`session_briefs.read_briefs`). The earlier session is a completed one of
the same level and length whose start lies 7 days +- `WINDOW_DAYS` before this one's;
of several, the one closest to exactly 7 days wins. The held share (held seconds over
played seconds) is compared, so sessions of different played time stay comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .session_briefs import SessionBrief

WEEK_DAYS = 7.0
WINDOW_DAYS = 2.0
"""A session 5 to 9 days earlier counts as "last week"."""
SAME_PCT = 1.0
"""Changes smaller than this many percent read as "about the same"."""


@dataclass(frozen=True, slots=True)
class WeekComparison:
    """This session against last week's: the text to show and the numbers behind it."""

    text: str
    earlier: SessionBrief | None = None
    change_pct: float | None = None
    """Relative change of the held share, percent (None: nothing to compare)."""


def _days_between(a: datetime, b: datetime) -> float:
    if (a.tzinfo is None) != (b.tzinfo is None):  # compare as local times
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    return (a - b).total_seconds() / 86400.0


def week_earlier(current: SessionBrief, history: list[SessionBrief]) -> SessionBrief | None:
    """The completed session of the same level and length about a week before `current`."""
    if current.started is None:
        return None
    best: tuple[float, SessionBrief] | None = None
    for b in history:
        if b.session_id == current.session_id or b.started is None or not b.completed:
            continue
        if b.level != current.level or b.minutes != current.minutes:
            continue
        off = abs(_days_between(current.started, b.started) - WEEK_DAYS)
        if off <= WINDOW_DAYS and (best is None or off < best[0]):
            best = (off, b)
    return best[1] if best else None


def compare_with_last_week(current: SessionBrief, history: list[SessionBrief]) -> WeekComparison:
    """The end screen's line about progress since the same level a week earlier."""
    earlier = week_earlier(current, history)
    if earlier is None:
        return WeekComparison(f"No {current.level} session a week ago to compare with")
    now_share, then_share = current.held_fraction, earlier.held_fraction
    if now_share is None or then_share is None:
        return WeekComparison("Last week's session has no play time to compare", earlier)
    if then_share <= 0.0:
        text = "Held the ball this time; last week not at all" if now_share > 0 else ""
        return WeekComparison(text or "Held no longer than last week", earlier)
    change = 100.0 * (now_share - then_share) / then_share
    if abs(change) < SAME_PCT:
        text = "Held about as long as last week"
    elif change > 0:
        text = f"Held {change:.0f}% longer than last week"
    else:
        text = f"Held {-change:.0f}% shorter than last week"
    return WeekComparison(text, earlier, change)
