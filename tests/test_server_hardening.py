"""Hardening of the websocket server (issue 11): who may change what the hand does,
exact origins, the client cap, bounded status and buffers, un-encodable client text,
status visibility, hand event attribution, token header and wrong-token throttling.

Every test runs a real server on loopback with real websocket clients (or raw TCP
where a misbehaving client is the point).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest
from raw_ws_client import OP_PING, masked_frame, raw_ws
from test_server_auth import TOKEN, RecordingHand, _start, _status_of
from test_server_kit import (
    PushSource,
    StepDecoder,
    client,
    recv_json,
    recv_type,
    start_bridge,
    sync,
    ws_url,
)
from websockets.exceptions import ConnectionClosed

from bridge.server.auth import AuthPolicy, TokenThrottle, decide, normalize_origin

ORIGIN = "http://localhost:3000"


class UrlHand(RecordingHand):
    """A hand whose state names its URL and who did what (like HandOutput's)."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "state": "active" if self.enabled else "disabled",
            "url": "serial:/dev/ttyHAND0",
            "driver": "serial /dev/ttyHAND0 @ 115200",
            "reason": f"by {self.who[-1]}" if self.who else "",
            "events": [
                {"action": a, "by": w} for (a, _), w in zip(self.calls, self.who, strict=True)
            ],
        }


async def _request(ws: Any, msg: dict[str, Any], *types: str) -> dict[str, Any]:
    await ws.send(json.dumps(msg))
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        reply = await recv_json(ws)
        if reply["type"] in types:
            return reply
    raise TimeoutError(f"no {types} reply to {msg}")


# ---- item 2: release --------------------------------------------------------------


def test_release_and_stop_open_to_every_client() -> None:
    hand = RecordingHand()
    hand.enabled = True
    pipeline, server = _start(hand=hand, allowed_origins=(ORIGIN,))
    try:

        async def go() -> list[dict[str, Any]]:
            async with client(ws_url(server), origin=ORIGIN) as ws:  # not authorised
                hello = await recv_type(ws, "hello")
                assert hello["hand_authorized"] is False
                r1 = await _request(ws, {"type": "hand", "action": "release"}, "hand", "error")
                r2 = await _request(ws, {"type": "hand", "action": "stop"}, "hand", "error")
                return [r1, r2]

        r1, r2 = asyncio.run(go())
    finally:
        pipeline.close()
    assert r1["type"] == "hand" and r1["ok"] is True and r1["action"] == "release", r1
    assert r2["type"] == "hand" and r2["ok"] is True
    assert hand.calls == [("release", False), ("stop", False)]


# ---- item 4: gesture switching while the hand is enabled --------------------------------


def test_gesture_switch_needs_authorisation_while_hand_enabled() -> None:
    hand = RecordingHand()
    decoder = StepDecoder()
    pipeline, server = start_bridge(PushSource(), decoder, hand=hand, allowed_origins=(ORIGIN,))
    try:

        async def go() -> dict[str, Any]:
            out: dict[str, Any] = {}
            async with (
                client(ws_url(server), origin=ORIGIN) as browser,
                client(ws_url(server)) as native,
            ):
                await recv_type(browser, "hello")
                await recv_type(native, "hello")
                # hand disabled: anyone may switch
                await browser.send(json.dumps({"type": "gesture", "name": "wrist"}))
                out["disabled_errors"] = [m for m in await sync(browser) if m["type"] == "error"]
                out["after_disabled"] = decoder.gesture
                reply = await _request(native, {"type": "hand", "action": "enable"}, "hand")
                assert reply["ok"], reply
                # hand enabled: the browser (unauthorised) is refused, nothing changes
                out["refused"] = await _request(
                    browser, {"type": "gesture", "name": "fingers"}, "error"
                )
                await sync(browser)
                out["after_refused"] = decoder.gesture
                # the authorised native client still may
                await native.send(json.dumps({"type": "gesture", "name": "fingers"}))
                out["native_errors"] = [m for m in await sync(native) if m["type"] == "error"]
                out["after_native"] = decoder.gesture
            return out

        r = asyncio.run(go())
    finally:
        pipeline.close()
    assert r["disabled_errors"] == [] and r["after_disabled"] == "wrist"
    assert r["refused"]["code"] == "gesture_rejected" and "authorised" in r["refused"]["detail"]
    assert r["after_refused"] == "wrist"
    assert r["native_errors"] == [] and r["after_native"] == "fingers"


# ---- item 5c: exact origin ----------------------------------------------------------


