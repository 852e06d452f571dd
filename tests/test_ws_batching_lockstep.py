"""A lock-step client (one frame, then wait for its grade) must never be left waiting.

Such a client sends nothing until its grade arrives, so nothing else would wake the
bridge: a grade left behind by the server's batched delivery, or a frame lost before
the bridge read it, stalls it for good. The races are forced with hooks (a sample
queued from inside a delivery, the server loop held busy, the serial port kept from
opening), not left to luck; the only timing is a generous "arrives within N s".
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_server_kit import served_sync_client
from websockets.sync.client import ClientConnection

from bridge.server.ws_server import ServerConfig, WebSocketServer
from bridge.values.sample import Decoded, Sample

ARRIVES_WITHIN_S = 5.0  # generous: a loaded machine, not a lost grade
INTERVALS = (0.0, ServerConfig().flush_interval_s, 0.05)  # off, default, always deferred


def _emit(server: WebSocketServer, seq: int) -> None:
    """What the pipeline thread does for one decoded sample."""
    sample = Sample.from_field(seq, seq * 0.01, time.monotonic(), np.ones((3, 3)))
    server.on_sample(sample, Decoded(seq, sample.t_host, "fingers", seq % 9, 0.5, 0.9))


def _next_grade(ws: ClientConnection) -> int:
    """The seq of the next `grade` (other messages skipped); fails after the bound."""
    deadline = time.monotonic() + ARRIVES_WITHIN_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no grade within {ARRIVES_WITHIN_S} s: stranded")
        try:
            msg = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            raise AssertionError(f"no grade within {ARRIVES_WITHIN_S} s: stranded") from None
        if msg.get("type") == "grade":
            return int(msg["seq"])


def _server_and_client(
    interval: float,
) -> AbstractContextManager[tuple[WebSocketServer, ClientConnection]]:
    # the loop's delivery path (batching under pressure): sample-thread writes would
    # bypass the hooks below
    return served_sync_client(
        ServerConfig(port=0, flush_interval_s=interval, sample_thread_writes=False)
    )


def _on_next_pump(server: WebSocketServer, action: Callable[[], None]) -> None:
    """Run `action` on the loop at the next client write, i.e. inside a delivery after
    it has taken its batch: a sample arriving just as a flush is under way. A client
    write is either the queue's (`_pump`) or the idle client's write-through."""
    real_pump, real_through = server._pump, server._write_through
    armed = [True]

    def fire() -> None:
        if armed[0]:
            armed[0] = False
            action()

    def pump(client: Any) -> None:
        fire()
        real_pump(client)

    def write_through(client: Any, wire: bytes, entries: Any) -> bool:
        fire()
        return real_through(client, wire, entries)

    server._pump = pump  # type: ignore[method-assign]
    server._write_through = write_through  # type: ignore[method-assign]


@contextmanager
def _loop_held(server: WebSocketServer) -> Iterator[None]:
    """Keep the server loop busy (a callback that blocks) for the body's duration."""
    entered, release = threading.Event(), threading.Event()

    def block() -> None:
        entered.set()
        release.wait(30)

    assert server._loop is not None
    server._loop.call_soon_threadsafe(block)
    assert entered.wait(10), "the server loop did not run the blocking callback"
    try:
        yield
    finally:
        release.set()


@pytest.mark.parametrize("interval", INTERVALS)
def test_sample_queued_during_a_delivery_gets_its_own(interval: float) -> None:
    with _server_and_client(interval) as (server, ws):
        for seq in range(0, 40, 2):
            # grade seq+1 is queued on the loop while seq's delivery writes: after the
            # batch was taken, before the delivery returns
            _on_next_pump(server, functools.partial(_emit, server, seq + 1))
            _emit(server, seq)
            assert _next_grade(ws) == seq
            assert _next_grade(ws) == seq + 1  # no further sample will come to carry it


@pytest.mark.parametrize("interval", INTERVALS)
def test_samples_queued_while_the_loop_is_busy_are_delivered(interval: float) -> None:
    with _server_and_client(interval) as (server, ws):
        for seq in range(0, 30, 3):
            _emit(server, seq)  # goes at once, or (right after the last one) deferred
            with _loop_held(server):
                # the wake-up (or deferred delivery) for `seq` waits behind the busy
                # loop; these two only join the pending batch
                _emit(server, seq + 1)
                _emit(server, seq + 2)
                time.sleep(interval)  # a deferred delivery falls due while held
            assert [_next_grade(ws) for _ in range(3)] == [seq, seq + 1, seq + 2]


@pytest.mark.parametrize("interval", INTERVALS)
def test_lock_step_client_gets_every_grade(interval: float) -> None:
    """Plain lock-step, 1 to 3 frames in flight, as the headless chain runs."""
    with _server_and_client(interval) as (server, ws):
        seq = 0
        for in_flight in (1, 2, 3):
            sent = seq
            for _ in range(in_flight):
                _emit(server, seq)
                seq += 1
            for _ in range(40):
                assert _next_grade(ws) == sent
                sent += 1
                _emit(server, seq)
                seq += 1
            for _ in range(in_flight - 1):
                assert _next_grade(ws) == sent
                sent += 1
            assert _next_grade(ws) == sent


# ---- the chain's start: frames written before the bridge opened its serial port ---------


def test_chain_sends_nothing_until_the_bridge_has_opened_the_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Opening a serial port discards what is already waiting in it, and the bridge
    listens before its source is open: a first frame written in between was lost and
    the lock-step chain then waited for its grade forever (the headless play test's
    intermittent 15 s timeout). Here the pty stays locked (the bridge opens serial
    ports exclusively and retries) until the chain writes its first frame, or 3 s."""
    from bridge.sim.config import SimConfig
    from fist_and_ball_app.headless.sim_chain import SimulatedChain

    real_openpty = os.openpty
    lock_fd: list[int] = []
    unlocked = threading.Lock()

    def unlock() -> None:
        with unlocked:
            while lock_fd:
                fd = lock_fd.pop()
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def locked_openpty() -> tuple[int, int]:
        master, slave = real_openpty()
        fd = os.open(os.ttyname(slave), os.O_RDWR | os.O_NOCTTY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock_fd.append(fd)
        threading.Timer(3.0, unlock).start()
        return master, slave

    class FirstFrameUnlocks(SimulatedChain):
        def send(self, gesture: str, closure: float) -> Any:
            frame = super().send(gesture, closure)
            unlock()  # the bridge can open the port only now
            return frame

    monkeypatch.setattr(os, "openpty", locked_openpty)
    config = SimConfig(layout="myo3", seed=1)
    try:
        with FirstFrameUnlocks(config, work_dir=tmp_path, reply_timeout_s=10.0) as chain:
            for i in range(20):
                got = chain.exchange("fingers", 0.5)
                assert got.frame.seq == i
    finally:
        unlock()
