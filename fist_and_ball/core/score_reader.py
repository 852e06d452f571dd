"""Read score logs back (therapist report, trends): tolerant, and says what is wrong.

`read_session(json_path)` never raises for bad content: it returns a SessionRecord whose
`status` is `complete`, `incomplete` (cut short, or never closed because the program
died) or `invalid` (unreadable / not a score log), with the reasons in `problems`.
`list_sessions(folder)` does that for every summary in a folder, oldest first.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .score_log import REQUIRED_FIELDS, SCHEMA, TIMELINE_SUFFIX

if TYPE_CHECKING:
    import numpy as np

_SCHEMA_FAMILY, _, _SCHEMA_MAJOR = SCHEMA.rpartition("/")
_NUMBERS = ("duration_s", "ball_speed", "held_s", "score")
_COUNTS = ("up_down_movements", "catches")
_OPTIONAL_COUNTS = ("misses", "drops")
_TEXTS = ("session_id", "patient", "level", "decoder", "source")


@dataclass(slots=True)
class Timeline:
    """A timeline CSV as text cells; `numeric()` gives a column as floats (NaN = empty)."""

    path: Path
    columns: list[str]
    rows: list[list[str]]
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[str]:
        """A column's cells as text ([] if the column is absent)."""
        if name not in self.columns:
            return []
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def numeric(self, name: str) -> np.ndarray:
        """A column as float64; empty or unparsable cells are NaN."""
        import numpy as np  # lazy: reading summaries must work in a Blender without numpy

        out = np.full(len(self.rows), np.nan)
        for k, cell in enumerate(self.column(name)):
            with contextlib.suppress(ValueError):
                out[k] = float(cell)
        return out


def read_timeline(path: Path | str) -> Timeline:
    """Read a timeline CSV, keeping every well-formed row.

    A last line without its newline (cut off by a crash) and rows with the wrong number
    of cells are left out and reported in `problems`; a missing or unreadable file gives
    an empty timeline with the reason.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return Timeline(path, [], [], [f"timeline unreadable: {exc.strerror or exc}"])
    problems: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines and text:
        lines.pop()  # no final newline: the writer was cut off mid-row
        problems.append("timeline: last line incomplete (cut off), left out")
    if not lines:
        return Timeline(path, [], [], [*problems, "timeline is empty (no header)"])
    parsed: list[list[str]] = []
    bad = 0
    reader = csv.reader(lines)
    while True:
        try:
            parsed.append(next(reader))
        except StopIteration:
            break
        except csv.Error:  # e.g. a garbage line longer than csv's field limit
            bad += 1
            if not parsed:
                parsed.append([])  # the header itself is unreadable
    header = [h.strip() for h in parsed[0]]
    if "t" not in header:
        return Timeline(path, header, [], [*problems, "timeline header has no 't' column"])
    good = [r for r in parsed[1:] if len(r) == len(header)]
    bad += len(parsed) - 1 - len(good)
    if bad:
        problems.append(f"timeline: {bad} malformed row(s) left out")
    return Timeline(path, header, good, problems)


@dataclass(slots=True)
class SessionRecord:
    """One session as read from disk, with what (if anything) is wrong with it."""

    path: Path
    status: str
    """`complete`, `incomplete` or `invalid`."""
    summary: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    timeline_path: Path | None = None

    @property
    def ok(self) -> bool:
        """True if the summary is usable (complete or incomplete)."""
        return self.status != "invalid"

    @property
    def completed(self) -> bool:
        return self.status == "complete"

    @property
    def reason(self) -> str:
        """Why the session is not simply complete ('' if it is and nothing is wrong)."""
        return "; ".join(self.problems)

    @property
    def session_id(self) -> str:
        sid = self.summary.get("session_id")
        return sid if isinstance(sid, str) else self.path.stem

    @property
    def started_at(self) -> datetime | None:
        return _parse_time(self.summary.get("started_at"))

    def timeline(self) -> Timeline:
        """The session's timeline (empty, with the reason, if there is none)."""
        if self.timeline_path is None:
            return Timeline(self.path, [], [], ["no timeline file"])
        return read_timeline(self.timeline_path)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _timeline_path_for(json_path: Path, summary: dict[str, Any]) -> Path:
    name = summary.get("timeline")
    if isinstance(name, str) and name and Path(name).name == name:
        return json_path.with_name(name)
    return json_path.with_name(json_path.stem + TIMELINE_SUFFIX)


