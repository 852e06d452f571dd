"""Abusive websocket load against a bridge with a simulated hand (issue 11, load isolation).

A bridge runs as a subprocess at 1000 Hz x 16 sensors (simulator) with the QG decoder
and a simulated hand enabled. One well-behaved client measures its grades; after a
short warm-up this process opens, over loopback only:

- `--idle` idle clients (handshake, then read and discard, never send); the ones the
  bridge refuses (HTTP 503 past `--max-clients`) retry every `--retry-s` seconds;
- `--flooders` clients that send websocket pings as fast as they can and never read;
  when the bridge cuts one off it reconnects after half a second.

Measured: the good client's grade latency (received - the bridge's `t`, both
CLOCK_MONOTONIC) and the longest gap between its grades; hand watchdog trips (from
the hand's transitions in `status`); the bridge's peak RSS (/proc); the bridge's log
output in bytes. Bounded: `--seconds` (default 40) and the client counts.

    .venv/bin/python bench/abuse.py                 # 40 s, writes docs/benchmarks.md
    .venv/bin/python bench/abuse.py --seconds 10 --no-docs
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import json
import multiprocessing as mp
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from machine import cpu_model
from websockets.asyncio.client import connect

from bridge.gc_policy import GcPauseMeter, GcPolicy, apply_gc_policy

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Websocket abuse (`bench/abuse.py`)"
WARMUP_S = 4.0
SIM_URL = "sim:socket16?rate=1000&loop=1"
TARGETS = {"p99_ms": 50.0, "gap_ms": 100.0, "rss_mb": 300.0, "log_bytes": 1_000_000}


@dataclass(slots=True)
class Result:
    seconds: float
    idle: int
    flooders: int
    max_clients: int
    latencies_ms: list[float] = field(default_factory=list)
    max_gap_ms: float = 0.0
    grades: int = 0
    watchdog_trips: int = 0
    peak_rss_mb: float = 0.0
    log_bytes: int = 0
    idle_connected_peak: int = 0
    idle_refused: int = 0
    flood_cutoffs: int = 0
    flood_bytes: int = 0
    status_bytes_max: int = 0
    bridge_p99_ms: float = 0.0
    """Worst per-second p99 of the bridge's own latency (sample -> written to a socket,
    `status.latency_ms`), over all its clients: the abusive idle ones included."""
    bridge_max_ms: float = 0.0
    long_gaps: list[tuple[float, float, float]] = field(default_factory=list)
    """(seconds into the measurement, gap in ms, gap between the two grades' sample
    times `t` in ms) for every gap over 50 ms. A sample-time gap as long as the arrival
    gap means no sample was decoded meanwhile (device, sample thread); a short one means
    the grades were made in time and held on the way (server loop, network, client)."""
    t_measure: float = 0.0
    """CLOCK_MONOTONIC when measuring began (to line gaps up with a bridge profile)."""
    arrivals: list[tuple[float, float]] = field(default_factory=list)
    """(received, sample time `t`) of every measured grade, CLOCK_MONOTONIC (`--trace`)."""
    idle_start_s: float = 0.0
    """When the idle clients began to connect, seconds into the measurement."""
    load_before: float = 0.0
    """1-minute load average before the run: other work on the machine skews latency."""
    load_after: float = 0.0
    bridge_args: tuple[str, ...] = ()
    client_realtime: bool = False
    bridge_cpu_pct: float = 0.0
    """The bridge's CPU use during the abuse, % of one core."""
    external_device: bool = False
    """The simulator in its own process, frames over UDP (see `run`)."""
    client_gc: str = ""
    """The good client's own collections: its pauses would count against the bridge."""
    gc_line: str = ""
    """The bridge's own report of its garbage collections (printed when it stops)."""

    def p(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


class Bridge:
    """The bridge subprocess; counts its stderr bytes and keeps the last lines."""

    def __init__(self, args: list[str]) -> None:
        cmd = [sys.executable, "-m", "fist_and_ball_app.main", "bridge", *args]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT
        )
        self.log_bytes = 0
        self.tail: list[str] = []
        self.url: str | None = None
        self.gc_line = ""
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.log_bytes += len(raw)
            line = raw.decode("utf-8", "replace")
            self.tail = [*self.tail[-30:], line]
            if line.startswith("bridge: gc "):
                self.gc_line = line.strip().removeprefix("bridge: ")
            m = re.search(r"listening on (ws://\S+)", line)
            if m and self.url is None:
                self.url = m.group(1)
                self._ready.set()
        self._ready.set()

    def wait_url(self, timeout: float = 120.0) -> str:
        self._ready.wait(timeout)
        if not self.url:
            raise RuntimeError("the bridge did not start:\n" + "".join(self.tail))
        return self.url

    def rss_mb(self) -> float:
        try:
            text = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return 0.0
        m = re.search(r"VmRSS:\s+(\d+) kB", text)
        return int(m.group(1)) / 1024 if m else 0.0

    def cpu_s(self) -> float:
        """CPU seconds the bridge used so far (user + system, all its threads)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _raw_handshake(host: str, port: int) -> tuple[asyncio.StreamReader, Any] | None:
    """Open a websocket by hand; None when the bridge refused it (e.g. 503)."""
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        writer.close()
        return None
    if not head.startswith(b"HTTP/1.1 101"):
        writer.close()
        return None
    return reader, writer


class Abuse:
    """The idle and flooding clients, with their counters."""

    def __init__(self, host: str, port: int, retry_s: float) -> None:
        self.host, self.port, self.retry_s = host, port, retry_s
        self.idle_connected = 0
        self.idle_connected_peak = 0
        self.idle_refused = 0
        self.flood_cutoffs = 0
        self.flood_bytes = 0

    async def idle(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                conn = await _raw_handshake(self.host, self.port)
            except OSError:
                conn = None
            if conn is None:
                self.idle_refused += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry_s)
                continue
            reader, writer = conn
            self.idle_connected += 1
            self.idle_connected_peak = max(self.idle_connected_peak, self.idle_connected)
            try:
                while not stop.is_set():  # read and discard
                    if not await reader.read(65536):
                        break
            except (ConnectionError, OSError):
                pass
            finally:
                self.idle_connected -= 1
                writer.close()

    async def flood(self, stop: asyncio.Event) -> None:
        mask = os.urandom(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"p" * 125))
        frames = (bytes([0x89, 0x80 | 125]) + mask + payload) * 64
        while not stop.is_set():
            try:
                conn = await _raw_handshake(self.host, self.port)
            except OSError:
                conn = None
            if conn is None:
                await asyncio.sleep(0.5)
                continue
            _reader, writer = conn
            writer.transport.set_write_buffer_limits(high=256 * 1024)
            try:
                while not stop.is_set():
                    writer.write(frames)
                    self.flood_bytes += len(frames)
                    await writer.drain()  # never reads: only the kernel limits us
            except (ConnectionError, OSError):
                self.flood_cutoffs += 1
            finally:
                writer.close()
            await asyncio.sleep(0.5)


async def _good_client(url: str, res: Result, stop: asyncio.Event, measure: asyncio.Event) -> None:
    trips: set[float] = set()
    t_measure = 0.0
    async with connect(url, max_size=None, open_timeout=30) as ws:
        last: float | None = None
        last_t = 0.0
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                continue
            now = time.monotonic()
            msg = json.loads(raw)
            kind = msg.get("type")
            if kind == "grade":
                if measure.is_set():
                    t_measure = t_measure or now
                    res.t_measure = t_measure
                    res.latencies_ms.append((now - msg["t"]) * 1e3)
                    res.arrivals.append((now, msg["t"]))
                    res.grades += 1
                    if last is not None:
                        gap_ms = (now - last) * 1e3
                        res.max_gap_ms = max(res.max_gap_ms, gap_ms)
                        if gap_ms > 50.0:
                            t_gap_ms = (msg["t"] - last_t) * 1e3
                            res.long_gaps.append((now - t_measure, gap_ms, t_gap_ms))
                last, last_t = now, msg["t"]
            elif kind == "status":
                if measure.is_set():
                    res.status_bytes_max = max(res.status_bytes_max, len(raw))
                    lat = msg.get("latency_ms") or {}
                    res.bridge_p99_ms = max(res.bridge_p99_ms, lat.get("p99") or 0.0)
                    res.bridge_max_ms = max(res.bridge_max_ms, lat.get("max") or 0.0)
                hand = msg.get("hand") or {}
                for tr in hand.get("transitions", []):
                    if "watchdog" in str(tr.get("reason", "")) and measure.is_set():
                        trips.add(tr["t"])
                res.watchdog_trips = len(trips)


def _abuse_process(
    host: str, port: int, res: dict[str, Any], seconds: float, retry_s: float, out: Any
) -> None:
    """The abusive clients, in their own process (own GIL and event loop), so the
    good client's measurements are not delayed by the bench itself."""
    with contextlib.suppress(OSError):  # never inherit the good client's priority
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))

    async def go() -> dict[str, float]:
        stop = asyncio.Event()
        abuse = Abuse(host, port, retry_s)
        # flooders first: otherwise the idle clients take every slot up to the cap
        tasks = [asyncio.create_task(abuse.flood(stop)) for _ in range(res["flooders"])]
        await asyncio.sleep(0.5)
        idle_start = time.monotonic()
        tasks += [asyncio.create_task(abuse.idle(stop)) for _ in range(res["idle"])]
        await asyncio.sleep(seconds - 0.5)
        stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        return {
            "idle_connected_peak": abuse.idle_connected_peak,
            "idle_refused": abuse.idle_refused,
            "flood_cutoffs": abuse.flood_cutoffs,
            "flood_bytes": abuse.flood_bytes,
            "idle_start": idle_start,
        }

    out.put(asyncio.run(go()))


