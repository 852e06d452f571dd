"""Patient mode's HUD as plain draw items (no bpy): what goes where, at what size.

`hud_layout(model, width, height, ui_scale)` returns rectangles, dots and texts in
region pixels (origin bottom left, as Blender draws); the bpy adapter only draws them.
Sizes follow the window: one unit is the smaller of width/1280 and height/720 times
Blender's UI scale, so 1280x720 and a 4K screen show the same picture, larger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .start_screen import FOCUS_LEVEL, FOCUS_MINUTES, FOCUS_START, LEVEL_LABELS, Screen
from .view import N_LEDS

RGBA = tuple[float, float, float, float]
WHITE: RGBA = (1.0, 1.0, 1.0, 1.0)
DIM: RGBA = (0.75, 0.78, 0.82, 1.0)
PANEL: RGBA = (0.05, 0.06, 0.08, 0.72)
BUTTON: RGBA = (0.22, 0.25, 0.30, 0.95)
SELECTED: RGBA = (0.15, 0.55, 0.95, 1.0)
FOCUS: RGBA = (1.0, 0.85, 0.2, 1.0)
LED_ON: RGBA = (0.2, 0.95, 0.35, 1.0)
LED_OFF: RGBA = (0.25, 0.27, 0.3, 1.0)
ALERT: RGBA = (1.0, 0.45, 0.35, 1.0)
MIN_FONT_PX = 14.0
"""No text is drawn smaller than this, whatever the window."""


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    color: RGBA
    button: str = ""
    """Start-screen button id (`level:easy`, `minutes:4`, `start`); "" is decoration."""

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px <= self.x + self.w and self.y <= py <= self.y + self.h


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    r: float
    color: RGBA


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    """Left edge (the layout already centred it with the measure function)."""
    y: float
    size: float
    text: str
    color: RGBA = WHITE


@dataclass(slots=True)
class HudModel:
    """Everything the HUD shows, as plain values (built from the live runtime)."""

    screen: Screen = Screen.START
    level: str = "easy"
    minutes: int = 2
    focus: int = FOCUS_LEVEL
    levels: tuple[str, ...] = ("easy", "medium", "hard")
    minutes_options: tuple[int, ...] = (2, 4, 6)
    score: float = 0.0
    time_left_s: float = 0.0
    leds_lit: int = 0
    grade: int | None = None
    connected: bool = False
    signal: bool = False
    hand: str = ""
    """Physical hand state text ("" when the bridge drives no hand)."""
    paused: bool = False
    pause_reason: str = ""
    result_lines: list[str] = field(default_factory=list)
    comparison: str = ""
    note: str = ""
    """A one-line message (e.g. why the session did not start, or sounds unavailable)."""
    redon_prompt: str = ""
    """The running re-don check's prompt, drawn large instead of the screen ("" when
    none)."""
    redon_progress: float = 0.0
    redon_detail: str = ""
    """The check's step and time left, under its progress bar."""
    redon_result: str = ""
    """The last check's verdict in one line, shown on the start screen."""
    redon_alert: bool = False
    """The verdict asks for action (refused, failed): drawn in the alert colour."""


Measure = Callable[[str, float], float]


def approx_width(text: str, size: float) -> float:
    """Width of `text` at font size `size` without a font (the adapter passes blf's)."""
    return 0.55 * size * len(text)


@dataclass(frozen=True, slots=True)
class HudLayout:
    items: list[Rect | Dot | Text]

    def button_at(self, x: float, y: float) -> str | None:
        """The id of the button under (x, y), if any."""
        for item in reversed(self.items):
            if isinstance(item, Rect) and item.button and item.contains(x, y):
                return item.button
        return None

    def texts(self) -> list[str]:
        return [i.text for i in self.items if isinstance(i, Text)]


def hud_unit(width: float, height: float, ui_scale: float = 1.0) -> float:
    """Pixels per layout unit: 1.0 at 1280x720 and UI scale 1."""
    return max(0.5, min(width / 1280.0, height / 720.0)) * max(0.5, ui_scale)


def _clock(seconds: float) -> str:
    s = max(0, int(seconds + 0.999))
    return f"{s // 60}:{s % 60:02d}"


