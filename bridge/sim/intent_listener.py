"""UDP listener for intents: `{"gesture": "fingers", "level": 0.7}` datagrams on loopback.

Lets a game autopilot or calibration UI in another process drive a simulator that runs
in intent mode. Bad datagrams are reported (as messages), never fatal.
"""

from __future__ import annotations

import json
import math
import socket
from dataclasses import dataclass

from bridge.values.sample import GESTURES

_MAX_DATAGRAM = 2048


@dataclass(frozen=True, slots=True)
class Intent:
    gesture: str
    level: float


def parse_intent(data: bytes) -> Intent:
    """Decode one datagram; ValueError with a short reason when it is not a valid intent."""
    try:
        msg = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not JSON") from None
    if not isinstance(msg, dict):
        raise ValueError("not a JSON object")
    gesture = msg.get("gesture")
    if gesture not in GESTURES:
        raise ValueError(f"gesture must be one of {', '.join(GESTURES)}, got {gesture!r}")
    level = msg.get("level", 0.0 if gesture == "rest" else None)
    if isinstance(level, bool) or not isinstance(level, int | float) or not math.isfinite(level):
        raise ValueError(f"level must be a number 0..1, got {level!r}")
    return Intent(str(gesture), min(max(float(level), 0.0), 1.0))


class IntentListener:
    """Non-blocking UDP socket on 127.0.0.1:port; `poll()` returns intents received since."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self.received = 0
        self.rejected = 0

    def poll(self) -> tuple[list[Intent], list[str]]:
        """(intents in arrival order, error messages for rejected datagrams)."""
        intents: list[Intent] = []
        errors: list[str] = []
        while True:
            try:
                data, addr = self._sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            try:
                intents.append(parse_intent(data))
                self.received += 1
            except ValueError as exc:
                self.rejected += 1
                errors.append(f"intent from {addr[0]}:{addr[1]} ignored: {exc}")
        return intents, errors

    def close(self) -> None:
        self._sock.close()
