"""Per-sample decode latency: MCNN-TG (onnxruntime, 1 thread) vs the linear baseline vs QG.

Each decoder gets the same >= 10000 simulated socket16 samples, one `decode(sample)` call
each, timed with perf_counter (p50 / p99 / max). For MCNN-TG the bare
`InferenceSession.run` on one normalised row is timed too (the ONNX part alone).

    /work/venv/bin/python bench/mcnn_inference.py [--model bridge/models/mcnn_socket16]
        [--samples 20000] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def percentiles(times_s: np.ndarray) -> dict[str, float]:
    us = times_s * 1e6
    return {
        "n": int(us.size),
        "p50_us": round(float(np.percentile(us, 50)), 2),
        "p99_us": round(float(np.percentile(us, 99)), 2),
        "max_us": round(float(us.max()), 2),
        "mean_us": round(float(us.mean()), 2),
    }


def time_calls(fn: Callable[[Any], Any], items: list[Any], warmup: int = 200) -> np.ndarray:
    for it in items[:warmup]:
        fn(it)
    out = np.empty(len(items))
    gc.collect()
    gc.disable()  # a collection pause is not the decoder's latency; reported separately
    try:
        pc = time.perf_counter
        for i, it in enumerate(items):
            t = pc()
            fn(it)
            out[i] = pc() - t
    finally:
        gc.enable()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default=str(ROOT / "bridge/models/mcnn_socket16"))
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    if args.samples < 10000:
        print("note: fewer than 10000 samples makes p99 noisy", file=sys.stderr)

    from bridge.decoders.linear import LinearDecoder
    from bridge.decoders.mcnn import INPUT_NAME, McnnDecoder
    from bridge.decoders.qg_bank import QGBank
    from bridge.decoders.qg_fit import fit_calibration
    from bridge.signal.normalise import minmax_per_step
    from bridge.sim.calibration_run import record_guided_calibration
    from bridge.sim.config import SimConfig
    from bridge.sim.simulator import Simulator

    cfg = SimConfig(layout="socket16", seed=42, repetitions=100)
    sim = Simulator(cfg)
    samples = [Simulator.to_sample(f, 0.0) for f in sim.generate(args.samples)]
    info = sim.info
    mcnn = McnnDecoder.load(args.model, info)
    decoders: dict[str, Any] = {"mcnn": mcnn}
    lin = Path(args.model) / "linear.json"
    if lin.is_file():
        decoders["linear"] = LinearDecoder.load(lin, info)
    decoders["qg"] = QGBank(
        fit_calibration(*record_guided_calibration(cfg, ("fingers", "wrist", "thumb")))
    )
    results: dict[str, Any] = {}
    for name, dec in decoders.items():
        results[name] = percentiles(time_calls(dec.decode, samples))
    # The ONNX call alone on a preallocated normalised row.
    rows = minmax_per_step(np.stack([s.magnitudes for s in samples])).astype(np.float32)
    sess = mcnn._sess  # the bench looks inside on purpose: the bare runtime cost
    feeds = [{INPUT_NAME: rows[i : i + 1]} for i in range(rows.shape[0])]
    results["mcnn_onnx_run_only"] = percentiles(time_calls(lambda f: sess.run(None, f), feeds))
    import onnxruntime

    env = {
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "intra_op_threads": 1,
    }
    print(f"{'decoder':<22} {'n':>6} {'p50 us':>8} {'p99 us':>8} {'max us':>9}")
    for name, r in results.items():
        print(f"{name:<22} {r['n']:>6} {r['p50_us']:>8.1f} {r['p99_us']:>8.1f} {r['max_us']:>9.1f}")
    print(f"load average during run: {env['load_avg']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"env": env, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
