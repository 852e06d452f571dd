"""Game benchmarks: per-tick cost (drain + step + scene update) and headless session time.

Run: python bench/play_speed.py  (needs bpy). Prints a markdown section for
docs/benchmarks.md. Targets: tick <= 2 ms; a 2-minute headless session without
rendering (simulator -> pty -> bridge -> websocket -> game in bpy) <= 15 s.
"""

from __future__ import annotations

import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bpy
from machine import cpu_model

from fist_and_ball.live.mailbox import Mailbox
from fist_and_ball.live.session_controller import SessionController
from fist_and_ball.scene.apply import apply_view
from fist_and_ball.scene.build import build_scene
from fist_and_ball_app.headless.play import PlayOptions, run_play

TICKS = 6000


def tick_cost() -> list[float]:
    """Seconds per tick of what the live timer does: drain the mailbox, step the session
    (game core + score log) through the add-on's SessionController, update the scene.
    Fed 1-2 grade messages per tick, as 42.7 Hz samples against a 60 Hz timer."""
    refs = build_scene()
    mailbox = Mailbox()
    mailbox.set_connection(True, "bench")
    mailbox.put_hello({"type": "hello", "protocol": 1, "source": "bench", "decoder": "qg",
                       "gestures": ["fingers"], "n_sensors": 3, "rate_hz": 42.7})  # fmt: skip
    controller = SessionController()
    out = []
    seq = 0
    with tempfile.TemporaryDirectory() as logs:
        controller.update(mailbox.drain(), 0.0)
        controller.start(0.0, level="medium", minutes=6, seed=1, patient="bench",
                         log_folder=logs, require_signal=False)  # fmt: skip
        for k in range(1, TICKS + 1):
            t = k / 60.0
            grade = int(4 + 4 * math.sin(t * 1.3))
            for _ in range(1 + k % 2):
                seq += 1
                mailbox.put_grade({"type": "grade", "seq": seq, "grade": grade,
                                   "closure": grade / 8, "gesture": "fingers",
                                   "confidence": 1.0, "t": t})  # fmt: skip
            t0 = time.perf_counter()
            view = controller.update(mailbox.drain(), t)
            apply_view(refs, view)
            out.append(time.perf_counter() - t0)
        controller.stop(TICKS / 60.0)
    return out


def session_time(scene: bool) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        opts = PlayOptions(minutes=2, level="medium", seed=1, log_dir=Path(tmp),
                           scene_updates=scene)  # fmt: skip
        t0 = time.perf_counter()
        result = run_play(opts)
        return time.perf_counter() - t0, result.samples


def main() -> None:
    ticks = sorted(tick_cost())
    p = lambda q: ticks[min(len(ticks) - 1, int(q * len(ticks)))] * 1e3  # noqa: E731
    print("measuring sessions...", file=sys.stderr)
    with_scene = [session_time(True) for _ in range(2)]
    no_scene = session_time(False)
    cpu = cpu_model()
    print("## Game: tick cost and headless sessions (`bench/play_speed.py`)\n")
    print(f"Machine: {cpu}, {len(__import__('os').sched_getaffinity(0))} cores, "
          f"Python {platform.python_version()}, bpy {bpy.app.version_string}, "
          f"{time.strftime('%Y-%m-%d')}.\n")  # fmt: skip
    print("| measure | result | target |\n|---|---|---|")
    print(f"| tick (mailbox drain + session step incl. score log + scene update), "
          f"p50 / p99 / max over {TICKS} "
          f"| {p(0.5):.3f} / {p(0.99):.3f} / {ticks[-1] * 1e3:.2f} ms | <= 2 ms |")  # fmt: skip
    mean_tick = statistics.fmean(ticks) * 1e3
    print(f"| tick mean | {mean_tick:.3f} ms | |")
    for i, (s, n) in enumerate(with_scene):
        print(f"| 2-min session, real chain + scene updates, run {i + 1} ({n} samples) "
              f"| {s:.1f} s | <= 15 s |")  # fmt: skip
    print(
        f"| 2-min session, real chain, no scene ({no_scene[1]} samples) | {no_scene[0]:.1f} s | |"
    )


if __name__ == "__main__":
    main()