def test_origin_compared_exactly_after_parsing() -> None:
    policy = AuthPolicy.create("127.0.0.1", None, [ORIGIN])
    for bad in (
        "http://localhost:3000.evil.example",
        "http://localhost:30000",
        "http://localhost:3000@evil.example",
        "https://localhost:3000",
        "http://localhost.evil.example:3000",
        "http://evil.example/http://localhost:3000",
    ):
        assert decide(policy, "/", bad, None).status == 403, bad
    for good in (ORIGIN, ORIGIN + "/", "HTTP://LOCALHOST:3000"):
        assert decide(policy, "/", good, None).accept, good
    assert normalize_origin("http://localhost:80") == "http://localhost"
    pipeline, server = _start(allowed_origins=(ORIGIN,))
    try:
        assert _status_of(ws_url(server), origin="http://localhost:3000.evil.example") == 403
        assert _status_of(ws_url(server), origin=ORIGIN) == 101
    finally:
        pipeline.close()


# ---- item 7: connection cap and a status that does not grow with clients ---------------


def test_connections_over_the_cap_get_503() -> None:
    pipeline, server = _start(max_clients=3)
    try:

        async def go() -> tuple[int, int]:
            async with (
                client(ws_url(server)) as a,
                client(ws_url(server)) as b,
                client(ws_url(server)) as c,
            ):
                for ws in (a, b, c):
                    await recv_type(ws, "hello")
                full = await asyncio.to_thread(_status_of, ws_url(server))
            await asyncio.sleep(0.3)  # the three closed: room again
            again = await asyncio.to_thread(_status_of, ws_url(server))
            return full, again

        full, again = asyncio.run(go())
    finally:
        pipeline.close()
    assert full == 503
    assert again == 101
    assert server.refused_full == 1


def test_status_size_does_not_grow_with_clients() -> None:
    pipeline, server = _start(max_clients=64)
    pipeline.status_interval_s = 0.3
    try:

        async def status_of(ws: Any, clients: int) -> int:
            """Length of the first status that counts `clients` clients."""
            while True:
                raw = await asyncio.wait_for(ws.recv(), 5)
                msg = json.loads(raw)
                if msg["type"] == "status" and msg["clients"] == clients:
                    return len(raw)

        async def go() -> tuple[int, int]:
            async with client(ws_url(server)) as ws:
                await recv_type(ws, "hello")
                alone = await status_of(ws, 1)
                others = [await client(ws_url(server)).__aenter__() for _ in range(40)]
                try:
                    crowded = await status_of(ws, 41)
                finally:
                    for o in others:
                        await o.close()
                return alone, crowded

        alone, crowded = asyncio.run(go())
    finally:
        pipeline.close()
    # per-client entries of ~150 bytes would add ~6 KB; counters add a few digits
    assert crowded < alone + 300, (alone, crowded)


# ---- item 8: a ping-flooding client that never reads -------------------------------------


def _flood_pings(port: int, limit_bytes: int, seconds: float) -> tuple[int, bool]:
    """Send pings, never read; returns (bytes sent, cut off by the server)."""
    sock = raw_ws(port)
    frame = masked_frame(OP_PING, b"p" * 125) * 64  # 8 KB per write
    sent = 0
    deadline = time.monotonic() + seconds
    sock.settimeout(1.0)
    try:
        while sent < limit_bytes and time.monotonic() < deadline:
            try:
                sock.sendall(frame)
            except TimeoutError:
                continue  # the server stopped reading us for a moment
            sent += len(frame)
    except (BrokenPipeError, ConnectionResetError):
        return sent, True
    finally:
        sock.close()
    return sent, False


@pytest.mark.parametrize("with_decoder", [False, True])
def test_ping_flooding_client_that_never_reads_is_cut_off(with_decoder: bool) -> None:
    decoder = StepDecoder() if with_decoder else None
    # the receive budget (read in 4 KiB slices, so it holds) lets pongs pile up at about
    # 32 KiB/s: the slow-client rule (5 s unwritable) would cut the client first
    pipeline, server = start_bridge(
        PushSource(), decoder, max_buffer_bytes=256 * 1024, hopeless_after_s=60.0
    )
    try:
        sent, cut = _flood_pings(server.port, limit_bytes=64 * 1024 * 1024, seconds=20)
        deadline = time.monotonic() + 5
        while server.clients_dropped_buffer < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pipeline.close()
    # without a bound the server answers all 64 MB of pings into its own memory
    assert cut, f"sent {sent} bytes of pings and was never cut off"
    assert sent < 32 * 1024 * 1024, sent
    assert server.clients_dropped_buffer == 1


# ---- item 9: un-encodable client text --------------------------------------------------


