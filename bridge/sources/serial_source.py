"""Serial-port source (USB CDC or UART adapter): pyserial opens it, we read its fd.

pyserial opens, locks and configures the port (baud, raw mode, exclusive access).
On POSIX, reading goes straight to the file descriptor: one `poll` for readiness,
then one `os.read` of everything waiting, so a burst of frames costs one call.
pyserial's own `read` builds a timeout object and asks `in_waiting` (an ioctl) for
every call, which at 1000 frames/s was about a tenth of the bridge's CPU
(docs/benchmarks.md). Windows ports have no descriptor to poll: pyserial reads there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading

import serial

from bridge.sources.stream_source import READ_TIMEOUT_S, StreamSource

DEFAULT_BAUD = 921600
READ_CHUNK = 1 << 16
"""Bytes asked for per read: every frame waiting, whatever the backlog (the kernel's
tty buffer is 4 kB on Linux)."""
_READ_TIMEOUT_MS = round(READ_TIMEOUT_S * 1000)


class SerialSource(StreamSource):
    """KMG frames from a serial port, e.g. `serial:/dev/ttyUSB0?baud=921600`."""

    def __init__(self, url: str, port: str, baud: int = DEFAULT_BAUD) -> None:
        super().__init__(url, f"serial {port}")
        self.port = port
        self.baud = baud
        self._ser: serial.Serial | None = None
        self._fd = -1
        self._poll: select.poll | None = None

    def _open(self, stop: threading.Event) -> None:
        # exclusive: two bridges reading one port would each get half the bytes
        ser = serial.Serial(self.port, self.baud, timeout=READ_TIMEOUT_S, exclusive=True)
        self._ser, self._fd, self._poll = ser, -1, None
        fileno = getattr(ser, "fileno", None)
        if fileno is None or not hasattr(select, "poll"):
            return  # Windows: pyserial's own read (`_read_pyserial`)
        fd = fileno()
        # pyserial opens the port non-blocking; keep it so (a read never waits)
        os.set_blocking(fd, False)
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        self._fd, self._poll = fd, poll

    def _read(self) -> bytes:
        poll = self._poll
        if poll is None:
            return self._read_pyserial()
        # Wait for the first byte (at most the timeout), then take all that is there:
        # a blocking read of a fixed count would wait for the whole count.
        if not poll.poll(_READ_TIMEOUT_MS):
            return b""
        try:
            data = os.read(self._fd, READ_CHUNK)
        except BlockingIOError:  # readiness without data (another reader took it)
            return b""
        if not data:
            # a vanished USB adapter reads as end of file, ready again at once
            raise OSError(errno.EIO, "device reports readiness to read but returned no data")
        return data

    def _read_pyserial(self) -> bytes:
        """Where the port has no pollable descriptor (Windows): pyserial's read."""
        ser = self._ser
        if ser is None:
            raise OSError(errno.EBADF, "serial port not open")
        # what is waiting, or block for one byte up to the timeout: a larger blocking
        # read would wait for the whole count
        return bytes(ser.read(ser.in_waiting or 1))

    def _close_transport(self) -> None:
        ser, self._ser = self._ser, None
        self._poll, self._fd = None, -1
        if ser is not None:
            # the device may already be gone; then there is nothing left to release
            with contextlib.suppress(OSError):
                ser.close()
