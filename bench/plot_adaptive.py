"""Plot the auto level's ball speed over 6-minute sessions of virtual patients
(core autopilot + simple plant, headless, seeded) into docs/img/adaptive_speed.png.

    python bench/plot_adaptive.py [--seed 3] [--out docs/img/adaptive_speed.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fist_and_ball.core.adaptive import TARGET_HOLD_SHARE, WINDOW_S
from fist_and_ball.core.levels import AUTO_SPEED_BOUNDS, MEDIUM
from fist_and_ball.core.quick_play import play_autopilot_session

SKILLS = ("novice", "average", "expert")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("docs/img/adaptive_speed.png"))
    args = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    for skill in SKILLS:
        s = play_autopilot_session("auto", 6, skill=skill, seed=args.seed, rate_hz=30)
        track = s["adaptive"]["speed_track"]
        xs = [t / 60 for t, _ in track]
        ys = [v for _, v in track]
        label = f"{skill}: held {100 * s['held_fraction']:.0f} %, mean {s['ball_speed']:.2f}"
        ax.step(xs, ys, where="post", label=label)
        print(f"{label}, {len(track) - 2} adjustments")
    lo, hi = AUTO_SPEED_BOUNDS
    ax.axhline(lo, color="grey", ls=":", lw=1)
    ax.axhline(hi, color="grey", ls=":", lw=1)
    ax.axhline(MEDIUM.ball_speed, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("play time (min)")
    ax.set_ylabel("ball speed (grade/s)")
    band = f"{TARGET_HOLD_SHARE[0]:g}..{TARGET_HOLD_SHARE[1]:g}"
    ax.set_title(f"Level auto: hold share target {band}, evaluated every {WINDOW_S:g} s")
    ax.set_ylim(lo - 0.3, hi + 0.3)
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
