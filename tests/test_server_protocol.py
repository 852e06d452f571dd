"""Websocket protocol v1 over real loopback sockets, checked by a contract-3-only client."""

from __future__ import annotations

import asyncio
import itertools
import json
import math

import numpy as np
import pytest
from test_server_kit import (
    PushSource,
    StepDecoder,
    client,
    recv_json,
    recv_type,
    running_bridge,
    sync,
    ws_url,
)

from bridge.server import protocol
from bridge.server.ws_server import redact_status
from bridge.values.sample import Decoded, Sample
from bridge.values.status import (
    DecoderStatus,
    HandStatus,
    LatencyReport,
    PipelineStatus,
    RecorderStatus,
    ServerStatus,
    SourceReport,
)

HELLO_FIELDS = {
    "protocol",
    "bridge",
    "source",
    "n_sensors",
    "rate_hz",
    "decoder",
    "grades",
    "gestures",
}
GRADE_FIELDS = {"seq", "t", "gesture", "grade", "level", "confidence"}


@pytest.mark.parametrize("direct_write", [True, False], ids=["fast-path", "sender-task"])
def test_hello_then_grades_match_decoder(direct_write: bool) -> None:
    decoder = StepDecoder()
    with running_bridge(
        decoder=decoder, source=PushSource(n_sensors=3, rate_hz=42.7), direct_write=direct_write
    ) as (
        _p,
        server,
        src,
    ):

        async def go() -> tuple[dict, list[dict]]:
            async with client(ws_url(server)) as ws:
                hello = await recv_json(ws)
                values = [0.2, 3.4, 7.9, 5.1, 12.0, 1.6, 4.49, 8.0]
                for v in values:
                    src.push([v, 50.0, 60.0])
                grades = [await recv_type(ws, "grade") for _ in values]
                return hello, grades

        hello, grades = asyncio.run(go())

    assert hello["type"] == "hello"
    assert hello.keys() >= HELLO_FIELDS
    assert hello["protocol"] == 1
    assert hello["grades"] == 9
    assert hello["n_sensors"] == 3
    assert math.isclose(hello["rate_hz"], 42.7)
    assert hello["decoder"] == "step"
    assert hello["gestures"] == ["fingers", "wrist"]
    assert isinstance(hello["bridge"], str) and hello["bridge"]
    assert hello["source"] == "test:push"

    by_seq = {d.seq: d for d in decoder.decoded}
    assert [g["seq"] for g in grades] == sorted(by_seq)
    for g in grades:
        assert g.keys() >= GRADE_FIELDS
        d = by_seq[g["seq"]]
        assert g["grade"] == d.grade and isinstance(g["grade"], int)
        assert 0 <= g["grade"] <= 8
        assert math.isclose(g["level"], d.level, abs_tol=1e-4)
        assert math.isclose(g["confidence"], 0.75, abs_tol=1e-4)
        assert g["gesture"] == "fingers"
        assert math.isclose(g["t"], d.t_host, abs_tol=1e-5)
    assert [g["grade"] for g in grades] == [0, 3, 8, 5, 8, 2, 4, 8]


def test_kmg_only_after_subscribe_and_nan_is_null() -> None:
    with running_bridge() as (_p, server, src):

        async def go() -> tuple[list[dict], list[dict], list[dict]]:
            async with client(ws_url(server)) as ws:
                await recv_type(ws, "hello")
                src.push([1.0, 2.0, 3.0])
                await recv_type(ws, "grade")
                before = await sync(ws, 1)
                await ws.send(json.dumps({"type": "subscribe", "kmg": True}))
                await sync(ws, 2)  # the subscription is in effect once the pong is back
                src.push([4.0, float("nan"), 6.5])
                msgs: list[dict] = []
                while not any(m["type"] == "kmg" for m in msgs) or not any(
                    m["type"] == "grade" for m in msgs
                ):
                    msgs.append(await recv_json(ws))
                await ws.send(json.dumps({"type": "subscribe", "kmg": False}))
                await sync(ws, 3)
                src.push([2.0, 2.0, 2.0])
                after = [await recv_type(ws, "grade")]
                after += await sync(ws, 4)
                return before, msgs, after

        before, msgs, after = asyncio.run(go())
    assert not [m for m in before if m["type"] == "kmg"]
    kmg = next(m for m in msgs if m["type"] == "kmg")
    assert kmg["magnitudes"][0] == 4.0
    assert kmg["magnitudes"][1] is None
    assert kmg["magnitudes"][2] == 6.5
    assert {"seq", "t"} <= kmg.keys()
    assert not [m for m in after if m["type"] == "kmg"]


