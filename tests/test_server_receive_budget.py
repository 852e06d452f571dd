"""Per-client receive budget and batched delivery (issue 11 item 7, load isolation).

A client flooding pings must not get the server loop's attention at loopback speed:
past its byte budget the server stops reading its socket. Real websockets over
loopback; bounds are in bytes with generous slack, never tight wall-clock limits.
"""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
from raw_ws_client import OP_PING, masked_frame, raw_ws
from test_server_kit import PushSource, start_bridge

from bridge.server.receive_budget import ReceiveBudget
from bridge.server.ws_server import ServerConfig, WebSocketServer

_PING = masked_frame(OP_PING, b"p" * 125)  # 131 bytes on the wire
_ASYNCIO_READ = 256 * 1024  # one socket read by asyncio: charged after it is handled


def test_budget_allows_burst_then_rate() -> None:
    b = ReceiveBudget(rate=1000.0, burst=2000.0, now=0.0)
    assert b.charge(1500, 0.0) == 0.0  # within the burst
    assert b.charge(500, 0.0) == 0.0  # burst exactly used up
    assert b.charge(1000, 0.0) == pytest.approx(1.0)  # 1000 bytes over: 1 s at 1000 B/s
    assert b.charge(0, 1.0) == 0.0  # refilled back to zero debt
    assert b.charge(0, 100.0) == 0.0
    assert b.charge(2000, 100.0) == 0.0  # refill is capped at the burst...
    assert b.charge(1, 100.0) > 0.0  # ...not 100 s worth of bytes
    with pytest.raises(ValueError):
        ReceiveBudget(rate=0.0, burst=1.0, now=0.0)


def _pongs_read(port: int, pings: int, seconds: float) -> tuple[int, float]:
    """Send `pings` pings as fast as the socket takes them while reading the pongs;
    returns (pongs read, seconds elapsed) after `seconds`."""
    sock = raw_ws(port)
    sock.setblocking(False)
    out = _PING * pings
    buf, pongs = b"", 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if out:
            with contextlib.suppress(BlockingIOError):
                out = out[sock.send(out) :]
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            time.sleep(0.002)
            continue
        if not data:
            break
        buf += data
        pongs, buf = _count_pongs(buf, pongs)
        if pongs >= pings:
            break
    elapsed = time.monotonic() - start
    sock.close()
    return pongs, elapsed


def _count_pongs(buf: bytes, pongs: int) -> tuple[int, bytes]:
    """Count complete pong frames in `buf` (skipping hello, grades...); keep the rest."""
    while len(buf) >= 2:
        n, head = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, head = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, head = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < head + n:
            break
        pongs += (buf[0] & 0x0F) == 0xA
        buf = buf[head + n :]
    return pongs, buf


def test_ping_flood_is_read_at_the_budget_rate() -> None:
    rate, burst = 8 * 1024, 16 * 1024
    pipeline, server = start_bridge(
        PushSource(), None, receive_bytes_per_s=rate, receive_burst_bytes=burst
    )
    try:
        pings = 20_000  # 2.6 MB
        pongs, elapsed = _pongs_read(server.port, pings, seconds=3.0)
    finally:
        pipeline.close()
    # Unbudgeted, loopback answers all 20 000 pings in well under a second. Budgeted,
    # the server reads the burst plus the rate, plus at most one read it had already
    # taken in when it went over (generous: the bound grows with the elapsed time).
    allowed_bytes = burst + rate * elapsed + _ASYNCIO_READ + 64 * 1024
    assert pongs > 0, "no pong at all: the connection was not served"
    assert pongs * len(_PING) <= allowed_bytes, (pongs, elapsed)


def test_well_behaved_client_is_not_throttled() -> None:
    """A client within its budget gets every pong back promptly (no pause at all)."""
    pipeline, server = start_bridge(PushSource(), None)
    try:
        pings = 200  # 26 KB: well inside the 128 KiB burst
        pongs, _ = _pongs_read(server.port, pings, seconds=10.0)
    finally:
        pipeline.close()
    assert pongs == pings


def test_invalid_limits_refused() -> None:
    with pytest.raises(ValueError, match="receive"):
        WebSocketServer(ServerConfig(port=0, receive_bytes_per_s=0))
    with pytest.raises(ValueError, match="flush_interval"):
        WebSocketServer(ServerConfig(port=0, flush_interval_s=-1))


def test_refused_over_cap_at_accept_without_reading_the_request() -> None:
    """Over the cap the answer is a 503 even before the client sends anything."""
    pipeline, server = start_bridge(PushSource(), None, max_clients=1)
    try:
        first = raw_ws(server.port)
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    head += chunk
        finally:
            first.close()
    finally:
        pipeline.close()
    assert head.startswith(b"HTTP/1.1 503"), head
    assert server.refused_full == 1
