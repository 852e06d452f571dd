"""The therapist's progress report: one self-contained HTML file (inline CSS and SVG,
no scripts, no external URLs), buildable in Blender's Python (numpy only).

    build_report(log_folder, "report.html", csv_path="sessions.csv")

Per patient: trend per level, trend charts, the session table (the paper's Table 3 plus
catches/misses/drops), the control metrics, and per-session detail (grade against the
ball's target grade, time per grade). Incomplete sessions are marked; unreadable logs are
listed under "Problems" with the reason and never stop the report.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path

import numpy as np

from ..core.levels import MAX_GRADE
from ..core.score_log import SOFTWARE_VERSION
from .history import (
    History,
    Progress,
    SessionRow,
    group_key,
    group_label,
    level_trends,
    load_history,
    ordered_groups,
    write_csv,
    write_text_atomic,
)
from .metrics import SessionMetrics, TimelineArrays
from .plots import Series, bar_chart, intervals, line_chart, to_days
from .wording import plural, readable_reason

DEFAULT_DETAILS = 12
"""Sessions per patient (the most recent) that get a detail section by default."""

LEVEL_COLORS = {"easy": "#2a9d8f", "medium": "#e09f3e", "hard": "#c8553d", "auto": "#7b5ea7"}
SPEED_COLOR = "#7b5ea7"  # the auto level's colour
OTHER_LEVEL_COLOR = "#6b7280"
TARGET_COLOR = "#f28c28"  # the orange ball
GRADE_COLOR = "#1f5fbf"
HOLD_COLOR = "#2a9d8f"
ZOOM_S = 30.0


class ReportError(ValueError):
    """The report cannot be built (missing folder, unknown patient, unwritable output)."""


def _level_color(level: str) -> str:
    return LEVEL_COLORS.get(level, OTHER_LEVEL_COLOR)


_LENGTH_DASH = {2: None, 4: "7 4", 6: "2 3"}
"""Line style per session length in the trend charts (colour is the level)."""


def _group_dash(minutes: int | None) -> str | None:
    return _LENGTH_DASH.get(minutes or 2, "4 2 1 2")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "x"


class _Anchors:
    """Unique element ids from free text (two names may slug alike: 'P 1' and 'p-1')."""

    def __init__(self) -> None:
        self._taken: dict[str, str] = {}

    def __call__(self, prefix: str, text: str) -> str:
        key = f"{prefix}\0{text}"
        if key not in self._taken:
            base = f"{prefix}-{_slug(text)}"
            anchor, n = base, 1
            while anchor in self._taken.values():
                n += 1
                anchor = f"{base}-{n}"
            self._taken[key] = anchor
        return self._taken[key]


def _num(value: float | None, fmt: str = ".2f", unit: str = "") -> str:
    """A table cell for a number; an em dash for an undefined value."""
    if value is None or not np.isfinite(value):
        return '<span class="na" title="undefined for this session">—</span>'
    return f"{format(value, fmt)}{unit}"


# -- per-session detail --------------------------------------------------------------------
@dataclass(slots=True)
class Detail:
    """The pre-rendered detail charts of one session."""

    timeline_svg: str
    zoom_svg: str
    histogram_svg: str
    speed_svg: str = ""
    """The auto level's ball speed over the session ('' for a fixed level)."""


