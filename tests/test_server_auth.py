"""Security policy of the websocket server: bind, token, Origin, hand authorisation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from test_server_kit import PushSource, StepDecoder, client, recv_type, start_bridge, ws_url
from websockets.exceptions import InvalidStatus

from bridge.outputs.base import Output
from bridge.pipeline import Pipeline
from bridge.server.auth import AuthConfigError, AuthPolicy, decide, token_from_request
from bridge.server.ws_server import ServerConfig, WebSocketServer
from bridge.values.status import HandStatus

TOKEN = "s3cret-token-42"


class RecordingHand(Output):
    """A test hand: remembers commands and the authorisation it was given."""

    name = "hand"

    def __init__(self) -> None:
        self.enabled = False
        self.calls: list[tuple[str, bool]] = []
        self.who: list[str] = []

    def command(self, action: str, authorized: bool, who: str = "client") -> tuple[bool, str]:
        self.calls.append((action, authorized))
        self.who.append(who)
        if action == "enable":
            if not authorized:
                return False, "not authorised"
            self.enabled = True
        elif action in ("disable", "stop", "release"):
            self.enabled = False
        return True, f"{action} done"

    def state_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled}

    def status(self) -> HandStatus:
        return HandStatus.of(self.state_dict())


def _start(hand: RecordingHand | None = None, **kw: Any) -> tuple[Pipeline, WebSocketServer]:
    return start_bridge(PushSource(), StepDecoder(), hand=hand, **kw)


def _status_of(url: str, **kw: Any) -> int:
    async def go() -> int:
        try:
            async with client(url, **kw) as ws:
                await recv_type(ws, "hello")
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    return asyncio.run(go())


def test_non_loopback_bind_without_token_refuses_to_start() -> None:
    for host in ("0.0.0.0", "", "192.168.1.20", "::"):
        with pytest.raises(AuthConfigError, match="token"):
            WebSocketServer(ServerConfig(host=host, port=0))
    # with a token it is allowed (we don't bind it here: just the policy)
    assert AuthPolicy.create("0.0.0.0", TOKEN).token == TOKEN
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.5"):
        assert AuthPolicy.create(host).loopback


def test_short_token_and_wildcard_origin_rejected() -> None:
    with pytest.raises(AuthConfigError):
        AuthPolicy.create("127.0.0.1", "abc")
    with pytest.raises(AuthConfigError):
        AuthPolicy.create("127.0.0.1", None, ["*"])


def test_browser_origin_refused_with_403_unless_allowed() -> None:
    pipeline, server = _start(allowed_origins=("http://localhost:3000",))
    try:
        assert _status_of(ws_url(server), origin="http://evil.example") == 403
        assert _status_of(ws_url(server), origin="http://localhost:3000") == 101
        assert _status_of(ws_url(server)) == 101  # native client: no Origin
    finally:
        pipeline.close()


def test_token_required_when_configured() -> None:
    pipeline, server = _start(token=TOKEN)
    try:
        assert _status_of(ws_url(server)) == 401
        assert _status_of(ws_url(server, "?token=wrong-token-000")) == 401
        assert _status_of(ws_url(server, f"?token={TOKEN}")) == 101
        assert (
            _status_of(ws_url(server), additional_headers={"Authorization": f"Bearer {TOKEN}"})
            == 101
        )
        assert (
            _status_of(
                ws_url(server), additional_headers={"Authorization": "Bearer nope-nope-nope"}
            )
            == 401
        )
        # a token does not excuse a foreign browser origin
        assert _status_of(ws_url(server, f"?token={TOKEN}"), origin="http://evil.example") == 403
    finally:
        pipeline.close()


def _hand_enable(url: str, **kw: Any) -> tuple[dict, dict]:
    async def go() -> tuple[dict, dict]:
        async with client(url, **kw) as ws:
            hello = await recv_type(ws, "hello")
            await ws.send(json.dumps({"type": "hand", "action": "enable"}))
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if msg["type"] in ("hand", "error"):
                    return hello, msg

    return asyncio.run(go())


def test_hand_enable_authorisation() -> None:
    # loopback, no token, no Origin: authorised
    hand = RecordingHand()
    pipeline, server = _start(hand=hand, allowed_origins=("http://localhost:3000",))
    try:
        hello, reply = _hand_enable(ws_url(server))
        assert hello["hand_authorized"] is True
        assert reply["type"] == "hand" and reply["ok"] is True
        assert hand.enabled
        hand.enabled = False
        # an allowed browser origin may watch, but never enable the hand without a token
        hello, reply = _hand_enable(ws_url(server), origin="http://localhost:3000")
        assert hello["hand_authorized"] is False
        assert reply["type"] == "error" and reply["code"] == "hand_refused"
        assert not hand.enabled
    finally:
        pipeline.close()

    hand = RecordingHand()
    pipeline, server = _start(hand=hand, token=TOKEN, allowed_origins=("http://localhost:3000",))
    try:
        hello, reply = _hand_enable(
            ws_url(server, f"?token={TOKEN}"), origin="http://localhost:3000"
        )
        assert hello["hand_authorized"] is True
        assert reply["ok"] is True and hand.enabled
        assert hand.calls[-1] == ("enable", True)
    finally:
        pipeline.close()


def test_decide_and_token_parsing() -> None:
    policy = AuthPolicy.create("127.0.0.1", TOKEN)
    assert token_from_request(f"/?a=1&token={TOKEN}", None) == TOKEN
    assert token_from_request("/", f"Bearer {TOKEN}") == TOKEN
    assert token_from_request("/", "Basic abc") is None
    assert decide(policy, "/", None, None).status == 401
    assert decide(policy, f"/?token={TOKEN}", None, None).authorized
    open_policy = AuthPolicy.create("127.0.0.1")
    assert decide(open_policy, "/", None, None).authorized
    assert decide(open_policy, "/", "http://x.example", None).status == 403
