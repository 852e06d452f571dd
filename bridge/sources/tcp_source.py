"""TCP client source: connects to the band's Wi-Fi module, which serves frames."""

from __future__ import annotations

import errno
import select
import socket
import threading
import time

from bridge.sources.stream_source import READ_TIMEOUT_S, StreamSource

CONNECT_TIMEOUT_S = 3.0
SILENCE_RECONNECT_S = 10.0


class TcpSource(StreamSource):
    """KMG frames from `tcp://HOST:PORT`; the device is the server, we connect to it."""

    silence_reconnect_s = SILENCE_RECONNECT_S

    def __init__(self, url: str, host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        super().__init__(url, f"tcp {shown}:{port}")
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None

    def _open(self, stop: threading.Event) -> None:
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        family, stype, proto, _, addr = infos[0]
        sock = socket.socket(family, stype, proto)
        try:
            # connect without blocking so that `stop` is honoured while a host is silent
            sock.setblocking(False)
            rc = sock.connect_ex(addr)
            if rc not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                raise OSError(rc, errno.errorcode.get(rc, "connect failed"))
            deadline = time.monotonic() + CONNECT_TIMEOUT_S
            while rc != 0:
                _, writable, _ = select.select([], [sock], [], READ_TIMEOUT_S)
                if writable:
                    rc = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if rc:
                        raise OSError(rc, errno.errorcode.get(rc, "connect failed"))
                    break
                if self._stopping(stop):
                    raise OSError(errno.ECONNABORTED, "stopped while connecting")
                if time.monotonic() > deadline:
                    raise OSError(errno.ETIMEDOUT, "connect timed out")
            sock.setblocking(True)
            sock.settimeout(READ_TIMEOUT_S)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def _read(self) -> bytes:
        sock = self._sock
        if sock is None:
            raise OSError("socket not open")
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return b""
        if not data:
            raise ConnectionError("connection closed by the device")
        return data

    def _close_transport(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