def render_detail(row: SessionRow, a: TimelineArrays) -> Detail:
    """Charts of one session: grade vs target over the whole session, a 30-s zoom, and
    the time spent at each grade."""
    tol = None
    rules = row.record.summary.get("rules")
    if isinstance(rules, dict) and isinstance(rules.get("tolerance"), int | float):
        tol = float(rules["tolerance"])
    span = float(a.tp[-1] - a.tp[0]) if len(a) > 1 else 1.0
    full_w, zoom_w = 1100.0, 730.0
    series = [
        Series("Target grade (ball)", a.tp, a.target, TARGET_COLOR, width=2.0),
        Series("Grade", a.tp, a.grade, GRADE_COLOR, style="step", width=1.4),
    ]
    common = {
        "x_label": "play time (s)",
        "y_label": "grade",
        "y_min": -0.3,
        "y_max": MAX_GRADE + 0.3,
        "y_ticks": [float(g) for g in range(0, MAX_GRADE + 1, 2)],
        "band_color": HOLD_COLOR,
        "band_name": "ball held",
    }
    full = line_chart(
        series,
        title="Grade and target over the whole session",
        width=full_w,
        height=250,
        bands=intervals(a.tp, a.holding, min_gap=span / full_w),
        key=row.session_id,
        **common,  # type: ignore[arg-type]
    )
    # A readable close-up: 30 s from the middle of the session.
    mid = float(a.tp[0]) + span / 2
    z0 = max(float(a.tp[0]), mid - ZOOM_S / 2)
    z1 = min(float(a.tp[-1]), z0 + ZOOM_S)
    sel = (a.tp >= z0) & (a.tp <= z1)
    zoom_series = [
        Series(s.name, np.asarray(s.x)[sel], np.asarray(s.y)[sel], s.color, s.style, s.width)
        for s in series
    ]
    if tol is not None:
        # The catch zone around the ball, as thin dashed lines.
        zoom_series[1:1] = [
            Series(
                f"catch zone ±{tol:g}",
                a.tp[sel],
                a.target[sel] + tol,
                TARGET_COLOR,
                width=0.9,
                dash="3 3",
            ),
            Series(
                f"catch zone ±{tol:g}",
                a.tp[sel],
                a.target[sel] - tol,
                TARGET_COLOR,
                width=0.9,
                dash="3 3",
            ),
        ]
    zoom = line_chart(
        zoom_series,
        title=f"Close-up: {z0:.0f}–{z1:.0f} s",
        width=zoom_w,
        height=250,
        x_min=z0,
        x_max=z1,
        bands=intervals(a.tp[sel], a.holding[sel]),
        key=row.session_id,
        **common,  # type: ignore[arg-type]
    )
    seconds = row.metrics.grade_seconds if row.metrics is not None else []
    total = sum(seconds) or 1.0
    pct = [100.0 * s / total for s in seconds]
    hist = bar_chart(
        [str(g) for g in range(MAX_GRADE + 1)],
        pct,
        title="Time at each grade",
        x_label="grade (0 = open, 8 = fist)",
        y_label="% of play time",
        color=GRADE_COLOR,
        width=350,
        height=250,
        key=row.session_id,
    )
    return Detail(full, zoom, hist, speed_chart(row, full_w))


def speed_chart(row: SessionRow, width: float = 1100.0) -> str:
    """The auto level's ball speed over play time, as a step line between its bounds
    ('' for a session without an `adaptive.speed_track`)."""
    track = row.speed_track
    if not track:
        return ""
    times = [t for t, _ in track]
    speeds = [v for _, v in track]
    series = [Series("ball speed", times, speeds, SPEED_COLOR, style="step", width=2.0)]
    bounds = row.speed_bounds
    if bounds is not None:
        for bound in bounds:
            series.append(
                Series(
                    "allowed range", [times[0], times[-1]], [bound, bound], "#9ca3af", dash="4 4"
                )
            )
    low = min(speeds + ([bounds[0]] if bounds else []))
    return line_chart(
        series,
        title=f"Ball speed, auto level: {speeds[0]:.2f} → {speeds[-1]:.2f} grade/s",
        x_label="play time (s)",
        y_label="grade/s",
        width=width,
        height=200,
        y_min=0.0 if low < 0.5 else None,
        key=row.session_id,
    )


def _speed_cell(row: SessionRow) -> str:
    """Ball speed in the session table; an auto session shows where it started and ended."""
    track = row.speed_track
    if not track:
        return f"{row.ball_speed:.2f}"
    first, last = track[0][1], track[-1][1]
    return (
        f'<span title="auto level: {plural(max(len(track) - 2, 0), "adjustment")}">'
        f"{first:.2f} → {last:.2f}</span>"
    )


# -- page parts ----------------------------------------------------------------------------
CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --soft:#f8fafc; --accent:#1f5fbf;
  --warn:#b45309; --warnbg:#fff7ed; --bad:#b91c1c; --badbg:#fef2f2; --ok:#15803d; }
