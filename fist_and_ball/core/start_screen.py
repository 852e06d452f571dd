"""Patient mode's screens and keys without bpy: the start screen's choices, what each
key or click does on each screen (start, play, end).

The bpy adapter (`ui/patient_mode.py`) feeds Blender's event type names (`SPACE`,
`ESC`, `LEFT_ARROW`, ...) and clicked button ids in and carries out the returned
`Command`; nothing here touches Blender, so every rule is tested in plain Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .levels import PLAYABLE_LEVELS, SESSION_MINUTES

LEVEL_LABELS = {"easy": "Easy", "medium": "Medium", "hard": "Hard", "auto": "Auto"}


class Screen(Enum):
    START = "start"
    PLAY = "play"
    END = "end"


class Command(Enum):
    """What the adapter must do after a key or click."""

    NONE = "none"
    REDRAW = "redraw"
    START = "start"
    """Start a session with `StartChoices.level` / `.minutes`."""
    TOGGLE_PAUSE = "toggle_pause"
    END_AND_LEAVE = "end_and_leave"
    """Stop a running session (logged as not completed), then leave patient mode."""
    LEAVE = "leave"
    TO_START = "to_start"


FOCUS_LEVEL, FOCUS_MINUTES, FOCUS_START = 0, 1, 2
CONFIRM_KEYS = frozenset({"RET", "NUMPAD_ENTER"})
NUMBER_KEYS = {"ONE": 0, "TWO": 1, "THREE": 2, "FOUR": 3, "FIVE": 4}


@dataclass(slots=True)
class StartChoices:
    """The start screen's selection: a level, a length, and which row has the focus."""

    levels: tuple[str, ...] = PLAYABLE_LEVELS
    minutes_options: tuple[int, ...] = SESSION_MINUTES
    level_i: int = 0
    minutes_i: int = 0
    focus: int = FOCUS_LEVEL

    @property
    def level(self) -> str:
        return self.levels[self.level_i]

    @property
    def minutes(self) -> int:
        return self.minutes_options[self.minutes_i]

    def select(self, level: str | None = None, minutes: int | None = None) -> None:
        """Preselect (unknown values are ignored: the first choice stays)."""
        if level in self.levels:
            self.level_i = self.levels.index(level)
        if minutes in self.minutes_options:
            self.minutes_i = self.minutes_options.index(minutes)

    def move(self, step: int) -> None:
        """Left/right within the focused row (wraps around)."""
        if self.focus == FOCUS_LEVEL:
            self.level_i = (self.level_i + step) % len(self.levels)
        elif self.focus == FOCUS_MINUTES:
            self.minutes_i = (self.minutes_i + step) % len(self.minutes_options)

    def button_ids(self) -> list[str]:
        """Every clickable button: `level:<name>`, `minutes:<n>`, `start`."""
        return [
            *(f"level:{name}" for name in self.levels),
            *(f"minutes:{m}" for m in self.minutes_options),
            "start",
        ]


@dataclass(slots=True)
class PatientFlow:
    """Which screen is shown and what keys and clicks do there."""

    choices: StartChoices = field(default_factory=StartChoices)
    screen: Screen = Screen.START

    def key(self, event_type: str) -> Command:
        """One key press (Blender event type name)."""
        if self.screen is Screen.PLAY:
            if event_type == "SPACE":
                return Command.TOGGLE_PAUSE
            return Command.END_AND_LEAVE if event_type == "ESC" else Command.NONE
        if event_type == "ESC":
            return Command.LEAVE
        if self.screen is Screen.END:
            return Command.TO_START if event_type in CONFIRM_KEYS | {"SPACE"} else Command.NONE
        return self._start_key(event_type)

    def _start_key(self, event_type: str) -> Command:
        c = self.choices
        if event_type in CONFIRM_KEYS or event_type == "SPACE":
            return Command.START
        if event_type in ("LEFT_ARROW", "RIGHT_ARROW"):
            c.move(-1 if event_type == "LEFT_ARROW" else 1)
        elif event_type in ("UP_ARROW", "DOWN_ARROW", "TAB"):
            step = -1 if event_type == "UP_ARROW" else 1
            c.focus = (c.focus + step) % 3
        elif event_type in NUMBER_KEYS and NUMBER_KEYS[event_type] < len(c.levels):
            c.level_i, c.focus = NUMBER_KEYS[event_type], FOCUS_LEVEL
        else:
            return Command.NONE
        return Command.REDRAW

    def click(self, button: str | None) -> Command:
        """A click on a start-screen button id (None: outside every button)."""
        if self.screen is not Screen.START or not button:
            return Command.NONE
        kind, _, value = button.partition(":")
        c = self.choices
        if kind == "level" and value in c.levels:
            c.level_i, c.focus = c.levels.index(value), FOCUS_LEVEL
        elif kind == "minutes" and value.isdigit() and int(value) in c.minutes_options:
            c.minutes_i, c.focus = c.minutes_options.index(int(value)), FOCUS_MINUTES
        elif kind == "start":
            return Command.START
        else:
            return Command.NONE
        return Command.REDRAW


@dataclass(frozen=True, slots=True)
class Counters:
    """What the sound cues watch: catches, drops, and whether the session is over."""

    catches: int = 0
    drops: int = 0
    finished: bool = False


def sound_cues(before: Counters, after: Counters) -> list[str]:
    """The cues to play between two looks at the game: `catch`, `drop`, `end`."""
    cues = []
    if after.catches > before.catches:
        cues.append("catch")
    if after.drops > before.drops:
        cues.append("drop")
    if after.finished and not before.finished:
        cues.append("end")
    return cues
