"""UDP source: binds a port and takes one KMG frame per datagram from one sender.

UDP has no connection, so anyone who can reach the port can send frames. The
source therefore binds loopback unless a host is named, reads frames from one
sender only (the first one that sends a valid frame, or the one `?from=` names),
and counts datagrams from anyone else as foreign: they never reach the frame parser,
and they show in the status as an error.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bridge.frame import ClockUnwrapper, FrameParser
from bridge.sources.stream_source import READ_TIMEOUT_S, DeviceSource, describe_os_error
from bridge.values.sample import Sample
from bridge.values.source_info import SourceState

SILENCE_LOST_S = 3.0
"""UDP has no connection: this much silence from the sender is reported as a lost
device, and frees the pin so a restarted device (new source port) is read again."""

MAX_DATAGRAM = 65535
DEFAULT_BIND_HOST = "127.0.0.1"
"""`udp://:PORT` listens on loopback only; a device on the network needs its host named."""


def _shown(host: str, port: int | None = None) -> str:
    h = f"[{host}]" if ":" in host else host
    return h if port is None else f"{h}:{port}"


def _plain_ip(ip: str) -> str:
    """`::ffff:1.2.3.4` (IPv4 on an IPv6 socket) -> `1.2.3.4`."""
    return ip[7:] if ip.startswith("::ffff:") and "." in ip else ip


@dataclass(frozen=True, slots=True)
class SenderFilter:
    """Which senders may be pinned: `host` (resolved at bind time) and optional `port`."""

    host: str
    port: int | None = None

    def describe(self) -> str:
        return _shown(self.host, self.port)


class UdpSource(DeviceSource):
    """KMG frames from datagrams sent to `udp://[HOST]:PORT[?from=HOST[:PORT]]`.

    An empty HOST binds loopback; `0.0.0.0` or `[::]` bind every interface. State is
    CONNECTING until the first frame, CONNECTED while frames arrive and
    DISCONNECTED after SILENCE_LOST_S without one; frames arriving again count as a
    reconnect. Port 0 binds an ephemeral port, readable from `local_address`.
    `status.extra` carries `sender` (the pinned HOST:PORT), `foreign_datagrams`,
    `foreign_sender` (the last one) and `error` while foreign datagrams arrive.
    """

    def __init__(self, url: str, host: str, port: int, sender: SenderFilter | None = None) -> None:
        self.host = host or DEFAULT_BIND_HOST
        super().__init__(url, f"udp {_shown(self.host, port)}")
        self.port = port
        self.sender_filter = sender
        self.local_address: tuple[str, int] | None = None
        self.pinned: tuple[str, int] | None = None
        self.foreign = 0
        self._allowed_ips: set[str] = set()
        self._sock: socket.socket | None = None
        self._bound = threading.Event()

    def wait_bound(self, timeout: float) -> bool:
        """Wait until the socket is bound (tests and tools that send to port 0)."""
        return self._bound.wait(timeout)

    def _bind(self) -> socket.socket:
        if self.sender_filter is not None:
            infos = socket.getaddrinfo(self.sender_filter.host, None, type=socket.SOCK_DGRAM)
            self._allowed_ips = {_plain_ip(str(info[4][0])) for info in infos}
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

    def _may_pin(self, peer: tuple[str, int]) -> bool:
        f = self.sender_filter
        if f is None:
            return True
        return peer[0] in self._allowed_ips and (f.port is None or peer[1] == f.port)

    def _accepts(self, peer: tuple[str, int]) -> bool:
        return peer == self.pinned if self.pinned is not None else self._may_pin(peer)

    def _count_foreign(self, peer: tuple[str, int]) -> None:
        self.foreign += 1
        who = _shown(*peer)
        if self.pinned is not None:
            reading = f"only {_shown(*self.pinned)} is read"
        else:
            named = self.sender_filter.describe() if self.sender_filter else "?"
            reading = f"only {named} may send"
        error = (
            f"ignored {self.foreign} datagrams from {who} ({reading}; "
            f"a second device or a stray sender on this port?)"
        )
        self.status.extra.update(foreign_datagrams=self.foreign, foreign_sender=who, error=error)
        base = self.status.detail.split("; ignored ")[0]
        self.status.detail = f"{base}; {error}"

    def _open(self, stop: threading.Event) -> socket.socket | None:
        while not self._stopping(stop) and self._sock is None:
            self._set(SourceState.CONNECTING, "binding")
            try:
                self._sock = self._bind()
            except OSError as exc:
                self._lost(describe_os_error(exc), stop)
        return self._sock

    def samples(self, stop: threading.Event) -> Iterator[Sample]:
        """Yield one sample per valid datagram from the pinned sender until `stop` is set."""
        parser = FrameParser()
        clock = ClockUnwrapper()
        self.status.extra.update(sender=None, foreign_datagrams=0, foreign_sender=None, error=None)
        try:
            sock = self._open(stop)
            if sock is None:
                return
            self.local_address = sock.getsockname()[:2]
            self._bound.set()
            wanted = f" from {self.sender_filter.describe()}" if self.sender_filter else ""
            self._set(SourceState.CONNECTING, f"listening, waiting for frames{wanted}")
            last_frame = time.monotonic()
            ever_received = False
            while not self._stopping(stop):
                data, peer = self._receive(sock, stop)
                # silence is judged on the pinned sender's frames: foreign traffic
                # must neither keep a dead device "connected" nor take its place
                silent = time.monotonic() - last_frame
                lost = ever_received and silent > SILENCE_LOST_S
                if lost and self.status.state != SourceState.DISCONNECTED:
                    self._set(
                        SourceState.DISCONNECTED,
                        f"no frames for {SILENCE_LOST_S:.0f} s (device off or out of range?)",
                    )
                    # the device may restart, with a new source port and a t_us
                    # from zero: free the pin, and a fresh clock reads no wrap
                    self.pinned = None
                    self.status.extra["sender"] = None
                    clock = ClockUnwrapper()
                    parser = self._fresh_parser(parser)
                if data is None or peer is None:
                    continue
                if not self._accepts(peer):
                    self._count_foreign(peer)
                    continue
                now = time.monotonic()
                frame = parser.feed_datagram(data)
                self._sync_stats(parser.stats)
                if frame is None:
                    continue
                if self.pinned is None:
                    self.pinned = peer
                    self.status.extra["sender"] = _shown(*peer)
                sample = self._to_sample(frame, now, clock)
                last_frame = now
                if self.status.state != SourceState.CONNECTED:
                    if ever_received:
                        self.status.reconnects += 1
                    ever_received = True
                    self._backoff.reset()
                    self._set(
                        SourceState.CONNECTED,
                        f"receiving {frame.n_sensors} sensors from {_shown(*peer)}",
                    )
                yield sample
        finally:
            self._release()
            self._set(SourceState.ENDED, "closed")

    def _fresh_parser(self, old: FrameParser) -> FrameParser:
        """A new parser (a new sender's seq is no gap); the old counts are kept."""
        self._fold_stats(old.stats)
        return FrameParser()

    def _receive(
        self, sock: socket.socket, stop: threading.Event
    ) -> tuple[bytes | None, tuple[str, int] | None]:
        """One datagram and its sender, or (None, None) after a timeout or an error."""
        try:
            data, addr = sock.recvfrom(MAX_DATAGRAM)
        except TimeoutError:
            return None, None
        except OSError as exc:
            # a bound UDP socket rarely fails; keep listening after a pause
            if not self._stopping(stop):
                self._set(SourceState.DISCONNECTED, f"{describe_os_error(exc)}; retrying")
                self._sleep(stop, READ_TIMEOUT_S)
            return None, None
        return data, (_plain_ip(str(addr[0])), int(addr[1]))

    def _release(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def close(self) -> None:
        """End samples() within ~0.2 s; the socket is released by the reading thread."""
        self._closed.set()