async def _run(bridge: Bridge, res: Result, retry_s: float) -> None:
    url = bridge.wait_url()
    m = re.match(r"ws://([^:/]+):(\d+)", url)
    assert m, url
    host, port = m.group(1), int(m.group(2))
    if res.client_realtime:  # after the bridge started: it must not inherit this
        _realtime()
    stop, measure = asyncio.Event(), asyncio.Event()
    # Made before measuring: a spawn-context Queue starts multiprocessing's resource
    # tracker (a process launch) right here, on the good client's loop: 30 ms on a
    # loaded machine, once counted as the bridge's gap at the start of the abuse.
    out: Any = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(
        target=_abuse_process,
        args=(host, port, {"idle": res.idle, "flooders": res.flooders}, res.seconds, retry_s, out),
        daemon=True,
    )
    # the measuring client gets the bridge's GC policy: its own full collections
    # (numpy, websockets, 40k latencies) are not the bridge's delay
    apply_gc_policy(GcPolicy())
    client_gc = GcPauseMeter().install()
    good = asyncio.create_task(_good_client(url, res, stop, measure))
    await asyncio.sleep(WARMUP_S)
    measure.set()
    await asyncio.to_thread(proc.start)  # fork + exec off the good client's loop
    t_start, cpu_start = time.monotonic(), bridge.cpu_s()
    t_end = t_start + res.seconds
    while time.monotonic() < t_end:
        res.peak_rss_mb = max(res.peak_rss_mb, bridge.rss_mb())
        await asyncio.sleep(0.25)
    res.bridge_cpu_pct = 100 * (bridge.cpu_s() - cpu_start) / (time.monotonic() - t_start)
    counts = await asyncio.to_thread(out.get, True, 30)
    await asyncio.to_thread(proc.join, 10)  # not proc.join(): it would block the good client
    stop.set()
    await good
    client_gc.uninstall()
    res.client_gc = client_gc.pauses().describe()
    res.idle_connected_peak = counts["idle_connected_peak"]
    res.idle_refused = counts["idle_refused"]
    res.flood_cutoffs = counts["flood_cutoffs"]
    res.flood_bytes = counts["flood_bytes"]
    res.idle_start_s = counts["idle_start"] - res.t_measure


