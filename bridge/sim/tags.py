"""The three implanted magnetic tags of the virtual forearm and how gestures move them.

Forearm frame (millimetres): x runs along the forearm axis, positive distally (towards
the hand); z points to the volar (palm) side, y to the radial (thumb) side. The skin is
a cylinder of radius `SKIN_RADIUS_MM` around the x axis. Each tag is an NdFeB cylinder
whose axis lies along x (along its muscle) and which slides along x: flexion pulls it
proximally (towards -x), so level 0 (fully extended/open) is the distal end of its
stroke and level 1 (fully flexed/closed) the proximal end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SKIN_RADIUS_MM = 40.0
"""Radius of the (idealised, cylindrical) forearm at the implant level."""

TAG_LENGTH_MM = 13.3
TAG_DIAMETER_MM = 5.0
"""The paper's NdFeB cylinders (13.3 mm long, 5 mm diameter, 1.1 g)."""

MOVEMENTS: tuple[str, ...] = ("fingers", "wrist", "thumb")
"""The three cued movements (contract 2 names, without `rest`), in tag order."""


@dataclass(frozen=True, slots=True)
class TagSpec:
    """One implanted tag: where it sits at level 0 and how far its own gesture moves it."""

    name: str
    gesture: str
    x_mm: float
    depth_mm: float
    angle_deg: float
    stroke_mm: float
    polarity: int
    """+1: north pole towards +x (distal); -1: towards -x. Implant orientation is arbitrary."""
    muscle: str

    @property
    def radius_mm(self) -> float:
        """Distance of the tag axis from the forearm axis."""
        return SKIN_RADIUS_MM - self.depth_mm

    @property
    def position_mm(self) -> np.ndarray:
        """Centre of the tag at level 0 (extended), shape (3,)."""
        a = math.radians(self.angle_deg)
        return np.array([self.x_mm, self.radius_mm * math.sin(a), self.radius_mm * math.cos(a)])


TAGS: tuple[TagSpec, ...] = (
    TagSpec(
        name="tag1",
        gesture="fingers",
        x_mm=3.0,
        depth_mm=18.0,
        angle_deg=0.0,
        stroke_mm=5.7,
        polarity=+1,
        muscle="finger flexor/extensor pair (FDS -> EDC transfer), volar midline",
    ),
    TagSpec(
        name="tag2",
        gesture="wrist",
        x_mm=5.0,
        depth_mm=17.0,
        angle_deg=-75.0,
        stroke_mm=4.7,
        polarity=-1,
        muscle="wrist flexor/extensor pair (FCU -> ECU side), ulnar-volar",
    ),
    TagSpec(
        name="tag3",
        gesture="thumb",
        x_mm=-2.0,
        depth_mm=18.0,
        angle_deg=80.0,
        stroke_mm=2.5,
        polarity=+1,
        muscle="thumb flexor/extensor pair (FPL -> EPL), radial-volar",
    ),
)
"""Tags in MOVEMENTS order. Strokes: the paper's week-12 fluoroscopy (5.7 and 4.7 mm);
the thumb tag had no significant independent movement, so it gets a short stroke and
strong coupling (see COUPLING)."""

COUPLING: np.ndarray = np.array(
    [
        # tag1  tag2  tag3      (fraction of each tag's own stroke at full activation)
        [1.00, 0.00, 0.20],  # fingers gesture: the thumb tag follows a little (0.5 mm)
        [0.00, 1.00, 0.20],  # wrist gesture: the thumb tag follows a little (0.5 mm)
        [0.35, 0.00, 1.00],  # thumb gesture: 2.5 mm of its own, drags the finger tag 2.0 mm
    ]
)
"""Normalised tag displacement = activations (3 movements) @ COUPLING, clipped to 0..1.

Row g, column j: how much of tag j's stroke a full contraction of movement g produces.
It models the paper's finding that the thumb pair "contracts to some extent following
the contraction of the other two", and the adhesion that makes a thumb movement drag the
finger tendons."""


def normalised_displacements(activations: np.ndarray) -> np.ndarray:
    """Muscle activations (..., 3) in 0..1 -> normalised tag displacements (..., 3) in 0..1."""
    return np.clip(np.asarray(activations, dtype=np.float64) @ COUPLING, 0.0, 1.0)


def strokes_mm() -> np.ndarray:
    """Full strokes of the three tags in mm, shape (3,)."""
    return np.array([t.stroke_mm for t in TAGS])
