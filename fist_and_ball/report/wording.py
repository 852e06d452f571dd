"""Words for people in the report: counts with the right singular or plural, and the
reader's terse reasons (`score_reader`) rewritten as short, complete sentences.

Pure Python (no numpy): it runs in Blender's bundled Python like the rest of the report.
The reader's own texts stay as they are (other tools and tests match on them); only the
report rewrites them.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

_IRREGULAR = {"patient": "patients", "session": "sessions", "entry": "entries"}


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 session`, `2 sessions`, `0 sessions` (`many` for an irregular plural)."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {many or _IRREGULAR.get(word, word + 's')}"


def _and_list(items: list[str]) -> str:
    items = [i.strip() for i in items if i.strip()]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


_JSON_MESSAGES = (
    ("Unterminated string", "a text value is not closed"),
    ("Expecting value", "a value is missing"),
    ("Expecting ',' delimiter", "a comma is missing"),
    ("Expecting ':' delimiter", "a colon is missing"),
    ("Expecting property name", "a field name is missing"),
    ("Extra data", "there is extra text after the end"),
    ("Invalid control character", "a text value holds a control character"),
)


def _json_problem(message: str) -> str:
    for start, plain in _JSON_MESSAGES:
        if message.startswith(start):
            return plain
    return message.split(":")[0].strip().lower() or "the syntax is wrong"


def _cut_off(path: Path | None) -> bool:
    """True if the file's JSON breaks only because it ends too early (a crash mid-write)."""
    if path is None:
        return False
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        json.loads(text)
    except json.JSONDecodeError as exc:
        # An unclosed string runs to the end of the file by definition.
        return exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip())
    except (OSError, RecursionError):
        return False
    return False


_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"not a Fist & Ball score log \(schema None\)"),
        'Not a Fist & Ball score log: it has no "schema" field, so it is probably '
        "another program's file",
    ),
    (
        re.compile(r"not a Fist & Ball score log \(schema (?P<s>.+)\)"),
        "Not a Fist & Ball score log: its schema is {s}",
    ),
    (
        re.compile(r"unsupported score log schema '(?P<s>[^']*)' \(this reader knows (?P<k>.+)\)"),
        "Written in score log format {s}, which this version cannot read (it reads {k}); "
        "update Fist & Ball to include it",
    ),
    (
        re.compile(r"summary is a JSON (?P<t>\w+), not an object"),
        "Not a Fist & Ball score log: the file holds a JSON {t}, not a session summary",
    ),
    (
        re.compile(r"figures recovered from (?P<n>\d+) timeline rows"),
        "Its timeline ({n} rows) survives, but it is left out without a summary",
    ),
    (
        re.compile(r"timeline: last line incomplete \(cut off\), left out"),
        "The timeline's last line was cut off (the program stopped while writing); "
        "that line is left out",
    ),
    (
        re.compile(r"timeline file (?P<f>\S+) is missing"),
        "Its timeline file {f} is missing, so it has no control metrics or detail charts",
    ),
    (
        re.compile(r"no metrics: (?P<m>.+)"),
        "No control metrics: {m}",
    ),
)


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    if not text:
        return ""
    return text[0].upper() + text[1:] + "."


def _one(part: str, path: Path | None) -> str:
    part = part.strip()
    m = re.fullmatch(r"summary is not valid JSON \(line (\d+), col (\d+): (.+)\)", part)
    if m:
        where = f"line {m.group(1)}, column {m.group(2)}"
        if _cut_off(path):
            return _sentence(
                f"The summary file is cut off at {where} "
                "(the program probably stopped while writing it)"
            )
        return _sentence(f"The summary file is damaged: at {where} {_json_problem(m.group(3))}")
    m = re.fullmatch(r"summary lacks field\(s\): (.+)", part)
    if m:
        names = m.group(1).split(", ")
        noun = "field" if len(names) == 1 else "fields"
        return _sentence(f"The summary lacks the {noun} {_and_list(names)}")
    m = re.fullmatch(r"summary has bad value\(s\) for: (.+)", part)
    if m:
        names = m.group(1).split(", ")
        noun = "a bad value" if len(names) == 1 else "bad values"
        return _sentence(f"The summary has {noun} for {_and_list(names)}")
    m = re.fullmatch(r"figures up to (\S+)", part)
    if m:
        try:
            when = datetime.fromisoformat(m.group(1))
        except ValueError:
            return _sentence(part)
        if when.tzinfo is not None:
            when = when.astimezone()  # the therapist's local time, like the table
        return _sentence(f"Its figures run up to {when:%Y-%m-%d %H:%M}")
    m = re.fullmatch(r"timeline: (\d+) malformed row\(s\) left out", part)
    if m:
        n = int(m.group(1))
        return _sentence(f"{plural(n, 'malformed timeline row')} left out")
    for pattern, template in _RULES:
        m = pattern.fullmatch(part)
        if m:
            return _sentence(template.format(**m.groupdict()))
    return _sentence(part)


def readable_reason(reason: str, path: Path | None = None) -> str:
    """The reader's reason(s) (`; `-joined) as short complete sentences.

    `path` is the file the reason is about: with it, a JSON error at the very end of the
    file is told as "cut off" (a crash mid-write) rather than as damage.
    """
    parts = [p for p in reason.split("; ") if p.strip()]
    return " ".join(_one(p, path) for p in parts) or "Unreadable."
