"""Benchmark the hand safety path: cost per tick and e-stop latency.

Run: /work/venv/bin/python bench/hand_safety.py
- tick cost of the pure state machine (map + input + tick) per sample;
- time for `HandOutput.command("stop")` to return while the hand thread runs at 50 Hz,
  on the simulated hand and on a generic5 hand behind a real pty (the stop is
  effective when the call returns: no movement command is written after it).
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time

import numpy as np

from bridge.outputs.hand_drivers import Generic5Driver, HandDriver, SimHand
from bridge.outputs.hand_output import HandConfig, HandOutput
from bridge.outputs.hand_safety import HandSafety, SafetyConfig
from bridge.outputs.pose_map import HandLimits, PoseMap, PoseMapConfig
from bridge.sample import Decoded, Sample


def bench_tick(n: int = 50_000) -> float:
    lim = HandLimits()
    s = HandSafety(lim, SafetyConfig(), 0.0, enabled=True)
    s.set_decoder_ready(True, 0.0)
    pm = PoseMap(PoseMapConfig(), lim, has_wrist=False)
    t0 = time.perf_counter()
    for i in range(n):
        t = i * 0.02
        s.input(pm.map("fingers", (i % 100) / 100, s.commanded), t)
        s.tick(t)
    return (time.perf_counter() - t0) / n


def bench_stop(driver: HandDriver, rounds: int = 30) -> list[float]:
    out = HandOutput(driver, HandConfig(), enabled=True)
    out.on_status({"source": {"state": "connected"}, "decoder_ready": True})
    lat = []
    try:
        for r in range(rounds):
            end = time.monotonic() + 0.1
            while time.monotonic() < end:
                t = time.monotonic()
                d = Decoded(r, t, "fingers", 4, 0.5 + 0.4 * (r % 2), 1.0)
                out.on_sample(Sample.from_field(r, t, t, np.zeros((1, 3))), d)
                time.sleep(1 / 42.7)
            t0 = time.perf_counter()
            out.command("stop", authorized=False)
            lat.append(time.perf_counter() - t0)
            out.command("enable", authorized=True)
    finally:
        out.close()
    return lat


def _drain(fd: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            os.read(fd, 4096)
        except OSError:
            time.sleep(0.01)


def report(name: str, lat: list[float]) -> None:
    lat = sorted(lat)
    print(
        f"{name}: stop() returns in median {statistics.median(lat) * 1e3:.3f} ms, "
        f"max {lat[-1] * 1e3:.3f} ms over {len(lat)} stops "
        f"(one sample period at 42.7 Hz = {1e3 / 42.7:.1f} ms)"
    )


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    print(f"safety map+input+tick: {bench_tick() * 1e6:.1f} us per sample")
    report("sim hand", bench_stop(SimHand()))
    master, slave = os.openpty()
    stop = threading.Event()
    reader = threading.Thread(target=_drain, args=(master, stop), daemon=True)
    reader.start()
    try:
        report("generic5 over pty", bench_stop(Generic5Driver(os.ttyname(slave))))
    finally:
        stop.set()
        os.close(slave)
        os.close(master)
        reader.join(timeout=1)


if __name__ == "__main__":
    main()
