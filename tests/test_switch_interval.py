"""The bridge's server shortens the interpreter's switch interval by default (the lock
handover that sets the `track:` latency tail), never lengthens it, and `None` keeps it."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from bridge.server.ws_server import ServerConfig, WebSocketServer


@pytest.fixture
def python_default_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _interval_after_start(config: ServerConfig) -> float:
    server = WebSocketServer(config)
    server.start()
    try:
        return sys.getswitchinterval()
    finally:
        server.close()


@pytest.mark.usefixtures("python_default_interval")
def test_default_server_shortens_the_switch_interval_to_half_a_millisecond() -> None:
    assert ServerConfig().switch_interval_s == pytest.approx(0.0005)
    assert _interval_after_start(ServerConfig(port=0)) == pytest.approx(0.0005, rel=0.01)


@pytest.mark.usefixtures("python_default_interval")
def test_none_keeps_the_interval_and_a_longer_one_is_never_applied() -> None:
    assert _interval_after_start(ServerConfig(port=0, switch_interval_s=None)) == pytest.approx(
        0.005
    )
    sys.setswitchinterval(0.0002)
    assert _interval_after_start(ServerConfig(port=0)) == pytest.approx(0.0002, rel=0.01)
