"""Idle clients get each delivery in one socket write past their queue (the write-
through fast path), over real loopback websockets: every grade once and in order,
kmg subscribers their own interleaved stream, and no sender task woken for it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import numpy as np
from websockets.sync.client import ClientConnection, connect

from bridge.server.ws_server import ServerConfig, WebSocketServer
from bridge.values.sample import Decoded, Sample


def _emit(server: WebSocketServer, seq: int) -> None:
    sample = Sample.from_field(seq, seq * 0.001, time.monotonic(), np.ones((3, 3)) * seq)
    server.on_sample(sample, Decoded(seq, sample.t_host, "fingers", seq % 9, 0.5, 0.9))


def _next(ws: ClientConnection, types: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv(timeout=10.0))
        if msg["type"] in types:
            return msg
    raise AssertionError(f"no {types} within 10 s")


@contextmanager
def _served(n_clients: int) -> Iterator[tuple[WebSocketServer, list[ClientConnection]]]:
    server = WebSocketServer(ServerConfig(port=0, batch_when_late_s=0.5))
    server.start()
    try:
        with ExitStack() as stack:
            conns = []
            for _ in range(n_clients):
                ws = stack.enter_context(connect(f"ws://127.0.0.1:{server.port}/"))
                assert json.loads(ws.recv(timeout=5))["type"] == "hello"
                conns.append(ws)
            deadline = time.monotonic() + 10
            while len(server._clients) < n_clients:
                assert time.monotonic() < deadline, "clients not registered"
                time.sleep(0.01)
            yield server, conns
    finally:
        server.close()


def test_idle_clients_get_every_grade_once_in_order_without_waking_senders() -> None:
    with _served(3) as (server, conns):
        wakes = [0]
        for c in server._clients:  # count sender wake-ups (set() on an idle queue)
            real_set = c.queue.ready.set

            def counted(real_set=real_set) -> None:  # type: ignore[no-untyped-def]
                wakes[0] += 1
                real_set()

            c.queue.ready.set = counted  # type: ignore[method-assign]
        for seq in range(60):
            _emit(server, seq)
            for ws in conns:
                assert _next(ws, ("grade",))["seq"] == seq
        assert wakes[0] == 0, "idle clients' sender tasks were woken for their grades"
        assert all(len(c.queue) == 0 and c.queue.dropped_total == 0 for c in server._clients)
        # one latency per grade per client; the loop records it just after the write, so
        # the last one may still be on its way when the client already has the message
        recorded, deadline = 0, time.monotonic() + 10.0
        while recorded < 3 * 60 and time.monotonic() < deadline:
            recorded += server.latency.snapshot().n
            time.sleep(0.01)
        assert recorded == 3 * 60


def test_kmg_subscriber_and_grade_client_each_get_their_own_stream() -> None:
    with _served(2) as (server, (kmg_ws, grade_ws)):
        kmg_ws.send(json.dumps({"type": "subscribe", "kmg": True}))
        deadline = time.monotonic() + 10
        while server._kmg_subscribers != 1:
            assert time.monotonic() < deadline, "subscription not seen"
            time.sleep(0.01)
        # bursts: several samples land in one delivery, which must keep each sample's
        # grade and kmg together for the subscriber, and carry no kmg for the other
        for start in range(0, 40, 4):
            for seq in range(start, start + 4):
                _emit(server, seq)
            for seq in range(start, start + 4):
                g = _next(kmg_ws, ("grade", "kmg"))
                k = _next(kmg_ws, ("grade", "kmg"))
                assert (g["type"], g["seq"], k["type"], k["seq"]) == ("grade", seq, "kmg", seq)
                assert _next(grade_ws, ("grade", "kmg")) == {**g, "type": "grade"}