def test_ping_pong_echoes_id() -> None:
    with running_bridge() as (_p, server, _src):

        async def go() -> list[dict]:
            async with client(ws_url(server)) as ws:
                await recv_type(ws, "hello")
                out = []
                for pid in ("abc", 17, 2.5):
                    await ws.send(json.dumps({"type": "ping", "id": pid}))
                    out.append(await recv_type(ws, "pong"))
                return out

        pongs = asyncio.run(go())
    assert [p["id"] for p in pongs] == ["abc", 17, 2.5]
    assert all(isinstance(p["t"], float) for p in pongs)


def test_bad_messages_get_error_and_connection_stays_open() -> None:
    bad: list[str | bytes] = [
        "{not json",
        "[1, 2]",
        json.dumps({"no_type": 1}),
        json.dumps({"type": "launch_rocket"}),
        json.dumps({"type": "subscribe", "kmg": "yes"}),
        json.dumps({"type": "subscribe"}),
        json.dumps({"type": "gesture", "name": 5}),
        json.dumps({"type": "hand", "action": "explode"}),
        json.dumps({"type": "ping", "id": {"nested": True}}),
        b"\x00\x01binary",
        "",
        # Python's json takes these, but they are not JSON and a pong cannot echo them
        '{"type": "ping", "id": NaN}',
        '{"type": "ping", "id": -Infinity}',
        '{"type": "ping", "id": 1e999}',
    ]
    with running_bridge() as (_p, server, src):

        async def go() -> list[dict]:
            async with client(ws_url(server)) as ws:
                await recv_type(ws, "hello")
                errors = []
                for m in bad:
                    await ws.send(m)
                    errors.append(await recv_type(ws, "error"))
                # still alive: ping works and grades still flow
                await ws.send(json.dumps({"type": "ping", "id": "alive"}))
                pong = await recv_type(ws, "pong")
                assert pong["id"] == "alive"
                src.push([6.0, 0.0, 0.0])
                g = await recv_type(ws, "grade")
                assert g["grade"] == 6
                return errors

        errors = asyncio.run(go())
    assert len(errors) == len(bad)
    for e in errors:
        assert isinstance(e["code"], str) and e["code"]
        assert isinstance(e["detail"], str) and e["detail"]
    codes = [e["code"] for e in errors]
    assert codes[0] == "bad_json"
    assert codes[3] == "unknown_type"
    assert codes[4] == "bad_field"
    assert codes[9] == "binary_not_supported"
    assert codes[11:] == ["bad_json", "bad_json", "bad_field"]


def test_gesture_switch_reaches_decoder_and_bad_name_is_error() -> None:
    decoder = StepDecoder()
    with running_bridge(decoder=decoder) as (_p, server, src):

        async def go() -> tuple[dict, dict]:
            async with client(ws_url(server)) as ws:
                await recv_type(ws, "hello")
                await ws.send(json.dumps({"type": "gesture", "name": "wrist"}))
                await sync(ws)
                src.push([3.0, 0.0, 0.0])
                g = await recv_type(ws, "grade")
                await ws.send(json.dumps({"type": "gesture", "name": "tail"}))
                err = await recv_type(ws, "error")
                return g, err

        g, err = asyncio.run(go())
    assert g["gesture"] == "wrist"
    assert decoder.gesture == "wrist"
    assert err["code"] == "gesture_rejected"
    assert "tail" in err["detail"]


def test_hand_without_hand_is_refused_with_error() -> None:
    with running_bridge() as (_p, server, _src):

        async def go() -> dict:
            async with client(ws_url(server)) as ws:
                await recv_type(ws, "hello")
                await ws.send(json.dumps({"type": "hand", "action": "enable"}))
                return await recv_type(ws, "error")

        err = asyncio.run(go())
    assert err["code"] == "hand_refused"


