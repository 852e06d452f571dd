"""`generic5`: the project's own five-motor line protocol (spec in docs/hand.md).

Every line is ASCII, ends with "\\n" and carries a checksum: ``<body>*<CS>`` where CS
is the XOR of all bytes of <body>, as two upper-case hex digits (NMEA style).

Host -> hand:
- ``P a,b,c,d,e[,w]*CS``  positions in percent with one decimal (thumb first, optional
  wrist), 0 = open, e.g. ``P 0.0,80.0,80.0,80.0,80.0*5E``.
- ``E*45``  enable (arm) the motors; the hand boots disarmed and ignores P until E.
- ``X*58``  stop: halt every motor where it is, disarm; P is ignored until the next E.

Hand -> host:
- ``Q a,b,c,d,e[,w]*CS``  measured positions (any rate; 10-50 Hz suggested).
- ``! <text>*CS``  a fault report, logged.
Lines with a bad or missing checksum are ignored and counted.
"""

from __future__ import annotations

import math

from bridge.outputs.hand_drivers.base import SerialLineDriver, log
from bridge.outputs.pose_map import N_FINGERS, Pose


def checksum(body: str) -> str:
    """XOR of the bytes of `body` as two upper-case hex digits."""
    cs = 0
    for b in body.encode("ascii"):
        cs ^= b
    return f"{cs:02X}"


def frame(body: str) -> str:
    """`body` with its checksum appended (no newline)."""
    return f"{body}*{checksum(body)}"


def unframe(line: str) -> str | None:
    """The body of a checksummed line, or None when the checksum is missing or wrong."""
    body, sep, cs = line.strip().rpartition("*")
    if not sep or len(cs) != 2 or checksum(body) != cs.upper():
        return None
    return body


def format_positions(positions: Pose, has_wrist: bool) -> str:
    """The framed `P` line for `positions` (motor coordinates)."""
    vals = list(positions.fingers)
    if has_wrist:
        vals.append(50.0 if positions.wrist is None else positions.wrist)
    return frame("P " + ",".join(f"{min(max(v, 0.0), 100.0):.1f}" for v in vals))


def parse_feedback(body: str, has_wrist: bool) -> Pose | None:
    """A `Q` body -> Pose, or None when malformed or out of range."""
    if not body.startswith("Q "):
        return None
    try:
        vals = [float(x) for x in body[2:].split(",")]
    except ValueError:
        return None
    if len(vals) not in (N_FINGERS, N_FINGERS + 1):
        return None
    if not all(math.isfinite(v) and -1.0 <= v <= 101.0 for v in vals):
        return None
    wrist = vals[5] if has_wrist and len(vals) == N_FINGERS + 1 else None
    return Pose(tuple(vals[:N_FINGERS]), wrist)  # type: ignore[arg-type]


ENABLE_LINE = frame("E")
STOP_LINE = frame("X")


class Generic5Driver(SerialLineDriver):
    """Five motors (plus an optional wrist) over the checksummed `generic5` protocol."""

    name = "generic5"

    def __init__(self, port: str, baud: int = 115200, *, has_wrist: bool = False) -> None:
        super().__init__(port, baud)
        self.has_wrist = has_wrist
        self._feedback: Pose | None = None
        self.faults: list[str] = []

    def connect(self) -> None:
        super().connect()
        self._feedback = None  # a position from before a reconnect is not current

    def send(self, positions: Pose) -> None:
        self.write_line(format_positions(positions, self.has_wrist))

    def enable(self) -> None:
        self.write_line(ENABLE_LINE)

    def stop(self) -> None:
        self.write_line(STOP_LINE)

    def feedback(self) -> Pose | None:
        for line in self.read_lines():
            body = unframe(line)
            if body is None:
                self.bad_lines += 1
                continue
            if body.startswith("!"):
                fault = body[1:].strip()
                log.warning("hand %s reports: %s", self.port, fault)
                self.faults = [*self.faults[-9:], fault]
                continue
            pose = parse_feedback(body, self.has_wrist)
            if pose is None:
                self.bad_lines += 1
            else:
                self._feedback = pose
                self.feedback_seq += 1
        return self._feedback
