"""Rebuild the Fist & Ball scene from code and render the documentation images.

Run with the project's venv (bpy 5.0 as a module):

    /work/venv/bin/python assets/regenerate_scene.py            # docs/img/*.png
    /work/venv/bin/python assets/regenerate_scene.py --blend out/fist_and_ball.blend

The scene itself is never stored: fist_and_ball.scene.build makes it from code. A
.blend is written only on request (into a git-ignored folder such as out/).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import bpy

from fist_and_ball.core.view import GameView
from fist_and_ball.scene.apply import apply_view
from fist_and_ball.scene.build import build_scene
from fist_and_ball.scene.decoder_view import apply_decoder_view, build_decoder_view
from fist_and_ball.scene.render import render_png, update_scene

ROOT = Path(__file__).resolve().parent.parent

LOOKS = {
    "scene_open": GameView(grade=0, level=0.0, ball_height=0.12, leds_lit=1, in_catch_zone=True,
                           score=0, time_left_s=240),
    "scene_mid": GameView(grade=4, level=0.5, ball_height=0.62, leds_lit=5, score=85,
                          time_left_s=151),
    "scene_fist": GameView(grade=8, level=1.0, ball_height=1.0, leds_lit=9, holding=True,
                           in_catch_zone=True, score=212, time_left_s=96),
    "scene_wrist": GameView(grade=7, level=0.85, gesture="wrist", ball_height=0.45, leds_lit=8,
                            score=40, time_left_s=70),
}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--engine", default="BLENDER_WORKBENCH")
    ap.add_argument("--blend", type=Path, default=None, help="also save the scene here")
    ap.add_argument("--layout", default="socket16", help="sensor layout for the decoder view")
    args = ap.parse_args(argv)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    refs = build_scene()
    for name, view in LOOKS.items():
        apply_view(refs, view)
        update_scene(refs.scene)
        path = render_png(args.out / f"{name}.png", engine=args.engine)
        print(f"wrote {path}")

    try:
        from bridge.sim.layouts import get_layout

        positions = get_layout(args.layout).positions_mm.tolist()
    except ImportError:  # the add-on alone, without the bridge package
        positions = [[-32.0 if i < 8 else 32.0, 38 * math.sin(i * math.pi / 4),
                      38 * math.cos(i * math.pi / 4)] for i in range(16)]
    dec = build_decoder_view(refs, positions)
    bars = [0.35 + 0.6 * max(0.0, math.cos(i * 0.8 - 0.9)) for i in range(len(positions))]
    apply_decoder_view(refs, bars, "fingers", 6)
    path = render_png(args.out / "decoder_view.png", engine=args.engine, camera=dec.camera)
    print(f"wrote {path}")

    if args.blend is not None:
        args.blend.parent.mkdir(parents=True, exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=str(args.blend.resolve()))
        print(f"wrote {args.blend}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
