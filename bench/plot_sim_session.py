"""Plot |B| per sensor over a scripted socket16 session, with the gesture cues shaded.

/work/venv/bin/python bench/plot_sim_session.py [--out docs/img/simulator_session.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from bridge.sim.config import SimConfig
from bridge.sim.simulator import Simulator
from bridge.values.sample import GESTURES

CUE_COLOURS = {"fingers": "#f4a261", "wrist": "#2a9d8f", "thumb": "#8ecae6"}


def _spans(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, label) runs of equal labels."""
    edges = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(labels)]])
    return [(int(a), int(b), int(labels[a])) for a, b in zip(starts, ends, strict=True)]


def plot(cfg: SimConfig, out: Path) -> None:
    sim = Simulator(cfg)
    blk = sim.generate_all()
    t, mag = blk.t_s, blk.magnitudes
    fig, axes = plt.subplots(
        3, 1, figsize=(12.5, 8.5), sharex=True, gridspec_kw={"height_ratios": [3, 3, 1.4]}
    )
    rings = [
        ("proximal ring, sensors 0-7 (x = -32 mm)", range(8)),
        ("distal ring, sensors 8-15 (x = +32 mm)", range(8, 16)),
    ]
    cmap = plt.get_cmap("tab10")
    for ax, (title, idx) in zip(axes[:2], rings, strict=True):
        for c, i in enumerate(idx):
            ax.plot(t, mag[:, i], lw=0.8, color=cmap(c % 10), label=f"s{i}")
        ax.set_ylabel("|B| (uT)")
        ax.set_title(title, fontsize=10, loc="left")
        ax.legend(ncol=1, fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    axes[2].plot(t, blk.grade_true, color="k", lw=0.8)
    axes[2].set_ylabel("grade_true")
    axes[2].set_ylim(-0.3, 8.3)
    axes[2].set_xlabel("time (s)")
    for a, b, g in _spans(blk.gesture):
        name = GESTURES[g]
        if name in CUE_COLOURS:
            for ax in axes:
                ax.axvspan(t[a], t[b - 1], color=CUE_COLOURS[name], alpha=0.25, lw=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.4) for c in CUE_COLOURS.values()]
    fig.legend(
        handles,
        [f"cue: {n}" for n in CUE_COLOURS],
        loc="upper center",
        ncol=3,
        bbox_to_anchor=(0.5, 0.962),
        frameon=False,
    )
    fig.suptitle(
        f"Simulated scripted session, {cfg.layout}, seed {cfg.seed}: |B| per sensor "
        f"(Earth {cfg.earth_ut:g} uT, noise {cfg.noise_ut_rms:g} uT RMS, {cfg.rate_hz:g} Hz)",
        y=0.99,
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/img/simulator_session.png"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    plot(SimConfig(layout="socket16", seed=args.seed), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
