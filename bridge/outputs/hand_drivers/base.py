"""The hand driver interface and the shared serial line transport.

Drivers speak *motor* coordinates (0..100 percent, inversion already applied by the
caller) and never decide anything about safety: they format, write and parse.
"""

from __future__ import annotations

import contextlib
import logging
from abc import ABC, abstractmethod

import serial

from bridge.outputs.pose_map import Pose

log = logging.getLogger("bridge.hand.driver")


class HandLinkError(ConnectionError):
    """The hand link is down (port missing, unplugged, write failed or timed out)."""


class HandDriver(ABC):
    """One physical (or simulated) hand.

    `connect` raises HandLinkError when the hand cannot be reached; `send`, `feedback`,
    `enable` and `stop` raise HandLinkError when the link drops (the caller reconnects
    with backoff). Nothing is queued: a pose that could not be sent is dropped.
    """

    name: str = "hand"
    has_wrist: bool = False
    feedback_seq: int = 0
    """Incremented whenever a new position report arrives (tells fresh from stale)."""

    @abstractmethod
    def connect(self) -> None:
        """Open the link (idempotent when already connected)."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while the link is believed to be up."""

    @abstractmethod
    def send(self, positions: Pose) -> None:
        """Command all motors to `positions` (motor coordinates, 0..100)."""

    def feedback(self) -> Pose | None:
        """The latest reported motor positions, or None when the hand reports none.

        Also drains the input so a dropped link is noticed even without feedback."""
        return None

    def enable(self) -> None:  # noqa: B027 - optional protocol step
        """Arm the motors (protocols with an enable line send it)."""

    def stop(self) -> None:  # noqa: B027 - optional protocol step
        """Halt the motors now (protocols with a stop line send it)."""

    @abstractmethod
    def close(self) -> None:
        """Release the link; safe to call twice."""

    def describe(self) -> dict[str, object]:
        """Static facts for the status message."""
        return {"driver": self.name, "has_wrist": self.has_wrist}


class SerialLineDriver(HandDriver):
    """A newline-terminated ASCII protocol over a serial port (pyserial).

    Writes use a short timeout: a hand that stops reading is treated as a dropped
    link rather than blocking the hand thread (and an emergency stop) indefinitely.
    """

    write_timeout_s = 0.1

    def __init__(self, port: str, baud: int = 115200) -> None:
        self.port = port
        self.baud = baud
        self._ser: serial.Serial | None = None
        self._rx = bytearray()
        self.lines_written = 0
        self.bad_lines = 0

    @property
    def connected(self) -> bool:
        return self._ser is not None

    def connect(self) -> None:
        if self._ser is not None:
            return
        try:
            ser = serial.Serial(self.port, self.baud, timeout=0, write_timeout=self.write_timeout_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise HandLinkError(f"cannot open {self.port}: {exc}") from None
        # Whatever the hand said before we were listening is not current.
        with contextlib.suppress(serial.SerialException, OSError):
            ser.reset_input_buffer()
        self._rx.clear()
        self._ser = ser
        # An empty line ends any half-written line the hand kept from before a drop.
        self.write_line("")
        self.lines_written -= 1

    def _drop(self, what: str, exc: BaseException) -> HandLinkError:
        ser, self._ser = self._ser, None
        if ser is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                ser.close()
        return HandLinkError(f"{self.port}: {what} failed: {exc}")

    def write_line(self, text: str) -> None:
        """Write one line (adds the newline). Raises HandLinkError on failure."""
        if self._ser is None:
            raise HandLinkError(f"{self.port}: not connected")
        try:
            self._ser.write(text.encode("ascii") + b"\n")
        except (serial.SerialException, OSError) as exc:
            raise self._drop("write", exc) from None
        self.lines_written += 1

    def read_lines(self) -> list[str]:
        """Complete lines received since the last call (non-blocking)."""
        if self._ser is None:
            raise HandLinkError(f"{self.port}: not connected")
        try:
            data = self._ser.read(4096)
        except (serial.SerialException, OSError) as exc:
            raise self._drop("read", exc) from None
        self._rx.extend(data)
        if len(self._rx) > 65536:  # garbage without newlines: keep memory bounded
            del self._rx[:-4096]
        *lines, rest = self._rx.split(b"\n")
        self._rx = bytearray(rest)
        return [ln.decode("ascii", "replace").strip() for ln in lines if ln.strip()]

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                ser.close()

    def describe(self) -> dict[str, object]:
        return {
            "driver": self.name,
            "has_wrist": self.has_wrist,
            "port": self.port,
            "baud": self.baud,
            "lines_written": self.lines_written,
            "bad_lines": self.bad_lines,
        }
