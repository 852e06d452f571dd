"""The `sim:LAYOUT?options` URL: the one parser for every place that reads one.

The `sim:` source, the calibrate command, the bridge (QG calibrated on the simulated
patient) and the evaluation (a recording's `source` string) all go through here, so
they agree on what a simulator URL is. Options are `SimConfig` fields (see
docs/simulator.md) plus the source's own `speed` and `loop`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qsl

from bridge.sim.config import RENAMED, SimConfig

SCHEME = "sim"
SOURCE_OPTIONS: tuple[str, ...] = ("speed", "loop")
"""Options of the `sim:` source itself (pacing), not of the simulated session."""

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def is_sim_url(text: str) -> bool:
    """True when `text` names the simulator (`sim:...`, any case, spaces ignored)."""
    scheme, sep, _ = text.strip().partition(":")
    return bool(sep) and scheme.lower() == SCHEME


@dataclass(frozen=True, slots=True)
class SimUrl:
    """A parsed `sim:` URL: the layout and the raw query (options in their given order)."""

    text: str
    layout: str
    query: str

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The options as (key, value) pairs, in order."""
        return parse_qsl(self.query, keep_blank_values=True)

    def option(self, name: str) -> str | None:
        """The raw value of one option (the last one given), or None."""
        found = [v for k, v in self.pairs if RENAMED.get(k, k) == name]
        return found[-1] if found else None

    def config(self) -> SimConfig:
        """The simulated session (pacing options skipped); ValueError naming a bad option."""
        return SimConfig.from_query(self.layout, self.query, ignore=SOURCE_OPTIONS)

    @property
    def speed(self) -> float | None:
        """1 = real time, a factor, or None for `max` (as fast as the consumer takes them)."""
        raw = (self.option("speed") or "1").strip().lower()
        if raw == "max":
            return None
        try:
            speed = float(raw)
        except ValueError:
            raise ValueError(f"sim option speed={raw!r}: use a number > 0 or max") from None
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"sim option speed={raw!r}: use a number > 0 or max")
        return speed

    @property
    def loop(self) -> bool:
        """True: repeat the scripted cue script forever instead of ending."""
        raw = (self.option("loop") or "0").strip().lower()
        if raw not in _TRUE + _FALSE:
            raise ValueError(f"sim option loop={raw!r}: use 1 or 0")
        return raw in _TRUE

    def with_defaults(self, **defaults: str) -> str:
        """This URL with options added for those not given (former names count as given)."""
        given = {RENAMED.get(k, k) for k, _ in self.pairs}
        extra = [f"{k}={v}" for k, v in defaults.items() if k not in given]
        query = "&".join(p for p in (self.query, *extra) if p)
        return f"{SCHEME}:{self.layout}" + (f"?{query}" if query else "")


def parse_sim_url(text: str) -> SimUrl:
    """`sim:LAYOUT[?options]` -> SimUrl; ValueError (one line) when it is not one.

    Only the syntax is checked here; `config()`, `speed` and `loop` check the values.
    """
    if not is_sim_url(text):
        raise ValueError(f"not a simulator URL: {text!r} (use sim:LAYOUT[?options])")
    rest = text.strip().partition(":")[2]
    layout, _, query = rest.partition("?")
    layout = layout.strip("/")
    if not layout:
        raise ValueError(f"{text!r}: name a layout, e.g. sim:socket16 or sim:myo3")
    return SimUrl(text.strip(), layout, query)
