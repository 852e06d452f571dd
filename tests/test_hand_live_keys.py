"""The live view's hand keys on a real pty: `s` stops, `r` releases, the terminal is
restored on close, and nothing is read when the input is not a terminal."""

from __future__ import annotations

import io
import os
import termios
import time
from collections.abc import Callable

import numpy as np
import pytest
from test_server_kit import pipeline_status

from bridge.outputs.hand_drivers import SimHand
from bridge.outputs.hand_output import HandConfig, HandOutput
from bridge.outputs.hand_safety import HandState
from bridge.outputs.live_view import LiveView
from bridge.values.sample import Decoded, Sample


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def closed_hand() -> HandOutput:
    clk = FakeClock()
    out = HandOutput(SimHand(clock=clk), HandConfig(), clock=clk, start=False, enabled=True)
    out.on_status(pipeline_status())
    for i in range(100):
        d = Decoded(i, clk.t, "fingers", 8, 1.0, 1.0)
        out.on_sample(Sample.from_field(i, clk.t, clk.t, np.zeros((1, 3))), d)
        out.step()
        clk.t += 0.02
    assert out.state == HandState.ACTIVE
    return out


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_keys_stop_and_release_the_hand_and_the_terminal_is_restored() -> None:
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        assert before[3] & termios.ICANON and before[3] & termios.ECHO
        out = closed_hand()
        screen = io.StringIO()
        view = LiveView(
            screen,
            tty=True,
            refresh_hz=20,
            hand_command=lambda action: out.command(action, False, "terminal key"),
            keys_fd=slave,
        )
        try:
            assert view.keys_active
            raw = termios.tcgetattr(slave)
            assert not raw[3] & termios.ICANON and not raw[3] & termios.ECHO
            assert raw[3] & termios.ISIG  # Ctrl-C still interrupts the bridge
            os.write(master, b"x")  # not a hand key: ignored
            os.write(master, b"s")
            assert wait_for(lambda: out.state == HandState.ESTOP)
            os.write(master, b"r")
            assert wait_for(lambda: out.state == HandState.RELEASING)
            assert "release" in view.key_reply
            assert wait_for(lambda: "r = release" in screen.getvalue())
        finally:
            view.close()
        assert termios.tcgetattr(slave) == before
        assert "release: releasing" in screen.getvalue()
        out.close()
    finally:
        os.close(master)
        os.close(slave)


def test_no_keys_without_a_terminal_or_without_a_hand() -> None:
    r, w = os.pipe()
    try:
        calls: list[str] = []

        def record(action: str) -> tuple[bool, str]:
            calls.append(action)
            return True, "ok"

        view = LiveView(io.StringIO(), tty=True, refresh_hz=20, hand_command=record, keys_fd=r)
        os.write(w, b"s")
        time.sleep(0.2)
        view.close()
        assert not view.keys_active and calls == []
        assert os.read(r, 8) == b"s"  # the byte was never consumed
    finally:
        os.close(r)
        os.close(w)
    master, slave = os.openpty()
    try:
        view = LiveView(io.StringIO(), tty=True, refresh_hz=20, keys_fd=slave)
        assert not view.keys_active  # no hand attached: the terminal is left alone
        view.close()
        view = LiveView(io.StringIO(), tty=False, hand_command=record, keys_fd=slave)
        assert not view.keys_active  # not drawing on a terminal (a log): no keys
        view.close()
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("key", ["r", "R"])
def test_a_failing_hand_command_does_not_kill_the_view(key: str) -> None:
    def broken(action: str) -> tuple[bool, str]:
        raise RuntimeError("hand gone")

    view = LiveView(io.StringIO(), tty=False, hand_command=broken)
    view.on_key(key)
    assert view.key_reply == "release refused: hand error: hand gone"
