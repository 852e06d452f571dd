"""What `bridge --lsl` adds to the per-sample hot path: LslOutlet.on_sample's cost.

Pushes N samples of 3 and 16 sensors (with a decoded grade) through a real
LslOutlet (three outlets, machine scope, one pylsl inlet reading the field stream)
and reports the per-call cost in microseconds; writes `## LSL outlet` in
docs/benchmarks.md unless --no-docs.

    .venv/bin/python bench/lsl_outlet_cost.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from machine import cpu_model, replace_docs_section

from bridge.lsl_scope import load_pylsl
from bridge.outputs.lsl_outlet import LslOutlet, LslOutletConfig
from bridge.values.sample import Decoded, Sample
from bridge.values.source_info import SourceInfo

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def measure(n_sensors: int, samples: int) -> np.ndarray:
    """Per-call on_sample times (s), after the outlets exist and an inlet reads them."""
    lsl = load_pylsl()
    name = f"bench{n_sensors}"
    out = LslOutlet(SourceInfo(n_sensors=n_sensors, rate_hz=1000.0), LslOutletConfig(name=name))
    rng = np.random.default_rng(1)
    fields = rng.normal(size=(samples + 1, n_sensors, 3)) * 50
    t0 = time.monotonic()

    def sample(i: int) -> Sample:
        return Sample.from_field(i, i / 1000.0, t0 + i / 1000.0, fields[i])

    decoded = Decoded(0, 0.0, "fingers", 3, 0.4, 0.9)
    out.on_sample(sample(0), decoded)  # makes the outlets
    inlet = lsl.StreamInlet(lsl.resolve_byprop("name", f"{name}-KMG", 1, 10.0)[0])
    inlet.open_stream(10.0)
    prepared = [sample(i) for i in range(1, samples + 1)]
    times = np.empty(samples)
    for i, s in enumerate(prepared):
        start = time.perf_counter()
        out.on_sample(s, decoded)
        times[i] = time.perf_counter() - start
        if i % 500 == 0:
            inlet.pull_chunk(0.0, 100000)
    out.close()
    return times


def section(rows: list[tuple[int, np.ndarray]], samples: int) -> str:
    lines = [
        "## LSL outlet (`bench/lsl_outlet_cost.py`)",
        "",
        f"`LslOutlet.on_sample` per call with three outlets (field, magnitudes, grade), "
        f"{samples} samples, one inlet reading; {cpu_model()}, {os.cpu_count()} cores, "
        f"shared with other jobs. This is what `--lsl` adds to the sample thread per sample "
        f"(liblsl sends on its own threads).",
        "",
        "| sensors | p50 us | p99 us | max us |",
        "|---|---|---|---|",
    ]
    for n, t in rows:
        us = t * 1e6
        lines.append(
            f"| {n} | {np.percentile(us, 50):.1f} | {np.percentile(us, 99):.1f} | {us.max():.0f} |"
        )
    return "\n".join(lines) + "\n"


def update_docs(text_section: str, path: Path = DOCS) -> None:
    """Replace (or append) only the `## LSL outlet` section."""
    replace_docs_section("LSL outlet", text_section, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--no-docs", action="store_true", help="don't update docs/benchmarks.md")
    args = ap.parse_args()
    rows = [(n, measure(n, args.samples)) for n in (3, 16)]
    text = section(rows, args.samples)
    print(text)
    if not args.no_docs:
        update_docs(text)
        print(f"wrote {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
