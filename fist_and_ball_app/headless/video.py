"""Assemble rendered PNG frames into an animation file.

The `bpy` wheel is built without FFmpeg, so Blender cannot write movies here; Pillow
(installed with matplotlib) writes animated WebP and GIF with no further dependency.
"""

from __future__ import annotations

from pathlib import Path

FORMATS = (".webp", ".gif")


def check_video_path(path: Path) -> None:
    """Refuse an unsupported extension before a session is played, not after."""
    if path.suffix.lower() not in FORMATS:
        raise ValueError(
            f"--video {path}: use a .webp or .gif file (this Blender build has no FFmpeg "
            "for .mp4; use --render DIR and your own encoder for other formats)"
        )


def write_animation(frames: list[Path], out: Path, fps: float) -> Path:
    """Write `frames` (PNG files, in order) as an animated WebP or GIF at `fps`."""
    from PIL import Image

    check_video_path(out)
    if not frames:
        raise ValueError("no frames were rendered: nothing to put in the video")
    images = [Image.open(f).convert("RGB") for f in frames]
    duration_ms = max(20, round(1000.0 / fps))
    out.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, object] = {"save_all": True, "append_images": images[1:],
                                 "duration": duration_ms, "loop": 0}  # fmt: skip
    if out.suffix.lower() == ".webp":
        kwargs["quality"] = 80
    images[0].save(out, **kwargs)  # type: ignore[arg-type]
    return out
