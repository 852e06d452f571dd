"""Simulator throughput: samples per second for myo3 and socket16.

Three paths, each timed on a fresh Simulator (tables built outside the timing):
- block: `generate_block(1024)` (recordings, `--speed max`);
- step: `step()` one frame at a time (the worst case of a real-time source);
- wire: block + `frame_bytes` + `to_sample` per frame (what `simulate --emit` does).
Rates are per CPU second of this process. The real-time requirement is 1000 samples/s
for 16 sensors (1 kHz).

    /work/venv/bin/python bench/sim_speed.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

from bridge.sim.config import SimConfig
from bridge.sim.simulator import Simulator


def _rate(run: Callable[[], int], seconds: float) -> float:
    """Samples per CPU second of `run` (which returns how many samples it made).

    CPU time (this process) rather than wall time: the bench machine is shared, and
    CPU time is what a real-time run needs to find."""
    n = 0
    t0 = time.process_time()
    while (elapsed := time.process_time() - t0) < seconds:
        n += run()
    return n / elapsed


def measure(layout: str, rate_hz: float, seconds: float) -> dict[str, float]:
    cfg = SimConfig(layout=layout, rate_hz=rate_hz, cue_script="intent", seed=1)
    out: dict[str, float] = {}

    sim = Simulator(cfg)
    sim.set_intent("fingers", 0.7)
    out["block"] = _rate(lambda: len(sim.generate_block(1024)), seconds)

    sim = Simulator(cfg)
    sim.set_intent("fingers", 0.7)

    def one() -> int:
        sim.step()
        return 1

    out["step"] = _rate(one, seconds)

    sim = Simulator(cfg)
    sim.set_intent("fingers", 0.7)

    def wire() -> int:
        blk = sim.generate_block(64)
        for k in range(len(blk)):
            f = blk.frame(k)
            sim.frame_bytes(f)
            sim.to_sample(f, 0.0)
        return len(blk)

    out["wire"] = _rate(wire, seconds)
    t0 = time.perf_counter()
    Simulator(cfg)
    out["setup_ms"] = (time.perf_counter() - t0) * 1e3
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="timing per measurement")
    args = ap.parse_args()
    print(f"# simulator speed ({platform.python_implementation()} {platform.python_version()})")
    print("samples per CPU second")
    print()
    print("| layout | rate | block | step | wire | setup |")
    print("|---|---|---|---|---|---|")
    for layout in ("myo3", "socket16"):
        for rate in (42.7, 1000.0):
            r = measure(layout, rate, args.seconds)
            print(
                f"| {layout} | {rate:g} Hz | {r['block']:,.0f} | {r['step']:,.0f} | "
                f"{r['wire']:,.0f} | {r['setup_ms']:.0f} ms |"
            )


if __name__ == "__main__":
    main()
