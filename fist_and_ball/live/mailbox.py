"""Thread-safe handoff from the network thread to Blender's main thread.

The network thread only ever calls `put_*`; the main-thread timer calls `drain()`.
Holds the latest value of each kind plus a bounded buffer of recent grades, so a
slow main thread loses old samples, never memory. `kmg` magnitudes (the developer
decoder view) are a latest-value slot only: the view shows the newest sample.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Drained:
    """Everything that arrived since the previous drain."""

    grades: list[dict[str, Any]] = field(default_factory=list)
    latest_grade: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
    hello: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    kmg: dict[str, Any] | None = None
    """The newest `kmg` message since the previous drain (None: none arrived)."""
    hand_replies: list[dict[str, Any]] = field(default_factory=list)
    """`hand` answers to the add-on's hand commands, oldest first."""
    redon: list[Any] = field(default_factory=list)
    """The re-don check's messages as parsed on the network thread (`redon_state.
    RedonUpdate`), oldest first."""
    connected: bool = False
    connection_detail: str = ""
    dropped: int = 0


class Mailbox:
    """Latest-value mailbox plus a bounded grade buffer (oldest dropped first)."""

    def __init__(self, max_grades: int = 512, max_errors: int = 32) -> None:
        self._lock = threading.Lock()
        self._grades: deque[dict[str, Any]] = deque(maxlen=max_grades)
        self._errors: deque[dict[str, Any]] = deque(maxlen=max_errors)
        self._latest: dict[str, Any] | None = None
        self._status: dict[str, Any] | None = None
        self._hello: dict[str, Any] | None = None
        self._kmg: dict[str, Any] | None = None
        self._hand: deque[dict[str, Any]] = deque(maxlen=max_errors)
        # ~5 redon messages a second: a stalled main thread loses old progress first,
        # never the final answer (it is the newest)
        self._redon: deque[Any] = deque(maxlen=max_errors)
        self._connected = False
        self._detail = "not connected"
        self._dropped = 0

    def put_grade(self, msg: dict[str, Any]) -> None:
        with self._lock:
            if len(self._grades) == self._grades.maxlen:
                self._dropped += 1
            self._grades.append(msg)
            self._latest = msg

    def put_status(self, msg: dict[str, Any]) -> None:
        with self._lock:
            self._status = msg

    def put_hello(self, msg: dict[str, Any]) -> None:
        with self._lock:
            self._hello = msg

    def put_error(self, msg: dict[str, Any]) -> None:
        with self._lock:
            self._errors.append(msg)

    def put_kmg(self, msg: dict[str, Any]) -> None:
        """Keep only the newest magnitudes (not buffered: 40+ per second, the view
        shows one per frame)."""
        with self._lock:
            self._kmg = msg

    def put_hand_reply(self, msg: dict[str, Any]) -> None:
        with self._lock:
            self._hand.append(msg)

    def put_redon(self, update: Any) -> None:
        """One parsed re-don check message (or why it could not be parsed)."""
        with self._lock:
            self._redon.append(update)

    def set_connection(self, connected: bool, detail: str) -> None:
        with self._lock:
            self._connected = connected
            self._detail = detail

    def drain(self) -> Drained:
        """Take everything new; the latest grade and connection state persist."""
        with self._lock:
            out = Drained(
                grades=list(self._grades),
                latest_grade=self._latest,
                status=self._status,
                hello=self._hello,
                errors=list(self._errors),
                kmg=self._kmg,
                hand_replies=list(self._hand),
                redon=list(self._redon),
                connected=self._connected,
                connection_detail=self._detail,
                dropped=self._dropped,
            )
            self._grades.clear()
            self._errors.clear()
            self._hand.clear()
            self._redon.clear()
            self._kmg = None
            self._status = None
            self._hello = None
            self._dropped = 0
        return out
