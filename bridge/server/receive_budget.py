"""Token bucket for the bytes a client sends us, so no client can monopolise the loop.

Every frame a client sends costs the server loop Python time to parse, and a ping costs
a pong write on top: a client flooding pings at loopback speed keeps the loop, and the
GIL it shares with decoding, busy. The server charges each read to the client's budget
and stops reading from its socket (TCP back-pressure, no cost to us) until the budget
has refilled. Pure arithmetic with the time passed in; the server owns the clock.
"""

from __future__ import annotations


class ReceiveBudget:
    """`rate` bytes per second on average, bursts up to `burst` bytes."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._t = now

    def charge(self, n: int, now: float) -> float:
        """Spend `n` bytes received at `now`; returns how long to stop reading (0: go on)."""
        self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate) - n
        self._t = now
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
