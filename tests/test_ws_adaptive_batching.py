"""Grades are batched only while the server loop is under pressure.

Batching (at most one delivery per `flush_interval_s`) keeps the loop free under abuse
but adds up to that interval of latency; a healthy bridge must send every grade at once.
Pressure is a second wake-up within `batch_hold_s` that the loop ran late (a lone one is
the process descheduled, not a busy loop). The tests force it by holding the loop busy
(a blocking callback) and keep every other bound generous: a loaded machine must not
look like pressure (`batch_when_late_s` 0.5 s where none is wanted).
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import AbstractContextManager

import numpy as np
import pytest
from test_server_kit import served_sync_client
from websockets.sync.client import ClientConnection, connect

from bridge.server.ws_server import ServerConfig, WebSocketServer
from bridge.values.sample import Decoded, Sample


def _emit(server: WebSocketServer, seq: int) -> None:
    sample = Sample.from_field(seq, seq * 0.001, time.monotonic(), np.ones((3, 3)))
    server.on_sample(sample, Decoded(seq, sample.t_host, "fingers", seq % 9, 0.5, 0.9))


def _grade(ws: ClientConnection) -> int:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv(timeout=10.0))
        if msg.get("type") == "grade":
            return int(msg["seq"])
    raise AssertionError("no grade within 10 s")


def _served(**cfg: float | int) -> AbstractContextManager[tuple[WebSocketServer, ClientConnection]]:
    # the loop's delivery, where wake-ups can be late; sample-thread writes (the
    # default) never wake the loop, and stop while the server is full or batching
    cfg.setdefault("sample_thread_writes", False)
    return served_sync_client(ServerConfig(port=0, **cfg))  # type: ignore[arg-type]


def _hold_loop(server: WebSocketServer, seconds: float) -> None:
    """Block the server loop for `seconds` (returns once the loop is blocked)."""
    entered = threading.Event()

    def block() -> None:
        entered.set()
        time.sleep(seconds)

    assert server._loop is not None
    server._loop.call_soon_threadsafe(block)
    assert entered.wait(10), "the loop did not run the blocking callback"


def test_a_healthy_loop_sends_every_grade_at_once() -> None:
    with _served(flush_interval_s=0.05, batch_when_late_s=0.5) as (server, ws):
        for seq in range(50):
            _emit(server, seq)
            assert _grade(ws) == seq
        st = server.status()
        assert not st.batching and st.batching_spells == 0
        assert server._interval(time.monotonic()) == 0.0


def test_a_lone_late_wake_up_does_not_batch() -> None:
    # the whole process descheduled for a moment (a busy machine) is not a busy loop:
    # batching for batch_hold_s after it would only add latency
    with _served(flush_interval_s=0.05, batch_when_late_s=0.2, batch_hold_s=30.0) as (
        server,
        ws,
    ):
        _emit(server, 0)
        assert _grade(ws) == 0
        _hold_loop(server, 0.6)
        _emit(server, 1)  # its wake-up runs >= 0.4 s late
        assert _grade(ws) == 1
        for seq in range(2, 10):
            _emit(server, seq)
            assert _grade(ws) == seq
        st = server.status()
        assert not st.batching and st.batching_spells == 0
        assert server._interval(time.monotonic()) == 0.0


def test_a_second_late_wake_up_turns_batching_on_and_no_grade_is_stranded() -> None:
    with _served(flush_interval_s=0.05, batch_when_late_s=0.2, batch_hold_s=30.0) as (
        server,
        ws,
    ):
        _emit(server, 0)
        assert _grade(ws) == 0
        for seq in (1, 2):
            _hold_loop(server, 0.6)
            _emit(server, seq)  # its wake-up runs >= 0.4 s late: the second is pressure
            assert _grade(ws) == seq
        st = server.status()
        assert st.batching and st.batching_spells == 1
        assert server._interval(time.monotonic()) == pytest.approx(0.05)
        for seq in range(3, 30):  # lock-step while batching: every grade still comes
            _emit(server, seq)
            assert _grade(ws) == seq
        assert server.status().batching_spells == 1  # one spell, renewed, not restarted


def test_batching_ends_once_the_pressure_is_gone() -> None:
    with _served(flush_interval_s=0.05, batch_when_late_s=0.2, batch_hold_s=2.0) as (
        server,
        ws,
    ):
        for seq in (0, 1):
            _hold_loop(server, 0.6)
            _emit(server, seq)
            assert _grade(ws) == seq
        assert server.status().batching
        time.sleep(2.5)  # past batch_hold_s with no late wake-up
        _emit(server, 2)
        assert _grade(ws) == 2
        assert not server.status().batching


def test_zero_lateness_threshold_batches_always() -> None:
    with _served(flush_interval_s=0.05, batch_when_late_s=0.0) as (server, ws):
        _emit(server, 0)
        assert _grade(ws) == 0
        assert server.status().batching


def test_bad_pressure_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="batch_when_late_s"):
        WebSocketServer(ServerConfig(port=0, batch_when_late_s=-1.0))
    with pytest.raises(ValueError, match="batch_hold_s"):
        WebSocketServer(ServerConfig(port=0, batch_hold_s=600.0))


def test_a_full_server_batches() -> None:
    with _served(
        flush_interval_s=0.05, batch_when_late_s=0.5, max_clients=2, sample_thread_writes=True
    ) as (server, ws):
        _emit(server, 0)
        assert _grade(ws) == 0
        assert not server.status().batching  # one of two slots: headroom
        with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=5) as second:
            assert json.loads(second.recv(timeout=5))["type"] == "hello"
            for seq in range(1, 6):
                _emit(server, seq)
                assert _grade(ws) == seq  # still every grade, batched
            assert server.status().batching
