"""UDP source: binds a port and takes one KMG frame per datagram."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

from bridge.frame import ClockUnwrapper, FrameDecoder
from bridge.sample import Sample
from bridge.sources.base import SourceState
from bridge.sources.stream_source import READ_TIMEOUT_S, DeviceSource, describe_os_error

SILENCE_LOST_S = 3.0
"""UDP has no connection: this much silence is reported as a lost device."""

MAX_DATAGRAM = 65535


class UdpSource(DeviceSource):
    """KMG frames from datagrams sent to `udp://[HOST]:PORT` (empty HOST = all interfaces).

    State is CONNECTING until the first frame, CONNECTED while frames arrive and
    DISCONNECTED after SILENCE_LOST_S without one; frames arriving again count as a
    reconnect. Port 0 binds an ephemeral port, readable from `local_address`.
    """

    def __init__(self, url: str, host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        super().__init__(url, f"udp {shown}:{port}")
        self.host = host
        self.port = port
        self.local_address: tuple[str, int] | None = None
        self._sock: socket.socket | None = None
        self._bound = threading.Event()

    def wait_bound(self, timeout: float) -> bool:
        """Wait until the socket is bound (tests and tools that send to port 0)."""
        return self._bound.wait(timeout)

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            # a large receive buffer rides out scheduling hiccups at 1 kHz frame rates
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((self.host, self.port))
            sock.settimeout(READ_TIMEOUT_S)
        except BaseException:
            sock.close()
            raise
        return sock

    def samples(self, stop: threading.Event) -> Iterator[Sample]:
        """Yield one sample per valid datagram until `stop` is set."""
        decoder = FrameDecoder()
        clock = ClockUnwrapper()
        try:
            while not self._stopping(stop) and self._sock is None:
                self._set(SourceState.CONNECTING, "binding")
                try:
                    self._sock = self._bind()
                except OSError as exc:
                    self._lost(describe_os_error(exc), stop)
            sock = self._sock
            if sock is None:
                return
            self.local_address = sock.getsockname()[:2]
            self._bound.set()
            self._set(SourceState.CONNECTING, "listening, waiting for frames")
            last_frame = time.monotonic()
            ever_received = False
            while not self._stopping(stop):
                try:
                    data, peer = sock.recvfrom(MAX_DATAGRAM)
                except TimeoutError:
                    silent = time.monotonic() - last_frame
                    lost = ever_received and silent > SILENCE_LOST_S
                    if lost and self.status.state != SourceState.DISCONNECTED:
                        self._set(
                            SourceState.DISCONNECTED,
                            f"no frames for {SILENCE_LOST_S:.0f} s (device off or out of range?)",
                        )
                        # the device may restart: a fresh clock keeps a reset t_us
                        # from being read as a wrap
                        clock = ClockUnwrapper()
                    continue
                except OSError as exc:
                    # a bound UDP socket rarely fails; keep listening after a pause
                    if self._stopping(stop):
                        break
                    self._set(SourceState.DISCONNECTED, f"{describe_os_error(exc)}; retrying")
                    self._sleep(stop, READ_TIMEOUT_S)
                    continue
                now = time.monotonic()
                frame = decoder.feed_datagram(data)
                self._sync_stats(decoder.stats)
                if frame is None:
                    continue
                sample = self._to_sample(frame, now, clock)
                last_frame = now
                if self.status.state != SourceState.CONNECTED:
                    if ever_received:
                        self.status.reconnects += 1
                    ever_received = True
                    self._backoff.reset()
                    self._set(
                        SourceState.CONNECTED,
                        f"receiving {frame.n_sensors} sensors from {peer[0]}:{peer[1]}",
                    )
                yield sample
        finally:
            self._release()
            self._set(SourceState.ENDED, "closed")

    def _release(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def close(self) -> None:
        """End samples() within ~0.2 s; the socket is released by the reading thread."""
        self._closed.set()
