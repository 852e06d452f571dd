"""Exponential reconnect backoff with jitter: the one the device sources and the hand use.

Jitter keeps several bridges (or a bridge and a flaky Wi-Fi module) from retrying
in lock step; the cap keeps a replugged device from waiting long to be noticed.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays initial, initial*factor, ... capped at `cap`, each scaled by 1 +- jitter."""

    def __init__(
        self,
        initial: float = 0.2,
        factor: float = 2.0,
        cap: float = 5.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or factor < 1 or cap < initial or not 0 <= jitter < 1:
            raise ValueError(
                "backoff needs initial > 0, factor >= 1, cap >= initial, 0 <= jitter < 1"
            )
        self.initial = initial
        self.factor = factor
        self.cap = cap
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """Failed attempts since the last reset."""
        return self._attempt

    def next_delay(self) -> float:
        """The delay before the next attempt (seconds); grows until reset()."""
        # the exponent is bounded so a device missing for days cannot overflow the float
        base = min(self.cap, self.initial * self.factor ** min(self._attempt, 60))
        self._attempt += 1
        spread = self._rng.uniform(-self.jitter, self.jitter)
        return min(self.cap, base * (1.0 + spread))

    def reset(self) -> None:
        """Call once a connection has proven good (it delivered a frame)."""
        self._attempt = 0
