"""Websocket client (protocol v1) on its own thread and asyncio loop.

It never touches bpy: everything it receives goes into a `Mailbox`, which the
main-thread timer drains. It reconnects with backoff and measures message rate
and round-trip latency with `ping`.

Names are translated here, at the edge: a `grade` message's wire field `level` (the
0..1 closure behind the grade, contract 3) reaches the rest of the add-on as `closure`,
because inside the add-on `level` means the game's difficulty. The optional `grades`
object (one entry per tag, from decoders that see several tags at once) is validated
here too and reaches the main thread as `TagGrade`s, or not at all when malformed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from ..protocol_v1 import (
    FIELD_CLOSURE,
    MSG_ERROR,
    MSG_GRADE,
    MSG_HAND_REPLY,
    MSG_HELLO,
    MSG_KMG,
    MSG_PING,
    MSG_PONG,
    MSG_REDON,
    MSG_STATUS,
    MSG_SUBSCRIBE,
    N_GRADES,
    PROTOCOL_VERSION,
)
from .mailbox import Mailbox
from .redon_state import redon_from_wire

CLOSURE = "closure"
"""The add-on's name for a grade's 0..1 closure (the wire's `FIELD_CLOSURE`)."""


TAG_GRADES: Final = "grades"
"""The optional per-tag object of `grade` (contract 3): gesture -> {grade, level,
confidence} on the wire, gesture -> `TagGrade` inside the add-on."""
MAX_TAGS = 8
"""More entries than this is not a decoder we know (three tags today): ignored whole."""
MAX_TAG_NAME = 24
"""Longest gesture name kept (it becomes an object name and a panel label)."""
PARK_LIMIT_S = 10.0
"""A parked network thread goes on by itself after this long (a pause never resumed)."""


@dataclass(frozen=True, slots=True)
class TagGrade:
    """One tag's simultaneous result: `grade` 0..8, `closure` 0..1 (the wire's `level`),
    `confidence` 0..1."""

    grade: int
    closure: float
    confidence: float


def grade_from_wire(msg: dict[str, Any]) -> dict[str, Any]:
    """A received `grade` message with its wire `level` renamed to `closure` and its
    optional `grades` replaced by validated `TagGrade`s (dropped when nothing in it is
    usable). In place: the message is this thread's own."""
    if FIELD_CLOSURE in msg:
        msg[CLOSURE] = msg.pop(FIELD_CLOSURE)
    if TAG_GRADES in msg:
        tags = tag_grades_from_wire(msg.pop(TAG_GRADES))
        if tags:
            msg[TAG_GRADES] = tags
    return msg


def tag_grades_from_wire(raw: object) -> dict[str, TagGrade] | None:
    """The `grades` object of a `grade` message as gesture -> `TagGrade`, or None when it
    is not an object or has more than `MAX_TAGS` entries. Entries with a bad name or a
    missing, non-numeric or non-finite field are left out; numbers are clamped (grade
    rounded to 0..8, level and confidence to 0..1). Never raises."""
    if not isinstance(raw, dict) or len(raw) > MAX_TAGS:
        return None
    out: dict[str, TagGrade] = {}
    for name, entry in raw.items():
        tag = _tag_grade(entry)
        if tag is not None and _usable_name(name):
            out[name] = tag
    return out or None


def _tag_grade(entry: object) -> TagGrade | None:
    if not isinstance(entry, dict):
        return None
    grade = _finite(entry.get("grade"))
    closure = _finite(entry.get(FIELD_CLOSURE))
    confidence = _finite(entry.get("confidence"))
    if grade is None or closure is None or confidence is None:
        return None
    return TagGrade(
        grade=min(max(round(grade), 0), N_GRADES - 1),
        closure=min(max(closure, 0.0), 1.0),
        confidence=min(max(confidence, 0.0), 1.0),
    )


def _finite(value: object) -> float | None:
    """A JSON number as a finite float; None for bools, strings, NaN, inf, huge ints."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        v = float(value)
    except OverflowError:  # an integer beyond float range
        return None
    return v if math.isfinite(v) else None


def _usable_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_TAG_NAME
        and name.isprintable()
        and name.strip() == name
    )


def is_loopback_url(url: str) -> bool:
    """True when the websocket URL points at this machine."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_remote: bool) -> str | None:
    """Return why the URL may not be used, or None when it is fine."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return f"not a websocket URL: {url!r} (expected ws://HOST:PORT)"
    if not allow_remote and not is_loopback_url(url):
        return (
            f"{parts.hostname} is not this machine and online access is off; "
            "enable 'Allow Online Access' in Blender's preferences to use a remote bridge"
        )
    return None


@dataclass(slots=True)
class ClientStats:
    """Live numbers for the panel."""

    connected: bool = False
    detail: str = "not connected"
    grades_per_s: float = 0.0
    rtt_ms: float | None = None
    reconnects: int = 0
    last_message_age_s: float | None = None
    kmg_received: int = 0
    """`kmg` messages received in total (they flow only while subscribed)."""


class BridgeClient:
    """Connects to a bridge and feeds a mailbox from a background thread."""

    def __init__(
        self,
        url: str,
        mailbox: Mailbox,
        *,
        token: str = "",
        allow_remote: bool = False,
        backoff_max_s: float = 2.0,
        stale_after_s: float = 1.0,
    ) -> None:
        self.url = url
        self.mailbox = mailbox
        self._token = token
        self._allow_remote = allow_remote
        self._backoff_max = backoff_max_s
        self._stale_after = stale_after_s
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[str] | None = None
        self._stopping = threading.Event()
        self._stats_lock = threading.Lock()
        self._stats = ClientStats()
        self._rate_count = 0
        self._rate_t0 = time.monotonic()
        self._last_msg_t: float | None = None
        self._ping_sent: dict[int, float] = {}
        self._kmg_wanted = False
        self._kmg_count = 0
        self._parked = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._pauses = 0

    # -- main-thread API -------------------------------------------------
    def start(self) -> None:
        """Start the network thread; returns at once."""
        problem = check_url(self.url, self._allow_remote)
        if problem:
            self.mailbox.set_connection(False, problem)
            self._set_stats(connected=False, detail=problem)
            return
        if self._thread and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._thread_main, name="fistball-ws", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Cancel, then wait up to `timeout` for the thread (plain-Python callers; the
        add-on's main thread uses `cancel()`). True when the thread has ended."""
        self.cancel()
        return self.join(timeout)

    def cancel(self) -> None:
        """Cancel the network thread's work and return at once (never waits for it).

        The cancel reaches whatever the thread awaits, a handshake a bridge never
        answers included; the thread then closes the socket and ends by itself. It
        only ever writes into this client's mailbox, which the caller drops."""
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            # RuntimeError: the loop closed meanwhile, the thread is ending anyway.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the network thread to end (tests, benches); True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    @property
    def running(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def pause(self, timeout_s: float) -> bool:
        """Park the network thread: it runs no Python until `resume()` (see
        quiet_threads.py for why). True once it is parked, or when it is not running;
        False when it did not park within `timeout_s`. Data keeps arriving in the
        socket's buffer meanwhile and is read after `resume()`."""
        self._pauses += 1
        if self._pauses > 1:  # nested: already parked (or not) by the outer pause
            return self._parked.is_set() or not self.running
        deadline = time.monotonic() + timeout_s
        self._parked.clear()
        self._resume.clear()
        while self.running:
            loop = self._loop
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # closed: the thread is ending
                    loop.call_soon_threadsafe(self._park)
                    break
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)  # the thread is starting its loop
        while self.running:
            if self._parked.wait(0.01):
                return True
            if time.monotonic() > deadline:
                return False
        return True

    def resume(self) -> None:
        """Let a parked (or parking) network thread go on (at the outermost resume)."""
        self._pauses = max(0, self._pauses - 1)
        if self._pauses == 0:
            self._resume.set()

    def send(self, message: dict[str, Any]) -> bool:
        """Queue a message for the bridge; False when not connected or the outbox is full."""
        loop, outbox = self._loop, self._outbox
        if not loop or not outbox or not self.stats().connected:
            return False
        text = json.dumps(message)

        def put() -> None:
            if not outbox.full():
                outbox.put_nowait(text)

        loop.call_soon_threadsafe(put)
        return True

    def set_kmg(self, wanted: bool) -> bool:
        """Subscribe to (or leave) the bridge's `kmg` stream. The wish is kept and sent
        again after every reconnect; returns whether it went out now."""
        self._kmg_wanted = bool(wanted)
        return self.send({"type": MSG_SUBSCRIBE, "kmg": self._kmg_wanted})

    @property
    def kmg_wanted(self) -> bool:
        return self._kmg_wanted

    def stats(self) -> ClientStats:
        with self._stats_lock:
            s = ClientStats(**{k: getattr(self._stats, k) for k in ClientStats.__slots__})
        s.kmg_received = self._kmg_count
        if self._last_msg_t is not None:
            s.last_message_age_s = time.monotonic() - self._last_msg_t
        return s

    # -- network thread --------------------------------------------------
    def _set_stats(self, **kw: Any) -> None:
        with self._stats_lock:
            for k, v in kw.items():
                setattr(self._stats, k, v)

    def _park(self) -> None:
        # Blocks the loop in a C-level wait (no Python runs, the GIL is free). The
        # limit only guards against a pause that is never resumed.
        if self._resume.is_set():  # resumed before the loop got here
            return
        self._parked.set()
        self._resume.wait(PARK_LIMIT_S)

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        task = loop.create_task(self._run())
        self._loop, self._task = loop, task
        if self._stopping.is_set():  # stop() came before the task existed
            task.cancel()
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop, self._task = None, None
            loop.close()
            self._mark(False, "disconnected")

    async def _run(self) -> None:
        from websockets.asyncio.client import connect

        backoff = 0.2
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        while not self._stopping.is_set():
            try:
                async with connect(
                    self.url,
                    additional_headers=headers,
                    open_timeout=2.0,
                    ping_interval=0.5,
                    ping_timeout=1.0,
                    close_timeout=0.5,
                    max_size=2**20,
                ) as ws:
                    backoff = 0.2
                    self._outbox = asyncio.Queue(maxsize=64)
                    if self._kmg_wanted:  # a new connection starts unsubscribed
                        self._outbox.put_nowait(json.dumps({"type": MSG_SUBSCRIBE, "kmg": True}))
                    self._mark(True, f"connected to {self.url}")
                    await self._session(ws)
            except Exception as exc:  # any network failure: report and retry
                if self._stopping.is_set():
                    break
                self._mark(False, f"{self.url}: {describe_error(exc)}; retrying")
            else:
                if not self._stopping.is_set():
                    self._mark(False, f"{self.url}: connection closed; retrying")
            self._outbox = None
            with self._stats_lock:
                self._stats.reconnects += 1
            await self._sleep_unless_stopping(backoff * (0.8 + 0.4 * random.random()))
            backoff = min(backoff * 2, self._backoff_max)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stopping.is_set() and time.monotonic() < end:
            await asyncio.sleep(0.05)

    def _mark(self, connected: bool, detail: str) -> None:
        self.mailbox.set_connection(connected, detail)
        self._set_stats(connected=connected, detail=detail)

    async def _session(self, ws: Any) -> None:
        outbox = self._outbox
        assert outbox is not None
        tasks = [
            asyncio.ensure_future(self._receive(ws)),
            asyncio.ensure_future(self._send_outbox(ws, outbox)),
            asyncio.ensure_future(self._housekeeping(ws)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                exc = t.exception()
                if exc is not None:
                    raise exc
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _receive(self, ws: Any) -> None:
        async for raw in ws:
            self._last_msg_t = time.monotonic()
            try:
                msg = json.loads(raw)
            except (TypeError, ValueError):
                continue
            if isinstance(msg, dict):
                self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == MSG_GRADE:
            msg["_rx"] = time.monotonic()
            self.mailbox.put_grade(grade_from_wire(msg))
            self._rate_count += 1
        elif kind == MSG_KMG:
            msg["_rx"] = time.monotonic()
            self.mailbox.put_kmg(msg)
            self._kmg_count += 1
        elif kind == MSG_STATUS:
            msg["_rx"] = time.monotonic()
            self.mailbox.put_status(msg)
        elif kind == MSG_HELLO:
            if msg.get("protocol") != PROTOCOL_VERSION:
                self.mailbox.put_error(
                    {"code": "protocol", "detail": f"bridge speaks protocol {msg.get('protocol')}"}
                )
            self.mailbox.put_hello(msg)
        elif kind == MSG_PONG:
            sent = self._ping_sent.pop(msg.get("id", -1), None)
            if sent is not None:
                self._set_stats(rtt_ms=(time.monotonic() - sent) * 1000.0)
        elif kind == MSG_ERROR:
            msg["_rx"] = time.monotonic()
            self.mailbox.put_error(msg)
        elif kind == MSG_HAND_REPLY:
            msg["_rx"] = time.monotonic()
            self.mailbox.put_hand_reply(msg)
        elif kind == MSG_REDON:  # extension: the re-don check, parsed here at the edge
            self.mailbox.put_redon(redon_from_wire(msg))

    async def _send_outbox(self, ws: Any, outbox: asyncio.Queue[str]) -> None:
        while True:
            await ws.send(await outbox.get())

    async def _housekeeping(self, ws: Any) -> None:
        ping_id = 0
        while not self._stopping.is_set():
            await asyncio.sleep(0.1)
            now = time.monotonic()
            if now - self._rate_t0 >= 1.0:
                self._set_stats(grades_per_s=self._rate_count / (now - self._rate_t0))
                self._rate_count, self._rate_t0 = 0, now
                ping_id += 1
                self._ping_sent = {ping_id: now}
                await ws.send(json.dumps({"type": MSG_PING, "id": ping_id}))
        await ws.close(1000, "client stopping")


def describe_error(exc: BaseException) -> str:
    """A one-line, user-facing description of a connection failure."""
    if isinstance(exc, ConnectionRefusedError):
        return "bridge not running (connection refused)"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
