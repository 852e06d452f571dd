"""Shared machinery of the device transports: frames -> samples, status, reconnects.

`DeviceSource` holds what every device transport needs (status bookkeeping, the
device timebase, the reconnect backoff); `StreamSource` adds the connect / read /
resynchronise / reconnect loop of byte-stream transports (serial, TCP). UDP builds
on `DeviceSource` directly because each datagram is one frame.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from abc import abstractmethod
from collections.abc import Generator, Iterator

from bridge.backoff import Backoff
from bridge.frame import ClockUnwrapper, Frame, FrameParser, ParserStats, frame_to_sample
from bridge.sensor_model import FRAME_SENSOR_MODEL
from bridge.sources.base import Source
from bridge.values.sample import Sample
from bridge.values.source_info import SourceInfo, SourceState, SourceStatus

READ_TIMEOUT_S = 0.1
"""Every blocking read returns at least this often, so `stop` is seen within ~0.2 s."""

STALL_NOTICE_S = 2.0
"""Silence after which the status detail says that no data is arriving."""

_ERRNO_TEXT = {
    errno.EIO: "device disconnected",
    errno.ENXIO: "device disconnected",
    errno.ENODEV: "device disconnected",
    errno.ENOENT: "no such device",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EBUSY: "device busy (is another program using it?)",
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset by peer",
    errno.ECONNABORTED: "connection aborted",
    errno.EPIPE: "connection broken",
    errno.ETIMEDOUT: "timed out",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ENETDOWN: "network down",
    errno.EADDRINUSE: "address already in use",
    errno.EADDRNOTAVAIL: "address not available on this machine",
}


def describe_os_error(exc: BaseException) -> str:
    """A short human reason for a transport error, with its errno when there is one."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror or exc})"
    # pyserial wraps the OSError it caught; the errno lives on the wrapped one.
    cur: BaseException | None = exc
    while cur is not None:
        code = getattr(cur, "errno", None)
        if isinstance(code, int) and code > 0:
            text = _ERRNO_TEXT.get(code) or getattr(cur, "strerror", None) or str(cur)
            return f"{text} (errno {code})"
        cur = cur.__cause__ or cur.__context__
    text = str(exc) or type(exc).__name__
    if "readiness to read but returned no data" in text:
        return "device disconnected (ready but no data)"
    return text


