"""The log throttle (`bridge/log_throttle.py`): a repeating line is written a few times,
then counted. A real logger and handler writing to a real stream; the clock is injected.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bridge.log_throttle import LogThrottle, install_log_throttle


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    """A private logger writing formatted lines (tracebacks included) to a string."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # outside the logging tree: pytest's capture handlers on the root never see it
    logger = logging.Logger("test.log_throttle")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream, handler
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_repeated_template_passes_burst_times_then_counts(
    logged: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = logged
    clock = Clock()
    throttle = LogThrottle(burst=3, interval_s=10.0, clock=clock)
    handler.addFilter(throttle)
    for i in range(1000):  # one template, different arguments: one kind of line
        logger.warning("client %d failed", i)
    assert _lines(stream) == [f"WARNING {logger.name}: client {i} failed" for i in range(3)]
    assert throttle.suppressed_total == 997
    clock.t += 10.0  # next window: the first line that passes carries the count
    logger.warning("client %d failed", 1000)
    assert _lines(stream)[-1] == (
        f"WARNING {logger.name}: client 1000 failed [997 similar lines suppressed]"
    )
    logger.warning("client %d failed", 1001)  # count reset: no note
    assert _lines(stream)[-1].endswith("client 1001 failed")


def test_kinds_are_throttled_independently(
    logged: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = logged
    handler.addFilter(LogThrottle(burst=2, interval_s=10.0, clock=Clock()))
    for _ in range(50):
        logger.warning("accept failed")
        logger.error("accept failed")  # other level: other kind
        logger.warning("firmware fault %s", "E7")
    out = _lines(stream)
    assert out.count(f"WARNING {logger.name}: accept failed") == 2
    assert out.count(f"ERROR {logger.name}: accept failed") == 2
    assert out.count(f"WARNING {logger.name}: firmware fault E7") == 2


def test_traceback_flood_stays_small(
    logged: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    """The fd-exhaustion case: a traceback per failed accept, thousands a second."""
    logger, stream, _handler = logged
    install_log_throttle(logger)  # the bridge's defaults: 5 per 10 s
    for _ in range(5000):
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            logger.exception("socket.accept() out of system resource")
    text = stream.getvalue()
    assert text.count("Traceback") == 5
    assert len(text) < 5000 * 20  # 5000 unthrottled tracebacks would be ~1 MB
    assert len(text) < 10 * text.index("Traceback") + 5000


def test_a_percent_sign_in_the_message_survives_the_note(
    logged: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = logged
    clock = Clock()
    handler.addFilter(LogThrottle(burst=1, interval_s=1.0, clock=clock))
    logger.warning("load %s", "100%")
    logger.warning("load %s", "100%")  # suppressed
    clock.t += 1.0
    logger.warning("load %s", "50% %d")
    assert _lines(stream)[-1].endswith("load 50% %d [1 similar lines suppressed]")


def test_key_table_is_bounded() -> None:
    throttle = LogThrottle(burst=1, interval_s=10.0, max_keys=8, clock=Clock())
    for i in range(100):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, f"unique {i}", None, None)
        assert throttle.filter(record)
    assert len(throttle._windows) == 8


def test_bad_settings_refused() -> None:
    with pytest.raises(ValueError):
        LogThrottle(burst=0)
    with pytest.raises(ValueError):
        LogThrottle(interval_s=0)
