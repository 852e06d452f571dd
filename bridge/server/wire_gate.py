"""Whole websocket frames written to a client's socket from the sample thread, safely.

Why: at 1000 Hz each grade used to wake the server's event loop, which then wrote it
to every client. The hand-off cost a thread wake-up per sample, and the loop and the
sample thread then fought over the interpreter lock (every socket write gives it up):
on 2 cores shared with 10 clients the bridge-added p99 hovered around 1 ms with
`track:`. When a client has nothing queued, the sample thread can write the frame
itself: one `write` syscall, no loop involved.

What keeps it safe:
- Every write to the connection takes the gate's lock: the loop's, by replacing the
  transport's `write` (websockets writes only through it), and the sample thread's.
  Frames never interleave.
- The sample thread writes only while the transport has nothing buffered and the gate
  has no routed frames in flight (`diverted`), so grades keep their order.
- A partial write leaves the rest in the gate; the loop writes it (`flush_leftover`,
  or before its own next write) before anything else.
- `close()` runs in `connection_lost`, before asyncio closes the socket: after it no
  thread writes to the descriptor, which the OS may then reuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from typing import Any


class WireGate:
    """One connection's socket, writable from any thread through `try_write`."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._lock = threading.Lock()
        self._transport = transport
        self._loop_write: Any = transport.write
        sock = transport.get_extra_info("socket")
        self._fd: int = sock.fileno() if sock is not None else -1
        self._leftover = b""
        self._open = self._fd >= 0
        self.diverted = 0
        """Frames routed through the loop and not yet handed to the transport."""
        self.partial_writes = 0
        """Direct writes the socket took only in part (the rest went to the loop)."""
        transport.write = self._write  # type: ignore[method-assign]

    def _write(self, data: Any) -> None:
        """The transport's `write`, now under the gate's lock (called on the loop)."""
        with self._lock:
            if self._leftover:
                left, self._leftover = self._leftover, b""
                self._loop_write(left)
            self._loop_write(data)

    def try_write(self, data: bytes) -> int | None:
        """Write `data` now (any thread). None: not now (the caller routes it through
        the loop); else the bytes left for the loop, which then needs `flush_leftover`."""
        with self._lock:
            transport = self._transport
            if (
                not self._open
                or self.diverted
                or self._leftover
                or transport.is_closing()
                or transport.get_write_buffer_size()
            ):
                return None
            try:
                n = os.write(self._fd, data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                return None  # the connection is failing: the loop will see it
            if n < len(data):
                self._leftover = data[n:]
                self.partial_writes += 1
            return len(data) - n

    def flush_leftover(self) -> None:
        """Hand what a partial `try_write` left to the transport (on the loop)."""
        with self._lock:
            if self._leftover and not self._transport.is_closing():
                left, self._leftover = self._leftover, b""
                with contextlib.suppress(RuntimeError):  # closing: nothing to keep
                    self._loop_write(left)

    def divert(self) -> None:
        """A frame for this client goes through the loop: no direct write overtakes it."""
        with self._lock:
            self.diverted += 1

    def undivert(self) -> None:
        """The loop has handed a diverted frame to the client's queue or transport."""
        with self._lock:
            self.diverted = max(0, self.diverted - 1)

    def close(self) -> None:
        """No more direct writes (on the loop, before the socket is closed)."""
        with self._lock:
            self._open = False
