"""Websocket server (protocol v1, contract 3) as a pipeline Output.

The server runs its own asyncio loop in a thread. `on_sample` is called on the
pipeline thread: it encodes each message once (bytes shared by all clients), appends
it to a pending batch and wakes the loop with at most one `call_soon_threadsafe` per
batch. On the loop, each client has its own bounded queue and sender task
(`client_queue.py`), so a slow or stuck client never delays the others.

Hardening (docs/bridge.md, "Limits"): at most `max_clients` connections (more get a
canned HTTP 503, their request never parsed; while full, at the listening socket by
`accept_gate.py`, without asyncio's per-connection task and transport); a byte budget on
what each client sends (past it, its socket is not read for a while); grades delivered
in batches at most every `flush_interval_s`; a per-connection write buffer bound in
bytes and time, checked by a timer independent of the data flow (a client that floods pings and
never reads is cut off even with no decoder); a status kept small (aggregate counters,
a few worst clients) and redacted for unauthorised or browser clients; wrong tokens
throttled per peer address.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import logging
import math
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import MultipleValuesError
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from bridge.outputs.base import Output
from bridge.realtime import (
    SHORT_TIME_SLICE_S,
    name_native_thread,
    request_short_time_slice,
    set_realtime_priority,
)
from bridge.server import protocol
from bridge.server.accept_gate import AcceptGate
from bridge.server.auth import TOKEN_HEADER, AuthDecision, AuthPolicy, TokenThrottle, decide
from bridge.server.client_queue import ClientQueue, Entry, Kind, make_entry
from bridge.server.latency import LatencyStats, LatencyTracker
from bridge.server.read_slicing import DEFAULT_MAX_READ_BYTES, slice_reads
from bridge.server.receive_budget import ReceiveBudget
from bridge.server.thread_priority import lower_thread_priority, shorten_switch_interval
from bridge.server.wire_gate import WireGate
from bridge.server.write_budget import WriteBudget
from bridge.values.sample import Decoded, Sample
from bridge.values.status import (
    HandStatus,
    HelloInfo,
    LatencyReport,
    PipelineStatus,
    ServerStatus,
    SlowClient,
)

log = logging.getLogger("bridge.server")

CLOSE_GOING_AWAY = 1001
_MAX_COALESCE = 64  # messages joined into one socket write by the fast path
CLOSE_POLICY = 1008
_SLOW_CLIENTS_SHOWN = 4  # worst clients named in the full status (bounded size)
# What a redacted status keeps (whitelist: a field added later stays private by default)
_PUBLIC_STATUS_KEYS = frozenset(
    {
        "t",
        "uptime_s",
        "state",
        "rate_hz",
        "samples",
        "frames",
        "dropped",
        "bad_frames",
        "reconnects",
        "decoder",
        "decoder_ready",
        "decode_errors",
        "clients",
        "latency_ms",
        "latency_ms_total",
    }
)
_PUBLIC_HAND_KEYS = frozenset(
    {
        "state",
        "enabled",
        "since_s",
        "pose",
        "target",
        "connected",
        "link",
        "link_ok",
        "pose_known",
        "source_state",
        "decoder_ready",
        "input_age_s",
    }
)


class ServerControl(Protocol):
    """What the server may ask of the bridge (implemented by `bridge.control.BridgeControl`,
    built in the composition root and passed to the constructor)."""

    def hello_info(self) -> HelloInfo:
        """Facts for `hello`: source, sensors, rate, decoder, gestures, layout."""
        ...

    def set_gesture(self, name: str) -> str | None:
        """Manual gesture switch; returns an error detail or None on success."""
        ...

    def hand_command(self, action: str, authorized: bool, who: str = "client") -> tuple[bool, str]:
        """enable / disable / stop / release the hand; `who` goes into the hand's
        event log. Returns (ok, detail)."""
        ...

    def hand_state(self) -> HandStatus | None:
        """The hand's status, or None when no hand is attached."""
        ...


class BoundedConnection(ServerConnection):
    """A connection that aborts itself when its unsent bytes pass `max_unsent_bytes`.

    websockets answers every incoming ping with a pong written straight to the
    transport, past any flow control: a client that floods pings and never reads
    would grow this process without bound. Checking right after each read bounds
    the growth in bytes, not in time (a timer would let MBs pile up in between).

    Every read is also charged to a `ReceiveBudget`: past it, the connection stops
    reading until the budget refills, so a flood costs the loop a bounded share.
    """

    max_unsent_bytes: int = 1024 * 1024
    receive_bytes_per_s: float = 32 * 1024
    receive_burst_bytes: float = 128 * 1024
    overflowed: bool = False
    throttled: int = 0
    """How many times reading was paused for going over the receive budget."""
    on_lost: Callable[[ServerConnection], None] | None = None
    """Called once when the TCP connection is gone (frees its slot under the cap)."""
    max_read_bytes: int | None = None
    """Bytes read per loop callback (read_slicing.py); None keeps asyncio's 256 KiB."""
    gate: WireGate | None = None
    """Set by the server once the client is served: lets the sample thread write."""
    _budget: ReceiveBudget | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.max_read_bytes is not None:
            slice_reads(transport, self.max_read_bytes)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        transport = self.transport
        if not self.overflowed and transport.get_write_buffer_size() > self.max_unsent_bytes:
            self.overflowed = True
            transport.abort()
            return
        now = time.monotonic()
        if self._budget is None:
            self._budget = ReceiveBudget(self.receive_bytes_per_s, self.receive_burst_bytes, now)
        pause = self._budget.charge(len(data), now)
        if pause > 0:
            self.throttled += 1
            transport.pause_reading()
            self.loop.call_later(pause, self._resume_after_throttle)

    def _resume_after_throttle(self) -> None:
        # websockets pauses reading itself while its incoming queue is full: only
        # resume if that is not why we are paused
        if not self.transport.is_closing() and not self.recv_messages.paused:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.gate is not None:
            self.gate.close()  # before asyncio closes the socket (its fd may be reused)
        try:
            super().connection_lost(exc)
        finally:
            if self.on_lost is not None:
                self.on_lost(self)


