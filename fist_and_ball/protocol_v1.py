"""Websocket protocol v1 (contract 3): its names and constants, defined once.

Dependency-free on purpose: importing it pulls in neither bpy nor any other module of
the add-on, so the bridge may import it too (the one allowed edge from `bridge/` into
`fist_and_ball/`). Only wire facts live here; game facts (LEDs, levels) do not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


# ---- re-don check (extension; docs/redon.md) -----------------------------------------
# client -> bridge: {"type": "redon", "action": "start" | "cancel"}
# bridge -> that client: `running` messages (~5/s), then one final message.
MSG_REDON = "redon"
"""Extension: the re-don check, both directions (same type name, like `hand`)."""
REDON_START = "start"
REDON_CANCEL = "cancel"
REDON_ACTIONS: tuple[str, ...] = (REDON_START, REDON_CANCEL)

REDON_RUNNING = "running"
REDON_ACCEPTED = "accepted"
"""Today's placement suits the decoder as it is."""
REDON_ADAPTED = "adapted"
"""The placement needed (and got) an adaptation without retraining."""
REDON_REFUSED = "refused"
"""The placement would break the decoder: re-don, recalibrate or retrain."""
REDON_CANCELLED = "cancelled"
REDON_FAILED = "failed"
REDON_FINAL_STATES: tuple[str, ...] = (
    REDON_ACCEPTED,
    REDON_ADAPTED,
    REDON_REFUSED,
    REDON_CANCELLED,
    REDON_FAILED,
)
REDON_VERDICTS: tuple[str, ...] = (REDON_ACCEPTED, REDON_ADAPTED, REDON_REFUSED)
"""The final states that judge the placement (cancelled and failed do not)."""
MAX_REDON_TEXT = 240
"""Longer prompts, summaries and reasons are cut to this many characters."""
MAX_REDON_REASONS = 16
"""More reasons than this is not a message this contract produces: refused."""


def redon_command(action: str) -> dict[str, str]:
    """The client's `redon` message for `action` (one of REDON_ACTIONS)."""
    if action not in REDON_ACTIONS:
        raise ValueError(f"redon action must be one of {', '.join(REDON_ACTIONS)}; got {action!r}")
    return {"type": MSG_REDON, "action": action}


class RedonMessageError(ValueError):
    """A bridge `redon` message that does not follow the contract; the text says why."""


@dataclass(frozen=True, slots=True)
class RedonProgress:
    """A `running` message: what the patient should do now, and how far the check is."""

    step: str
    """`rest` or the movement being checked."""
    prompt: str
    progress: float
    """0..1."""
    remaining_s: float


@dataclass(frozen=True, slots=True)
class RedonPose:
    """The socket's estimated pose against the twin."""

    shift_mm: float
    turn_deg: float


@dataclass(frozen=True, slots=True)
class RedonResult:
    """The final message: the verdict (or cancelled / failed) and why."""

    state: str
    """One of REDON_FINAL_STATES."""
    summary: str
    reasons: tuple[str, ...]
    pose: RedonPose | None
    decoder: str
    """The decoder spec in use after the check ("" when the bridge did not say)."""


def parse_redon(msg: Mapping[str, Any]) -> RedonProgress | RedonResult:
    """A bridge `redon` message as a typed value; raises RedonMessageError (one line,
    naming the field) when it does not follow the contract. Texts are cut to
    MAX_REDON_TEXT; `pose` and `decoder` may be missing (cancelled, failed)."""
    if msg.get("type") != MSG_REDON:
        raise RedonMessageError(f"not a redon message (type {msg.get('type')!r})")
    state = msg.get("state")
    if state == REDON_RUNNING:
        return RedonProgress(
            step=_text(msg, "step", required=True),
            prompt=_text(msg, "prompt"),
            progress=_number(msg, "progress", 0.0, 1.0),
            remaining_s=_number(msg, "remaining_s", 0.0, math.inf),
        )
    if state in REDON_FINAL_STATES:
        return RedonResult(
            state=str(state),
            summary=_text(msg, "summary"),
            reasons=_reasons(msg.get("reasons")),
            pose=_pose(msg.get("pose")),
            decoder=_text(msg, "decoder") if "decoder" in msg else "",
        )
    known = ", ".join((REDON_RUNNING, *REDON_FINAL_STATES))
    raise RedonMessageError(f"redon 'state' must be one of {known}; got {_shown(state)}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _text(msg: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = msg.get(name)
    if not isinstance(value, str) or (required and not value.strip()):
        kind = "a non-empty string" if required else "a string"
        raise RedonMessageError(f"redon '{name}' must be {kind}; got {_shown(value)}")
    return value[:MAX_REDON_TEXT]


def _finite_number(value: object) -> float | None:
    """A JSON number as a finite float; None for bools, strings, NaN, inf, huge ints."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _number(msg: Mapping[str, Any], name: str, low: float, high: float) -> float:
    number = _finite_number(msg.get(name))
    if number is None or not low <= number <= high:
        span = f"{low:g}..{high:g}" if math.isfinite(high) else f">= {low:g}"
        raise RedonMessageError(
            f"redon '{name}' must be a number {span}; got {_shown(msg.get(name))}"
        )
    return number


def _reasons(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise RedonMessageError(f"redon 'reasons' must be a list of strings; got {_shown(value)}")
    if len(value) > MAX_REDON_REASONS:
        raise RedonMessageError(
            f"redon 'reasons' has {len(value)} entries; at most {MAX_REDON_REASONS}"
        )
    return tuple(r[:MAX_REDON_TEXT] for r in value)


def _pose(value: object) -> RedonPose | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        shift, turn = _finite_number(value.get("shift_mm")), _finite_number(value.get("turn_deg"))
        if shift is not None and turn is not None:
            return RedonPose(shift_mm=shift, turn_deg=turn)
    raise RedonMessageError(
        f"redon 'pose' must be null or {{shift_mm, turn_deg}} numbers; got {_shown(value)}"
    )
