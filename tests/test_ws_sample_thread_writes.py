"""Grades written to idle clients from the sample thread (`bridge/server/wire_gate.py`).

Real server, real loopback websockets. What must hold: grades reach every client in
order without waking the loop; a frame the loop writes (status, pong) never cuts into
one the sample thread writes; a client whose socket fills gets the rest through the
loop, still in order; clients coming and going while grades flow each get a clean
stream. These fail when the path is removed, when a write bypasses the gate's lock,
or when a partial write's rest is lost or overtaken.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Any

import numpy as np
from test_server_kit import served_sync_client
from websockets.sync.client import ClientConnection, connect

from bridge.server.write_budget import WriteBudget
from bridge.server.ws_server import ServerConfig, WebSocketServer
from bridge.values.sample import Decoded, Sample
from bridge.values.status import PipelineStatus


def _emit(server: WebSocketServer, seq: int) -> None:
    """What the pipeline thread does for one decoded sample."""
    sample = Sample.from_field(seq, seq * 0.001, time.monotonic(), np.ones((3, 3)))
    server.on_sample(sample, Decoded(seq, sample.t_host, "fingers", seq % 9, 0.5, 0.9))


def _grades(ws: ClientConnection, n: int, timeout: float = 20.0) -> list[int]:
    """The seqs of the next `n` grades; every message must parse as JSON."""
    seqs: list[int] = []
    deadline = time.monotonic() + timeout
    while len(seqs) < n:
        msg = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if msg["type"] == "grade":
            seqs.append(int(msg["seq"]))
    return seqs


def _count_loop_deliveries(server: WebSocketServer) -> list[int]:
    calls = [0]
    real = server._deliver

    def counted() -> None:
        calls[0] += 1
        real()

    server._deliver = counted  # type: ignore[method-assign]
    return calls


def test_idle_clients_get_every_grade_in_order_without_the_loop() -> None:
    with served_sync_client(ServerConfig(port=0)) as (server, ws):
        with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=5) as second:
            assert json.loads(second.recv(timeout=5))["type"] == "hello"
            deliveries = _count_loop_deliveries(server)
            time.sleep(0.2)  # both clients registered and idle
            for seq in range(300):
                _emit(server, seq)
            assert _grades(ws, 300) == list(range(300))
            assert _grades(second, 300) == list(range(300))
        assert deliveries[0] == 0  # the loop was never woken for a grade
        assert server.latency.snapshot().n == 600  # every write measured


def test_the_loop_path_stays_when_sample_thread_writes_are_off() -> None:
    cfg = ServerConfig(port=0, sample_thread_writes=False)
    with served_sync_client(cfg) as (server, ws):
        deliveries = _count_loop_deliveries(server)
        for seq in range(50):
            _emit(server, seq)
            time.sleep(0.002)
        assert _grades(ws, 50) == list(range(50))
        assert deliveries[0] > 0


def test_loop_writes_never_cut_into_sample_thread_frames() -> None:
    """Status broadcasts from the loop while the sample thread writes grades, through
    small socket buffers and a client that pauses: both sides' writes go in part, and
    a frame continued after another's first half would not parse. Every message must
    parse and every grade arrive, in order."""
    # one process runs server, writers and client: never "too slow" here
    cfg = ServerConfig(port=0, queue_size=8192, send_buffer_bytes=4096, hopeless_after_s=120.0)
    with served_sync_client(cfg) as (server, ws):
        ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stop = threading.Event()
        n = 4000

        def broadcast() -> None:
            while not stop.is_set():
                server.on_status(PipelineStatus(t=time.monotonic()))
                time.sleep(0.002)

        def emit() -> None:
            for seq in range(n):
                _emit(server, seq)
                if seq % 50 == 0:
                    time.sleep(0.001)

        noisy = threading.Thread(target=broadcast, daemon=True)
        writer = threading.Thread(target=emit, daemon=True)
        noisy.start()
        writer.start()
        got: list[int] = []
        statuses = received = 0
        try:
            deadline = time.monotonic() + 60
            while len(got) < n and time.monotonic() < deadline:
                received += 1
                if received % 200 == 0:
                    time.sleep(0.005)  # let the buffers fill now and then
                msg = json.loads(ws.recv(timeout=10))  # a torn frame would not parse
                if msg["type"] == "grade":
                    got.append(int(msg["seq"]))
                elif msg["type"] == "status":
                    statuses += 1
        finally:
            stop.set()
            writer.join(10)
            noisy.join(5)
        assert got == list(range(n))
        assert statuses > 10  # the loop really wrote in between
        gate = next(iter(server._clients)).gate
        assert gate is not None and gate.partial_writes >= 1  # both sides wrote in part


def test_a_full_socket_sends_the_rest_through_the_loop_in_order() -> None:
    """A client that stops reading: its socket fills, a direct write goes in part, the
    rest and later grades wait in the loop, and all arrive in order once it reads."""
    cfg = ServerConfig(port=0, send_buffer_bytes=4096, queue_size=4096)
    with served_sync_client(cfg) as (server, ws):
        # a small receive buffer on the client too, so the kernel holds little
        ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        n = 2000  # ~300 kB of grades: far more than both buffers
        for seq in range(n):
            _emit(server, seq)
        gates = [c.gate for c in server._clients]
        assert gates and gates[0] is not None
        assert gates[0].partial_writes >= 1  # the path under test was taken
        assert _grades(ws, n, timeout=60) == list(range(n))


def test_clients_coming_and_going_while_grades_flow_get_clean_streams() -> None:
    """A socket closed by the loop is never written to by the sample thread: a client
    that connects right after (its descriptor may be the old one's number) starts with
    `hello` and only well-formed messages."""
    with served_sync_client(ServerConfig(port=0, max_clients=8)) as (server, ws):
        stop = threading.Event()
        errors: list[BaseException] = []

        def emit_forever() -> None:
            seq = 0
            try:
                while not stop.is_set():
                    _emit(server, seq)
                    seq += 1
                    time.sleep(0.0005)
            except BaseException as exc:  # on_sample must never raise
                errors.append(exc)

        emitter = threading.Thread(target=emit_forever, daemon=True)
        emitter.start()
        try:
            for _ in range(30):
                with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=5) as c:
                    first: dict[str, Any] = json.loads(c.recv(timeout=5))
                    assert first["type"] == "hello"
                    seqs = _grades(c, 20)
                    assert seqs == sorted(seqs) and len(set(seqs)) == 20
        finally:
            stop.set()
            emitter.join(5)
        assert not errors
        last = _grades(ws, 5)  # the long-lived client still gets a clean, ordered stream
        assert last == sorted(last)


def _hog_loop(server: WebSocketServer, stop: threading.Event) -> None:
    """Keep the server's loop busy in Python (like a storm of handshakes): a callback
    that computes for 20 ms and schedules itself again, until `stop`."""
    loop = server._loop
    assert loop is not None

    def hog() -> None:
        end = time.monotonic() + 0.02
        while time.monotonic() < end:
            sum(range(200))
        if not stop.is_set():
            loop.call_soon(hog)

    loop.call_soon_threadsafe(hog)


def test_a_busy_loop_turns_sample_thread_writes_off_and_grades_still_arrive() -> None:
    """Every socket write gives up the interpreter lock; with the loop computing (and
    the clients' threads in this process) the sample thread waits for it back once
    per client: writes over budget. Three such samples in a row hand the writing to
    the loop; every grade still arrives, in order. Fails without the backoff."""
    cfg = ServerConfig(port=0, thread_write_budget_s=0.0005, thread_write_backoff_s=5.0)
    with served_sync_client(cfg) as (server, ws), contextlib.ExitStack() as stack:
        others = [
            stack.enter_context(connect(f"ws://127.0.0.1:{server.port}/", open_timeout=5))
            for _ in range(7)
        ]
        for c in others:
            assert json.loads(c.recv(timeout=5))["type"] == "hello"
        time.sleep(0.2)
        stop = threading.Event()
        _hog_loop(server, stop)
        time.sleep(0.05)
        try:
            for seq in range(40):
                _emit(server, seq)
                time.sleep(0.001)
        finally:
            stop.set()
        assert server.write_budget.backoffs >= 1
        assert _grades(ws, 40) == list(range(40))
        for c in others:
            assert _grades(c, 40) == list(range(40))


def test_slow_samples_in_a_row_hand_the_writing_to_the_loop() -> None:
    """The server's wiring of `WriteBudget`: with every write "over budget", the
    first two samples are still written by the sample thread, the third turns it off,
    and the fourth goes through the loop; all arrive in order."""
    cfg = ServerConfig(port=0, thread_write_budget_s=1e-9, thread_write_backoff_s=5.0)
    with served_sync_client(cfg) as (server, ws):
        deliveries = _count_loop_deliveries(server)
        time.sleep(0.1)
        for seq in range(2):
            _emit(server, seq)
        assert _grades(ws, 2) == [0, 1]
        assert server.write_budget.backoffs == 0 and deliveries[0] == 0
        _emit(server, 2)
        assert server.write_budget.backoffs == 1 and deliveries[0] == 0
        _emit(server, 3)
        assert _grades(ws, 2) == [2, 3]
        assert deliveries[0] >= 1


def test_a_slow_sample_now_and_then_keeps_sample_thread_writes_on() -> None:
    """The machine stalling makes one sample's writes slow now and then (in a 1000 Hz
    bench run: 10 of 11,000, the closest two 8 samples apart); that never turns the
    path off, however close together, as long as a fast sample comes between."""
    budget = WriteBudget(budget_s=0.002, slow_samples=3, backoff_s=0.25)
    t = 0.0
    for k in range(2000):
        took = 0.005 if k % 3 != 2 else 0.0002  # slow, slow, fast, slow, slow, ...
        budget.observe(t, t + took)
        t += 0.001 + took
        assert budget.allows(t)
    assert budget.backoffs == 0


def test_slow_samples_in_a_row_back_off_for_the_backoff_time() -> None:
    budget = WriteBudget(budget_s=0.002, slow_samples=3, backoff_s=0.25)
    budget.observe(0.0, 0.003)
    budget.observe(0.004, 0.007)
    assert budget.allows(0.008) and budget.backoffs == 0
    budget.observe(0.008, 0.011)
    assert budget.backoffs == 1
    assert not budget.allows(0.012) and not budget.allows(0.26)
    assert budget.allows(0.011 + 0.25)
    # the count starts again after a backoff: one more slow sample is not three
    budget.observe(0.3, 0.303)
    assert budget.allows(0.304) and budget.backoffs == 1


def test_write_budget_options_are_checked() -> None:
    for bad in (
        {"thread_write_budget_s": 0.0},
        {"thread_write_budget_s": 2.0},
        {"thread_write_backoff_s": -1.0},
        {"thread_write_slow_samples": 0},
    ):
        try:
            WebSocketServer(ServerConfig(port=0, **bad))  # type: ignore[arg-type]
        except ValueError as exc:
            assert "thread_write" in str(exc)
        else:
            raise AssertionError(f"accepted {bad}")
