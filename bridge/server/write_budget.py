"""When the sample thread stops writing grades itself and hands them to the loop.

Each socket write from the sample thread gives up the interpreter lock. While the
server loop is busy (a storm of connections) taking it back can wait a switch interval
per client, and every write of every sample is slow: then the loop should write for a
while. The machine stalling (a preempted or stolen vCPU) also makes a write slow, but
one sample now and then, and the sample thread is still the faster path for the rest.
So only several slow samples in a row count. Pure arithmetic with the times passed in;
the server owns the clock.
"""

from __future__ import annotations


class WriteBudget:
    """`slow_samples` samples in a row whose writes took over `budget_s` turn the
    sample thread's writes off for `backoff_s`."""

    def __init__(self, budget_s: float, slow_samples: int, backoff_s: float) -> None:
        if not (0 < budget_s <= 1.0 and 0 <= backoff_s <= 60 and 1 <= slow_samples <= 1000):
            raise ValueError(
                "thread_write_budget_s must be within 0..1 s, thread_write_backoff_s 0..60 s,"
                " thread_write_slow_samples 1..1000"
            )
        self.budget_s = budget_s
        self.slow_samples = slow_samples
        self.backoff_s = backoff_s
        self.backoffs = 0
        """Times the writing went back to the loop."""
        self._off_until = 0.0
        self._in_a_row = 0

    def allows(self, now: float) -> bool:
        """Whether the sample thread may write at `now` (no backoff running)."""
        return now >= self._off_until

    def observe(self, start: float, end: float) -> None:
        """Count one sample's writes, which ran from `start` to `end`."""
        if end - start <= self.budget_s:
            self._in_a_row = 0
            return
        self._in_a_row += 1
        if self._in_a_row >= self.slow_samples:
            self._in_a_row = 0
            self._off_until = end + self.backoff_s
            self.backoffs += 1