_REFUSAL_BODY = b"too many clients (--max-clients)\n"
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n"
    b"Connection: close\r\n\r\n" + _REFUSAL_BODY
)


class _Refusal(asyncio.Protocol):
    """A connection over the cap: one canned HTTP 503, then close.

    Made instead of a websocket connection as soon as the TCP connection is accepted,
    before its request is read: no HTTP parse, no websocket state, no task. Only for
    connections asyncio accepted before the server became full: from then on the
    `AcceptGate` refuses at the listening socket, which is cheaper still.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_REFUSAL)
        transport.close()  # after the write is flushed; the request is never read


class ServerStartError(RuntimeError):
    """The server could not start listening (port busy, bad address)."""


@dataclass(slots=True)
class ServerConfig:
    """Server settings; the security ones are validated by `AuthPolicy.create`."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    allowed_origins: tuple[str, ...] = ()
    queue_size: int = 512
    """Messages queued per client before dropping (kmg first, then old grades)."""
    hopeless_after_s: float = 5.0
    """A client whose queue stays full this long is disconnected (close 1008)."""
    max_message_bytes: int = 64 * 1024
    send_buffer_bytes: int | None = 64 * 1024
    """Kernel send buffer per connection (SO_SNDBUF). Linux autotunes it up to MBs on
    loopback, which would hide a stuck client for minutes behind stale data; capping
    it makes a stall reach our queue (and its drop policy) within a fraction of a
    second. None keeps the system default."""
    close_timeout_s: float = 2.0
    direct_write: bool = True
    """Write straight to an idle client's socket from the loop callback that received
    the batch, instead of waking its sender task (about 3x less CPU per message).
    The sender task still takes over whenever a client's socket buffer is full."""
    sample_thread_writes: bool = True
    """Write each grade to idle clients' sockets from the sample thread itself
    (`wire_gate.py`), without waking the loop; off under batching pressure, and per
    client whenever it has anything queued. False: every grade goes through the loop."""
    thread_write_budget_s: float = 0.002
    """`thread_write_slow_samples` samples in a row whose writes from the sample thread
    took longer than this turn those writes off for `thread_write_backoff_s`: the loop
    writes meanwhile. Every socket write gives up the interpreter lock, and while the
    loop is busy (a storm of connections) taking it back can wait a switch interval per
    client: a convoy that held grades for 114 ms in `bench/abuse.py
    --external-device`. Unloaded, 10 clients take 0.1-0.3 ms."""
    thread_write_slow_samples: int = 3
    """In a row, not just close together: a busy loop slows every write, while the
    machine stalling (a preempted or stolen vCPU) slows one sample now and then. With
    "two within 0.25 s", such stalls 13-30 ms apart sent 7% of an ordinary 1000 Hz run
    through the loop, where 22% of those grades took over 1 ms."""
    thread_write_backoff_s: float = 0.25
    """Short: a stall of the machine mid-write should not cost seconds of the slower
    path; a lasting storm costs a few over-budget samples per backoff."""
    ping_interval_s: float | None = 20.0
    max_clients: int = 16
    """Connections served at once; more get a canned HTTP 503 at accept."""
    max_buffer_bytes: int = 1024 * 1024
    """A connection whose unsent bytes (our messages plus websockets' automatic pong
    replies) exceed this is aborted at once."""
    buffer_check_s: float = 0.25
    """How often the byte/time bounds are checked (a timer: works with no data flowing)."""
    token_max_failures: int = 5
    token_lockout_s: float = 2.0
    realtime_priority: int | None = None
    """SCHED_FIFO priority for the server's loop thread (see `--realtime`)."""
    receive_bytes_per_s: float = 32 * 1024
    """What a client may send us on average (bytes/s; pings count). Past its budget a
    client's socket is not read until the budget refills: its own messages wait,
    nobody else's do. Protocol messages are tens of bytes: this is 1000s a second."""
    receive_burst_bytes: float = 128 * 1024
    """Bytes a client may send at once before the average applies (above the largest
    message, `max_message_bytes`)."""
    max_read_bytes: int | None = DEFAULT_MAX_READ_BYTES
    """Bytes read from a client's socket per loop callback (read_slicing.py): a flooder's
    burst is parsed a slice per loop iteration, with grade deliveries in between,
    instead of 256 KiB (some 2000 pings and pongs) at once. None: asyncio's default."""
    nice: int = 0
    """Added to the loop thread's nice value (Linux, when not `realtime_priority`), so
    the sample and hand threads run first on a busy machine."""
    time_slice_s: float | None = SHORT_TIME_SLICE_S
    """The loop thread's scheduler slice (`bridge.realtime.request_short_time_slice`):
    short slices let a woken loop preempt a busy process at once. None: the OS default."""
    switch_interval_s: float | None = 0.0005
    """Shortens the interpreter's lock switch interval (process-wide; Python's default
    is 5 ms; None keeps it): how long one busy thread can keep the loop, or the sample
    thread, waiting for the lock. With `track:` at 1000 Hz x 10 clients, 7 of 7
    interleaved pairs had the lower bridge-added p99 at 0.5 ms (docs/benchmarks.md)."""
    flush_interval_s: float = 0.004
    """Minimum time between two deliveries of the grade stream while the loop is under
    pressure (see `batch_when_late_s`). The first sample after a quiet spell goes out at
    once; at 1000 Hz about 4 samples go out together, in one socket write per client:
    4x fewer writes and cross-thread wake-ups, which keeps the loop (and the GIL it
    shares with decoding) free under abuse. Adds at most this much latency (4 ms: a
    tenth of the game's 42.7 Hz sample period, well inside the 50 ms p99 target), and
    only while under pressure. 0 delivers every sample on its own. A sample queued at any
    point of a delivery gets a delivery of its own (tests/test_ws_batching_lockstep.py):
    the lock-step chain's lost grade that once had this off by default was a frame lost
    before the bridge opened its serial port, not the batching."""
    batch_when_late_s: float = 0.010
    """Pressure: a second wake-up within `batch_hold_s` that the loop ran this much
    later than the sample asked for it (the loop was busy: floods, a refusal storm, many
    clients), or a full server (`max_clients` connections), turns batching on for
    `batch_hold_s`. A lone late wake-up is the process descheduled on a busy machine,
    not a busy loop: batching for a second after it would only add latency. With headroom
    every grade goes out at once, so batching costs no latency on a healthy bridge
    (docs/benchmarks.md: 1 ms target at 1000 Hz). 0 batches always."""
    batch_hold_s: float = 1.0
    """How long batching stays on after the last late wake-up."""