def test_status_about_once_a_second_with_documented_fields() -> None:
    with running_bridge(status_interval_s=0.5) as (_p, server, src):

        async def go() -> list[dict]:
            async with client(ws_url(server)) as ws, client(ws_url(server)) as ws2:
                await recv_type(ws2, "hello")
                await recv_type(ws, "hello")

                async def feed_and_drain() -> None:
                    while True:
                        src.push([2.0, 0.0, 0.0])
                        while True:  # keep the second client's inbox empty
                            try:
                                await recv_json(ws2, 0.02)
                            except TimeoutError:
                                break

                feeder = asyncio.create_task(feed_and_drain())
                statuses: list[dict] = []
                try:
                    while len(statuses) < 3:
                        msg = await recv_json(ws)
                        if msg["type"] == "status":
                            statuses.append(msg)
                finally:
                    feeder.cancel()
                return statuses

        statuses = asyncio.run(go())
    for s in statuses:
        for key in ("state", "rate_hz", "dropped", "bad_frames", "clients", "hand", "latency_ms"):
            assert key in s, key
        assert {"p50", "p99", "max"} <= s["latency_ms"].keys()
        # aggregates only: the status must not grow with the number of clients
        assert "client_stats" not in s
        assert isinstance(s["slow_clients"], list) and s["slow_clients"] == []
        assert s["clients_dropping"] == 0 and s["max_clients"] == 16
        assert s["decoder_ready"] is True
    # the status clock advances by about the interval between messages
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(statuses)]
    assert all(0.2 < g < 5.0 for g in gaps), gaps  # loose: shared machine
    assert statuses[-1]["clients"] == 2
    assert statuses[-1]["state"] == "connected"
    assert statuses[-1]["latency_ms"]["p50"] is not None or statuses[-2]["latency_ms"]["p50"]
    # the whole run's cumulative histogram: as many grades as the total counts
    total = statuses[-1]["latency_ms_total"]
    assert total["n"] > 0 and sum(c for _, c in total["hist"]) == total["n"]
    assert [u for u, _ in total["hist"]] == sorted(u for u, _ in total["hist"])


def test_clients_closed_with_1001_on_shutdown() -> None:
    from websockets.exceptions import ConnectionClosed

    with running_bridge() as (pipeline, server, _src):

        async def go() -> int | None:
            async with client(ws_url(server)) as ws:
                await recv_type(ws, "hello")
                await asyncio.to_thread(pipeline.close)
                try:
                    while True:
                        await recv_json(ws)
                except ConnectionClosed as exc:
                    return exc.rcvd.code if exc.rcvd else None

        code = asyncio.run(go())
    assert code == 1001


def _strict_json(data: bytes) -> dict:
    """Parse as the JSON standard says: NaN/Infinity are not JSON."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} in a message")

    return dict(json.loads(data, parse_constant=refuse))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_kmg_and_grade_never_emit_a_non_finite_number(bad: float) -> None:
    s = Sample.from_field(3, 0.03, 12.5, np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]))
    s.magnitudes[1] = bad  # a dead sensor (NaN) or an overflowed |B| (inf)
    kmg = _strict_json(protocol.kmg(s))
    assert kmg["magnitudes"] == [5.0, None]
    d = Decoded(3, 12.5, "fingers", 4, 0.5, 0.5)
    d.level, d.confidence = bad, bad  # Decoded is mutable: a buggy decoder could do this
    grade = _strict_json(protocol.grade(d, s))
    assert grade["level"] == 0.0 and grade["confidence"] == 0.0 and grade["grade"] == 4


def test_status_fields_are_the_documented_json_and_redaction_keeps_its_rule() -> None:
    """The typed status becomes JSON only here; non-finite numbers become null."""
    st = PipelineStatus(
        t=5.0,
        uptime_s=1.5,
        source=SourceReport(url="serial:/dev/ttyACM0", state="connected", frames=7),
        rate_hz=math.nan,
        samples=7,
        decoder=DecoderStatus(name="qg", ready=True),
        outputs=(
            ServerStatus(clients=2, latency=LatencyReport(n=3, p50=1.23456, p99=2.0, max=3.0)),
            HandStatus.of({"state": "active", "enabled": True, "url": "serial:/dev/ttyHAND0"}),
            RecorderStatus(path="/data/s1.csv", rows=7),
        ),
    )
    fields = protocol.status_fields(st)
    full = _strict_json(protocol.status(fields))
    assert full["type"] == "status" and full["rate_hz"] is None
    assert full["source"] == "serial:/dev/ttyACM0" and full["state"] == "connected"
    assert full["source_status"]["frames"] == 7 and full["decoder_ready"] is True
    assert full["clients"] == 2 and full["latency_ms"]["p50"] == 1.2346
    assert full["hand"]["url"] == "serial:/dev/ttyHAND0"
    assert full["recorder"] == {"path": "/data/s1.csv", "rows": 7, "skipped": 0, "error": None}
    public = _strict_json(protocol.status(redact_status(fields)))
    text = json.dumps(public)
    for secret in ("ttyACM0", "ttyHAND0", "s1.csv"):
        assert secret not in text, secret
    assert public["source"] == "serial" and public["hand"]["enabled"] is True
    without = protocol.status_fields(PipelineStatus())
    assert without["hand"] is None and "clients" not in without and "recorder" not in without