class _Builder:
    def __init__(self, width: float, height: float, unit: float, measure: Measure) -> None:
        self.w, self.h, self.u, self.measure = width, height, unit, measure
        self.items: list[Rect | Dot | Text] = []

    def font(self, size_units: float) -> float:
        return max(MIN_FONT_PX, size_units * self.u)

    def text(self, x: float, y: float, size_units: float, text: str, color: RGBA = WHITE) -> None:
        self.items.append(Text(x, y, self.font(size_units), text, color))

    def centred(
        self, cx: float, y: float, size_units: float, text: str, color: RGBA = WHITE
    ) -> None:
        size = self.font(size_units)
        self.items.append(Text(cx - self.measure(text, size) / 2.0, y, size, text, color))

    def right(self, rx: float, y: float, size_units: float, text: str, color: RGBA = WHITE) -> None:
        size = self.font(size_units)
        self.items.append(Text(rx - self.measure(text, size), y, size, text, color))


def hud_layout(
    model: HudModel,
    width: float,
    height: float,
    ui_scale: float = 1.0,
    measure: Measure = approx_width,
) -> HudLayout:
    """The draw items for one frame of patient mode's HUD."""
    b = _Builder(width, height, hud_unit(width, height, ui_scale), measure)
    _status_bar(b, model)
    if model.redon_prompt:  # the check has the screen: nothing to press meanwhile
        _redon_overlay(b, model)
    elif model.screen is Screen.START:
        _start_screen(b, model)
    elif model.screen is Screen.END:
        _end_screen(b, model)
    else:
        _play_screen(b, model)
    if model.redon_result and not model.redon_prompt and model.screen is Screen.START:
        colour = ALERT if model.redon_alert else LED_ON
        b.centred(width / 2, 110 * b.u, 24, model.redon_result[:90], colour)
    if model.note:
        b.centred(width / 2, 70 * b.u, 20, model.note[:90], ALERT)
    return HudLayout(b.items)


REDON_PANEL_W = 1040.0
"""Width of the re-don prompt's panel in layout units (inside 1280)."""
REDON_PANEL: RGBA = (0.05, 0.06, 0.08, 0.96)
"""Nearly opaque: the scene's score and NO SIGNAL texts must not show through the prompt."""


def _redon_overlay(b: _Builder, m: HudModel) -> None:
    """The re-don check's prompt in large text instead of the screen's contents, with
    its progress bar. The panel is a button ("redon"): a click on it does nothing."""
    u, w, h = b.u, b.w, b.h
    pw = REDON_PANEL_W * u
    b.items.append(Rect(w / 2 - pw / 2, h / 2 - 150 * u, pw, 300 * u, REDON_PANEL, "redon"))
    b.centred(w / 2, h / 2 + 95 * u, 26, "Re-don check", DIM)
    size = 60.0  # the prompt shrinks only as far as it must to fit the panel
    while size > 24 and b.measure(m.redon_prompt, b.font(size)) > pw - 60 * u:
        size -= 4
    b.centred(w / 2, h / 2 + 10 * u, size, m.redon_prompt)
    bar_w, bar_y = 800 * u, h / 2 - 60 * u
    b.items.append(Rect(w / 2 - bar_w / 2, bar_y, bar_w, 24 * u, BUTTON))
    fill = bar_w * min(max(m.redon_progress, 0.0), 1.0)
    if fill > 0:
        b.items.append(Rect(w / 2 - bar_w / 2, bar_y, fill, 24 * u, LED_ON))
    if m.redon_detail:
        b.centred(w / 2, h / 2 - 115 * u, 26, m.redon_detail, DIM)
    b.right(w - 20 * u, 20 * u, 18, "Esc: leave", DIM)


def _status_bar(b: _Builder, m: HudModel) -> None:
    u, top = b.u, b.h
    b.items.append(Rect(0, top - 56 * u, b.w, 56 * u, PANEL))
    link = "Connected" if m.connected else "Not connected"
    if m.connected and not m.signal:
        link = "Connected - no signal"
    b.text(20 * u, top - 40 * u, 22, link, WHITE if m.connected and m.signal else ALERT)
    if m.hand:
        b.right(b.w - 20 * u, top - 40 * u, 22, f"Hand: {m.hand}", DIM)
    _leds(b, m)


