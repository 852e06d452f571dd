"""Refusing connections over the cap at the listening socket, for a few syscalls each.

asyncio's own accept path costs the event loop a task, a transport and half a dozen
callbacks per connection, even for one that only gets a canned HTTP 503. Under a retry
storm (a thousand refused clients retrying together) that is tens of milliseconds of
loop time during which no grade goes out. While the server is full, `AcceptGate`
takes the listening sockets' read events itself and only accepts; a timer answers
the refused sockets in bulk about `LINGER_S` later: read the request, write the 503,
close. Answering at once, before the request has arrived, trips clients up (the
kernel answers the late request with a reset that can discard the 503, and
websockets' sync client fails an assertion on a reply that comes while it is still
sending). When a slot frees, asyncio's accept callback is put back as it was.

Runs on the server's event loop only. Needs asyncio's selector event loop; with any
other loop `close()` returns False and refusals stay on asyncio's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_RETRY_AFTER_RESOURCES_S = 1.0  # as asyncio does after EMFILE
LINGER_S = 0.1
"""How long a refused socket waits for the client's request before its 503 (loopback:
well under a millisecond; longer on a busy machine). Refused clients retry after
seconds; this delay costs them nothing."""
MAX_LINGERING = 256
"""Refused sockets waiting at once (file descriptors); past it the oldest is answered."""
_ANSWERS_PER_CALLBACK = 32  # a few syscalls each: a millisecond or so of loop time


class AcceptGate:
    """Refuses new connections on the listening sockets `fds` while closed; see the
    module docstring."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fds: Sequence[int],
        refusal: bytes,
        on_refused: Callable[[], None],
        max_per_wakeup: int = 256,
    ) -> None:
        self._loop = loop
        self._fds = list(fds)
        self._refusal = refusal
        self._on_refused = on_refused
        self._max_per_wakeup = max_per_wakeup
        # fd -> (listening socket, asyncio's accept callback and its arguments), while
        # the gate holds it
        self._saved: dict[int, tuple[socket.socket, Callable[..., Any], tuple[Any, ...]]] = {}
        self._lingering: deque[tuple[float, socket.socket]] = deque()
        self._reaper: asyncio.TimerHandle | None = None

    @property
    def closed(self) -> bool:
        """True while this gate answers the listening sockets."""
        return bool(self._saved)

    def close(self) -> bool:
        """Start refusing at accept; False when asyncio's reader cannot be taken over
        (another loop implementation, or asyncio itself paused accepting)."""
        if self._saved:
            return True
        for fd in self._fds:
            taken = _accept_reader(self._loop, fd)
            if taken is None:
                self.open()  # put back the ones already taken
                return False
            self._saved[fd] = taken
            sock = taken[0]
            self._loop.remove_reader(fd)
            self._loop.add_reader(fd, self._refuse_waiting, sock)
        return True

    def open(self) -> None:
        """Give the listening sockets back to asyncio's accept callback (not those
        closed meanwhile: their fd numbers may belong to something else by now)."""
        saved, self._saved = self._saved, {}
        for fd, (sock, callback, args) in saved.items():
            if sock.fileno() != fd:
                continue
            self._loop.remove_reader(fd)
            self._loop.add_reader(fd, callback, *args)

    def _refuse_waiting(self, sock: socket.socket) -> None:
        for _ in range(self._max_per_wakeup):  # bounded: the loop has grades to send
            try:
                conn, _addr = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause(sock)  # level-triggered: would spin until fds free up
                return
            self._refuse(conn)

    def shutdown(self) -> None:
        """Server stopping: give the sockets back and close the refused ones now."""
        self.open()
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        while self._lingering:
            _answer(self._lingering.popleft()[1], self._refusal)

    def _refuse(self, conn: socket.socket) -> None:
        self._on_refused()
        if not _DONTWAIT:  # no per-call flag on this platform
            conn.setblocking(False)
        if len(self._lingering) >= MAX_LINGERING:
            _answer(self._lingering.popleft()[1], self._refusal)
        self._lingering.append((time.monotonic() + LINGER_S, conn))
        if self._reaper is None:
            self._reaper = self._loop.call_later(LINGER_S, self._reap)

    def _reap(self) -> None:
        self._reaper = None
        now = time.monotonic()
        lingering = self._lingering
        for _ in range(_ANSWERS_PER_CALLBACK):
            if not lingering or lingering[0][0] > now:
                break
            _answer(lingering.popleft()[1], self._refusal)
        if lingering:
            # more due: next loop iteration, so grades go out in between
            delay = max(0.0, lingering[0][0] - now)
            self._reaper = self._loop.call_later(delay, self._reap)

    def _pause(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        self._loop.remove_reader(fd)
        self._loop.call_later(_RETRY_AFTER_RESOURCES_S, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        if fd in self._saved:  # still closed (and still open): refuse again
            self._loop.add_reader(fd, self._refuse_waiting, sock)


def _answer(conn: socket.socket, refusal: bytes) -> None:
    """Read what the client sent (a close with unread data is a reset), write the
    refusal, close. Never blocks: the socket is fresh, the reply fits its buffer."""
    with contextlib.suppress(OSError):  # OSError: nothing to read (yet)
        conn.recv(65536, _DONTWAIT)  # the request: a few hundred bytes, in one read
    try:
        conn.send(refusal, _DONTWAIT)
    except OSError:
        pass  # the client is gone
    finally:
        conn.close()


def _accept_reader(
    loop: asyncio.AbstractEventLoop, fd: int
) -> tuple[socket.socket, Callable[..., Any], tuple[Any, ...]] | None:
    """The listening socket behind `fd` and the accept callback asyncio registered
    for it, or None when they cannot be found.

    asyncio has no public way to read a registered callback back; its selector loop
    keeps (reader handle, writer handle) as each key's data, and the accept
    callback's arguments include the listening socket itself (the server's public
    `sockets` are wrappers without `accept`).
    """
    try:
        key = loop._selector.get_key(fd)  # type: ignore[attr-defined]
        reader = key.data[0]
        callback, args = reader._callback, tuple(reader._args)
        cancelled = reader.cancelled()
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return None
    if cancelled or not callable(callback):
        return None
    for arg in args:
        if isinstance(arg, socket.socket) and arg.fileno() == fd:
            return arg, callback, args
    return None