def test_lone_surrogates_get_an_error_and_the_connection_stays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = [
        '{"type": "\\udfff"}',
        '{"type": "ping", "id": "\\ud800"}',
        '{"type": "gesture", "name": "\\udfffwrist"}',
        '{"type": "subscribe", "kmg": true, "x\\udc00": 1}',
    ]
    pipeline, server = _start()
    try:

        async def go() -> tuple[list[dict[str, Any]], dict[str, Any]]:
            async with client(ws_url(server)) as ws:
                await recv_type(ws, "hello")
                replies = []
                for _ in range(25):  # many times: no log line per message either
                    for text in bad:
                        await ws.send(text)
                        replies.append(await recv_type(ws, "error"))
                pong = await _request(ws, {"type": "ping", "id": 7}, "pong")
                return replies, pong

        with caplog.at_level(logging.WARNING, logger="bridge"):
            replies, pong = asyncio.run(go())
    finally:
        pipeline.close()
    assert len(replies) == 100
    assert {r["code"] for r in replies} == {"bad_text"}
    assert pong["id"] == 7  # still connected
    assert not [r for r in caplog.records if r.name.startswith("bridge.server")]


# ---- item 10: who sees what, hand events, tokens ------------------------------------------


def test_status_redacted_for_browser_and_unauthorised_clients() -> None:
    hand = UrlHand()
    pipeline, server = _start(hand=hand, allowed_origins=(ORIGIN,))
    pipeline.status_interval_s = 0.3
    try:

        async def go() -> tuple[dict, dict, dict, dict]:
            async with (
                client(ws_url(server)) as native,
                client(ws_url(server), origin=ORIGIN) as browser,
            ):
                n_hello = await recv_type(native, "hello")
                b_hello = await recv_type(browser, "hello")
                await _request(native, {"type": "hand", "action": "enable"}, "hand")
                full = await recv_type(native, "status")
                public = await recv_type(browser, "status")
                return n_hello, b_hello, full, public

        n_hello, b_hello, full, public = asyncio.run(go())
    finally:
        pipeline.close()
    assert n_hello["source"] == "test:push" and full["source"] == "test:push"
    assert full["hand"]["url"] == "serial:/dev/ttyHAND0"
    assert b_hello["source"] == "test" and public["source"] == "test"
    text = json.dumps(public)
    for secret in ("127.0.0.1", "ttyHAND0", "test:push"):
        assert secret not in text, secret
    assert public["hand"]["enabled"] is True and public["clients"] == 2
    assert "rate_hz" in public and "latency_ms" in public


def test_hand_events_name_the_client_address_and_origin() -> None:
    hand = RecordingHand()
    pipeline, server = _start(hand=hand, allowed_origins=(ORIGIN,))
    try:

        async def go() -> None:
            async with client(ws_url(server), origin=ORIGIN) as ws:
                await recv_type(ws, "hello")
                await _request(ws, {"type": "hand", "action": "stop"}, "hand", "error")

        asyncio.run(go())
    finally:
        pipeline.close()
    assert hand.calls == [("stop", False)]
    assert "127.0.0.1:" in hand.who[0] and f"origin {ORIGIN}" in hand.who[0], hand.who


def test_token_accepted_in_header() -> None:
    pipeline, server = _start(token=TOKEN)
    try:
        assert (
            _status_of(ws_url(server), additional_headers={"X-Fist-And-Ball-Token": TOKEN}) == 101
        )
        assert (
            _status_of(ws_url(server), additional_headers={"X-Fist-And-Ball-Token": "wrong-wrong"})
            == 401
        )
    finally:
        pipeline.close()


def test_wrong_tokens_lock_the_peer_out() -> None:
    pipeline, server = _start(token=TOKEN, token_max_failures=3, token_lockout_s=60.0)
    try:
        wrong = [_status_of(ws_url(server, "?token=wrong-token-000")) for _ in range(3)]
        # locked out: even the right token is refused without being checked
        locked = _status_of(ws_url(server, f"?token={TOKEN}"))
    finally:
        pipeline.close()
    assert wrong == [401, 401, 401]
    assert locked == 429


def test_token_throttle_doubles_and_forgets_on_success() -> None:
    now = [0.0]
    t = TokenThrottle(max_failures=2, lockout_s=1.0, clock=lambda: now[0])
    t.failed("a")
    assert t.locked("a") == 0
    t.failed("a")
    assert t.locked("a") == pytest.approx(1.0)
    assert t.locked("b") == 0  # per peer
    now[0] = 1.5
    assert t.locked("a") == 0
    t.failed("a")  # third failure: 2 s
    assert t.locked("a") == pytest.approx(2.0)
    now[0] = 10.0
    t.succeeded("a")
    t.failed("a")
    assert t.locked("a") == 0  # the count started over


def test_connection_closed_cleanly_not_1011_on_surrogate_type() -> None:
    """Contract 3: an unknown/odd message never closes the connection (was 1011)."""
    pipeline, server = _start()
    try:

        async def go() -> str:
            async with client(ws_url(server)) as ws:
                await recv_type(ws, "hello")
                await ws.send('{"type": "\\udfff"}')
                try:
                    reply = await recv_type(ws, "error")
                except ConnectionClosed as exc:
                    return f"closed {exc.rcvd.code if exc.rcvd else None}"
                return str(reply["code"])

        assert asyncio.run(go()) == "bad_text"
    finally:
        pipeline.close()
