"""Magnet tracking: per-sample cost (docs/benchmarks.md) and accuracy over many foreign
patients (docs/tracking.md).

    python bench/tracking_speed.py            # cost only
    python bench/tracking_speed.py --seeds 20 # plus the spread over 20 foreign patients
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from machine import cpu_model  # noqa: E402

from bridge.sim.foreign_patients import (  # noqa: E402
    ForeignPatient,
    Placement,
    Session,
    cued_session,
    draw_patient,
)
from bridge.tracking.compiled_step import STEP_COMPILED  # noqa: E402
from bridge.tracking.pose_worker import ProcessPoseWorker  # noqa: E402
from bridge.tracking.tracker import Tracker  # noqa: E402
from bridge.tracking.twin_fit import CuedData, TwinFit, fit_twin  # noqa: E402

SCENARIOS: dict[str, Placement] = {
    "same placement": Placement(),
    "shifted +5 mm, turned +10 deg": Placement(shift_mm=5.0, turn_deg=10.0),
    "shifted -5 mm, turned -10 deg": Placement(shift_mm=-5.0, turn_deg=-10.0),
    "Earth heading +90 deg": Placement(earth_heading_deg=90.0),
    "hand motors running": Placement(motor=True),
}


def fitted(seed: int) -> tuple[ForeignPatient, TwinFit]:
    patient = draw_patient(seed)
    session = cued_session(patient, repetitions=3)
    return patient, fit_twin([CuedData(session.field_ut, session.gesture, session.sensors_mm)])


def track(session: Session, tracker: Tracker) -> dict[str, float]:
    """Type accuracy (true grade >= 1), grade MAE and within-1 once the tracker is ready."""
    grades, gestures, ready = [], [], []
    for i in range(len(session)):
        e = tracker.decode(session.field_ut[i])
        grades.append(e.grade)
        gestures.append(e.gesture)
        ready.append(e.ready)
    g = np.array(grades)
    ok = np.array(ready)
    cue = np.array(session.gesture)
    true = session.grade_true
    typed = ok & (cue != "rest") & (true >= 1)
    err = np.abs(g[ok] - true[ok])
    return {
        "accuracy": float((np.array(gestures)[typed] == cue[typed]).mean()),
        "mae": float(err.mean()),
        "within1": float((err <= 1).mean()),
    }


def _pct(ms: np.ndarray) -> dict[str, float]:
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
    }


def cost(samples: int = 12000) -> dict[str, Any]:
    """Per-sample decode time (ms) with 16 sensors and 3 tags at 1000 Hz, as the bridge
    runs it: the pose fits on a child process (ProcessPoseWorker). Wall time and the
    sample thread's CPU time (time.thread_time: not counting other processes' turns on
    a shared machine), for the tracking samples and across the settle and pose updates."""
    seed = next(s for s in range(100) if draw_patient(s).n_sensors == 16)
    patient, fit = fitted(seed)
    assert fit.twin is not None, fit.refused
    session = cued_session(
        patient,
        Placement(shift_mm=5, turn_deg=10),
        repetitions=3,
        full_flexions=False,
        session_seed=3,
    )
    worker = ProcessPoseWorker()
    worker.start()  # as the decoder does on its first sample
    tracker = Tracker(fit.twin, rate_hz=1000.0, worker=worker)  # pose update every 5000
    wall, cpu, ready = np.empty(samples), np.empty(samples), np.zeros(samples, bool)
    first_ready = -1
    try:
        i = 0
        while i < samples:
            f = session.field_ut[i % len(session)]
            t0, c0 = time.perf_counter(), time.thread_time()
            est = tracker.decode(f)
            cpu[i], wall[i] = time.thread_time() - c0, time.perf_counter() - t0
            ready[i] = est.ready
            if est.ready and first_ready < 0:
                first_ready = i
            if not est.ready and i >= 1999:
                time.sleep(0.001)  # the relaxed patient keeps streaming while the child fits
            i += 1
        updates = tracker.pose_updates
    finally:
        worker.close()
    settle = slice(1990, first_ready + 10)
    t0 = time.perf_counter()
    fit_twin([CuedData(session.field_ut, session.gesture, session.sensors_mm)])
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    estimate = Tracker(fit.twin, rate_hz=1000.0)
    estimate.estimate_pose(session.field_ut[:2000])
    pose_s = time.perf_counter() - t0
    return {
        "wall": _pct(wall[ready] * 1e3),
        "cpu": _pct(cpu[ready] * 1e3),
        "settle_cpu_max": float(cpu[settle].max() * 1e3),
        "all_cpu_max": float(cpu.max() * 1e3),
        "ready_after": first_ready - 1999,
        "tracked": int(ready.sum()),
        "updates": updates,
        "pose_s": pose_s,
        "fit_s": fit_s,
        "seed": seed,
        "load": os.getloadavg()[0],
    }


def spread(seeds: int) -> str:
    """Markdown: twin accuracy and tracking scores over `seeds` foreign patients."""
    rows = []
    pos_err, stroke_err, refused = [], [], []
    scores: dict[str, list[dict[str, float]]] = {k: [] for k in SCENARIOS}
    for seed in range(seeds):
        patient, fit = fitted(seed)
        if fit.twin is None:
            refused.append(f"seed {seed}: {fit.refused[0]}")
            continue
        for j, tag in enumerate(patient.tags):
            pos_err.append(float(np.linalg.norm(fit.twin.rest_mm[j] - tag.rest_mm)))
            stroke_err.append(abs(fit.twin.stroke_mm[j] / tag.stroke_mm - 1.0))
        for name, placement in SCENARIOS.items():
            later = cued_session(
                patient, placement, repetitions=3, full_flexions=False, session_seed=11
            )
            scores[name].append(track(later, Tracker(fit.twin, rate_hz=patient.rate_hz)))
    rows.append(
        "| session | type accuracy (min / median) | grade MAE (median / max) "
        "| within-1 (min / median) |"
    )
    rows.append("|---|---|---|---|")
    for name, s in scores.items():
        if not s:
            continue
        acc = np.array([x["accuracy"] for x in s])
        mae = np.array([x["mae"] for x in s])
        w1 = np.array([x["within1"] for x in s])
        rows.append(
            f"| {name} | {acc.min():.2%} / {np.median(acc):.2%} | {np.median(mae):.3f} / "
            f"{mae.max():.3f} | {w1.min():.2%} / {np.median(w1):.2%} |"
        )
    head = (
        f"{seeds} foreign socket patients (seeds 0-{seeds - 1}), twin fitted on one cued "
        f"session of 3 full repetitions per movement; {seeds - len(refused)} twins accepted. "
        f"Fitted rest positions: median error {np.median(pos_err):.3f} mm, max "
        f"{max(pos_err):.3f} mm; strokes: median {np.median(stroke_err):.2%}, max "
        f"{max(stroke_err):.2%} off. Later sessions: 3 repetitions per movement to random "
        "depths, tracked without refitting.\n\n"
    )
    tail = "".join(f"\nRefused: {r}" for r in refused)
    return head + "\n".join(rows) + "\n" + tail


def replace_section(path: Path, start: str, end: str, body: str) -> None:
    text = path.read_text(encoding="utf-8")
    block = f"{start}\n{body}\n{end}"
    if start in text:
        text = re.sub(
            re.escape(start) + r".*?" + re.escape(end), lambda _m: block, text, flags=re.S
        )
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=0, help="foreign patients for the spread")
    args = ap.parse_args()
    c = cost()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    w, u = c["wall"], c["cpu"]
    body = (
        "## Magnet tracking (`bench/tracking_speed.py`)\n\n"
        f"Run {when} on: {cpu_model()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, shared machine (1-minute load average {c['load']:.1f} "
        f"at the end). Tracker.decode per sample, 16 sensors x 3 tags (foreign patient seed "
        f"{c['seed']}, socket shifted 5 mm and turned 10 deg, uniform + gradient + "
        "second-order background, "
        "Gauss-Newton warm-started with the background projected out, at most 2 iterations, "
        f"{'compiled with numba' if STEP_COMPILED else 'numpy: numba is not installed'}) "
        "at a 1000 Hz sample rate, the pose "
        "fits on a child process (`ProcessPoseWorker`, as in the bridge); "
        f"{c['tracked']} tracked samples:\n\n"
        "| per tracked sample | p50 | p99 | max |\n|---|---|---|---|\n"
        f"| wall time | {w['p50']:.3f} ms | {w['p99']:.3f} ms | {w['max']:.2f} ms |\n"
        f"| CPU time of the sample thread | {u['p50']:.3f} ms | {u['p99']:.3f} ms "
        f"| {u['max']:.2f} ms |\n\n"
        f"Target p99 <= 1 ms: **{'met' if u['p99'] <= 1.0 else 'missed'}** on CPU time, "
        f"**{'met' if w['p99'] <= 1.0 else 'missed'}** on "
        "wall time (which adds the time slices other processes took from the sample "
        "thread on this shared machine; CPU time is what the tracker costs).\n\n"
        f"Settle and pose updates: the rest-pose fit took {c['pose_s']:.2f} s when run "
        f"inline (that was one sample before); on the child it arrived {c['ready_after']} "
        "samples after the settle time while the sample thread went on (max CPU time of a "
        f"sample around the settle point {c['settle_cpu_max']:.3f} ms, over the whole run "
        f"{c['all_cpu_max']:.3f} ms, {c['updates']} pose fits swapped in). "
        f"Twin fit on one session: {c['fit_s']:.1f} s. No instruction counts: "
        "the container has no hardware counters for `perf`."
    )
    replace_section(
        ROOT / "docs/benchmarks.md",
        "<!-- tracking-speed:start -->",
        "<!-- tracking-speed:end -->",
        body,
    )
    print(body)
    if args.seeds:
        table = spread(args.seeds)
        replace_section(
            ROOT / "docs/tracking.md",
            "<!-- tracking-spread:start -->",
            "<!-- tracking-spread:end -->",
            table,
        )
        print(table)


if __name__ == "__main__":
    main()
