"""A client's socket is read in slices, so a flooder's burst cannot hold the server loop.

The abuse bench's longest gap came from ping flooders: asyncio reads up to 256 KiB per
callback, and websockets parses every frame in it (and writes a pong per ping) before
the loop runs anything else, such as the next grade delivery. These tests use a real
server over loopback and real raw websocket clients. A delivery scheduled from the
pipeline thread runs at the start of the loop's next iteration, so what it can wait
behind is one iteration: measured as the loop thread's own CPU time (not wall time: the
machine is shared) between two runs of a callback that reschedules itself with
`call_soon`, which runs once per iteration.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from raw_ws_client import OP_PING, masked_frame, raw_ws
from websockets.sync.client import connect

from bridge.server.read_slicing import DEFAULT_MAX_READ_BYTES, slice_reads
from bridge.server.ws_server import ServerConfig, WebSocketServer

PAYLOAD = b"p" * 125
PONG = bytes([0x8A, len(PAYLOAD)]) + PAYLOAD  # unmasked, echoing the ping's payload


def _ping_frames(count: int) -> bytes:
    """`count` masked client pings of 125 bytes each (131 bytes on the wire)."""
    return masked_frame(OP_PING, PAYLOAD) * count


def _raw_websocket(port: int) -> socket.socket:
    """A raw websocket whose receive buffer takes every pong it is sent."""
    sock = raw_ws(port, rcvbuf=1 << 20)
    sock.settimeout(10)
    return sock


@contextmanager
def _server(max_read_bytes: int | None) -> Iterator[WebSocketServer]:
    server = WebSocketServer(
        ServerConfig(port=0, max_clients=32, ping_interval_s=None, max_read_bytes=max_read_bytes)
    )
    server.start()
    try:
        yield server
    finally:
        server.close()


def _hold_loop(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    """Block the server loop for `seconds` (returns once it is blocked)."""
    entered = threading.Event()

    def block() -> None:
        entered.set()
        time.sleep(seconds)

    loop.call_soon_threadsafe(block)
    assert entered.wait(10), "the loop did not run the blocking callback"


def _longest_loop_stretch(max_read_bytes: int | None, flooders: int = 8) -> tuple[float, int]:
    """(longest loop iteration in CPU time, pong bytes the flooders got back)
    after `flooders` clients each put ~90 KiB of pings (under the receive burst, so no
    throttling) into the server's socket while its loop was held busy."""
    with _server(max_read_bytes) as server:
        loop = server._loop
        assert loop is not None
        socks = [_raw_websocket(server.port) for _ in range(flooders)]
        burst = _ping_frames(700)  # 91,700 bytes
        marks: list[float] = []
        stop = threading.Event()

        def mark() -> None:
            marks.append(time.thread_time())  # on the loop thread: its CPU clock
            if not stop.is_set():
                loop.call_soon(mark)  # handles added now run in the next iteration

        loop.call_soon_threadsafe(mark)
        _hold_loop(loop, 0.5)
        for sock in socks:  # while the loop is held: everything waits in the kernel
            sock.setblocking(False)
            sent = 0
            while sent < len(burst):
                try:
                    sent += sock.send(burst[sent:])
                except BlockingIOError:
                    break  # the rest stays with the client: not part of the burst
        time.sleep(2.0)  # the held loop resumes, then works through every burst
        stop.set()
        pong_bytes = 0
        for sock in socks:
            while True:
                try:
                    data = sock.recv(1 << 20)
                except BlockingIOError:
                    break
                if not data:
                    break
                pong_bytes += len(data)
            sock.close()
    assert len(marks) > 100, "too few markers ran to measure anything"
    return max(b - a for a, b in itertools.pairwise(marks)), pong_bytes


def test_a_flood_burst_is_read_in_slices_with_the_loop_free_in_between() -> None:
    gc.disable()  # a collection inside one iteration would count as the loop's work
    try:
        whole, pongs_whole = _longest_loop_stretch(None)
        sliced, pongs_sliced = _longest_loop_stretch(DEFAULT_MAX_READ_BYTES)
    finally:
        gc.enable()
    # both servers did the work: answered (most of) the pings that were sent
    assert pongs_whole > 8 * 100 * 127 and pongs_sliced > 8 * 100 * 127
    # whole reads: each flooder's burst is parsed (and its pongs written) in one
    # callback, and the 8 flooders, readable together, run in one iteration: 70-90 ms
    # of CPU here; slices: one 4 KiB slice per flooder per iteration, 3-6 ms (14-24x
    # less in trials on the shared 2-core machine)
    assert sliced * 3 < whole, (sliced, whole)


def test_every_ping_is_answered_and_big_messages_arrive_whole() -> None:
    with _server(512) as server:
        sock = _raw_websocket(server.port)
        sock.sendall(_ping_frames(200))  # 26 kB: 52 slices of 512 bytes
        got = b""
        while got.count(PONG) < 200:  # after the hello
            chunk = sock.recv(65536)
            assert chunk, f"the server closed the connection after {got.count(PONG)} pongs"
            got += chunk
        assert got.count(PONG) == 200
        sock.close()
        # a 20 kB message spans 40 slices and still arrives as one message
        with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
            ws.send(json.dumps({"type": "no such request", "pad": "x" * 20_000}))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                reply = json.loads(ws.recv(timeout=10))
                if reply["type"] == "error":
                    break
            assert reply["type"] == "error", reply


def test_the_server_connections_read_in_the_configured_slices() -> None:
    with _server(1000) as server, connect(f"ws://127.0.0.1:{server.port}/") as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        sizes = [c.ws.transport.max_size for c in server._clients]  # type: ignore[attr-defined]
        assert sizes == [1000]


def test_slice_reads_refuses_nonsense_and_leaves_unknown_transports_alone() -> None:
    class NoSize(asyncio.BaseTransport):
        pass

    assert slice_reads(NoSize(), 4096) is False
    with pytest.raises(ValueError):
        slice_reads(NoSize(), 0)
    with pytest.raises(ValueError, match="max_read_bytes"):
        WebSocketServer(ServerConfig(port=0, max_read_bytes=0))