class DeviceTimebase:
    """Keeps `t_device` monotonic across reconnects and device restarts.

    A device that restarts begins its clock again at zero; recordings and latency
    maths need time to keep moving forward, so after a backwards jump the clock is
    rebased to continue from the last time plus the host time that elapsed.
    """

    RESTART_JUMP_S = 0.5
    """Backwards steps smaller than this are reordering (UDP), not a restart."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._last: float | None = None
        self._last_host = 0.0

    def adjust(self, t_device: float, t_host: float) -> float:
        t = t_device + self._offset
        if self._last is not None and t < self._last - self.RESTART_JUMP_S:
            self._offset += self._last + max(0.0, t_host - self._last_host) - t
            t = t_device + self._offset
        self._last, self._last_host = t, t_host
        return t


class DeviceSource(Source):
    """Status, info and sample bookkeeping shared by the serial, TCP and UDP sources."""

    def __init__(self, url: str, describe: str) -> None:
        self.url = url
        self.describe = describe
        self.info = SourceInfo(source=url)
        self.status = SourceStatus(detail=f"{describe}: not started")
        self._timebase = DeviceTimebase()
        self._backoff = Backoff()
        # counters of connections that already ended; the live parser adds its own
        self._done = ParserStats()
        # close() from another thread ends samples() like `stop` does
        self._closed = threading.Event()
        self._fs_code = -1  # the full-scale code `info` was last set from

    def _stopping(self, stop: threading.Event) -> bool:
        return stop.is_set() or self._closed.is_set()

    def _sleep(self, stop: threading.Event, delay: float) -> None:
        """Sleep up to `delay` s, waking within READ_TIMEOUT_S of stop or close()."""
        end = time.monotonic() + delay
        while not self._stopping(stop):
            left = end - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, READ_TIMEOUT_S))

    def _set(self, state: SourceState, detail: str) -> None:
        self.status.state = state
        self.status.detail = f"{self.describe}: {detail}"

    def _sync_stats(self, live: ParserStats) -> None:
        self.status.frames = self._done.frames + live.frames
        self.status.bad_frames = self._done.bad_frames + live.bad_frames
        self.status.dropped = self._done.dropped + live.dropped
        self.status.extra["seq_resets"] = self._done.seq_resets + live.seq_resets

    def _fold_stats(self, live: ParserStats) -> None:
        for name in ("frames", "bad_frames", "dropped", "garbage_bytes", "seq_resets"):
            setattr(self._done, name, getattr(self._done, name) + getattr(live, name))
        self._sync_stats(ParserStats())

    def _to_sample(self, frame: Frame, t_host: float, clock: ClockUnwrapper) -> Sample:
        if self.info.n_sensors != frame.n_sensors:
            self.info.n_sensors = frame.n_sensors
        if frame.fs_code != self._fs_code:
            self.info.full_scale_gauss = FRAME_SENSOR_MODEL.full_scale(frame.fs_code).gauss
            self._fs_code = frame.fs_code
        jumps = clock.jumps
        sample = frame_to_sample(frame, t_host, clock)
        if clock.jumps != jumps:
            # like a seq reset: counted and shown, never a gap of hours in a recording
            self.status.extra["clock_jumps"] = self.status.extra.get("clock_jumps", 0) + 1
        sample.t_device = self._timebase.adjust(sample.t_device, t_host)
        return sample

    def _lost(self, why: str, stop: threading.Event) -> None:
        """Report the loss, then wait out the backoff (returns early on stop)."""
        delay = self._backoff.next_delay()
        self._set(SourceState.DISCONNECTED, f"{why}; retrying in {delay:.1f} s")
        self._sleep(stop, delay)

    def _receiving_detail(self) -> str:
        return f"connected, receiving {self.info.n_sensors} sensors"


class StreamSource(DeviceSource):
    """A byte-stream device (serial port, TCP socket) carrying KMG frames v1.

    Subclasses open, read and close the transport; this class finds the frames,
    keeps the status and reconnects with backoff. `samples()` never raises for
    transport trouble.
    """

    silence_reconnect_s: float | None = None
    """Reconnect after this much silence (a half-open TCP link never reports loss)."""

    @abstractmethod
    def _open(self, stop: threading.Event) -> None:
        """Open the transport; raise OSError on failure."""

    @abstractmethod
    def _read(self) -> bytes:
        """Return available bytes, b'' after ~READ_TIMEOUT_S of silence; OSError on loss."""

    @abstractmethod
    def _close_transport(self) -> None:
        """Close the transport; must not raise."""

    def close(self) -> None:
        """End samples() (within ~0.2 s) and release the device."""
        self._closed.set()

    def samples(self, stop: threading.Event) -> Iterator[Sample]:
        """Yield samples until `stop` is set, reconnecting whenever the device is lost."""
        connected_before = False
        try:
            while not self._stopping(stop):
                self._set(SourceState.CONNECTING, "connecting")
                try:
                    self._open(stop)
                except (OSError, ValueError) as exc:
                    # ValueError: a setting the driver refuses (e.g. a baud rate the
                    # adapter cannot do); shown in the status like any other failure
                    self._lost(describe_os_error(exc), stop)
                    continue
                if self._stopping(stop):
                    break
                if connected_before:
                    self.status.reconnects += 1
                connected_before = True
                self._set(SourceState.CONNECTED, "connected, waiting for frames")
                why = yield from self._stream(stop)
                if why is not None:
                    self._lost(why, stop)
        finally:
            self._close_transport()
            self._set(SourceState.ENDED, "closed")

    def _stream(self, stop: threading.Event) -> Generator[Sample, None, str | None]:
        """One connection's life; returns the reason it was lost (None on stop)."""
        parser = FrameParser()
        clock = ClockUnwrapper()  # per connection: a restarted device is not a wrap
        last_data = time.monotonic()
        receiving = False
        try:
            while not self._stopping(stop):
                data = self._read()
                now = time.monotonic()
                if not data:
                    silent = now - last_data
                    if self.silence_reconnect_s is not None and silent > self.silence_reconnect_s:
                        return f"no data for {silent:.0f} s"
                    if silent > STALL_NOTICE_S:
                        receiving = False
                        self._set(SourceState.CONNECTED, f"connected, no data for {silent:.0f} s")
                    continue
                last_data = now
                frames = parser.feed(data)
                self._sync_stats(parser.stats)
                for frame in frames:
                    sample = self._to_sample(frame, now, clock)
                    if not receiving:
                        receiving = True
                        self._backoff.reset()  # the link proved good
                        self._set(SourceState.CONNECTED, self._receiving_detail())
                    yield sample
            return None
        except OSError as exc:
            return describe_os_error(exc)
        finally:
            self._fold_stats(parser.stats)
            self._close_transport()
