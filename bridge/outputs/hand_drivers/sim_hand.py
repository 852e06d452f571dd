"""A simulated hand: worm-gear motors with a speed limit and position feedback.

It behaves like a `generic5` hand: it boots disarmed (sends are ignored until
`enable`), `stop` halts every motor where it is and disarms. Each motor moves toward
its setpoint at no more than `motor_speed_pct_s` (worm gears are slow: the default
100 %/s is full travel in 1 s). Time comes from an injectable clock so tests can
drive it deterministically.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from bridge.outputs.hand_drivers.base import HandDriver, HandLinkError
from bridge.outputs.pose_map import N_FINGERS, Pose


class SimHand(HandDriver):
    """An in-process hand model; `connect` can be made to fail to exercise reconnects."""

    name = "sim"

    def __init__(
        self,
        *,
        has_wrist: bool = False,
        motor_speed_pct_s: float = 100.0,
        clock: Callable[[], float] = time.monotonic,
        start: Pose | None = None,
    ) -> None:
        if motor_speed_pct_s <= 0:
            raise ValueError("sim motor speed must be > 0")
        self.has_wrist = has_wrist
        self.motor_speed_pct_s = motor_speed_pct_s
        self._clock = clock
        n = N_FINGERS + (1 if has_wrist else 0)
        init = start or Pose((0.0,) * N_FINGERS, 50.0 if has_wrist else None)  # type: ignore[arg-type]
        self._pos = list(init.fingers) + ([init.wrist or 50.0] if has_wrist else [])
        self._set = list(self._pos)
        assert len(self._pos) == n
        self._t = clock()
        self._connected = False
        self.armed = False
        self.plugged = True  # tests unplug the simulated cable
        # Recent (time, pose) sends, bounded so a long demo does not grow memory.
        self.sent: deque[tuple[float, Pose]] = deque(maxlen=10000)
        self.stops = 0

    @property
    def connected(self) -> bool:
        return self._connected and self.plugged

    def connect(self) -> None:
        if not self.plugged:
            raise HandLinkError("sim hand unplugged")
        self._advance()
        self._connected = True

    def _check(self) -> None:
        if not self.plugged:
            self._connected = False
        if not self._connected:
            raise HandLinkError("sim hand not connected")

    def _advance(self) -> None:
        now = self._clock()
        step = self.motor_speed_pct_s * max(now - self._t, 0.0)
        self._t = now
        for i, (p, s) in enumerate(zip(self._pos, self._set, strict=True)):
            self._pos[i] = min(s, p + step) if s > p else max(s, p - step)

    def send(self, positions: Pose) -> None:
        self._check()
        self._advance()
        self.sent.append((self._clock(), positions))
        if not self.armed:
            return
        vals = list(positions.fingers)
        if self.has_wrist:
            vals.append(self._set[-1] if positions.wrist is None else positions.wrist)
        self._set = [min(max(v, 0.0), 100.0) for v in vals]

    def enable(self) -> None:
        self._check()
        self._advance()
        self.armed = True

    def stop(self) -> None:
        self._check()
        self._advance()
        self.stops += 1
        self.armed = False
        self._set = list(self._pos)  # halt where it is

    def position(self) -> Pose:
        """The motor positions now (also available while unplugged, for tests)."""
        self._advance()
        wrist = self._pos[-1] if self.has_wrist else None
        return Pose(tuple(self._pos[:N_FINGERS]), wrist)  # type: ignore[arg-type]

    def feedback(self) -> Pose | None:
        self._check()
        self.feedback_seq += 1  # the model reports on every poll
        return self.position()

    def close(self) -> None:
        self._connected = False

    def describe(self) -> dict[str, object]:
        return {
            "driver": self.name,
            "has_wrist": self.has_wrist,
            "armed": self.armed,
            "motor_speed_pct_s": self.motor_speed_pct_s,
        }
