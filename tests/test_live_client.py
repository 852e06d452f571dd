"""BridgeClient + Mailbox against a real websockets server on loopback (no bpy)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from live_bridge import free_port
from loopback_ws_server import LoopbackServer
from websockets.asyncio.server import ServerConnection

from fist_and_ball.live.client import BridgeClient, check_url, is_loopback_url
from fist_and_ball.live.mailbox import Drained, Mailbox


class FakeBridge(LoopbackServer):
    """A small protocol-v1 server on its own thread: hello, grades at 50 Hz, pong,
    `kmg` at 50 Hz while subscribed, and a `hand` answer to each hand command."""

    def __init__(self, port: int, *, garbage_first: bool = False) -> None:
        super().__init__(port)
        self.garbage_first = garbage_first
        self.headers: list[dict[str, str]] = []

    async def _handler(self, ws: ServerConnection) -> None:
        self.headers.append(dict(ws.request.headers) if ws.request else {})
        hello = {
            "type": "hello", "protocol": 1, "bridge": "test", "source": "fake",
            "n_sensors": 3, "rate_hz": 50.0, "decoder": "qg", "grades": 9,
            "gestures": ["fingers"],
        }  # fmt: skip
        await ws.send(json.dumps(hello))
        if self.garbage_first:
            await ws.send("{not json")
            await ws.send(json.dumps([1, 2, 3]))
            await ws.send(json.dumps({"type": "mystery"}))

        kmg = {"on": False}

        async def feed() -> None:
            seq = 0
            while True:
                seq += 1
                g = (seq // 10) % 9
                msg = {
                    "type": "grade", "seq": seq, "t": seq / 50, "gesture": "fingers",
                    "grade": g, "level": g / 8, "confidence": 1.0,
                }  # fmt: skip
                await ws.send(json.dumps(msg))
                if kmg["on"]:
                    mags = [500.0 + seq, None, 100.0]
                    await ws.send(json.dumps({"type": "kmg", "seq": seq, "magnitudes": mags}))
                await asyncio.sleep(0.02)

        task = asyncio.ensure_future(feed())
        try:
            async for msg in self.messages(ws):
                if msg.get("type") == "subscribe":
                    kmg["on"] = bool(msg.get("kmg"))
                elif msg.get("type") == "hand":
                    state = {"state": "estop" if msg["action"] == "stop" else "holding"}
                    reply = {"type": "hand", "action": msg["action"], "ok": True,
                             "detail": "done", "state": state}  # fmt: skip
                    await ws.send(json.dumps(reply))
        except Exception:
            pass
        finally:
            task.cancel()


def wait_for(pred: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def server(port: int) -> Iterator[FakeBridge]:
    s = FakeBridge(port).start()
    yield s
    s.stop()


@pytest.fixture
def client(port: int) -> Iterator[BridgeClient]:
    c = BridgeClient(f"ws://127.0.0.1:{port}", Mailbox())
    yield c
    c.stop()


def drain_until(mb: Mailbox, pred: Callable[[Drained], bool], timeout: float = 10.0) -> Drained:
    seen = Drained()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = mb.drain()
        seen.grades += d.grades
        seen.hello = d.hello or seen.hello
        seen.errors += d.errors
        seen.connected, seen.connection_detail = d.connected, d.connection_detail
        seen.latest_grade = d.latest_grade
        seen.kmg = d.kmg or seen.kmg
        seen.hand_replies += d.hand_replies
        if pred(seen):
            return seen
        time.sleep(0.02)
    return seen


def test_receives_hello_grades_rate_and_rtt(server: FakeBridge, client: BridgeClient) -> None:
    client.start()
    got = drain_until(client.mailbox, lambda d: d.hello is not None and len(d.grades) >= 20)
    assert got.connected and got.hello is not None and got.hello["protocol"] == 1
    seqs = [g["seq"] for g in got.grades]
    assert seqs == sorted(seqs) and len(seqs) >= 20
    assert all("_rx" in g for g in got.grades)  # receive time stamped on the network thread
    # The wire's `level` (contract 3) reaches the add-on as `closure`: inside it,
    # `level` is the game's difficulty.
    assert all(g["closure"] == g["grade"] / 8 and "level" not in g for g in got.grades)
    assert wait_for(lambda: client.stats().rtt_ms is not None and client.stats().grades_per_s > 0)
    s = client.stats()
    assert s.connected and 0 < s.grades_per_s < 1000 and s.rtt_ms is not None and s.rtt_ms >= 0


def test_send_reaches_the_bridge(server: FakeBridge, client: BridgeClient) -> None:
    assert client.send({"type": "gesture", "name": "wrist"}) is False  # not connected yet
    client.start()
    assert wait_for(lambda: client.stats().connected)
    assert client.send({"type": "gesture", "name": "wrist"})
    assert wait_for(lambda: {"type": "gesture", "name": "wrist"} in server.received)


def test_token_is_sent_as_bearer(port: int, server: FakeBridge) -> None:
    c = BridgeClient(f"ws://127.0.0.1:{port}", Mailbox(), token="s3cret")
    try:
        c.start()
        assert wait_for(lambda: bool(server.headers))
        assert server.headers[0].get("authorization") == "Bearer s3cret"
    finally:
        c.stop()


def test_loss_detected_then_reconnects(port: int, server: FakeBridge, client: BridgeClient) -> None:
    client.start()
    assert wait_for(lambda: client.stats().connected)
    server.stop()
    t0 = time.monotonic()
    assert wait_for(lambda: not client.mailbox.drain().connected, timeout=5.0)
    lost_after = time.monotonic() - t0
    assert lost_after < 1.0, f"disconnect seen only after {lost_after:.2f} s"
    assert "retrying" in client.stats().detail
    restarted = FakeBridge(port).start()
    try:
        got = drain_until(client.mailbox, lambda d: d.connected and len(d.grades) >= 5, 15.0)
        assert got.connected and len(got.grades) >= 5
        assert client.stats().reconnects >= 1
    finally:
        restarted.stop()


def test_malformed_messages_are_ignored(port: int) -> None:
    s = FakeBridge(port, garbage_first=True).start()
    c = BridgeClient(f"ws://127.0.0.1:{port}", Mailbox())
    try:
        c.start()
        got = drain_until(c.mailbox, lambda d: len(d.grades) >= 5)
        assert got.connected and len(got.grades) >= 5
    finally:
        c.stop()
        s.stop()


def test_no_bridge_reports_refused_and_keeps_retrying(client: BridgeClient) -> None:
    client.start()
    assert wait_for(lambda: "refused" in client.mailbox.drain().connection_detail)
    assert client.running and not client.stats().connected


def test_stop_ends_the_thread(server: FakeBridge, client: BridgeClient) -> None:
    client.start()
    assert wait_for(lambda: client.stats().connected)
    client.stop()
    assert not client.running
    assert not [t for t in threading.enumerate() if t.name == "fistball-ws"]
    assert client.mailbox.drain().connected is False


@pytest.mark.parametrize(
    ("url", "allow", "problem"),
    [
        ("ws://127.0.0.1:8765", False, None),
        ("ws://localhost:8765", False, None),
        ("ws://[::1]:8765", False, None),
        ("ws://192.0.2.7:8765", False, "online access"),
        ("ws://192.0.2.7:8765", True, None),
        ("http://127.0.0.1:8765", False, "not a websocket URL"),
        ("127.0.0.1:8765", False, "not a websocket URL"),
    ],
)
def test_url_policy(url: str, allow: bool, problem: str | None) -> None:
    got = check_url(url, allow)
    assert (got is None) if problem is None else (got is not None and problem in got)


def test_remote_refused_without_online_access_starts_no_thread() -> None:
    mb = Mailbox()
    c = BridgeClient("ws://192.0.2.7:8765", mb, allow_remote=False)
    c.start()
    assert not c.running
    d = mb.drain()
    assert not d.connected and "online access" in d.connection_detail
    assert not is_loopback_url("ws://example.org:1") and is_loopback_url("ws://127.0.0.2:1")


def test_kmg_subscription_is_a_latest_value_and_survives_reconnect(
    port: int, server: FakeBridge, client: BridgeClient
) -> None:
    client.set_kmg(True)  # before the connection: sent once it is up
    client.start()
    got = drain_until(client.mailbox, lambda d: d.kmg is not None)
    assert got.kmg is not None and got.kmg["magnitudes"][1] is None and "_rx" in got.kmg
    assert {"type": "subscribe", "kmg": True} in server.received
    time.sleep(0.3)  # ~15 kmg messages arrive; the mailbox keeps only the newest
    d = client.mailbox.drain()
    assert d.kmg is not None and len(d.grades) >= 5  # grades buffered, kmg: one slot
    assert d.kmg["seq"] >= max(g["seq"] for g in d.grades) - 1
    # Unsubscribe: the stream stops (the count no longer grows).
    assert client.set_kmg(False)
    assert wait_for(lambda: {"type": "subscribe", "kmg": False} in server.received)
    time.sleep(0.2)
    before = client.stats().kmg_received
    time.sleep(0.3)
    assert client.stats().kmg_received == before > 10
    # The wish is kept across a reconnect.
    client.set_kmg(True)
    server.stop()
    restarted = FakeBridge(port).start()
    try:
        client.mailbox.drain()
        got = drain_until(client.mailbox, lambda d: d.connected and d.kmg is not None, 15.0)
        assert got.kmg is not None
        assert {"type": "subscribe", "kmg": True} in restarted.received
    finally:
        restarted.stop()


def test_hand_answers_reach_the_mailbox(server: FakeBridge, client: BridgeClient) -> None:
    client.start()
    assert wait_for(lambda: client.stats().connected)
    assert client.send({"type": "hand", "action": "stop"})
    got = drain_until(client.mailbox, lambda d: bool(d.hand_replies))
    (reply,) = got.hand_replies
    assert reply["action"] == "stop" and reply["state"]["state"] == "estop" and "_rx" in reply


class SilentListener:
    """A TCP listener that accepts connections and never answers the handshake."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted: list[Any] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            while True:
                self.accepted.append(self.sock.accept()[0])
        except OSError:
            pass

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def test_cancel_returns_at_once_during_a_handshake_that_never_completes() -> None:
    """Disconnect must not wait for the handshake timeout (2 s): it cancels it."""
    silent = SilentListener()
    c = BridgeClient(f"ws://127.0.0.1:{silent.port}", Mailbox())
    try:
        c.start()
        assert wait_for(lambda: bool(silent.accepted))
        t0 = time.perf_counter()
        c.cancel()
        returned_after = time.perf_counter() - t0
        assert c.join(5.0), "the cancelled thread did not end by itself"
        ended_after = time.perf_counter() - t0
        # Generous bounds, far below the 2 s handshake timeout the old stop() waited out.
        assert returned_after < 0.5 and ended_after < 1.5, (returned_after, ended_after)
        assert c.mailbox.drain().connection_detail == "disconnected"
    finally:
        c.stop()
        silent.close()