def run(
    seconds: float,
    idle: int,
    flooders: int,
    max_clients: int,
    retry_s: float,
    bridge_args: tuple[str, ...] = (),
    client_realtime: bool = False,
    external_device: bool = False,
) -> Result:
    """Run one abuse session against a fresh bridge (`bridge_args` appended to its command).

    `external_device`: the simulated socket runs in its own process and sends its
    frames over loopback UDP, as a real device would; otherwise the bridge's sample
    thread runs the simulator's physics itself (most of its CPU at 1000 Hz x 16)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # inherited by the child
    if soft < idle + 256:  # our own client sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, idle + 1024), hard))
    res = Result(
        seconds,
        idle,
        flooders,
        max_clients,
        load_before=os.getloadavg()[0],
        bridge_args=bridge_args,
        client_realtime=client_realtime,
        external_device=external_device,
    )
    with contextlib.ExitStack() as stack:
        source_args: list[str] = ["--source", SIM_URL]
        device: subprocess.Popen[bytes] | None = None
        if external_device:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="abuse-")))
            port = _free_udp_port()
            source_args = [
                "--source",
                f"udp://127.0.0.1:{port}",
                "--decoder",
                f"qg:{_sim_calibration(tmp / 'cal.json')}",
            ]
        bridge = _start_bridge([*source_args, *bridge_args], max_clients)
        if external_device:
            bridge.wait_url()
            device = subprocess.Popen(
                [sys.executable, "-m", "fist_and_ball_app.main", "simulate", "--layout",
                 "socket16", "--rate", "1000", "--emit", f"udp://127.0.0.1:{port}",
                 "--quiet", "--seconds", str(WARMUP_S + seconds + 30)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                # a dedicated device is not slowed by the host: same class as the client
                preexec_fn=_realtime if client_realtime else None,
            )  # fmt: skip
        try:
            asyncio.run(_run(bridge, res, retry_s))
        finally:
            bridge.stop()
            if device is not None:
                device.terminate()
                device.wait(10)
            time.sleep(0.2)
            res.log_bytes = bridge.log_bytes
            res.gc_line = bridge.gc_line
            res.load_after = os.getloadavg()[0]
    if res.log_bytes > TARGETS["log_bytes"] or not res.grades:
        print("".join(bridge.tail[-10:]), file=sys.stderr)
    return res


def _realtime() -> None:
    # reset on fork: the abuse process (spawned from the good client) would otherwise
    # start real-time and import numpy and websockets ahead of the bridge's threads
    policy = os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0)
    os.sched_setscheduler(0, policy, os.sched_param(10))


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sim_calibration(path: Path) -> Path:
    """QG calibrated on the simulated socket, as `--decoder qg` does for a sim: source."""
    from bridge.decoders.qg_fit import fit_calibration
    from bridge.sim.calibration_run import record_guided_calibration
    from bridge.sim.url import parse_sim_url

    config = parse_sim_url(SIM_URL).config()
    return fit_calibration(*record_guided_calibration(config)).save(path)


def _start_bridge(args: list[str], max_clients: int) -> Bridge:
    return Bridge(
        [
            "--hand",
            "sim",
            "--hand-enable",
            "--quiet",
            "--port",
            "0",
            "--max-clients",
            str(max_clients),
            *args,
        ]
    )


def verdict(res: Result) -> list[tuple[str, str, str, bool]]:
    """(what, measured, target, met) rows."""
    return [
        ("good client grade p99", f"{res.p(99):.1f} ms", "<= 50 ms", res.p(99) <= 50.0),
        ("longest gap between grades", f"{res.max_gap_ms:.0f} ms", "<= 100 ms",
         res.max_gap_ms <= 100.0),
        ("hand watchdog trips", str(res.watchdog_trips), "0", res.watchdog_trips == 0),
        ("bridge peak RSS", f"{res.peak_rss_mb:.0f} MB", "< 300 MB", res.peak_rss_mb < 300.0),
        ("bridge log output", f"{res.log_bytes / 1e3:.1f} kB", "< 1 MB",
         res.log_bytes < TARGETS["log_bytes"]),
    ]  # fmt: skip


def section(res: Result) -> str:
    rows = "\n".join(
        f"| {what} | {got} | {target} | {'yes' if ok else '**no**'} |"
        for what, got, target, ok in verdict(res)
    )
    device = (
        "the simulated socket in its own process sending frames over loopback UDP, as a "
        "device would (`--external-device`)"
        if res.external_device
        else "the simulator running inside the bridge (`sim:socket16`)"
    )
    extra = " ".join(res.bridge_args) or "none"
    client = "SCHED_FIFO (`--client-realtime`)" if res.client_realtime else "normal priority"
    return f"""{SECTION}

