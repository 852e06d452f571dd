"""Ways the simulator hands KMG frames v1 to a bridge: a pty, a TCP server, UDP datagrams.

Each behaves like a device that keeps sampling whether anybody listens or not: a slow
or absent reader loses frames (counted), it never stalls the simulator.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import termios
import tty
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import urlsplit

EMIT_FORMS = ("pty", "tcp://HOST:PORT", "udp://HOST:PORT")
_TCP_BACKLOG_BYTES = 256 * 1024
"""Per-client queue before frames are dropped for that client (~2 s at 1 kHz, 16 sensors)."""
_PTY_BACKLOG_BYTES = 64 * 1024


class Emitter(ABC):
    """A frame sink. `pump()` does housekeeping (accepting clients) and sends queued bytes."""

    sent_frames: int = 0
    dropped_frames: int = 0

    @property
    @abstractmethod
    def description(self) -> str:
        """Where the frames go, for the user."""

    @abstractmethod
    def send(self, frame: bytes) -> None:
        """Queue or send one frame."""

    def pump(self) -> None:  # noqa: B027 - optional hook
        """Accept clients / flush queues; call often."""

    @property
    def listeners(self) -> int:
        """Readers currently connected (where known), else -1."""
        return -1

    @abstractmethod
    def close(self) -> None:
        """Release the endpoint."""


class PtyEmitter(Emitter):
    """A pseudo-terminal: a bridge opens `slave_path` as if it were the device's serial port.

    We keep the slave end open ourselves so the line stays up between readers; the
    line is raw (no CR/LF translation, no echo). When nobody reads, the kernel buffer
    fills; then the stale bytes are discarded and new frames keep flowing.
    """

    def __init__(self, link: str | os.PathLike[str] | None = None) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.slave_path = os.ttyname(self._slave)
        self._pending = bytearray()
        self.link: Path | None = None
        if link is not None:
            self._make_link(Path(link))

    def _make_link(self, link: Path) -> None:
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            self.close()
            raise FileExistsError(f"{link} exists and is not a symlink; not replacing it")
        try:
            link.symlink_to(self.slave_path)
        except OSError:
            self.close()
            raise
        self.link = link

    @property
    def description(self) -> str:
        where = self.slave_path + (f" (link {self.link})" if self.link else "")
        return f"pty {where}"

    def send(self, frame: bytes) -> None:
        if len(self._pending) > _PTY_BACKLOG_BYTES:
            self.dropped_frames += 1
            return
        self._pending += frame
        self.sent_frames += 1
        self.pump()

    def pump(self) -> None:
        flushed = False
        while self._pending:
            try:
                n = os.write(self._master, self._pending)
            except BlockingIOError:
                if flushed:
                    break
                # the line is full (nobody reads, or too slowly): drop what waits in it so
                # a reader gets fresh frames, not a stale backlog, like a UART overrun
                termios.tcflush(self._slave, termios.TCIFLUSH)
                flushed = True
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:
                    break
                raise
            del self._pending[:n]

    def close(self) -> None:
        if self.link is not None and self.link.is_symlink():
            with contextlib.suppress(OSError):
                self.link.unlink()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class _Client:
    def __init__(self, sock: socket.socket, addr: str) -> None:
        self.sock = sock
        self.addr = addr
        self.pending = bytearray()


class TcpEmitter(Emitter):
    """A TCP server: every connected client gets the frame stream from when it connected."""

    def __init__(self, host: str, port: int) -> None:
        self._server = socket.create_server((host, port), reuse_port=False)
        self._server.setblocking(False)
        self.host, self.port = self._server.getsockname()[:2]
        self._clients: list[_Client] = []
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._server, selectors.EVENT_READ)
        self.connections = 0

    @property
    def description(self) -> str:
        return f"tcp://{self.host}:{self.port} (server)"

    @property
    def listeners(self) -> int:
        return len(self._clients)

    def pump(self) -> None:
        for key, _ in self._sel.select(0):
            if key.fileobj is self._server:
                self._accept()
            else:
                self._read(key.data)
        for c in list(self._clients):
            self._flush(c)

    def _accept(self) -> None:
        while True:
            try:
                sock, addr = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = _Client(sock, f"{addr[0]}:{addr[1]}")
            self._clients.append(c)
            self._sel.register(sock, selectors.EVENT_READ, c)
            self.connections += 1

    def _read(self, c: _Client) -> None:
        # clients send nothing; reading tells us when they hang up
        try:
            data = c.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(c)

    def _drop(self, c: _Client) -> None:
        if c in self._clients:
            self._clients.remove(c)
            self._sel.unregister(c.sock)
            c.sock.close()

    def _flush(self, c: _Client) -> None:
        while c.pending:
            try:
                n = c.sock.send(c.pending)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(c)
                return
            del c.pending[:n]

    def send(self, frame: bytes) -> None:
        self.pump()
        for c in self._clients:
            if len(c.pending) > _TCP_BACKLOG_BYTES:
                self.dropped_frames += 1  # whole frames only: the stream stays aligned
                continue
            c.pending += frame
        self.sent_frames += 1
        for c in list(self._clients):
            self._flush(c)

    def close(self) -> None:
        for c in list(self._clients):
            self._drop(c)
        self._sel.close()
        self._server.close()


class UdpEmitter(Emitter):
    """One datagram per frame to HOST:PORT."""

    def __init__(self, host: str, port: int) -> None:
        self.addr = (host, port)
        # resolved once, here: a name that does not resolve is a clear error at
        # start-up, not every frame silently "dropped" (and no DNS per datagram)
        try:
            family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except socket.gaierror as exc:
            raise OSError(
                f"--emit {self.description}: cannot resolve host {host!r} ({exc.strerror})"
            ) from None
        self._target = sockaddr
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    @property
    def description(self) -> str:
        host = f"[{self.addr[0]}]" if ":" in self.addr[0] else self.addr[0]
        return f"udp://{host}:{self.addr[1]}"

    def send(self, frame: bytes) -> None:
        try:
            self._sock.sendto(frame, self._target)
            self.sent_frames += 1
        except OSError:
            # no listener (ICMP refused) or a full buffer: a lost datagram, like on a LAN
            self.dropped_frames += 1

    def close(self) -> None:
        self._sock.close()


def _host_port(spec: str) -> tuple[str, int]:
    parts = urlsplit(spec)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad --emit {spec!r}: the port must be a number 0..65535") from None
    if port is None or parts.path not in ("", "/"):
        raise ValueError(f"bad --emit {spec!r}: use {parts.scheme}://HOST:PORT")
    return parts.hostname or "127.0.0.1", port


def open_emitter(spec: str, link: str | os.PathLike[str] | None = None) -> Emitter:
    """Make the emitter `spec` names (pty, tcp://HOST:PORT, udp://HOST:PORT)."""
    s = spec.strip()
    low = s.lower()
    if low == "pty":
        return PtyEmitter(link)
    if low.startswith("tcp://"):
        host, port = _host_port(s)
        return TcpEmitter(host, port)
    if low.startswith("udp://"):
        host, port = _host_port(s)
        if port == 0:
            raise ValueError(f"bad --emit {spec!r}: UDP needs a destination port")
        return UdpEmitter(host, port)
    raise ValueError(f"bad --emit {spec!r}; use one of {', '.join(EMIT_FORMS)}")
