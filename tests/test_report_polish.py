"""Report polish (issue 16 item 5): axes and ticks that fit the data, counts that match,
readable reasons, singular/plural, and the auto level's ball speed."""

from __future__ import annotations

import itertools
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_report import START, add_session

from fist_and_ball.report import build_report
from fist_and_ball.report.plots import Series, date_axis, line_chart, nice_ticks, to_days
from fist_and_ball.report.wording import plural, readable_reason

SVG = "{http://www.w3.org/2000/svg}"
DAY0 = to_days(datetime(2025, 3, 3, 10, 0))


# -- axes and ticks ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("days", "max_pad"),
    [
        ([DAY0], 1.6),  # one session: the day before, its day, the day after
        ([DAY0, DAY0 + 1], 1.6),  # two sessions a day apart
        ([DAY0 + 2.4 * k for k in range(30)], 15.0),  # 30 sessions over ten weeks
    ],
    ids=["one", "two-a-day-apart", "thirty-over-weeks"],
)
def test_date_axis_spans_the_data_with_sensible_padding(days, max_pad):
    axis = date_axis(min(days), max(days))
    lo_pad, hi_pad = min(days) - axis.lo, axis.hi - max(days)
    assert 0.5 <= lo_pad <= max_pad and 0.5 <= hi_pad <= max_pad
    positions = [t for t, _ in axis.ticks]
    assert positions[0] <= min(days) and positions[-1] >= max(days)  # ticks cover the data
    assert 3 <= len(positions) <= 8
    labels = [lab for _, lab in axis.ticks]
    assert len(set(labels)) == len(labels)
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2}", lab) for lab in labels), labels


def test_one_session_axis_names_its_day_and_no_other_year():
    axis = date_axis(DAY0, DAY0)
    assert [lab for _, lab in axis.ticks] == ["2 Mar", "3 Mar", "4 Mar"]


def test_date_axis_over_months_and_years_uses_month_or_year_ticks():
    months = [lab for _, lab in date_axis(DAY0, DAY0 + 200).ticks]
    assert all(re.fullmatch(r"[A-Z][a-z]{2} \d{4}", lab) for lab in months), months
    years = [lab for _, lab in date_axis(DAY0, DAY0 + 8 * 365).ticks]
    assert all(re.fullmatch(r"\d{4}", lab) for lab in years), years
    assert int(years[0]) <= 2025 and int(years[-1]) >= 2033


@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(1e-3, 1e6, allow_nan=False),
)
def test_nice_ticks_cover_any_range(lo, span):
    ticks = nice_ticks(lo, lo + span)
    slack = 1e-6 * span  # float noise, not a visible gap
    assert ticks[0] <= lo + slack and ticks[-1] >= lo + span - slack
    assert 2 <= len(ticks) <= 12
    steps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(steps) - min(steps) <= 1e-4 * max(steps)  # evenly spaced


def _points_and_ticks(svg: str) -> tuple[list[float], list[float], list[float], list[float]]:
    """Dot centres (x, y) and tick positions (x, y) in an SVG chart, in pixels."""
    root = ET.fromstring(svg)
    cx = [float(c.get("cx", "nan")) for c in root.iter(f"{SVG}circle")]
    cy = [float(c.get("cy", "nan")) for c in root.iter(f"{SVG}circle")]
    grid = [ln for ln in root.iter(f"{SVG}line") if ln.get("stroke") == "#e5e7eb"]
    marks = [
        ln
        for ln in root.iter(f"{SVG}line")
        if ln.get("x1") == ln.get("x2") and ln.get("stroke") == "#9ca3af"
    ]
    return (
        cx,
        cy,
        [float(m.get("x1", "nan")) for m in marks],
        [float(g.get("y1", "nan")) for g in grid],
    )


@pytest.mark.parametrize(
    "values",
    [[1174.0], [0.69], [2.0, 2.0], [0.3, 1.04, 0.41], [97.0, 99.5]],
    ids=["score", "small", "equal", "spread", "near-100"],
)
def test_every_dot_lies_within_the_ticks(values):
    days = [DAY0 + 7 * k for k in range(len(values))]
    svg = line_chart(
        [Series("x", days, values, "#000", style="linepoints")],
        title="t",
        dates=True,
        y_min=0.0,
    )
    cx, cy, tick_x, tick_y = _points_and_ticks(svg)
    assert len(cy) == len(values)
    # SVG y grows downwards: the top tick has the smallest y.
    assert all(min(tick_y) <= y <= max(tick_y) for y in cy), (cy, tick_y)
    assert all(min(tick_x) <= x <= max(tick_x) for x in cx), (cx, tick_x)
    assert min(tick_y) < min(cy)  # headroom: the top dot is below the top tick line


# -- wording -------------------------------------------------------------------------------------
def test_plural():
    assert plural(1, "session") == "1 session"
    assert plural(0, "session") == "0 sessions"
    assert plural(2, "patient") == "2 patients"
    assert plural(3, "entry") == "3 entries"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("not a Fist & Ball score log (schema None)", 'has no "schema" field'),
        ("not a Fist & Ball score log (schema 'x/1')", "its schema is 'x/1'"),
        ("summary lacks field(s): session_id", "lacks the field session_id."),
        ("summary lacks field(s): a, b, c", "lacks the fields a, b and c."),
        ("summary has bad value(s) for: score", "has a bad value for score."),
        ("timeline: 1 malformed row(s) left out", "1 malformed timeline row left out."),
        ("cut short (stopped by therapist) after 75 s of 120 s", "Cut short (stopped by"),
    ],
)
def test_reasons_read_as_sentences(raw, expected):
    text = readable_reason(raw)
    assert expected in text
    assert (text[0].isupper() or text[0].isdigit()) and text.endswith(".")
    assert "schema None" not in text and "(s)" not in text


