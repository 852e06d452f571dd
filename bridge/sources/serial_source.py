"""Serial-port source (USB CDC or UART adapter) via pyserial."""

from __future__ import annotations

import contextlib
import threading

import serial

from bridge.sources.stream_source import READ_TIMEOUT_S, StreamSource

DEFAULT_BAUD = 921600


class SerialSource(StreamSource):
    """KMG frames from a serial port, e.g. `serial:/dev/ttyUSB0?baud=921600`."""

    def __init__(self, url: str, port: str, baud: int = DEFAULT_BAUD) -> None:
        super().__init__(url, f"serial {port}")
        self.port = port
        self.baud = baud
        self._ser: serial.Serial | None = None

    def _open(self, stop: threading.Event) -> None:
        # exclusive: two bridges reading one port would each get half the bytes
        self._ser = serial.Serial(self.port, self.baud, timeout=READ_TIMEOUT_S, exclusive=True)

    def _read(self) -> bytes:
        ser = self._ser
        if ser is None:
            raise OSError("serial port not open")
        # read what is waiting, or block for one byte up to the timeout: a larger
        # blocking read would wait for the whole count and add latency
        return bytes(ser.read(ser.in_waiting or 1))

    def _close_transport(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            # the device may already be gone; then there is nothing left to release
            with contextlib.suppress(OSError):
                ser.close()
