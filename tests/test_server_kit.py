"""Test-only parts for the pipeline and server tests: a pushable Source, a simple
Decoder, a bridge-in-a-context-manager, and a protocol client that uses nothing but
JSON and the `websockets` client (contract 3 only, no project helpers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.sync.client import ClientConnection as SyncClientConnection
from websockets.sync.client import connect as sync_connect

from bridge.control import BridgeControl, HandCommands
from bridge.decoders.base import Decoder
from bridge.outputs.base import Output
from bridge.pipeline import Pipeline
from bridge.server.ws_server import ServerConfig, WebSocketServer
from bridge.sources.base import Source
from bridge.values.sample import Decoded, Sample
from bridge.values.source_info import SourceInfo, SourceState, SourceStatus
from bridge.values.status import DecoderStatus, PipelineStatus, SourceReport


class PushSource(Source):
    """A source fed by the test: `push(magnitudes)` makes one sample, stamped now."""

    def __init__(self, n_sensors: int = 3, rate_hz: float = 100.0) -> None:
        self.url = "test:push"
        self.info = SourceInfo(n_sensors=n_sensors, rate_hz=rate_hz, source=self.url)
        self.status = SourceStatus(state=SourceState.CONNECTING)
        self._q: queue.Queue[Sample | None] = queue.Queue()
        self._seq = 0
        self.closed = False

    def push(self, magnitudes: list[float], seq: int | None = None) -> Sample:
        n = len(magnitudes)
        field = np.zeros((n, 3))
        field[:, 2] = magnitudes  # |B| equals the z component here
        s = Sample.from_field(
            self._seq if seq is None else seq, self._seq * 0.01, time.monotonic(), field
        )
        self._seq += 1
        self._q.put(s)
        return s

    def end(self) -> None:
        self._q.put(None)

    def samples(self, stop: threading.Event) -> Iterator[Sample]:
        self.status.state = SourceState.CONNECTED
        while not stop.is_set():
            try:
                s = self._q.get(timeout=0.05)
            except queue.Empty:
                continue
            if s is None:
                break
            self.status.frames += 1
            yield s
        self.status.state = SourceState.ENDED

    def close(self) -> None:
        self.closed = True


class StepDecoder(Decoder):
    """grade = round(|B| of sensor 0) clipped to 0..8; raises on seqs in `fail_seqs`."""

    name = "step"
    gestures = ("fingers", "wrist")

    def __init__(self, fail_seqs: tuple[int, ...] = ()) -> None:
        self.fail_seqs = set(fail_seqs)
        self.gesture = "fingers"
        self.decoded: list[Decoded] = []

    def decode(self, sample: Sample) -> Decoded:
        if sample.seq in self.fail_seqs:
            raise RuntimeError(f"injected failure at seq {sample.seq}")
        b = float(sample.magnitudes[0])
        g = int(min(8, max(0, round(b))))
        d = Decoded(sample.seq, sample.t_host, self.gesture, g, b / 8.0, 0.75, sensor_index=0)
        self.decoded.append(d)
        return d

    def set_gesture(self, name: str) -> None:
        if name not in self.gestures:
            raise ValueError(f"unknown gesture {name!r}")
        self.gesture = name


def pipeline_status(source_state: str = "connected", decoder_ready: bool = True) -> PipelineStatus:
    """A status as the pipeline sends it, with the two fields the hand acts on."""
    return PipelineStatus(
        source=SourceReport(state=source_state), decoder=DecoderStatus(ready=decoder_ready)
    )


class CollectOutput(Output):
    """Remembers what the pipeline handed it."""

    name = "collect"

    def __init__(self) -> None:
        self.samples: list[tuple[Sample, Decoded | None]] = []
        self.statuses: list[PipelineStatus] = []
        self.closed = False

    def on_sample(self, sample: Sample, decoded: Decoded | None) -> None:
        self.samples.append((sample, decoded))

    def on_status(self, status: PipelineStatus) -> None:
        self.statuses.append(status)

    def close(self) -> None:
        self.closed = True


def start_bridge(
    source: PushSource,
    decoder: Decoder | None,
    outputs: list[Output] | None = None,
    *,
    hand: HandCommands | None = None,
    status_interval_s: float = 1.0,
    **server_kw: Any,
) -> tuple[Pipeline, WebSocketServer]:
    """Wire and start a bridge the way `bridge.cli.cmd_bridge` does: the control
    (shared decoder lock, hand commands) goes to the server's constructor and the
    pipeline; the hand, when it is an Output, is one of the pipeline's outputs."""
    server_kw.setdefault("port", 0)
    control = BridgeControl(source, decoder, hand)
    server = WebSocketServer(ServerConfig(**server_kw), control)
    outs: list[Output] = [server, control, *(outputs or [])]
    if isinstance(hand, Output):
        outs.append(hand)
    pipeline = Pipeline(
        source,
        decoder,
        outs,
        decoder_lock=control.decoder_lock,
        status_interval_s=status_interval_s,
    )
    server.start()
    pipeline.start()
    return pipeline, server


@contextlib.contextmanager
def running_bridge(
    *,
    source: PushSource | None = None,
    decoder: Decoder | None = None,
    status_interval_s: float = 1.0,
    **server_kw: Any,
) -> Iterator[tuple[Pipeline, WebSocketServer, PushSource]]:
    """A real pipeline + websocket server on a free loopback port."""
    src = source if source is not None else PushSource()
    dec = decoder if decoder is not None else StepDecoder()
    pipeline, server = start_bridge(src, dec, status_interval_s=status_interval_s, **server_kw)
    try:
        yield pipeline, server, src
    finally:
        pipeline.close()


# ---- a contract-3 client: plain JSON over the websockets client ------------------------


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(raw, str), "protocol v1 messages are text frames"
    msg = json.loads(raw)
    assert isinstance(msg, dict)
    return msg


async def recv_type(ws: ClientConnection, mtype: str, timeout: float = 5.0) -> dict[str, Any]:
    """Skip messages until one of `mtype` arrives."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {mtype!r} message within {timeout} s")
        msg = await recv_json(ws, left)
        if msg["type"] == mtype:
            return msg


async def sync(ws: ClientConnection, ping_id: Any = "sync") -> list[dict[str, Any]]:
    """Send a ping and return every message received before its pong (in order)."""
    await ws.send(json.dumps({"type": "ping", "id": ping_id}))
    seen: list[dict[str, Any]] = []
    while True:
        msg = await recv_json(ws)
        if msg["type"] == "pong" and msg["id"] == ping_id:
            return seen
        seen.append(msg)


def ws_url(server: WebSocketServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/{query}"


def client(url: str, **kw: Any) -> Any:
    """`websockets` client connection with compression off (like a minimal client)."""
    kw.setdefault("open_timeout", 5)
    return connect(url, **kw)


@contextlib.contextmanager
def served_sync_client(
    config: ServerConfig,
) -> Iterator[tuple[WebSocketServer, SyncClientConnection]]:
    """A started server alone (no pipeline) and one sync client past its `hello`."""
    server = WebSocketServer(config)
    server.start()
    try:
        with sync_connect(f"ws://127.0.0.1:{server.port}/", open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
            yield server, ws
    finally:
        server.close()