@dataclass(eq=False, slots=True)
class _Client:
    id: int
    ws: ServerConnection
    queue: ClientQueue
    authorized: bool
    peer: str
    origin: str | None = None
    kmg: bool = False
    unwritable_since: float | None = None
    closing: bool = False
    sending: bool = False  # the sender task is mid-send (maybe waiting for drain)
    sender: asyncio.Task[None] | None = field(default=None)
    gate: WireGate | None = None  # sample-thread writes (None: loop only)

    @property
    def full_status(self) -> bool:
        """Authorised and not a browser: may see addresses and URLs in `status`."""
        return self.authorized and self.origin is None

    @property
    def who(self) -> str:
        """How the hand's event log names this client."""
        origin = f" origin {self.origin}" if self.origin else ""
        return f"client {self.id} ({self.peer}{origin})"


class WebSocketServer(Output):
    """Serves the grade stream to websocket clients; see docs/bridge.md."""

    name = "websocket"

    def __init__(self, config: ServerConfig, control: ServerControl | None = None) -> None:
        """`control` answers `hello`, gesture and hand requests; without one the server
        still streams, says so to gesture/hand requests and sends a minimal `hello`."""
        self.config = config
        self.policy = AuthPolicy.create(config.host, config.token, list(config.allowed_origins))
        if config.max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        if config.receive_bytes_per_s <= 0 or config.receive_burst_bytes <= 0:
            raise ValueError("receive_bytes_per_s and receive_burst_bytes must be positive")
        if config.max_read_bytes is not None and config.max_read_bytes < 1:
            raise ValueError("max_read_bytes must be at least 1 (or None)")
        if not 0 <= config.flush_interval_s <= 0.1:
            raise ValueError("flush_interval_s must be within 0..0.1 s")
        if not (0 <= config.batch_when_late_s <= 1.0 and 0 <= config.batch_hold_s <= 60.0):
            raise ValueError("batch_when_late_s must be within 0..1 s, batch_hold_s 0..60 s")
        self.throttle = TokenThrottle(config.token_max_failures, config.token_lockout_s)
        self._control = control
        self.latency = LatencyTracker()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._stop: asyncio.Event | None = None
        self._port: int | None = None
        self._clients: set[_Client] = set()
        # weak: a handshake that fails after process_request never reaches the handler
        self._decisions: weakref.WeakKeyDictionary[ServerConnection, AuthDecision] = (
            weakref.WeakKeyDictionary()
        )
        self._origins: weakref.WeakKeyDictionary[ServerConnection, str | None] = (
            weakref.WeakKeyDictionary()
        )
        self._ids = itertools.count(1)
        # TCP connections holding a slot under max_clients: from accept (before the
        # HTTP request is read) until the connection is lost
        self._admitted: set[ServerConnection] = set()
        self._kmg_subscribers = 0
        # pipeline thread -> loop hand-off
        self._pending: list[tuple[float, bytes | None, bytes | None]] = []
        self._pending_lock = threading.Lock()
        self._wake_scheduled = False
        self._delivering = False  # the loop is writing a swapped-out batch
        # os.write on a socket's descriptor is POSIX: elsewhere every grade takes the loop
        self._thread_writes = (
            config.sample_thread_writes and config.direct_write and os.name == "posix"
        )
        self._wake_asked = 0.0  # when the pending wake-up was asked for (monotonic)
        self.write_budget = WriteBudget(
            config.thread_write_budget_s,
            config.thread_write_slow_samples,
            config.thread_write_backoff_s,
        )
        self._batch_until = 0.0  # batching is on until then (pressure seen)
        self._last_late = -math.inf  # the last wake-up that ran batch_when_late_s late
        self.batch_spells = 0  # how often pressure turned batching on
        self._last_flush = 0.0
        self._running = False
        self.clients_dropped_slow = 0
        self.clients_dropped_buffer = 0
        self.connections_total = 0
        self.rejected = 0
        self.refused_full = 0
        self._gate: AcceptGate | None = None
        self._refused_at_close = 0  # refused_full when the gate last closed

    # ---- lifecycle ----------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start the loop thread and listen; returns once bound or raises ServerStartError."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        if self.config.switch_interval_s is not None:
            shorten_switch_interval(self.config.switch_interval_s)
        loop = asyncio.new_event_loop()
        self._loop = loop
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            name_native_thread("bridge-ws")
            problem = set_realtime_priority(self.config.realtime_priority)
            if problem:
                log.warning("server thread: %s; running with normal priority", problem)
            if self.config.realtime_priority is None:
                problem = lower_thread_priority(self.config.nice)
                if problem:
                    log.warning("server thread: %s", problem)
                problem = request_short_time_slice(self.config.time_slice_s)
                if problem:
                    log.info("server thread: %s", problem)
            try:
                loop.run_until_complete(self._main(started, failure))
            except BaseException as exc:  # surfaced to start() or logged
                if not started.is_set():
                    failure.append(exc)
                else:
                    log.exception("websocket server loop crashed")
            finally:
                self._running = False
                started.set()
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="bridge-ws-server", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise ServerStartError("the websocket server did not start in time")
        if failure:
            exc = failure[0]
            self._thread.join(timeout)
            raise ServerStartError(
                f"cannot listen on {self.config.host}:{self.config.port}: {exc}"
            ) from exc

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"ws://{host}:{self.port}"

    def close(self) -> None:
        """Close every client with 1001 (going away), stop listening, stop the loop."""
        loop, thread, stop = self._loop, self._thread, self._stop
        self._running = False
        if loop is None or thread is None:
            return
        if stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stop.set)
        thread.join(self.config.close_timeout_s + 3.0)

    async def _main(self, started: threading.Event, failure: list[BaseException]) -> None:
        self._stop = asyncio.Event()

        class Connection(BoundedConnection):
            max_unsent_bytes = self.config.max_buffer_bytes
            on_lost = self._release_slot
            receive_bytes_per_s = self.config.receive_bytes_per_s
            receive_burst_bytes = self.config.receive_burst_bytes
            max_read_bytes = self.config.max_read_bytes

        def create_connection(*args: Any, **kwargs: Any) -> ServerConnection | _Refusal:
            # Decided here, at accept time, not in process_request: the slot count
            # includes connections still sending their HTTP request.
            if len(self._admitted) >= self.config.max_clients:
                self.refused_full += 1
                log.warning(
                    "refused a connection: %d clients connected (--max-clients)",
                    self.config.max_clients,
                )
                return _Refusal()
            conn = Connection(*args, **kwargs)
            self._admitted.add(conn)
            if len(self._admitted) >= self.config.max_clients:
                self._close_gate()
            return conn

        try:
            server = await serve(
                self._handler,
                self.config.host,
                self.config.port,
                process_request=self._process_request,
                # permessage-deflate costs CPU per client per message and saves
                # little on ~150-byte JSON; latency matters more here.
                compression=None,
                max_size=self.config.max_message_bytes,
                close_timeout=self.config.close_timeout_s,
                ping_interval=self.config.ping_interval_s,
                ping_timeout=self.config.ping_interval_s,
                logger=logging.getLogger("bridge.server.websockets"),
                # a factory: over the cap it makes a _Refusal (see there)
                create_connection=cast(type[ServerConnection], create_connection),
            )
        except OSError as exc:
            failure.append(exc)
            started.set()
            return
        self._server = server
        sockets = list(server.sockets)
        self._gate = AcceptGate(
            asyncio.get_running_loop(),
            [s.fileno() for s in sockets],
            _REFUSAL,
            self._count_refused,
        )
        self._port = int(sockets[0].getsockname()[1]) if sockets else self.config.port
        self._running = True
        started.set()
        watchdog = asyncio.get_running_loop().create_task(self._watch_buffers())
        await self._stop.wait()
        watchdog.cancel()
        self._running = False
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.shutdown()  # asyncio stops serving what it registered
        server.close(close_connections=True)  # closes each connection with 1001
        try:
            async with asyncio.timeout(self.config.close_timeout_s + 1.0):
                await server.wait_closed()
        except TimeoutError:
            for client in list(self._clients):
                client.ws.transport.abort()

    # ---- pipeline side (pipeline thread) ---------------------------------------------

    def on_sample(self, sample: Sample, decoded: Decoded | None) -> None:
        """Encode once, queue for the loop; never blocks on clients."""
        if not self._running or not self._clients:
            return
        grade = protocol.grade(decoded, sample) if decoded is not None else None
        kmg = protocol.kmg(sample) if self._kmg_subscribers else None
        if grade is None and kmg is None:
            return
        if self._thread_writes and self._write_from_here(sample.t_host, grade, kmg):
            return
        with self._pending_lock:
            self._pending.append((sample.t_host, grade, kmg))
            if self._wake_scheduled:
                return
            self._wake_scheduled = True
            self._wake_asked = time.monotonic()
        self._call_soon(self._flush)

    def _write_from_here(self, t_host: float, grade: bytes | None, kmg: bytes | None) -> bool:
        """Write one sample's messages to every idle client from the sample thread.

        False (nothing done) under batching pressure, during a backoff (see
        `thread_write_budget_s`) or while the loop still holds earlier samples: they go
        first, through the loop. A client that is not idle (queue, sender busy, bytes
        buffered) gets this sample through the loop, in order (its gate counts it as
        diverted until the loop has queued it).
        """
        cfg = self.config
        start = time.monotonic()
        if (
            cfg.batch_when_late_s == 0  # batching always
            or len(self._admitted) >= cfg.max_clients  # a full server is pressure
            or start < self._batch_until
            or not self.write_budget.allows(start)
        ):
            return False
        with self._pending_lock:
            if self._pending or self._delivering:
                return False
            grades, everything = _entries(((t_host, grade, kmg),))
            wire_grades = grades[0].frame if grades else b""
            wire_all = b"".join([e.frame for e in everything])
            record, call_soon = self.latency.record, self._call_soon
            for c in list(self._clients):
                entries = everything if c.kmg else grades
                if not entries:
                    continue
                gate = c.gate
                left = (
                    None
                    if gate is None or c.sending or c.closing or len(c.queue)
                    else gate.try_write(wire_all if c.kmg else wire_grades)
                )
                if left is None:
                    if gate is not None:
                        gate.divert()
                    call_soon(self._deliver_to, c, entries)
                    continue
                if left:
                    call_soon(gate.flush_leftover)  # type: ignore[union-attr]
                if grades:
                    record(time.monotonic() - t_host)
        self.write_budget.observe(start, time.monotonic())
        return True

    def on_status(self, status: PipelineStatus) -> None:
        """Broadcast `status`: full to authorised native clients, redacted to the others.

        Encoding happens on the loop, not here: this runs under the pipeline's outputs
        lock, which the sample thread needs for every sample.
        """
        if not self._running:
            return
        self._call_soon(self._broadcast_status, status)

    def status(self) -> ServerStatus:
        """The server's part of the status: aggregate client counters and latency.
        Size does not grow with the number of clients (a few worst clients at most),
        so the broadcast stays linear in clients."""
        clients = list(self._clients)
        dropping = [c for c in clients if c.queue.dropped_total]
        dropping.sort(key=lambda c: c.queue.dropped_total, reverse=True)
        return ServerStatus(
            clients=len(clients),
            clients_kmg=sum(1 for c in clients if c.kmg),
            max_clients=self.config.max_clients,
            clients_refused_full=self.refused_full,
            clients_rejected=self.rejected,
            clients_dropping=len(dropping),
            dropped_kmg_total=sum(c.queue.dropped[Kind.KMG] for c in clients),
            dropped_grade_total=sum(c.queue.dropped[Kind.GRADE] for c in clients),
            slow_clients=tuple(
                SlowClient(
                    id=c.id,
                    peer=c.peer,
                    kmg=c.kmg,
                    queued=len(c.queue),
                    dropped=c.queue.dropped_total,
                    dropped_kmg=c.queue.dropped[Kind.KMG],
                    dropped_grade=c.queue.dropped[Kind.GRADE],
                )
                for c in dropping[:_SLOW_CLIENTS_SHOWN]
            ),
            clients_dropped_slow=self.clients_dropped_slow,
            clients_dropped_buffer=self.clients_dropped_buffer,
            token_lockouts=self.throttle.refused,
            batching=time.monotonic() < self._batch_until,
            batching_spells=self.batch_spells,
            latency=_latency_report(self.latency.snapshot()),
            latency_total=_latency_report(self.latency.total()),
        )

    def _call_soon(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed during shutdown
            self._running = False

    # ---- loop side ------------------------------------------------------------------

    def _flush(self) -> None:
        # `_wake_scheduled` stays set while we wait: the pipeline thread does not wake
        # the loop again for samples this delivery will carry anyway.
        now = time.monotonic()
        wait = self._last_flush + self._interval(now) - now
        if wait > 0 and self._loop is not None:
            self._loop.call_later(wait, self._deliver)
            return
        self._deliver()

    def _interval(self, now: float) -> float:
        """The batching interval to keep now: `flush_interval_s` under pressure, else 0."""
        cfg = self.config
        pressure = False
        if now - self._wake_asked >= cfg.batch_when_late_s:
            # One late wake-up alone is most often the whole process descheduled on a
            # busy machine, which batching cannot help: it would only add latency for
            # the next batch_hold_s. A busy loop is late again within that time.
            pressure = cfg.batch_when_late_s == 0 or now - self._last_late <= cfg.batch_hold_s
            self._last_late = now
        # a full server is under load by definition: every slot taken, refusals queued
        if pressure or len(self._admitted) >= cfg.max_clients:
            if now >= self._batch_until:
                self.batch_spells += 1
            self._batch_until = now + cfg.batch_hold_s
        return cfg.flush_interval_s if now < self._batch_until else 0.0

    def _deliver_to(self, client: _Client, entries: list[Entry]) -> None:
        """One sample for one client that was not idle when the sample thread wrote."""
        try:
            if client in self._clients:
                now = time.monotonic()
                for e in entries:
                    client.queue.put_entry(e, now, False)
                self._pump(client)
                self._check_hopeless(now)
        finally:
            if client.gate is not None:
                client.gate.undivert()

    def _deliver(self) -> None:
        self._last_flush = time.monotonic()
        # Swap and clear in one step under the lock: a sample queued before it is in
        # `batch`, one queued after it schedules a delivery of its own. None is left
        # pending without a wake-up, which a lock-step client would wait for forever.
        with self._pending_lock:
            batch, self._pending = self._pending, []
            self._wake_scheduled = False
            self._delivering = True
        try:
            self._deliver_batch(batch)
        finally:
            with self._pending_lock:
                self._delivering = False

    def _deliver_batch(self, batch: list[tuple[float, bytes | None, bytes | None]]) -> None:
        clients = self._clients
        if not clients:
            return
        now = time.monotonic()
        grades, everything = _entries(batch)
        # The batch's frames joined once: an idle client gets them in one write,
        # without passing through its queue (the common case on a healthy bridge).
        small = len(everything) <= _MAX_COALESCE
        wire_grades = b"".join([e.frame for e in grades]) if small else b""
        wire_all = (
            b"".join([e.frame for e in everything])
            if small and self._kmg_subscribers
            else wire_grades
        )
        for c in clients:
            entries = everything if c.kmg else grades
            if (
                small
                and not len(c.queue)
                and self._write_through(c, wire_all if c.kmg else wire_grades, entries)
            ):
                continue
            put = c.queue.put_entry
            for e in entries:
                put(e, now, False)  # _pump wakes the sender only for what it leaves
            self._pump(c)
        self._check_hopeless(now)

    def _write_through(self, client: _Client, wire: bytes, entries: list[Entry]) -> bool:
        """Write a batch to an idle client with an empty queue, bypassing the queue.

        False when the fast path may not write (sender busy, flow control, closing):
        then the caller queues the entries. Same conditions and latency record as
        `_write_direct`, whose queue would only have taken these entries and given
        them straight back.
        """
        if client.sending or client.closing or not self.config.direct_write:
            return False
        ws = client.ws
        transport = ws.transport
        if (
            ws.protocol.state is not State.OPEN
            or transport.is_closing()
            or transport.get_write_buffer_size() > ws.write_limit_high
        ):
            return False
        if not wire:
            return True
        now = time.monotonic()
        record, grade = self.latency.record, Kind.GRADE
        try:
            transport.write(wire)
        except Exception as exc:  # state changed under us: let the sender task see it
            log.debug("direct write to client %d failed: %r", client.id, exc)
            client.queue.ready.set()
            return True
        for e in entries:
            if e.kind is grade:
                record(now - e.t_host)
        return True

    def _broadcast_status(self, st: PipelineStatus) -> None:
        now = time.monotonic()
        status = protocol.status_fields(st)
        full: Entry | None = None
        public: Entry | None = None
        for c in self._clients:
            if c.full_status:
                if full is None:
                    full = make_entry(Kind.CONTROL, protocol.status(status), 0.0)
                c.queue.put_entry(full, now, False)
            else:
                if public is None:
                    public = make_entry(Kind.CONTROL, protocol.status(redact_status(status)), 0.0)
                c.queue.put_entry(public, now, False)
            self._pump(c)
        self._check_hopeless(now)

    async def _watch_buffers(self) -> None:
        """Bound every connection's unsent bytes in size and time, on a timer.

        websockets answers each ping with a pong written straight to the transport,
        bypassing our queue: a client that floods pings and never reads grows the
        write buffer without ever filling the queue (with `--decoder none` there is
        no queue traffic at all). So the bound is on the transport's buffer itself.
        """
        interval = self.config.buffer_check_s
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for c in list(self._clients):
                self._check_buffer(c, now)
            self._check_hopeless(now)

    def _check_buffer(self, c: _Client, now: float) -> None:
        if c.closing:
            return
        transport = c.ws.transport
        size = transport.get_write_buffer_size()
        if size > self.config.max_buffer_bytes:
            c.closing = True
            self.clients_dropped_buffer += 1
            log.warning(
                "client %d (%s) not reading: %d unsent bytes > %d, aborting the connection",
                c.id,
                c.peer,
                size,
                self.config.max_buffer_bytes,
            )
            transport.abort()  # a close frame would only queue behind the backlog
            return
        if size <= c.ws.write_limit_high:
            c.unwritable_since = None
        elif c.unwritable_since is None:
            c.unwritable_since = now
        elif now - c.unwritable_since > self.config.hopeless_after_s:
            c.closing = True
            self.clients_dropped_slow += 1
            log.warning(
                "client %d (%s) too slow: not reading for %.1f s, disconnecting",
                c.id,
                c.peer,
                self.config.hopeless_after_s,
            )
            asyncio.get_running_loop().create_task(
                self._disconnect(c, CLOSE_POLICY, "client too slow: not reading")
            )

    def _pump(self, client: _Client) -> None:
        """Fast path: write queued messages to the socket right here, on the loop.

        Only while the sender task is idle (ordering) and the connection's write
        buffer is below its high-water mark (flow control); otherwise the sender task,
        woken by the queue's `ready` event, does the awaiting. Each entry carries its
        websocket frame, built once for all clients (server frames are unmasked and we
        neither fragment nor compress), so a client costs one join and one
        `transport.write` per batch, whatever the number of messages.
        """
        if not (client.sending or client.closing) and self.config.direct_write:
            self._write_direct(client)
        queue = client.queue
        if len(queue):
            # what the fast path left (or may not write): the sender task's job. Only
            # then is it woken: an idle one woken per delivery costs a task switch.
            queue.ready.set()

    def _write_direct(self, client: _Client) -> None:
        """Write the queue to the socket while its buffer is below the high-water mark."""
        ws = client.ws
        transport = ws.transport
        proto = ws.protocol
        if proto.state is not State.OPEN or transport.is_closing():
            return
        queue, record = client.queue, self.latency.record
        grade = Kind.GRADE
        try:
            while transport.get_write_buffer_size() <= ws.write_limit_high:
                frames: list[bytes] = []
                now = time.monotonic()
                while len(frames) < _MAX_COALESCE and (entry := queue.pop()) is not None:
                    if entry.kind is grade:
                        record(now - entry.t_host)
                    frames.append(entry.frame)
                if not frames:
                    return
                transport.write(b"".join(frames))
        except Exception as exc:  # state changed under us: let the sender task see it
            log.debug("direct write to client %d failed: %r", client.id, exc)
            client.queue.ready.set()

    def _check_hopeless(self, now: float) -> None:
        for c in self._clients:
            if not c.closing and c.queue.hopeless(now):
                c.closing = True
                self.clients_dropped_slow += 1
                log.warning(
                    "client %d (%s) too slow: send queue full for %.1f s, disconnecting",
                    c.id,
                    c.peer,
                    self.config.hopeless_after_s,
                )
                asyncio.get_running_loop().create_task(
                    self._disconnect(c, CLOSE_POLICY, "client too slow: send queue stayed full")
                )

    async def _disconnect(self, client: _Client, code: int, reason: str) -> None:
        # A stuck client will not complete the closing handshake: give it a moment,
        # then abort the TCP connection.
        try:
            async with asyncio.timeout(self.config.close_timeout_s):
                await client.ws.close(code, reason)
        except (TimeoutError, ConnectionClosed, OSError):
            pass
        client.ws.transport.abort()

    def _release_slot(self, connection: ServerConnection) -> None:
        self._admitted.discard(connection)
        gate = self._gate
        if gate is not None and gate.closed and len(self._admitted) < self.config.max_clients:
            gate.open()
            refused = self.refused_full - self._refused_at_close
            if refused:
                log.warning("a client slot is free again (%d refused while full)", refused)

    def _close_gate(self) -> None:
        """Full: refuse further connections at the listening socket (accept_gate.py),
        which costs the loop a few syscalls each instead of a task and a transport."""
        gate = self._gate
        if gate is None or gate.closed or not gate.close():
            return
        self._refused_at_close = self.refused_full
        log.info(
            "%d clients connected (--max-clients): new connections get HTTP 503",
            self.config.max_clients,
        )

    def _count_refused(self) -> None:
        self.refused_full += 1

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        # (the connection cap is enforced earlier, at accept: see create_connection)
        try:
            origin = request.headers.get("Origin")
            authorization = request.headers.get("Authorization")
            token_header = request.headers.get(TOKEN_HEADER)
        except MultipleValuesError:
            self.rejected += 1
            return connection.respond(
                http.HTTPStatus.BAD_REQUEST, "duplicate Origin or token header\n"
            )
        ip = _peer_ip(connection)
        if self.policy.token is not None:
            wait = self.throttle.locked(ip)
            if wait > 0:
                self.rejected += 1
                log.warning("refused %s: locked out after wrong tokens (%.0f s left)", ip, wait)
                response = connection.respond(
                    http.HTTPStatus.TOO_MANY_REQUESTS, "too many wrong tokens; try later\n"
                )
                response.headers["Retry-After"] = str(max(1, round(wait)))
                return response
        self._limit_send_buffer(connection)
        decision = decide(self.policy, request.path, origin, authorization, token_header)
        if not decision.accept:
            self.rejected += 1
            if decision.status == 401:
                self.throttle.failed(ip)
            log.info("refused %s: %s", _peer(connection), decision.reason)
            return connection.respond(http.HTTPStatus(decision.status), decision.reason + "\n")
        if self.policy.token is not None:
            self.throttle.succeeded(ip)
        self._decisions[connection] = decision
        self._origins[connection] = origin
        return None

    def _limit_send_buffer(self, connection: ServerConnection) -> None:
        size = self.config.send_buffer_bytes
        sock = connection.transport.get_extra_info("socket")
        if size is None or sock is None:
            return
        # not fatal if refused: only the stall detection gets slower
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)

    async def _handler(self, ws: ServerConnection) -> None:
        decision = self._decisions.pop(ws, None)
        if decision is None:  # should not happen: process_request always runs first
            await ws.close(CLOSE_POLICY, "not authorised")
            return
        cfg = self.config
        client = _Client(
            id=next(self._ids),
            ws=ws,
            queue=ClientQueue(cfg.queue_size, cfg.hopeless_after_s),
            authorized=decision.authorized,
            peer=_peer(ws),
            origin=self._origins.pop(ws, None),
        )
        self.connections_total += 1
        client.queue.put(Kind.CONTROL, self._hello(client), 0.0, time.monotonic())
        if self._thread_writes and isinstance(ws, BoundedConnection):
            client.gate = ws.gate = WireGate(cast(asyncio.WriteTransport, ws.transport))
        self._clients.add(client)
        client.sender = asyncio.get_running_loop().create_task(self._sender(client))
        self._pump(client)
        log.info(
            "client %d connected from %s%s",
            client.id,
            client.peer,
            f" (origin {client.origin})" if client.origin else "",
        )
        try:
            async for message in ws:
                await self._on_message(client, message)
        except ConnectionClosed:
            pass
        finally:
            if isinstance(ws, BoundedConnection) and ws.overflowed:
                self.clients_dropped_buffer += 1
                log.warning(
                    "client %d (%s) not reading: over %d unsent bytes, connection aborted",
                    client.id,
                    client.peer,
                    self.config.max_buffer_bytes,
                )
            self._clients.discard(client)
            self._recount_kmg()
            cancel = getattr(self._control, "redon_cancel", None)
            if cancel is not None:
                cancel(client.id)  # nobody is watching the prompts any more
            client.sender.cancel()
            log.info("client %d disconnected (%s)", client.id, ws.close_code)

    def _hello(self, client: _Client) -> bytes:
        info = self._control.hello_info() if self._control is not None else HelloInfo()
        positions = info.positions_mm
        return protocol.hello(
            source=info.source if client.full_status else public_source(info.source),
            n_sensors=info.n_sensors,
            rate_hz=info.rate_hz,
            decoder=info.decoder,
            gestures=list(info.gestures),
            hand_authorized=client.authorized,
            layout=info.layout,
            positions_mm=None if positions is None else [list(p) for p in positions],
        )

    async def _sender(self, client: _Client) -> None:
        """Slow path: sends with flow control (awaits drain) when the fast path can't."""
        queue, ws = client.queue, client.ws
        record = self.latency.record
        monotonic = time.monotonic
        grade = Kind.GRADE
        try:
            while True:
                await queue.ready.wait()
                client.sending = True
                try:
                    while (entry := queue.pop()) is not None:
                        if entry.kind is grade:
                            # bridge-added latency: sample decoded -> handed to this socket
                            record(monotonic() - entry.t_host)
                        await ws.send(entry.data, text=True)
                finally:
                    client.sending = False
        except ConnectionClosed:
            pass

    def _reply(self, client: _Client, data: bytes) -> None:
        client.queue.put(Kind.CONTROL, data, 0.0, time.monotonic())
        self._pump(client)

    async def _on_message(self, client: _Client, message: str | bytes) -> None:
        try:
            msg = protocol.parse_client_message(message)
            if msg.type == "subscribe":
                client.kmg = msg.kmg
                self._recount_kmg()
            elif msg.type == "ping":
                self._reply(client, protocol.pong(msg.ping_id, time.monotonic()))
            elif msg.type == "gesture":
                await self._gesture(client, msg.name)
            elif msg.type == "hand":
                await self._hand(client, msg.action)
            elif msg.type == "redon":
                await self._redon(client, msg.action)
        except protocol.ProtocolError as exc:
            self._reply(client, protocol.error(exc.code, exc.detail, exc.ref))
        except Exception as exc:  # a bug must not drop the connection
            # (the log throttle keeps a repeated failure to a few lines, see log_throttle)
            log.exception("error handling a message from client %d", client.id)
            self._reply(
                client, protocol.error(protocol.E_INTERNAL, f"server error: {type(exc).__name__}")
            )

    async def _gesture(self, client: _Client, name: str) -> None:
        control = self._control
        if control is None:
            self._reply(client, protocol.error(protocol.E_GESTURE, "no decoder", "gesture"))
            return
        if not client.authorized:
            # Switching the gesture changes what an enabled hand does: same rule as
            # `enable`. Any state but disabled/estop counts (holding, opening ...).
            hand = await asyncio.to_thread(control.hand_state)
            if hand is not None and hand.moves_hand:
                self._reply(
                    client,
                    protocol.error(
                        protocol.E_GESTURE,
                        "this connection is not authorised to switch the gesture while the "
                        "hand is enabled",
                        "gesture",
                    ),
                )
                return
        # The pipeline serialises this with decoding; don't stall the loop meanwhile.
        problem = await asyncio.to_thread(control.set_gesture, name)
        if problem:
            self._reply(client, protocol.error(protocol.E_GESTURE, problem, "gesture"))

    async def _hand(self, client: _Client, action: str) -> None:
        control = self._control
        if control is None:
            ok, detail, state = False, "no hand attached (start the bridge with --hand URL)", None
        else:
            ok, detail = await asyncio.to_thread(
                control.hand_command, action, client.authorized, client.who
            )
            # the hand's lock may be held by its thread mid-write: not on the loop either
            state = await asyncio.to_thread(control.hand_state)
        if ok:
            self._reply(client, protocol.hand_reply(action, True, detail, state))
        else:
            self._reply(client, protocol.error(protocol.E_HAND, detail, "hand"))

    async def _redon(self, client: _Client, action: str) -> None:
        """Re-don check start/cancel (docs/redon.md): its messages go to this client only."""
        start = getattr(self._control, "redon_start", None)
        cancel = getattr(self._control, "redon_cancel", None)
        if start is None or cancel is None:
            self._reply(client, protocol.error(protocol.E_REDON, "no decoder", "redon"))
            return
        if action == "start":
            loop = asyncio.get_running_loop()

            def send(message: dict[str, Any]) -> None:  # from the check's worker thread
                data = protocol.redon(message)
                with contextlib.suppress(RuntimeError):  # the loop closed: server stopped
                    loop.call_soon_threadsafe(self._reply_connected, client, data)

            problem = await asyncio.to_thread(start, client.id, client.authorized, send)
        else:
            problem = await asyncio.to_thread(cancel, client.id)
        if problem:
            self._reply(client, protocol.error(protocol.E_REDON, problem, "redon"))

    def _reply_connected(self, client: _Client, data: bytes) -> None:
        if client in self._clients:
            self._reply(client, data)

    def _recount_kmg(self) -> None:
        self._kmg_subscribers = sum(1 for c in self._clients if c.kmg)


