"""Plots for the therapist report as hand-written inline SVG (no matplotlib, no JS).

Why not matplotlib: the report must also be built inside Blender's bundled Python (the
add-on's "Open report" button), which has numpy but no matplotlib. Hand-written SVG is a
single code path everywhere, is small, deterministic, crisp at any zoom and prints well.

Two chart kinds cover the report: `line_chart` (lines, steps, points; numeric or date
x axis; shaded x bands) and `bar_chart` (the grade histogram). Both return an `<svg>`
string that can be pasted into HTML as is.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

import numpy as np

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif"
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
AXIS = "#9ca3af"


@dataclass(slots=True)
class Series:
    """One data series. `style`: line | step | points | linepoints. `hollow[k]` draws
    point k as an open circle (e.g. an incomplete session)."""

    name: str
    x: Sequence[float] | np.ndarray
    y: Sequence[float] | np.ndarray
    color: str
    style: str = "line"
    width: float = 1.8
    dash: str | None = None
    hollow: Sequence[bool] | None = None
    labels: Sequence[str] | None = None
    """Tooltip text per point (SVG <title>), for points styles."""


@dataclass(slots=True)
class Frame:
    """Pixel geometry of a chart's plotting area and its data ranges."""

    width: float
    height: float
    left: float = 54.0
    right: float = 16.0
    top: float = 34.0
    bottom: float = 42.0
    x0: float = 0.0
    x1: float = 1.0
    y0: float = 0.0
    y1: float = 1.0
    parts: list[str] = field(default_factory=list)
    fingerprint: str = ""

    def px(self, x: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return self.left + (x - self.x0) / span * (self.width - self.left - self.right)

    def py(self, y: float) -> float:
        span = self.y1 - self.y0 or 1.0
        return (
            self.height
            - self.bottom
            - (y - self.y0) / span * (self.height - self.top - self.bottom)
        )


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k steps) that cover lo..hi: the first tick is
    at or below `lo` and the last at or above `hi`, so no data point sits outside them."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(k * step, 10) for k in range(first, last + 1)]


def _tick_text(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:g}"


@dataclass(frozen=True, slots=True)
class DateAxis:
    """A date x axis: its range in days since the epoch and its (position, label) ticks.
    The range runs from the first tick to the last, and the ticks cover the data."""

    lo: float
    hi: float
    ticks: list[tuple[float, str]]


_EPOCH = datetime(1970, 1, 1)
_MONDAY = 4.0
"""Day 0 (1 Jan 1970) was a Thursday: week ticks sit on Mondays, the usual therapy week."""
_NOON = 0.5
"""Day ticks sit at noon, so the label names the day a session dot is drawn in."""
_DAY_STEPS = (1, 2, 7, 14, 28)
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)


def _day(d: float) -> datetime:
    return _EPOCH + timedelta(days=d)


def _month_index(d: float) -> int:
    t = _day(d)
    return t.year * 12 + t.month - 1