* { box-sizing: border-box; }
html { background:#eef1f5; }
body { margin:0; color:var(--ink); font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
  "DejaVu Sans",Arial,sans-serif; }
.page { max-width:1200px; margin:0 auto; padding:0 24px 40px; }
header.top { background:#16324f; color:#fff; padding:22px 0 18px; margin-bottom:22px; }
header.top .page { padding-bottom:0; }
header.top h1 { margin:0 0 4px; font-size:24px; font-weight:650; letter-spacing:.2px; }
header.top .ball { display:inline-block; width:16px; height:16px; border-radius:50%;
  background:#f28c28; margin-right:10px; vertical-align:-1px; }
header.top p { margin:0; color:#cbd5e1; }
nav { margin-top:12px; display:flex; flex-wrap:wrap; gap:8px; }
nav a { color:#fff; background:rgba(255,255,255,.12); padding:3px 10px; border-radius:12px;
  text-decoration:none; font-size:13px; }
nav a.warn { background:#b45309; }
section.card { background:#fff; border:1px solid var(--line); border-radius:10px;
  padding:18px 22px 20px; margin-bottom:22px; box-shadow:0 1px 2px rgba(15,23,42,.05); }
h2 { margin:0 0 12px; font-size:20px; }
h2 small { color:var(--muted); font-weight:400; font-size:14px; margin-left:8px; }
h3 { margin:22px 0 8px; font-size:15px; color:#334155; text-transform:uppercase;
  letter-spacing:.5px; }
.kpis { display:flex; flex-wrap:wrap; gap:12px; margin:6px 0 4px; }
.kpi { flex:1 1 150px; background:var(--soft); border:1px solid var(--line); border-radius:8px;
  padding:9px 13px; }
.kpi .v { font-size:20px; font-weight:650; font-variant-numeric:tabular-nums; }
.kpi .l { color:var(--muted); font-size:12px; }
.kpi .lv { display:inline-block; width:9px; height:9px; border-radius:50%; margin-right:5px; }
.legend { display:flex; flex-wrap:wrap; gap:6px 20px; font-size:13px; margin:2px 0 8px; }
.legend span { display:inline-flex; align-items:center; gap:6px; }
.charts { display:grid; grid-template-columns:repeat(2, minmax(0, 1fr)); gap:10px 18px; }
.charts svg, .detail svg { width:100%; height:auto; display:block; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { padding:5px 8px; border-bottom:1px solid var(--line); text-align:right;
  white-space:nowrap; font-variant-numeric:tabular-nums; }
th { background:var(--soft); color:#334155; font-weight:600; vertical-align:bottom;
  white-space:normal; }
th:first-child, td:first-child, td.l, th.l { text-align:left; }
table.sessions th:nth-child(2), table.metrics th:nth-child(2) { text-align:left; }
tbody tr:nth-child(even) td { background:#fbfcfe; }
tr.incomplete td { background:var(--warnbg) !important; }
.tablewrap { overflow-x:auto; }
.badge { display:inline-block; padding:1px 7px; border-radius:9px; font-size:11.5px;
  font-weight:600; }
.badge.ok { color:var(--ok); background:#ecfdf3; }
.badge.warn { color:var(--warn); background:#ffedd5; }
.badge.bad { color:var(--bad); background:var(--badbg); }
.lvl { display:inline-block; padding:0 7px; border-radius:9px; color:#fff; font-size:12px;
  font-weight:600; }
.na { color:#9ca3af; }
.up { color:var(--ok); font-weight:600; } .down { color:var(--bad); font-weight:600; }
.note { color:var(--muted); font-size:12.5px; margin:6px 0 0; }
details { border:1px solid var(--line); border-radius:8px; margin:8px 0; background:#fff; }
details > summary { cursor:pointer; padding:8px 12px; font-weight:600; list-style-position:
  inside; }
details[open] > summary { border-bottom:1px solid var(--line); background:var(--soft); }
.detail { padding:10px 12px 12px; }
.detail .row { display:grid; grid-template-columns:minmax(0, 2.1fr) minmax(0, 1fr); gap:14px;
  margin-top:8px; }
.facts { display:flex; flex-wrap:wrap; gap:6px 18px; color:#334155; font-size:13px;
  margin:2px 0 6px; }
.facts b { font-variant-numeric:tabular-nums; }
.problems td { white-space:normal; text-align:left; }
dl.gloss { display:grid; grid-template-columns:220px 1fr; gap:6px 16px; margin:0; }
dl.gloss dt { font-weight:600; } dl.gloss dd { margin:0; color:#374151; }
footer { color:var(--muted); font-size:12px; text-align:center; margin-top:10px; }
@media (max-width: 900px) { .charts, .detail .row { grid-template-columns:1fr; } }
@media (max-width: 520px) { .page { padding:0 8px 30px; } section.card { padding:14px 10px; }
  header.top h1 { font-size:20px; } }
@media print { html { background:#fff; } header.top { background:#fff; color:#000; }
  header.top p, nav a { color:#000; } section.card { box-shadow:none; break-inside:avoid; } }
"""


def _level_tag(level: str) -> str:
    return f'<span class="lvl" style="background:{_level_color(level)}">{escape(level)}</span>'


def _status_badge(row: SessionRow) -> str:
    if row.completed:
        return '<span class="badge ok">yes</span>'
    label = "not closed" if row.record.summary.get("state") == "running" else "cut short"
    return f'<span class="badge warn" title="{escape(readable_reason(row.note))}">{label}</span>'


def _kpis(rows: list[SessionRow]) -> str:
    done = [r for r in rows if r.completed]
    play_min = sum(r.duration_s for r in rows) / 60.0
    dated = [r.started for r in rows if r.started is not None]
    if len(dated) > 1:
        a, b = dated[0], dated[-1]
        period = f"{a.day} {a:%b}" + (f" {a.year}" if a.year != b.year else "")
        period += f" – {b.day} {b:%b %Y}"
    else:
        period = f"{dated[0].day} {dated[0]:%b %Y}" if dated else "unknown"
    items = [
        (str(len(rows)), f"{'session' if len(rows) == 1 else 'sessions'} ({len(done)} complete)"),
        (f"{play_min:.0f} min", "total play time"),
        (period, "period"),
    ]
    if done:
        best = max(done, key=lambda r: r.score)
        items.append((f"{best.score:.0f}", f"best score ({best.level}, {best.date_text[:10]})"))
    return (
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><div class="v">{escape(v)}</div><div class="l">{escape(lab)}</div>'
            "</div>"
            for v, lab in items
        )
        + "</div>"
    )


def _signed(value: float | None, unit: str, fmt: str = "+.0f") -> str:
    if value is None:
        return '<span class="na" title="needs sessions on two or more dates">—</span>'
    cls = "up" if value > 0 else "down" if value < 0 else ""
    return f'<span class="{cls}">{format(value, fmt)}{unit}</span>'


def _trend_table(rows: list[SessionRow]) -> str:
    trends = level_trends(rows)
    if not trends:
        return '<p class="note">No complete session yet: no trend.</p>'
    parts = []
    for t in trends:
        first = f"{t.first.day} {t.first:%b %Y}" if t.first else "—"
        last = f"{t.last.day} {t.last:%b %Y}" if t.last else "—"
        parts.append(
            f'<tr data-level="{escape(t.level)}" data-minutes="{t.minutes or ""}" '
            f'data-mean-score="{t.mean_score:.2f}">'
            f"<td>{_level_tag(t.level)} {_minutes_text(t.minutes)}</td><td>{t.sessions}</td>"
            f"<td>{first}</td>"
            f"<td>{last}</td><td>{t.first_score:.0f}</td><td>{t.last_score:.0f}</td>"
            f"<td><b>{t.mean_score:.0f}</b></td>"
            f"<td>{_signed(t.score_per_week, ' /wk')}</td>"
            f"<td>{_signed(t.held_pct_per_week, ' pp/wk', '+.1f')}</td></tr>"
        )
    body = "".join(parts)
    return (
        '<div class="tablewrap"><table class="trend"><thead><tr><th>Level · length</th>'
        "<th>Complete "
        "sessions</th><th>First</th><th>Last</th><th>First score</th><th>Last score</th>"
        "<th>Mean score</th><th>Score trend</th><th>Held-time trend</th></tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
        '<p class="note">Trends are least-squares slopes over the dates of the complete '
        "sessions at each level (points per week; percentage points of play time held per "
        "week). Scores depend on the level and the session length: compare a row with itself, "
        "not with the other rows.</p>"
    )


def _minutes_text(minutes: int | None) -> str:
    return "" if minutes is None else f"· {minutes} min"


def _trend_charts(rows: list[SessionRow]) -> str:
    groups = ordered_groups(rows)

    def chart(
        title: str,
        y_label: str,
        value: Callable[[SessionRow], float | None],
        y_min: float | None = 0.0,
        y_max: float | None = None,
    ) -> str:
        series: list[Series] = []
        for key in groups:
            pts: list[tuple[SessionRow, float]] = []
            for r in rows:
                v = value(r)
                if group_key(r) == key and r.started is not None and v is not None:
                    pts.append((r, v))
            done = [(r, v) for r, v in pts if r.completed]
            cut = [(r, v) for r, v in pts if not r.completed]
            for group, hollow in ((done, False), (cut, True)):
                if not group:
                    continue
                series.append(
                    Series(
                        group_label(key),
                        [to_days(r.started) for r, _ in group if r.started is not None],
                        [v for _, v in group],
                        _level_color(key[0]),
                        style="points" if hollow else "linepoints",
                        width=1.8,
                        dash=_group_dash(key[1]),
                        hollow=[hollow] * len(group),
                        labels=[
                            f"{r.date_text} {group_label(key)}: {v:.3g}"
                            + ("" if r.completed else " (incomplete)")
                            for r, v in group
                        ],
                    )
                )
        return line_chart(
            series,
            title=title,
            y_label=y_label,
            dates=True,
            y_min=y_min,
            y_max=y_max,
            width=580,
            height=250,
            legend=False,
            empty_text="no dated sessions",
            key=f"{rows[0].patient}|{rows[0].session_id}",
        )

    def metric(name: str) -> Callable[[SessionRow], float | None]:
        def get(r: SessionRow) -> float | None:
            value = getattr(r.metrics, name, None) if r.metrics is not None else None
            return float(value) if value is not None else None

        return get

    charts = [
        chart("Score", "points", lambda r: r.score),
        chart(
            "Share of play time the ball was held",
            "% held",
            lambda r: None if r.held_fraction is None else 100.0 * r.held_fraction,
            0.0,
            100.0,
        ),
        chart("Catches per session", "catches", lambda r: float(r.catches)),
        chart("Grade-tracking error, RMS (lower is better)", "grades", metric("rms_error")),
    ]
    if any(r.metrics is not None for r in rows):
        charts.append(
            chart(
                "Time to catch, median (lower is better)",
                "seconds",
                metric("time_to_catch_median_s"),
            )
        )
        charts.append(
            chart("Hold stability, SD while holding (lower is better)", "grades", metric("hold_sd"))
        )
    if any(r.speed_track for r in rows):
        # Where the adaptive rule took the ball by the end of each auto session.
        charts.append(
            chart(
                "Ball speed reached, auto level",
                "grade/s",
                lambda r: r.speed_track[-1][1] if r.speed_track else None,
            )
        )
    legend = "".join(
        f'<span><svg width="30" height="12" aria-hidden="true"><line x1="1" x2="29" y1="6" '
        f'y2="6" stroke="{_level_color(k[0])}" stroke-width="2.5"'
        + (f' stroke-dasharray="{_group_dash(k[1])}"' if _group_dash(k[1]) else "")
        + f'/><circle cx="15" cy="6" r="3.5" fill="{_level_color(k[0])}"/></svg>'
        f"{escape(group_label(k))}</span>"
        for k in groups
    )
    legend += (
        '<span><svg width="14" height="12" aria-hidden="true"><circle cx="7" cy="6" r="4" '
        'fill="#fff" stroke="#6b7280" stroke-width="1.8"/></svg>incomplete session</span>'
    )
    return (
        f'<div class="legend">{legend}</div><div class="charts">'
        + "".join(f"<div>{c}</div>" for c in charts)
        + "</div>"
        '<p class="note">Each line joins the complete sessions of one level and session '
        "length. Open circles: incomplete sessions (their figures are not comparable).</p>"
    )


def _session_table(rows: list[SessionRow]) -> str:
    head = (
        "<tr><th>Date</th><th>Mode (level)</th><th>Length (min)</th>"
        "<th>Ball speed (grade/s)</th><th>Up-and-down movements</th><th>Held time (s)</th>"
        "<th>Held %</th><th>Score</th><th>Catches</th><th>Misses</th><th>Drops</th>"
        "<th>Completed</th></tr>"
    )
    body = []
    for r in rows:
        held_pct = None if r.held_fraction is None else 100.0 * r.held_fraction
        body.append(
            f'<tr class="{"" if r.completed else "incomplete"}" '
            f'data-patient="{escape(r.patient)}" data-score="{r.score:.2f}">'
            f'<td>{escape(r.date_text)}</td><td class="l">{_level_tag(r.level)}</td>'
            f"<td>{_num(r.minutes, '.0f')}</td><td>{_speed_cell(r)}</td>"
            f"<td>{r.up_down_movements}</td><td>{r.held_s:.1f}</td>"
            f"<td>{_num(held_pct, '.0f')}</td><td><b>{r.score:.0f}</b></td>"
            f"<td>{r.catches}</td><td>{_num(r.misses, 'd')}</td><td>{_num(r.drops, 'd')}</td>"
            f"<td>{_status_badge(r)}</td></tr>"
        )
    notes = [
        f"<li><b>{escape(r.date_text)}</b> ({escape(r.session_id)}): "
        f"{escape(readable_reason(r.note))}</li>"
        for r in rows
        if r.note
    ]
    foot = f'<ul class="note">{"".join(notes)}</ul>' if notes else ""
    return (
        '<div class="tablewrap"><table class="sessions">'
        f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table></div>{foot}"
    )


def _metrics_cells(m: SessionMetrics | None, note: str) -> str:
    if m is None:
        return f'<td colspan="10" class="l na">{escape(note or "no timeline")}</td>'
    fresh = m.trials - m.trials_carried
    trials = f"{m.trials_caught}/{fresh}" if fresh else "—"
    over = (
        f"{m.overshoot_mean:.2f} / {m.overshoot_max:.0f}"
        if m.overshoot_mean is not None and m.overshoot_max is not None
        else _num(None)
    )
    return (
        f'<td title="{m.trials_carried} of {m.trials} cycles began with the ball held">'
        f"{trials}</td>"
        f"<td>{_num(m.time_to_zone_median_s)}</td><td>{_num(m.time_to_catch_median_s)}</td>"
        f"<td>{_num(m.recatch_median_s)}</td><td>{_num(m.hold_sd)}</td><td>{over}</td>"
        f"<td>{_num(m.rms_error)}</td><td>{_num(m.mae)}</td>"
        f"<td>{_num(m.path_efficiency)}</td><td>{_num(m.tracking_lag_s)}</td>"
    )


def _metrics_table(rows: list[SessionRow]) -> str:
    head = (
        "<tr><th>Date</th><th>Level</th><th>Cycles caught / needing a catch</th>"
        "<th>Time to zone (s, median)</th><th>Time to catch (s, median)</th>"
        "<th>Re-catch after drop (s, median)</th><th>Hold stability (SD, grades)</th>"
        "<th>Overshoot (mean / max, grades)</th><th>Tracking error RMS (grades)</th>"
        "<th>Tracking error MAE (grades)</th><th>Path efficiency</th>"
        "<th>Tracking lag (s)</th></tr>"
    )
    body = "".join(
        f'<tr class="{"" if r.completed else "incomplete"}"><td>{escape(r.date_text)}</td>'
        f'<td class="l">{_level_tag(r.level)}</td>{_metrics_cells(r.metrics, r.metrics_note)}'
        "</tr>"
        for r in rows
    )
    return (
        '<div class="tablewrap"><table class="metrics">'
        f"<thead>{head}</thead><tbody>{body}</tbody></table></div>"
        '<p class="note">— = undefined for that session (e.g. no catch was needed, no hold, '
        'or the ball never turned inside the grade range). See "How to read the control '
        'metrics" below.</p>'
    )


def _detail_section(row: SessionRow, detail: Detail, open_: bool, anchors: _Anchors) -> str:
    m = row.metrics
    facts = [
        ("Score", f"{row.score:.0f}"),
        ("Held", f"{row.held_s:.1f} s"),
        ("Catches", str(row.catches)),
        ("Misses", "—" if row.misses is None else str(row.misses)),
        ("Drops", "—" if row.drops is None else str(row.drops)),
        ("Cycles", str(row.up_down_movements)),
        ("Decoder", row.decoder or "—"),
        ("Source", row.source or "—"),
    ]
    if m is not None:
        facts += [
            ("RMS error", f"{m.rms_error:.2f}" if m.rms_error is not None else "—"),
            ("In zone", f"{100 * m.in_zone_fraction:.0f} %" if m.in_zone_fraction else "—"),
        ]
    fact_html = "".join(f"<span>{escape(k)}: <b>{escape(v)}</b></span>" for k, v in facts)
    status = "" if row.completed else f" {_status_badge(row)}"
    return (
        f'<details{" open" if open_ else ""} id="{anchors("s", row.session_id)}">'
        f"<summary>{escape(row.date_text)} · {_level_tag(row.level)} · score "
        f"{row.score:.0f}{status}</summary>"
        f'<div class="detail"><div class="facts">{fact_html}</div>{detail.timeline_svg}'
        f'<div class="row"><div>{detail.zoom_svg}</div><div>{detail.histogram_svg}</div></div>'
        f"{detail.speed_svg}"
        "</div></details>"
    )


def _most_recent(n: int) -> str:
    return "most recent session" if n == 1 else f"{n} most recent sessions"


def _patient_section(rows: list[SessionRow], details: dict[int, Detail], anchors: _Anchors) -> str:
    name = rows[0].patient
    shown = [r for r in reversed(rows) if id(r) in details]
    det_html = "".join(
        _detail_section(r, details[id(r)], k == 0, anchors) for k, r in enumerate(shown)
    )
    if len(shown) < len(rows):
        det_html += (
            f'<p class="note">Details shown for the {_most_recent(len(shown))} of '
            f"{plural(len(rows), 'session')} (fist-and-ball report --details N to change).</p>"
        )
    return (
        f'<section class="card patient" id="{anchors("p", name)}" data-patient="{escape(name)}">'
        f"<h2>Patient: {escape(name)}<small>{plural(len(rows), 'session')}</small></h2>"
        f"{_kpis(rows)}<h3>Trend per level</h3>{_trend_table(rows)}"
        f"<h3>Progress over time</h3>{_trend_charts(rows)}"
        f"<h3>Sessions (Table 3)</h3>{_session_table(rows)}"
        f"<h3>Control metrics</h3>{_metrics_table(rows)}"
        f"<h3>Session details</h3>{det_html or '<p class=note>No timeline to show.</p>'}"
        "</section>"
    )


def _problems_section(history: History) -> str:
    if not history.problems:
        return (
            '<section class="card" id="problems"><h2>Problems</h2>'
            '<p class="note">None: every log was read in full.</p></section>'
        )
    rows = "".join(
        f"<tr><td>{escape(p.file)}</td><td>"
        f'<span class="badge {"bad" if p.severity == "error" else "warn"}">'
        f"{'not in report' if p.severity == 'error' else 'shown, with caveat'}</span></td>"
        f"<td>{escape(p.reason)}</td></tr>"
        for p in sorted(history.problems, key=lambda p: (p.severity != "error", p.file))
    )
    return (
        '<section class="card" id="problems"><h2>Problems</h2>'
        '<div class="tablewrap"><table class="problems"><thead><tr><th class="l">File</th>'
        '<th class="l">Status</th><th class="l">Reason</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></section>"
    )


GLOSSARY = (
    ("Cycle", "One up-and-down movement of the ball; it ends when the ball finishes its fall."),
    (
        "Time to zone / to catch",
        "From the start of a cycle to the first moment the hand is in the catch zone / to "
        "the catch (which needs the level's dwell time in the zone). Only cycles that did "
        "not begin with the ball already held. Lower is better.",
    ),
    ("Re-catch after drop", "From a drop to the next catch. Lower is better."),
    (
        "Hold stability",
        "Standard deviation of (grade − target grade) while the ball is held, in grades: "
        "how steady the closure is. Lower is better.",
    ),
    (
        "Overshoot",
        "At each turning point of the ball, how many grades the hand went past the grade "
        "nearest the turning point before coming back (0 = none).",
    ),
    (
        "Tracking error",
        "RMS and mean absolute difference between the grade and the ball's target grade "
        "over the whole play time. Perfect tracking with whole grades gives about 0.3.",
    ),
    (
        "Path efficiency",
        "Net grade change ÷ grade distance travelled, for moves that end in the catch zone "
        "(1 = straight, no back-and-forth).",
    ),
    (
        "Tracking lag",
        "The delay of the grade behind the ball that best lines the two up (reaction and "
        "movement time). Lower is better.",
    ),
)


def render_report(
    history: History,
    details: dict[int, Detail],
    *,
    title: str = "Fist & Ball — progress report",
    generated: datetime | None = None,
) -> str:
    """The whole report as one HTML string (`details` keyed by id(session row))."""
    generated = generated or datetime.now().astimezone()
    n_sessions = len(history.rows)
    errors = sum(1 for p in history.problems if p.severity == "error")
    anchors = _Anchors()
    nav = "".join(
        f'<a href="#{anchors("p", name)}">{escape(name)}</a>' for name in history.patients
    )
    # The count is the Problems table's rows; orange when a log was left out entirely.
    nav += (
        f'<a href="#problems" class="{"warn" if errors else ""}" '
        f'data-problems="{len(history.problems)}">Problems ({len(history.problems)})</a>'
    )
    nav += '<a href="#glossary">Metrics</a>'
    sub = (
        f"{plural(n_sessions, 'session')} of {plural(len(history.patients), 'patient')} · "
        "log folder "
        f"{escape(str(history.folder))} · generated {generated:%Y-%m-%d %H:%M}"
    )
    patients = "".join(
        _patient_section(rows, details, anchors) for rows in history.patients.values()
    )
    if not history.patients:
        patients = (
            '<section class="card"><h2>No sessions</h2><p class="note">No readable score '
            f"log in {escape(str(history.folder))}.</p></section>"
        )
    gloss = "".join(f"<dt>{escape(a)}</dt><dd>{escape(b)}</dd>" for a, b in GLOSSARY)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><div class="page"><h1><span class="ball"></span>'
        f"{escape(title)}</h1><p>{sub}</p><nav>{nav}</nav></div></header>"
        f'<main class="page">{patients}{_problems_section(history)}'
        '<section class="card" id="glossary"><h2>How to read the control metrics</h2>'
        f'<dl class="gloss">{gloss}</dl><p class="note">Exact formulas: docs/metrics.md of '
        "the Fist &amp; Ball project.</p></section>"
        f"<footer>Fist &amp; Ball {escape(SOFTWARE_VERSION)} · therapist report · "
        "self-contained file: no scripts, no network.</footer></main></body></html>\n"
    )


def build_report(
    folder: Path | str,
    out_path: Path | str,
    *,
    patient: str | None = None,
    csv_path: Path | str | None = None,
    details: int | None = DEFAULT_DETAILS,
    progress: Progress | None = None,
    title: str = "Fist & Ball — progress report",
) -> Path:
    """Read the score logs in `folder` and write the HTML report to `out_path`.

    `patient` keeps one patient; `csv_path` also writes the session table as CSV;
    `details` is how many recent sessions per patient get detail charts (None = all).
    Returns the report's path. Bad logs are listed in the report, never fatal. Raises
    ReportError (a ValueError) if the folder does not exist, the patient is unknown or
    the output cannot be written. No bpy, no matplotlib: runs inside Blender.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ReportError(f"log folder {folder} does not exist")
    rendered: dict[int, Detail] = {}

    def keep_detail(row: SessionRow, arrays: TimelineArrays) -> None:
        rendered[id(row)] = render_detail(row, arrays)

    history = load_history(
        folder, patient=patient, detail=keep_detail, detail_latest=details, progress=progress
    )
    if patient and not history.patients:
        known = ", ".join(sorted(history.other_patients, key=str.casefold)) or "none"
        raise ReportError(f"no sessions of patient {patient!r} in {folder} (patients: {known})")
    html = render_report(history, rendered, title=title)
    out = Path(out_path).expanduser()
    try:
        write_text_atomic(out, html)
        if csv_path is not None:
            write_csv(history.rows, csv_path)
    except OSError as exc:
        raise ReportError(f"cannot write the report: {exc}") from None
    return out