def _recover_from_timeline(json_path: Path) -> tuple[dict[str, Any], str] | None:
    """Figures from the last good timeline row when the summary itself is unusable."""
    tl = read_timeline(json_path.with_name(json_path.stem + TIMELINE_SUFFIX))
    if not tl.rows:
        return None
    last = dict(zip(tl.columns, tl.rows[-1], strict=True))
    got: dict[str, Any] = {"session_id": json_path.stem}
    for key, name in (("duration_s", "t_play"), ("held_s", "held_s"), ("score", "score")):
        with contextlib.suppress(ValueError):
            got[key] = float(last.get(name, ""))
    for key in ("catches", "misses", "drops", "up_down_movements"):
        with contextlib.suppress(ValueError):
            got[key] = int(last.get(key, ""))
    return got, f"figures recovered from {len(tl.rows)} timeline rows"


def read_session(json_path: Path | str) -> SessionRecord:
    """Read one session summary (and check its timeline exists); never raises on content."""
    path = Path(json_path)

    def invalid(reason: str) -> SessionRecord:
        problems = [reason]
        summary: dict[str, Any] = {}
        recovered = _recover_from_timeline(path)
        if recovered is not None:
            summary, note = recovered
            problems.append(note)
        tl = path.with_name(path.stem + TIMELINE_SUFFIX)
        return SessionRecord(path, "invalid", summary, problems, tl if tl.exists() else None)

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return invalid(f"summary unreadable: {exc.strerror or exc}")
    if not raw.strip():
        return invalid("summary is empty (the program stopped before writing it?)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return invalid("summary is not UTF-8 text")
    except json.JSONDecodeError as exc:
        return invalid(f"summary is not valid JSON (line {exc.lineno}, col {exc.colno}: {exc.msg})")
    except RecursionError:
        # a crafted or corrupted file nested thousands deep: malformed, not a crash
        return invalid("summary is nested too deeply to be a score log")
    if not isinstance(data, dict):
        return invalid(f"summary is a JSON {type(data).__name__}, not an object")
    schema = data.get("schema")
    if not isinstance(schema, str) or not schema.startswith(_SCHEMA_FAMILY + "/"):
        return invalid(f"not a Fist & Ball score log (schema {schema!r})")
    if schema.rpartition("/")[2] != _SCHEMA_MAJOR:
        return invalid(f"unsupported score log schema {schema!r} (this reader knows {SCHEMA})")
    missing = [k for k in REQUIRED_FIELDS if k not in data]
    if missing:
        return invalid(f"summary lacks field(s): {', '.join(missing)}")
    wrong = [k for k in _TEXTS if not isinstance(data[k], str)]
    wrong += [k for k in _NUMBERS if not _is_number(data[k])]
    wrong += [
        k
        for k in _COUNTS + _OPTIONAL_COUNTS
        if k in data and not (_is_number(data[k]) and float(data[k]).is_integer())
    ]
    if not isinstance(data["completed"], bool):
        wrong.append("completed")
    for k in ("started_at", "ended_at"):
        if _parse_time(data[k]) is None:
            wrong.append(k)
    if wrong:
        return invalid(f"summary has bad value(s) for: {', '.join(wrong)}")

    problems: list[str] = []
    if data["completed"]:
        status = "complete"
    else:
        status = "incomplete"
        if data.get("state") == "running":
            problems.append(
                "not closed: the program stopped during the session (crash or kill); "
                f"figures up to {data['ended_at']}"
            )
        else:
            planned = data.get("planned_s")
            of = f" of {planned:g} s" if _is_number(planned) else ""
            problems.append(
                f"cut short ({data.get('end_reason') or 'stopped'}) after "
                f"{data['duration_s']:g} s{of}"
            )
    timeline_path: Path | None = _timeline_path_for(path, data)
    if timeline_path is not None and not timeline_path.exists():
        problems.append(f"timeline file {timeline_path.name} is missing")
        timeline_path = None
    return SessionRecord(path, status, data, problems, timeline_path)


def list_sessions(folder: Path | str, *, include_invalid: bool = True) -> list[SessionRecord]:
    """Every session summary in `folder`, oldest first (unknown start times last).

    Hidden files (the writer's temp files) are skipped; other JSON files that are not
    score logs come back as `invalid` with the reason unless `include_invalid` is False.
    A missing folder gives an empty list.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    records = [read_session(p) for p in sorted(folder.glob("*.json")) if not p.name.startswith(".")]
    if not include_invalid:
        records = [r for r in records if r.ok]

    def key(r: SessionRecord) -> tuple[int, float, str]:
        st = r.started_at
        if st is None:
            return (1, 0.0, r.path.name)
        if st.tzinfo is None:
            st = st.astimezone()
        return (0, st.timestamp(), r.path.name)

    return sorted(records, key=key)
