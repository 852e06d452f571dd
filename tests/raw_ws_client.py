"""Test helper: a websocket client on a bare TCP socket, for clients the `websockets`
library would not play: one that never reads (its receive buffer kept small, so it
fills quickly) or that writes frames of its own making."""

from __future__ import annotations

import base64
import os
import socket

OP_TEXT = 0x1
OP_PING = 0x9


def upgrade_request(port: int) -> bytes:
    """A client's websocket upgrade request to 127.0.0.1:`port` (a fresh key each time)."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def raw_ws(port: int, rcvbuf: int = 4096) -> socket.socket:
    """A socket past the websocket handshake with the server on 127.0.0.1:`port`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    sock.sendall(upgrade_request(port))
    head = b""
    sock.settimeout(5)
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: don't read past the HTTP response
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """One final client frame (masked, as a client must), payload under 126 bytes."""
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body