def _entries(
    samples: Iterable[tuple[float, bytes | None, bytes | None]],
) -> tuple[list[Entry], list[Entry]]:
    """The queue entries of samples' (t_host, grade, kmg) messages: the grades, and
    everything for kmg subscribers (each sample's grade and kmg together, in order).
    One entry per message, shared by every client's queue."""
    grades: list[Entry] = []
    everything: list[Entry] = []
    for t_host, grade, kmg in samples:
        if grade is not None:
            e = make_entry(Kind.GRADE, grade, t_host)
            grades.append(e)
            everything.append(e)
        if kmg is not None:
            everything.append(make_entry(Kind.KMG, kmg, t_host))
    return grades, everything


def _latency_report(stats: LatencyStats) -> LatencyReport:
    return LatencyReport(n=stats.n, p50=stats.p50, p99=stats.p99, max=stats.max, hist=stats.hist)


def redact_status(status: dict[str, Any]) -> dict[str, Any]:
    """The status an unauthorised or browser client sees: no client addresses, no
    source or hand URL, no free-text reasons that may name them (whitelisted keys)."""
    public = {k: v for k, v in status.items() if k in _PUBLIC_STATUS_KEYS}
    public["source"] = public_source(str(status.get("source", "")))
    hand = status.get("hand")
    if isinstance(hand, dict):
        public["hand"] = {k: v for k, v in hand.items() if k in _PUBLIC_HAND_KEYS}
    else:
        public["hand"] = None
    return public


def public_source(url: str) -> str:
    """The kind of source without its address: `serial:/dev/ttyACM0` -> `serial`."""
    scheme, sep, _ = url.partition(":")
    return scheme if sep else ""


def _peer_ip(connection: ServerConnection) -> str:
    try:
        return str(connection.remote_address[0])
    except Exception:
        return "?"


def _peer(connection: ServerConnection) -> str:
    try:
        addr = connection.remote_address
        return f"{addr[0]}:{addr[1]}"
    except Exception:
        return "?"