def _leds(b: _Builder, m: HudModel) -> None:
    """The nine LEDs in the middle of the status bar, clear of hand, ball and track."""
    u = b.u
    r, gap = 15 * u, 40 * u
    x0, y = b.w / 2 - gap * (N_LEDS - 1) / 2, b.h - 28 * u
    for i in range(N_LEDS):
        b.items.append(Dot(x0 + i * gap, y, r, LED_ON if i < m.leds_lit else LED_OFF))


def _play_screen(b: _Builder, m: HudModel) -> None:
    u, w, h = b.u, b.w, b.h
    b.items.append(Rect(20 * u, h - 150 * u, 300 * u, 80 * u, PANEL))
    b.text(36 * u, h - 130 * u, 44, f"Score {round(m.score)}")
    b.items.append(Rect(w - 320 * u, h - 150 * u, 300 * u, 80 * u, PANEL))
    b.right(w - 36 * u, h - 130 * u, 44, f"{_clock(m.time_left_s)} left")
    grade = "-" if m.grade is None else str(m.grade)
    b.items.append(Rect(w - 320 * u, h - 215 * u, 300 * u, 56 * u, PANEL))
    b.right(w - 36 * u, h - 200 * u, 30, f"Grade {grade} / {N_LEDS - 1}")
    if m.paused:
        b.items.append(Rect(w / 2 - 360 * u, h / 2 - 70 * u, 720 * u, 150 * u, PANEL))
        b.centred(w / 2, h / 2 + 10 * u, 56, "PAUSED", ALERT)
        why = "Space to resume" if m.pause_reason in ("", "user") else m.pause_reason
        b.centred(w / 2, h / 2 - 45 * u, 26, why)
    else:
        b.right(w - 20 * u, 20 * u, 18, "Space: pause    Esc: end", DIM)


def _button_row(
    b: _Builder, y: float, labels: list[tuple[str, str]], selected: str, focused: bool
) -> None:
    u = b.u
    bw, bh, gap = 220 * u, 84 * u, 24 * u
    x = b.w / 2 - (len(labels) * bw + (len(labels) - 1) * gap) / 2
    for button, label in labels:
        if focused and button == selected:
            b.items.append(Rect(x - 5 * u, y - 5 * u, bw + 10 * u, bh + 10 * u, FOCUS))
        b.items.append(Rect(x, y, bw, bh, SELECTED if button == selected else BUTTON, button))
        b.centred(x + bw / 2, y + bh / 2 - 12 * u, 34, label)
        x += bw + gap


def _start_screen(b: _Builder, m: HudModel) -> None:
    u, w, h = b.u, b.w, b.h
    b.items.append(Rect(w / 2 - 560 * u, h / 2 - 200 * u, 1120 * u, 480 * u, PANEL))
    b.centred(w / 2, h / 2 + 215 * u, 48, "Fist & Ball")
    levels = [(f"level:{name}", LEVEL_LABELS.get(name, name.title())) for name in m.levels]
    _button_row(b, h / 2 + 95 * u, levels, f"level:{m.level}", m.focus == FOCUS_LEVEL)
    mins = [(f"minutes:{n}", f"{n} min") for n in m.minutes_options]
    _button_row(b, h / 2 - 15 * u, mins, f"minutes:{m.minutes}", m.focus == FOCUS_MINUTES)
    _button_row(b, h / 2 - 125 * u, [("start", "Start")], "start", m.focus == FOCUS_START)
    hint = "Arrows choose    Enter starts    Esc leaves"
    if not m.signal:
        hint = "Waiting for the band...    Esc leaves"
    b.centred(w / 2, h / 2 - 180 * u, 22, hint, DIM)


def _end_screen(b: _Builder, m: HudModel) -> None:
    u, w, h = b.u, b.w, b.h
    b.items.append(Rect(w / 2 - 520 * u, h / 2 - 200 * u, 1040 * u, 400 * u, PANEL))
    y = h / 2 + 120 * u
    for i, line in enumerate(m.result_lines):
        b.centred(w / 2, y, 48 if i == 0 else 32, line)
        y -= (70 if i == 0 else 52) * u
    if m.comparison:
        b.centred(w / 2, y - 10 * u, 34, m.comparison, FOCUS)
    b.centred(w / 2, h / 2 - 170 * u, 22, "Enter: play again    Esc: leave", DIM)