def test_a_truncated_summary_is_told_as_cut_off(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"schema": "fist-and-ball.score-log/1", "patient": "P0')
    raw = "summary is not valid JSON (line 1, col 53: Unterminated string starting at: line 1)"
    text = readable_reason(raw, path)
    assert text.startswith("The summary file is cut off at line 1, column 53")
    damaged = tmp_path / "d.json"
    damaged.write_text('{"schema": 1,, "x": 2}')
    text = readable_reason("summary is not valid JSON (line 1, col 14: Expecting value)", damaged)
    assert text == "The summary file is damaged: at line 1, column 14 a value is missing."


# -- the built page --------------------------------------------------------------------------------
def add_auto_session(folder: Path, patient: str, day: int, track: list[list[float]]) -> Path:
    """A real 2-min session whose summary carries the auto level's speed track (the shared
    contract of issues 15/16), written by the test so it does not depend on the game's rule."""
    _, path = add_session(folder, patient, "medium", 0.6, 0, 40 + day)
    data = json.loads(path.read_text())
    when = START + timedelta(days=day)
    data.update(level="auto", started_at=when.isoformat())
    data["ended_at"] = (when + timedelta(minutes=3)).isoformat()
    data["adaptive"] = {
        "rule": "test rule",
        "target_hold_share": [0.45, 0.7],
        "speed_bounds": [1.2, 4.8],
        "speed_track": track,
    }
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def one_session(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("one")
    add_session(folder, "P01", "easy", 0.6, 0, 1)
    (folder / "broken.json").write_text('{"schema": "fist-and-ball.score-log/1", "pat')
    (folder / "other.json").write_text('{"theme": "dark"}')
    lost = json.loads(next(folder.glob("*p01-easy.json")).read_text())
    lost.update(session_id="lost", timeline="gone.csv")
    (folder / "lost.json").write_text(json.dumps(lost))  # shown, with a caveat
    return build_report(folder, folder / "report.html").read_text()


def test_one_session_page_wording_and_counts(one_session):
    html = one_session
    text = re.sub(r"<[^>]+>", "", html)
    assert not re.search(r"\w\(s\)", text)  # no "session(s)"; "time (s)" is a unit
    assert "2 sessions of 1 patient ·" in html
    badge = re.search(r'data-problems="(\d+)">Problems \((\d+)\)', html)
    assert badge is not None and badge.group(1) == badge.group(2)
    problems = html.split('id="problems"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td><span class=\"badge[^>]+>[^<]+</span></td><td>([^<]+)</td>",
        problems,
    )
    assert int(badge.group(1)) == len(rows) >= 3
    reasons = [r for _, r in rows]
    assert all(r[0].isupper() and r.endswith(".") for r in reasons), reasons
    assert not any("schema None" in r or "(char" in r or "col " in r for r in reasons), reasons


def test_one_session_trend_charts_show_its_day(one_session):
    charts = one_session.split("Progress over time", 1)[1].split("Sessions (Table 3)", 1)[0]
    svgs = re.findall(r"<svg xmlns.*?</svg>", charts, flags=re.S)
    assert len(svgs) >= 4
    for svg in svgs:
        assert "2020" not in svg and "2032" not in svg
        texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
        assert "3 Mar" in texts
        _, cy, _, tick_y = _points_and_ticks(svg)
        assert all(min(tick_y) <= y <= max(tick_y) for y in cy)


def test_auto_sessions_show_their_speed(tmp_path):
    add_auto_session(tmp_path, "P07", 0, [[0, 2.0], [20, 2.3], [60, 2.645], [120, 2.645]])
    add_auto_session(tmp_path, "P07", 7, [[0, 2.6], [40, 2.26], [120, 2.26]])
    html = build_report(tmp_path, tmp_path / "r.html").read_text()
    assert "2.00 → 2.65" in html and "2.60 → 2.26" in html  # the session table
    assert (
        'title="auto level: 2 adjustments"' in html and 'title="auto level: 1 adjustment"' in html
    )
    assert len(re.findall(r"t\">Ball speed, auto level:", html)) == 2  # one chart per detail
    trend = html.split("Ball speed reached, auto level", 1)[1].split("</svg>", 1)[0]
    assert trend.count("<circle") == 2
    assert "auto · 2 min" in html


def test_a_malformed_speed_track_is_ignored(tmp_path):
    path = add_auto_session(tmp_path, "P08", 0, [[0, 2.0]])
    data = json.loads(path.read_text())
    data["adaptive"]["speed_track"] = [["x", 1], [5, float("inf")], "junk"]
    path.write_text(json.dumps(data).replace("Infinity", "1e999"))
    html = build_report(tmp_path, tmp_path / "r.html").read_text()
    assert "Ball speed, auto level:" not in html and 'data-patient="P08"' in html