def _month_start(index: int) -> float:
    return (datetime(index // 12, index % 12 + 1, 1) - _EPOCH).total_seconds() / 86400.0


def _day_ticks(a: float, b: float, step: int) -> list[float]:
    """Ticks every `step` days from the day (or, for weeks, the Monday) at or before a
    until one at or after b."""
    grid = 7 if step >= 7 else step
    offset = (_MONDAY if step >= 7 else 0.0) + _NOON
    first = offset + math.floor((a - offset) / grid + 1e-9) * grid
    count = math.ceil((b - first) / step - 1e-9)
    return [first + k * step for k in range(max(count, 1) + 1)]


def _month_ticks(a: float, b: float, step: int) -> list[float]:
    m0 = _month_index(a) // step * step
    m1 = -(-(_month_index(b) + 1) // step) * step  # the month start after b, rounded up
    while _month_start(m1 - step) >= b:  # b fell exactly on a month start
        m1 -= step
    return [_month_start(m) for m in range(m0, m1 + 1, step)]


def date_axis(lo_day: float, hi_day: float, max_ticks: int = 8) -> DateAxis:
    """A date axis for data from `lo_day` to `hi_day` (days since the epoch, `to_days`).

    The data gets at least half a day of padding on each side (5 % of the span when
    larger), then the range is widened to whole ticks: days or Mondays (at noon), or
    month starts,
    the finest step that needs at most `max_ticks` ticks. One session thus gets the day
    before, its day and the day after; sessions over weeks get weekly or monthly ticks.
    """
    if not (math.isfinite(lo_day) and math.isfinite(hi_day)):
        raise ValueError("date_axis needs finite days")
    lo_day, hi_day = min(lo_day, hi_day), max(lo_day, hi_day)
    pad = max(0.05 * (hi_day - lo_day), 0.5)
    a, b = lo_day - pad, hi_day + pad
    ticks: list[float] = []
    fmt = "%d %b"
    for step in _DAY_STEPS:
        ticks = _day_ticks(a, b, step)
        if len(ticks) <= max_ticks:
            break
    else:
        fmt = "%b %Y"
        for months in _MONTH_STEPS:
            ticks = _month_ticks(a, b, months)
            if len(ticks) <= max_ticks:
                fmt = "%Y" if months >= 12 else fmt
                break
    labels = [_day(t).strftime(fmt).lstrip("0") for t in ticks]
    if fmt == "%d %b" and _day(ticks[0]).year != _day(ticks[-1]).year:
        labels = [f"{lab} {_day(t):%y}" for lab, t in zip(labels, ticks, strict=True)]
    return DateAxis(ticks[0], ticks[-1], list(zip(ticks, labels, strict=True)))


def to_days(when: datetime) -> float:
    """A datetime as days since the epoch, on the wall clock it shows (for date axes)."""
    naive = when.replace(tzinfo=None)
    return (naive - datetime(1970, 1, 1)).total_seconds() / 86400.0


def _fingerprint(arrays: list[np.ndarray]) -> str:
    return "|".join(f"{len(a)}:{float(np.nansum(a)):.6g}" for a in arrays)


def _chart_id(fr: Frame, title: str, desc: str) -> str:
    """A stable id per chart (deterministic output; unique for distinct charts)."""
    key = f"{fr.width}x{fr.height}|{title}|{desc}|{fr.fingerprint}".encode()
    return hashlib.sha1(key).hexdigest()[:10]


def _open(fr: Frame, title: str, desc: str) -> str:
    n = _chart_id(fr, title, desc)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_f(fr.width)} '
        f'{_f(fr.height)}" width="{_f(fr.width)}" height="{_f(fr.height)}" role="img" '
        f'aria-labelledby="c{n}t c{n}d" font-family="{escape(FONT)}">'
        f'<title id="c{n}t">{escape(title)}</title><desc id="c{n}d">{escape(desc)}</desc>'
        f'<rect width="100%" height="100%" fill="#ffffff"/>'
        f'<text x="{_f(fr.left)}" y="20" font-size="13" font-weight="600" fill="{INK}">'
        f"{escape(title)}</text>"
    )


def _axes(
    fr: Frame,
    xticks: list[tuple[float, str]],
    yticks: list[float],
    x_label: str,
    y_label: str,
    y_fmt: str | None = None,
) -> None:
    p = fr.parts
    x_l, x_r = fr.left, fr.width - fr.right
    y_t, y_b = fr.top, fr.height - fr.bottom
    for v in yticks:
        y = fr.py(v)
        text = format(v, y_fmt) if y_fmt else _tick_text(v)
        p.append(f'<line x1="{_f(x_l)}" x2="{_f(x_r)}" y1="{_f(y)}" y2="{_f(y)}" stroke="{GRID}"/>')
        p.append(
            f'<text x="{_f(x_l - 6)}" y="{_f(y + 3.5)}" font-size="10.5" fill="{MUTED}" '
            f'text-anchor="end">{escape(text)}</text>'
        )
    for x, label in xticks:
        xx = fr.px(x)
        if xx < x_l - 0.5 or xx > x_r + 0.5:
            continue
        p.append(
            f'<line x1="{_f(xx)}" x2="{_f(xx)}" y1="{_f(y_b)}" y2="{_f(y_b + 4)}" stroke="{AXIS}"/>'
        )
        # A label at the right edge would be cut off by the frame: end-align it there.
        half = 3.2 * len(label)
        anchor, tx = ("end", fr.width - 2) if xx + half > fr.width - 2 else ("middle", xx)
        p.append(
            f'<text x="{_f(tx)}" y="{_f(y_b + 16)}" font-size="10.5" fill="{MUTED}" '
            f'text-anchor="{anchor}">{escape(label)}</text>'
        )
    p.append(f'<line x1="{_f(x_l)}" x2="{_f(x_r)}" y1="{_f(y_b)}" y2="{_f(y_b)}" stroke="{AXIS}"/>')
    if x_label:
        p.append(
            f'<text x="{_f((x_l + x_r) / 2)}" y="{_f(fr.height - 6)}" font-size="11" '
            f'fill="{MUTED}" text-anchor="middle">{escape(x_label)}</text>'
        )
    if y_label:
        cy = (y_t + y_b) / 2
        p.append(
            f'<text transform="translate(13 {_f(cy)}) rotate(-90)" font-size="11" '
            f'fill="{MUTED}" text-anchor="middle">{escape(y_label)}</text>'
        )


def _legend(fr: Frame, items: list[tuple[str, str, str, str | None]]) -> None:
    """Legend entries (name, color, style, dash) right-aligned on the title row."""
    x = fr.width - fr.right
    for name, color, style, dash in reversed(items):
        w = 7.0 * len(name) + 26
        x -= w
        if style in ("points", "band"):
            mark = (
                f'<rect x="{_f(x)}" y="10" width="12" height="10" fill="{color}" '
                f'fill-opacity="{0.25 if style == "band" else 1}" rx="2"/>'
            )
        else:
            dashed = f' stroke-dasharray="{dash}"' if dash else ""
            mark = (
                f'<line x1="{_f(x)}" x2="{_f(x + 14)}" y1="15" y2="15" stroke="{color}" '
                f'stroke-width="2.5"{dashed}/>'
            )
        fr.parts.append(
            f'{mark}<text x="{_f(x + 18)}" y="19" font-size="11" fill="{INK}">{escape(name)}</text>'
        )


def decimate(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the shape of a long series with at most ~max_points points: per bucket of
    consecutive samples keep the first, the minimum, the maximum and the last."""
    n = len(x)
    if n <= max_points:
        return x, y
    buckets = max(max_points // 4, 1)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    keep: list[int] = []
    for a, b in itertools.pairwise(edges):
        if b <= a:
            continue
        seg = y[a:b]
        keep.extend(sorted({a, a + int(np.argmin(seg)), a + int(np.argmax(seg)), b - 1}))
    idx = np.asarray(keep)
    return x[idx], y[idx]


def _path(fr: Frame, x: np.ndarray, y: np.ndarray, step: bool) -> str:
    out: list[str] = []
    pen_up = True
    prev_y = 0.0
    for xv, yv in zip(x, y, strict=True):
        if not (math.isfinite(xv) and math.isfinite(yv)):
            pen_up = True
            continue
        px, py = fr.px(float(xv)), fr.py(float(yv))
        if pen_up:
            out.append(f"M{_f(px)} {_f(py)}")
            pen_up = False
        elif step:
            out.append(f"H{_f(px)}V{_f(py)}" if py != prev_y else f"H{_f(px)}")
        else:
            out.append(f"L{_f(px)} {_f(py)}")
        prev_y = py
    return "".join(out)


def _series(fr: Frame, s: Series, max_points: int) -> None:
    x = np.asarray(s.x, dtype=float)
    y = np.asarray(s.y, dtype=float)
    if s.style in ("line", "step", "linepoints") and len(x) > 1:
        if s.style == "step":
            # A step line only needs the points where the value changes.
            change = np.concatenate(([True], np.diff(y) != 0))
            change[-1] = True
            x_d, y_d = x[change], y[change]
            if len(x_d) > max_points:
                x_d, y_d = decimate(x_d, y_d, max_points)
        else:
            x_d, y_d = decimate(x, y, max_points)
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        fr.parts.append(
            f'<path d="{_path(fr, x_d, y_d, s.style == "step")}" fill="none" '
            f'stroke="{s.color}" stroke-width="{s.width}" stroke-linejoin="round"'
            f' stroke-linecap="round"{dash}/>'
        )
    if s.style in ("points", "linepoints"):
        for k, (xv, yv) in enumerate(zip(x, y, strict=True)):
            if not (math.isfinite(xv) and math.isfinite(yv)):
                continue
            hollow = bool(s.hollow[k]) if s.hollow is not None and k < len(s.hollow) else False
            fill = "#ffffff" if hollow else s.color
            tip = s.labels[k] if s.labels is not None and k < len(s.labels) else ""
            tip_el = f"<title>{escape(tip)}</title>" if tip else ""
            fr.parts.append(
                f'<circle cx="{_f(fr.px(xv))}" cy="{_f(fr.py(yv))}" r="4" fill="{fill}" '
                f'stroke="{s.color}" stroke-width="1.8">{tip_el}</circle>'
            )


def _range(values: list[np.ndarray], lo: float | None, hi: float | None) -> tuple[float, float]:
    finite = [v[np.isfinite(v)] for v in values]
    finite = [v for v in finite if v.size]
    a = lo if lo is not None else min((float(v.min()) for v in finite), default=0.0)
    b = hi if hi is not None else max((float(v.max()) for v in finite), default=1.0)
    if b <= a:
        pad = abs(a) * 0.1 or 1.0
        if lo is None:
            a -= pad
        b += pad
    return a, b


def line_chart(
    series: list[Series],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    width: float = 560,
    height: float = 250,
    dates: bool = False,
    y_min: float | None = None,
    y_max: float | None = None,
    x_min: float | None = None,
    x_max: float | None = None,
    y_ticks: list[float] | None = None,
    y_fmt: str | None = None,
    bands: list[tuple[float, float]] | None = None,
    band_color: str = "#2a9d8f",
    band_name: str = "",
    legend: bool = True,
    max_points: int = 1600,
    empty_text: str = "no data",
    key: str = "",
) -> str:
    """A line/point chart as an SVG string. With `dates`, x values are days since the
    epoch (`to_days`). `bands` are x intervals shaded behind the data (e.g. holding).
    `key` makes the chart's element ids unique when a page may hold identical charts."""
    fr = Frame(width, height)
    xs = [np.asarray(s.x, dtype=float) for s in series]
    ys = [np.asarray(s.y, dtype=float) for s in series]
    fr.fingerprint = f"{key}|{_fingerprint(xs + ys)}"
    has_data = any(
        np.isfinite(x).any() and np.isfinite(y).any() for x, y in zip(xs, ys, strict=True)
    )
    desc = f"{title}: " + ", ".join(f"{s.name} ({len(s.x)} points)" for s in series)
    svg = [_open(fr, title, desc)]
    if not has_data:
        svg.append(
            f'<text x="{_f(width / 2)}" y="{_f(height / 2)}" font-size="12" fill="{MUTED}" '
            f'text-anchor="middle">{escape(empty_text)}</text></svg>'
        )
        return "".join(svg)
    fr.x0, fr.x1 = _range(xs, x_min, x_max)
    if dates:
        # From the data itself: _range pads a single date by 10 % of its epoch value.
        days = [float(v) for x in xs for v in x.tolist() if math.isfinite(v)]
        lo = x_min if x_min is not None else min(days)
        axis = date_axis(lo, x_max if x_max is not None else max(days))
        fr.x0, fr.x1, xt = axis.lo, axis.hi, axis.ticks
    else:
        x_vals = nice_ticks(fr.x0, fr.x1, 8)
        # A given limit is kept exactly (e.g. a close-up); otherwise the axis runs tick to tick.
        fr.x0 = fr.x0 if x_min is not None else x_vals[0]
        fr.x1 = fr.x1 if x_max is not None else x_vals[-1]
        xt = [(v, _tick_text(v)) for v in x_vals]
    fr.y0, fr.y1 = _range(ys, y_min, y_max)
    if y_ticks is None and y_max is None:
        fr.y1 += 0.04 * (fr.y1 - fr.y0)  # headroom: a top dot never sits on the frame
    if y_ticks is None and y_min is None:
        fr.y0 -= 0.04 * (fr.y1 - fr.y0)
    yt = y_ticks if y_ticks is not None else nice_ticks(fr.y0, fr.y1)
    if y_ticks is None:
        # The ticks cover the data (nice_ticks), so the axis runs from tick to tick.
        fr.y0 = fr.y0 if y_min is not None else yt[0]
        fr.y1 = fr.y1 if y_max is not None else yt[-1]
        yt = [v for v in yt if fr.y0 - 1e-9 <= v <= fr.y1 + 1e-9]
    if bands:
        top, bottom = fr.py(fr.y1), fr.py(fr.y0)
        rects = []
        for a, b in bands:
            xa, xb = max(fr.px(a), fr.left), min(fr.px(b), fr.width - fr.right)
            if xb - xa > 0.05:
                rects.append(
                    f'<rect x="{_f(xa)}" y="{_f(top)}" width="{_f(max(xb - xa, 0.6))}" '
                    f'height="{_f(bottom - top)}"/>'
                )
        fr.parts.append(f'<g fill="{band_color}" fill-opacity="0.16">{"".join(rects)}</g>')
    _axes(fr, xt, yt, x_label, y_label, y_fmt)
    clip = _chart_id(fr, title, desc)
    # Lines are clipped to the plot area; points get a margin so edge markers stay whole.
    m = 5.0 if any(s.style in ("points", "linepoints") for s in series) else 0.0
    fr.parts.append(
        f'<clipPath id="k{clip}"><rect x="{_f(fr.left - m)}" y="{_f(fr.top - m)}" '
        f'width="{_f(fr.width - fr.left - fr.right + 2 * m)}" '
        f'height="{_f(fr.height - fr.top - fr.bottom + 2 * m)}"/></clipPath>'
        f'<g clip-path="url(#k{clip})">'
    )
    for s in series:
        _series(fr, s, max_points)
    fr.parts.append("</g>")
    if legend:
        items: list[tuple[str, str, str, str | None]] = []
        for s in series:
            if s.name and s.name not in [i[0] for i in items]:
                items.append((s.name, s.color, s.style, s.dash))
        if bands and band_name:
            items.append((band_name, band_color, "band", None))
        _legend(fr, items)
    svg.extend(fr.parts)
    svg.append("</svg>")
    return "".join(svg)


def bar_chart(
    labels: list[str],
    values: list[float],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    color: str = "#1f5fbf",
    width: float = 300,
    height: float = 250,
    y_fmt: str | None = None,
    highlight: list[bool] | None = None,
    highlight_color: str = "#f28c28",
    key: str = "",
) -> str:
    """Vertical bars (e.g. time per grade) as an SVG string."""
    fr = Frame(width, height, left=46.0)
    v = np.asarray(values, dtype=float)
    fr.fingerprint = f"{key}|{_fingerprint([v])}"
    desc = f"{title}: " + ", ".join(f"{a}={b:g}" for a, b in zip(labels, v, strict=True))
    svg = [_open(fr, title, desc)]
    fr.x0, fr.x1 = -0.5, len(labels) - 0.5
    top = float(np.nanmax(v)) if v.size and np.isfinite(v).any() else 1.0
    yt = nice_ticks(0.0, top if top > 0 else 1.0, 4)
    fr.y0, fr.y1 = 0.0, max(yt[-1], top if top > 0 else 1.0)
    _axes(fr, [(k, lab) for k, lab in enumerate(labels)], yt, x_label, y_label, y_fmt)
    bw = 0.72 * (fr.px(1) - fr.px(0))
    for k, val in enumerate(v):
        if not math.isfinite(val) or val <= 0:
            continue
        x = fr.px(k) - bw / 2
        y = fr.py(val)
        c = highlight_color if highlight is not None and highlight[k] else color
        fr.parts.append(
            f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(bw)}" height="{_f(fr.py(0) - y)}" '
            f'fill="{c}" rx="1.5"><title>{escape(labels[k])}: {val:.3g}</title></rect>'
        )
    svg.extend(fr.parts)
    svg.append("</svg>")
    return "".join(svg)


def intervals(x: np.ndarray, flag: np.ndarray, min_gap: float = 0.0) -> list[tuple[float, float]]:
    """The x intervals where a boolean flag is on (each row lasts until the next one);
    intervals separated by less than `min_gap` are merged (fewer SVG elements)."""
    if len(x) == 0:
        return []
    f = np.asarray(flag, dtype=bool)
    xe = np.append(x, x[-1] + (x[-1] - x[-2] if len(x) > 1 else 0.0))
    starts = np.flatnonzero(f & ~np.concatenate(([False], f[:-1])))
    ends = np.flatnonzero(f & ~np.concatenate((f[1:], [False]))) + 1
    out: list[tuple[float, float]] = []
    for a, b in zip(starts, ends, strict=True):
        xa, xb = float(xe[a]), float(xe[b])
        if out and xa - out[-1][1] < min_gap:
            out[-1] = (out[-1][0], xb)
        else:
            out.append((xa, xb))
    return out
