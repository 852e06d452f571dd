"""Per-client bounded send queue with a drop policy, so one slow client never delays others.

Each connected client has one `ClientQueue` and one sender task. The server puts every
message into every client's queue (never waiting); the sender task takes them out in
order and writes them to that client's socket. When a queue is full, the oldest `kmg`
message is dropped first, then the oldest `grade` (the newest grades are what a game
needs), and only then the oldest control message. A client whose queue has stayed
full for longer than `hopeless_after_s` is disconnected by the server.

Runs entirely on the server's event loop (not thread-safe by design).
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections import deque
from dataclasses import dataclass
from enum import IntEnum


class Kind(IntEnum):
    """Message classes in drop order: KMG is dropped first, CONTROL last."""

    KMG = 0
    GRADE = 1
    CONTROL = 2  # hello, status, pong, error, hand replies


@dataclass(slots=True)
class Entry:
    """One queued message: pre-encoded bytes shared with the other clients."""

    order: int
    kind: Kind
    data: bytes
    t_host: float  # sample time for KMG/GRADE (latency reference); 0 for control
    frame: bytes
    """`data` as one complete websocket text frame. Server frames are not masked, so
    the bytes are the same for every client: framed once, written to all."""


_orders = itertools.count()
"""Put order shared by all queues: an entry made once can be queued for every client."""


def text_frame(data: bytes) -> bytes:
    """An unmasked, final, uncompressed websocket text frame (RFC 6455 5.2)."""
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, n) + data
    return struct.pack("!BBQ", 0x81, 127, n) + data


def make_entry(kind: Kind, data: bytes, t_host: float) -> Entry:
    """A queue entry; the server makes one per message and shares it between clients."""
    return Entry(next(_orders), kind, data, t_host, text_frame(data))


class ClientQueue:
    """A bounded, kind-aware FIFO; O(1) put, drop and pop."""

    def __init__(self, max_messages: int = 512, hopeless_after_s: float = 5.0) -> None:
        if max_messages < 3:
            raise ValueError("max_messages must be at least 3")
        self.max_messages = max_messages
        self.hopeless_after_s = hopeless_after_s
        # One FIFO per kind plus a global order number: dropping the oldest message of
        # a kind is a popleft, and the sender merges the three heads by order.
        self._queues: tuple[deque[Entry], deque[Entry], deque[Entry]] = (deque(), deque(), deque())
        self._len = 0
        self.ready = asyncio.Event()
        self.dropped = [0, 0, 0]  # per Kind
        self.full_since: float | None = None

    def __len__(self) -> int:
        return self._len

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped)

    def put(self, kind: Kind, data: bytes, t_host: float, now: float) -> None:
        """Queue a message, dropping per the policy when full. Never blocks."""
        self.put_entry(make_entry(kind, data, t_host), now)

    def put_entry(self, entry: Entry, now: float, wake: bool = True) -> None:
        """Queue an entry made by `make_entry` (one entry may go to many queues).

        `wake=False` leaves `ready` alone: for a caller that writes the queue out
        itself right away and sets `ready` only for what it could not write, so an
        idle sender task is not woken (a task switch) for every message.
        """
        if self._len >= self.max_messages:
            self._drop_one()
            if self.full_since is None:
                self.full_since = now
        self._queues[entry.kind].append(entry)
        self._len += 1
        if wake:
            self.ready.set()

    def _drop_one(self) -> None:
        for kind in Kind:  # KMG, then GRADE, then CONTROL
            q = self._queues[kind]
            if q:
                q.popleft()
                self._len -= 1
                self.dropped[kind] += 1
                return

    def pop(self) -> Entry | None:
        """Take the oldest queued message (by put order), or None when empty."""
        if not self._len:
            self.ready.clear()
            return None
        kq, gq, cq = self._queues
        best = None
        for q in (kq, gq, cq):
            if q and (best is None or q[0].order < best[0].order):
                best = q
        assert best is not None
        self._len -= 1
        if self._len <= self.max_messages // 2:
            # The client is taking messages again: whatever stall there was is over.
            self.full_since = None
        if not self._len:
            self.ready.clear()
        return best.popleft()

    def hopeless(self, now: float) -> bool:
        """True when the queue has been full (dropping) for longer than allowed."""
        return self.full_since is not None and now - self.full_since > self.hopeless_after_s
