"""Websocket protocol v1 (contract 3): its names and constants, defined once.

Dependency-free on purpose: importing it pulls in neither bpy nor any other module of
the add-on, so the bridge may import it too (the one allowed edge from `bridge/` into
`fist_and_ball/`). Only wire facts live here; game facts (LEDs, levels) do not.
"""

from __future__ import annotations

PROTOCOL_VERSION = 1
"""The `protocol` field of `hello`."""
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

N_GRADES = 9
"""Grades 0..8 (`hello.grades`): 0 = fully open/extended, 8 = fully closed/flexed."""
MAX_GRADE = N_GRADES - 1

# Gestures, in the order of their index in recordings and the simulator.
REST = "rest"
FINGERS = "fingers"
WRIST = "wrist"
THUMB = "thumb"
GESTURES: tuple[str, ...] = (REST, FINGERS, WRIST, THUMB)
ACTIVE_GESTURES: tuple[str, ...] = (FINGERS, WRIST, THUMB)
"""The gestures a client can switch the QG decoder to (every one but rest)."""

# Server -> client message types.
MSG_HELLO = "hello"
MSG_GRADE = "grade"
MSG_KMG = "kmg"
MSG_STATUS = "status"
MSG_ERROR = "error"
MSG_PONG = "pong"
MSG_HAND_REPLY = "hand"
"""Extension: the answer to a `hand` command (same type name as the command)."""

# Client -> server message types.
MSG_SUBSCRIBE = "subscribe"
MSG_GESTURE = "gesture"
MSG_HAND = "hand"
MSG_PING = "ping"

# `hand` actions.
HAND_ENABLE = "enable"
HAND_DISABLE = "disable"
HAND_STOP = "stop"
HAND_RELEASE = "release"
"""Open the hand slowly; allowed to every client that may `stop`."""
HAND_ACTIONS: tuple[str, ...] = (HAND_ENABLE, HAND_DISABLE, HAND_STOP, HAND_RELEASE)

# Fields of `grade` (the wire keeps `level` for the 0..1 closure behind the grade).
FIELD_CLOSURE = "level"


def hand_command(action: str) -> dict[str, str]:
    """The `hand` message for `action` (one of HAND_ACTIONS)."""
    if action not in HAND_ACTIONS:
        raise ValueError(f"hand action must be one of {', '.join(HAND_ACTIONS)}; got {action!r}")
    return {"type": MSG_HAND, "action": action}
