"""The nine LEDs of the band (the paper's "nine red circles"), driven by the grade.

The paper: "Quantifying the motion into nine grades, LEDs will turn on one by one, in
turn, as the motion progresses." There are nine LEDs and nine grades 0..8, so grade g
lights LEDs 0..g (g + 1 LEDs): the open hand shows one LED, the fist all nine. This uses
every LED, gives every grade its own picture, and keeps "no LED lit" free to mean "no
signal" (bridge disconnected), which a therapist can tell apart from an open hand at a
glance. The band groups the LEDs in three colour bars of three.
"""

from __future__ import annotations

from .levels import MAX_GRADE
from .view import N_LEDS

LEDS_PER_BAR = 3
"""The paper's Myo has three colour bars of three LEDs each."""


def leds_lit(grade: int, connected: bool = True) -> int:
    """Number of LEDs lit for a grade: g + 1 for grades 0..8, 0 when disconnected."""
    if not connected:
        return 0
    g = MAX_GRADE if grade > MAX_GRADE else 0 if grade < 0 else int(grade)
    return g + 1


def led_states(grade: int, connected: bool = True) -> tuple[bool, ...]:
    """On/off for each of the nine LEDs, index 0 first (lit from index 0 upwards)."""
    n = leds_lit(grade, connected)
    return tuple(i < n for i in range(N_LEDS))


def led_bar(index: int) -> int:
    """Colour bar (0, 1, 2) an LED belongs to."""
    if not 0 <= index < N_LEDS:
        raise ValueError(f"LED index must be 0..{N_LEDS - 1}; got {index}")
    return index // LEDS_PER_BAR
