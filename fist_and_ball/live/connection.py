"""The add-on's link to the bridge: one client and its mailbox at a time. No bpy.

Connecting makes a fresh mailbox for a fresh client; disconnecting cancels the client
and drops its mailbox at once (never waits for the network thread: a bridge that
never answers the handshake must not freeze Blender). Whatever the old thread still
writes lands in the dropped mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import BridgeClient, ClientStats, check_url
from .mailbox import Drained, Mailbox


@dataclass(slots=True)
class LinkStatus:
    """The link as the panel shows it: up or not, why, how fast and how late."""

    connected: bool = False
    detail: str = "not connected"
    grades_per_s: float = 0.0
    rtt_ms: float | None = None
    bridge_latency_ms: float | None = None
    """The bridge's own median latency (its `status.latency_ms.p50`)."""
    grades_received: int = 0

    def update(self, drained: Drained, stats: ClientStats | None) -> None:
        """Take one drain's connection facts and the client's counters."""
        self.connected = drained.connected
        self.detail = drained.connection_detail
        self.grades_received += len(drained.grades)
        if drained.status is not None:
            lat = drained.status.get("latency_ms")
            if isinstance(lat, dict) and isinstance(lat.get("p50"), int | float):
                self.bridge_latency_ms = float(lat["p50"])
        up = stats is not None and stats.connected
        self.grades_per_s = stats.grades_per_s if stats is not None and up else 0.0
        self.rtt_ms = stats.rtt_ms if stats is not None and up else None

    def display_key(self) -> tuple[Any, ...]:
        """The values as the panel shows them (rounded): redraw only when this changes."""
        rtt = None if self.rtt_ms is None else round(self.rtt_ms, 1)
        return (self.connected, self.detail, round(self.grades_per_s), rtt)


class Connection:
    """Holds the current `BridgeClient` (or none) and the mailbox it fills."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.client: BridgeClient | None = None
        self.kmg_wanted = False
        """The decoder view wants the kmg stream: (re)subscribed on every connect."""
        self.status = LinkStatus()
        self._paused: list[BridgeClient | None] = []
        """The client each pause (they nest) parked, resumed in reverse order."""

    @property
    def active(self) -> bool:
        """A client exists (connected or trying to)."""
        return self.client is not None

    def connect(self, url: str, *, token: str = "", allow_remote: bool = False) -> str | None:
        """Start a client towards `url`; returns a problem text or None."""
        problem = check_url(url, allow_remote)
        if problem:
            return problem
        self.disconnect()
        self.mailbox = Mailbox()
        self.client = BridgeClient(url, self.mailbox, token=token, allow_remote=allow_remote)
        if self.kmg_wanted:
            self.client.set_kmg(True)  # sent as soon as the connection is up
        self.client.start()
        return None

    def disconnect(self, detail: str = "disconnected") -> BridgeClient | None:
        """Cancel the client and return at once; returns it (to join in tests)."""
        client, self.client = self.client, None
        if client is not None:
            client.cancel()
            self.mailbox = Mailbox()
            self.mailbox.set_connection(False, detail)
        return client

    def drain(self) -> Drained:
        """Take what arrived since the last drain; `status` follows it."""
        drained = self.mailbox.drain()
        self.status.update(drained, self.stats())
        return drained

    def stats(self) -> ClientStats | None:
        return self.client.stats() if self.client is not None else None

    def pause(self, timeout_s: float) -> bool:
        """Park the current client's network thread (quiet_threads.py); True when it
        stands still or there is none."""
        client = self.client
        self._paused.append(client)
        return client.pause(timeout_s) if client is not None else True

    def resume(self) -> None:
        """Let the client the last `pause()` parked go on (even if it was replaced)."""
        client = self._paused.pop() if self._paused else None
        if client is not None:
            client.resume()

    def send(self, message: dict[str, Any]) -> bool:
        """Send a protocol message to the bridge; False when not connected."""
        return self.client.send(message) if self.client is not None else False

    def set_kmg(self, wanted: bool) -> bool:
        """Want (or not) the kmg stream; returns whether the request went out now."""
        self.kmg_wanted = bool(wanted)
        return self.client.set_kmg(self.kmg_wanted) if self.client is not None else False
