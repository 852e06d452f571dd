"""Benchmark the hand safety path: cost per tick, e-stop and release latency.

Run: .venv/bin/python bench/hand_safety.py [--no-docs]
- cost of the pure state machine per tick: one input per tick (42.7 Hz decoder) and
  eight (a 400 Hz decoder; the tick-window mean averages them);
- time for `HandOutput.command("stop")` to return while the hand thread runs at 50 Hz,
  on the simulated hand and on a generic5 hand behind a real pty (the stop is
  effective when the call returns: no movement command is written after it);
- time for `HandOutput.command("release")` to return after a stop (the motors are
  re-armed when it returns; the hand thread then opens the hand).
Results replace the `## Hand safety` section of docs/benchmarks.md unless --no-docs.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from machine import cpu_model, replace_docs_section

from bridge.outputs.hand_drivers import Generic5Driver, HandDriver, SimHand
from bridge.outputs.hand_output import HandConfig, HandOutput
from bridge.outputs.hand_safety import HandSafety, SafetyConfig
from bridge.outputs.pose_map import HandLimits, PoseMap, PoseMapConfig
from bridge.values.sample import Decoded, Sample
from bridge.values.status import DecoderStatus, PipelineStatus, SourceReport

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def bench_tick(inputs_per_tick: int, n_ticks: int = 20_000) -> float:
    """Seconds per tick for map + input (x inputs_per_tick) + tick."""
    lim = HandLimits()
    s = HandSafety(lim, SafetyConfig(), 0.0, enabled=True)
    s.set_decoder_ready(True, 0.0)
    pm = PoseMap(PoseMapConfig(), lim, has_wrist=False)
    t0 = time.perf_counter()
    for i in range(n_ticks):
        t = i * 0.02
        for j in range(inputs_per_tick):
            s.input(pm.map("fingers", ((i + j) % 100) / 100, s.commanded), t)
        s.tick(t)
    return (time.perf_counter() - t0) / n_ticks


def _feed(out: HandOutput, r: int, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic()
        d = Decoded(r, t, "fingers", 4, 0.5 + 0.4 * (r % 2), 1.0)
        out.on_sample(Sample.from_field(r, t, t, np.zeros((1, 3))), d)
        time.sleep(1 / 42.7)


def _timed(call: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def bench_commands(driver: HandDriver, rounds: int = 30) -> tuple[list[float], list[float]]:
    """(stop latencies, release-after-stop latencies) in seconds."""
    out = HandOutput(driver, HandConfig(), enabled=True)
    out.on_status(
        PipelineStatus(source=SourceReport(state="connected"), decoder=DecoderStatus(ready=True))
    )
    stops, releases = [], []
    try:
        for r in range(rounds):
            _feed(out, r, 0.1)
            stops.append(_timed(lambda: out.command("stop", authorized=False)))
            releases.append(_timed(lambda: out.command("release", authorized=False)))
            out.command("enable", authorized=True)
    finally:
        out.close()
    return stops, releases


def _drain(fd: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            os.read(fd, 4096)
        except OSError:
            time.sleep(0.01)


def _ms(lat: list[float]) -> str:
    lat = sorted(lat)
    return f"median {statistics.median(lat) * 1e3:.3f} ms, max {lat[-1] * 1e3:.3f} ms ({len(lat)})"


def run() -> list[tuple[str, str, str]]:
    """Rows (measure, result, target)."""
    one_sample = f"{1e3 / 42.7:.1f} ms"
    rows = [
        (
            "safety layer per tick, 1 input (pose map + input + mean + tick)",
            f"{bench_tick(1) * 1e6:.1f} us",
            "well under one tick (20 ms at 50 Hz)",
        ),
        (
            "safety layer per tick, 8 inputs (400 Hz decoder)",
            f"{bench_tick(8) * 1e6:.1f} us",
            "well under one tick",
        ),
    ]
    stops, releases = bench_commands(SimHand())
    rows.append(
        ("e-stop, sim hand: `stop()` returns", _ms(stops), f"within one sample ({one_sample})")
    )
    rows.append(
        ("release after stop, sim hand: `release()` returns", _ms(releases), "within one sample")
    )
    master, slave = os.openpty()
    stop = threading.Event()
    reader = threading.Thread(target=_drain, args=(master, stop), daemon=True)
    reader.start()
    try:
        stops, releases = bench_commands(Generic5Driver(os.ttyname(slave)))
    finally:
        stop.set()
        os.close(slave)
        os.close(master)
        reader.join(timeout=1)
    rows.append(
        ("e-stop, generic5 over a pty (stop line written)", _ms(stops), "within one sample")
    )
    rows.append(
        (
            "release after stop, generic5 over a pty (`E` written)",
            _ms(releases),
            "within one sample",
        )
    )
    return rows


def section(rows: list[tuple[str, str, str]]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        f"{cpu_model()}, {os.cpu_count()} cores visible, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )
    lines = [
        "## Hand safety (`bench/hand_safety.py`)",
        "",
        f"Run {when} on {machine}; shared machine (other work running), so maxima "
        "include scheduling noise. The per-tick cost includes the tick-window mean "
        "filter (docs/hand.md); stop and release take the hand lock the 50 Hz hand "
        "thread holds while it ticks and writes.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        *(f"| {m} | {r} | {t} |" for m, r, t in rows),
    ]
    return "\n".join(lines) + "\n"


def update_docs(text_section: str, path: Path = DOCS) -> None:
    """Replace (or append) only the `## Hand safety` section."""
    replace_docs_section("Hand safety", text_section, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-docs", action="store_true", help="don't update docs/benchmarks.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    text = section(run())
    print(text)
    if not args.no_docs:
        update_docs(text)
        print(f"wrote {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
