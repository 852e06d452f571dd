"""Real-time pacing of simulated frames against the host's monotonic clock."""

from __future__ import annotations

import math
import threading
import time

MAX_CATCH_UP_S = 1.0
"""A consumer that stalls longer than this loses the backlog instead of getting a burst."""


class Pacer:
    """Says how many frames are due: `speed` x real time, or unlimited (`speed=None`).

    Frame k is due at start + k / (rate x speed). If the caller falls more than
    MAX_CATCH_UP_S behind, the schedule restarts from now: the simulated clock pauses
    for the stall instead of flooding the consumer with a burst.
    """

    def __init__(self, rate_hz: float, speed: float | None = 1.0, max_block: int = 1024) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be > 0 (or max), got {speed}")
        self.period = 1.0 / (rate_hz * (speed or 1.0))
        self.speed = speed
        self.max_block = max_block
        self._start = time.monotonic()
        self._sent = 0

    def due(self) -> int:
        """Frames to make now (0 when ahead of schedule)."""
        if self.speed is None:
            return self.max_block
        elapsed = time.monotonic() - self._start
        if elapsed - self._sent * self.period > MAX_CATCH_UP_S:
            # restart the schedule rather than flood the consumer
            self._start = time.monotonic()
            self._sent = 0
            elapsed = 0.0
        n = math.floor(elapsed / self.period) + 1 - self._sent
        return min(n, self.max_block) if n > 0 else 0

    def sent(self, n: int) -> None:
        """Record that `n` frames went out."""
        self._sent += n

    def wait(self, stop: threading.Event | None = None, limit_s: float = 0.1) -> bool:
        """Sleep until the next frame is due (at most `limit_s`); True if `stop` got set."""
        if self.speed is None:
            return bool(stop and stop.is_set())
        left = self._start + self._sent * self.period - time.monotonic()
        left = min(max(left, 0.0), limit_s)
        if stop is not None:
            return stop.wait(left)
        if left > 0:
            time.sleep(left)
        return False
