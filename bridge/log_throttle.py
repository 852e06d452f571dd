"""Rate-limited logging: a repeating log line is written a few times, then counted.

`LogThrottle` is a `logging.Filter`. Records with the same logger, level and message
template (`record.msg` before `%` formatting, so "client %d failed" from a thousand
clients is one key) pass at most `burst` times per `interval_s`; the rest are
dropped before they are formatted (a suppressed traceback costs nothing) and
counted. The next record of that key that passes carries the count:
`... [412 similar lines suppressed]`.

Install it on the handlers that write (`install_log_throttle()` does the root
logger's), so it also covers records propagated from child loggers, asyncio's
"socket.accept() out of system resource" and hand firmware fault lines alike.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

_Key = tuple[str, int, str]


@dataclass(slots=True)
class _Window:
    start: float
    passed: int = 0
    suppressed: int = 0


class LogThrottle(logging.Filter):
    """Lets each kind of log line through `burst` times per `interval_s`."""

    def __init__(
        self,
        burst: int = 5,
        interval_s: float = 10.0,
        max_keys: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        if burst < 1 or interval_s <= 0:
            raise ValueError("burst must be >= 1 and interval_s > 0")
        self.burst = burst
        self.interval_s = interval_s
        self.max_keys = max_keys
        self._clock = clock
        self._windows: OrderedDict[_Key, _Window] = OrderedDict()
        self.suppressed_total = 0

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        w = self._windows.get(key)
        if w is None:
            w = self._windows[key] = _Window(now)
            while len(self._windows) > self.max_keys:  # bounded: oldest keys go first
                self._windows.popitem(last=False)
        elif now - w.start >= self.interval_s:
            self._note_suppressed(record, w.suppressed)
            w.start, w.passed, w.suppressed = now, 0, 0
        if w.passed < self.burst:
            w.passed += 1
            return True
        w.suppressed += 1
        self.suppressed_total += 1
        return False

    @staticmethod
    def _note_suppressed(record: logging.LogRecord, n: int) -> None:
        if n:
            # appended after formatting args: `%` in the note must not be parsed
            record.msg = f"{record.getMessage()} [{n} similar lines suppressed]"
            record.args = None


def install_log_throttle(
    logger: logging.Logger | None = None, burst: int = 5, interval_s: float = 10.0
) -> LogThrottle:
    """Add one `LogThrottle` to every handler of `logger` (default: the root logger)."""
    throttle = LogThrottle(burst, interval_s)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(throttle)
    return throttle