Load isolation and memory bounds under abusive websocket clients (issue 11). A bridge
at 1000 Hz x 16 sensors ({device}; QG, `--hand sim --hand-enable`,
`--max-clients {res.max_clients}`, extra bridge arguments: {extra}; good client and
device at {client}) serves one well-behaved client; after {WARMUP_S:g} s of
warm-up, {res.idle} idle clients (read, never send; refused ones retry every few
seconds) and {res.flooders} ping flooders (send pings, never read; reconnect when cut
off) connect over loopback for {res.seconds:g} s. Run on {cpu_model()}, {os.cpu_count()}
cores, {dt.date.today().isoformat()}; bench process and bridge share the machine, whose
1-minute load average was {res.load_before:.1f} before the run (other jobs running: compare
with `--idle 0 --flooders 0` run right after, the same machine without abuse).

| measure | result | target | met |
|---|---|---|---|
{rows}

Good client: {res.grades} grades, latency p50 {res.p(50):.2f} ms, p99 {res.p(99):.2f} ms,
max {max(res.latencies_ms, default=float("nan")):.1f} ms. The bridge's own delay (sample to
socket write, over all its clients including the idle abusers whose sockets are full; worst
second of `status.latency_ms`): p99 {res.bridge_p99_ms:.1f} ms, max {res.bridge_max_ms:.1f} ms.
Idle clients served at once
(peak): {res.idle_connected_peak}; refused with HTTP 503: {res.idle_refused} attempts.
Flooders sent {res.flood_bytes / 1e6:.0f} MB of pings and were cut off
{res.flood_cutoffs} times (unsent bytes over the 1 MiB bound). Largest `status`:
{res.status_bytes_max} bytes (does not grow with clients). The bridge's garbage
collector ({" ".join(res.bridge_args) or "default policy"}): {res.gc_line or "not reported"}.
"""


def update_docs(text: str, path: Path = DOCS) -> None:
    """Replace (or add) this bench's generated part, keeping every other section and
    this section's `### ` subsections (the run log and history, written by hand)."""
    doc = path.read_text(encoding="utf-8")
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^### |^## |\Z)", re.S | re.M)
    if pattern.search(doc):
        doc = pattern.sub(lambda _m: text.rstrip("\n") + "\n\n", doc, count=1)
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    path.write_text(doc, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--flooders", type=int, default=10)
    ap.add_argument("--max-clients", type=int, default=16)
    ap.add_argument("--retry-s", type=float, default=5.0)
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument(
        "--trace",
        type=Path,
        metavar="PATH",
        help="write the good client's grades (received, sample t; CLOCK_MONOTONIC) as JSON",
    )
    ap.add_argument(
        "--external-device",
        action="store_true",
        help="simulate the socket in its own process, frames over loopback UDP",
    )
    ap.add_argument(
        "--client-realtime",
        action="store_true",
        help=(
            "run the good client (and the --external-device simulator) with SCHED_FIFO "
            "(needs CAP_SYS_NICE): with the bridge's --realtime this separates the bridge "
            "from other work on a shared machine"
        ),
    )
    ap.add_argument(
        "--bridge-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra bridge argument, repeatable (e.g. --bridge-arg=--no-gc-tuning)",
    )
    args = ap.parse_args()
    if not 0 < args.seconds <= 600 or not 0 <= args.idle <= 2000 or not 0 <= args.flooders <= 50:
        ap.error("bounded: --seconds 0..600, --idle 0..2000, --flooders 0..50")
    res = run(
        args.seconds,
        args.idle,
        args.flooders,
        args.max_clients,
        args.retry_s,
        tuple(args.bridge_arg),
        args.client_realtime,
        args.external_device,
    )
    text = section(res)
    print(text)
    print(
        f"summary: args {' '.join(res.bridge_args) or '-'}"
        f"{' client-rt' if res.client_realtime else ''}"
        f"{' external-device' if res.external_device else ''} | load {res.load_before:.2f} -> "
        f"{res.load_after:.2f} | p50 {res.p(50):.2f} p99 {res.p(99):.2f} ms | "
        f"gap {res.max_gap_ms:.0f} ms | trips {res.watchdog_trips} | "
        f"rss {res.peak_rss_mb:.0f} MB | cpu {res.bridge_cpu_pct:.0f}% | {res.gc_line} | "
        f"client gc: {res.client_gc}"
    )
    if res.long_gaps:
        shown = ", ".join(
            f"{t:.2f} s: {ms:.0f} ms (samples {t_ms:.0f} ms apart)"
            for t, ms, t_ms in res.long_gaps[:40]
        )
        print(
            f"gaps over 50 ms ({len(res.long_gaps)}; idle clients from "
            f"{res.idle_start_s:.2f} s; measuring from monotonic {res.t_measure:.3f}): {shown}"
        )
    if args.trace:
        trace = {"t_measure": res.t_measure, "idle_start_s": res.idle_start_s}
        args.trace.write_text(json.dumps({**trace, "grades": res.arrivals}), encoding="utf-8")
    if not args.no_docs:
        update_docs(text)
        print(f"wrote {DOCS}", file=sys.stderr)
    return 0 if all(ok for *_, ok in verdict(res)) else 1


if __name__ == "__main__":
    sys.exit(main())
