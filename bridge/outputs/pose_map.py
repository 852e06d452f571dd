"""Decoded (gesture, level) -> hand pose: five finger positions plus an optional wrist.

Positions are percent of travel, 0 = fully open/extended, 100 = fully closed/flexed,
in *logical* coordinates: the safety layer and every status message speak these.
Motor inversion (a finger whose motor runs the other way) is applied only at the wire,
by `HandLimits.to_motor`, so a mirrored motor can never turn "open" into "closed"
anywhere else in the code.

Finger order everywhere: 0 thumb, 1 index, 2 middle, 3 ring, 4 little.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FINGER_NAMES: tuple[str, ...] = ("thumb", "index", "middle", "ring", "little")
N_FINGERS = 5

REST_MODES: tuple[str, ...] = ("hold", "open")


@dataclass(frozen=True, slots=True)
class Pose:
    """Five finger positions (0..100, 0 = open) and an optional wrist position.

    `wrist` is None on hands without a powered wrist. Wrist 0 = fully extended,
    100 = fully flexed.
    """

    fingers: tuple[float, float, float, float, float]
    wrist: float | None = None

    def is_finite(self) -> bool:
        """True when no value is NaN or infinite."""
        vals = list(self.fingers) + ([] if self.wrist is None else [self.wrist])
        return len(self.fingers) == N_FINGERS and all(math.isfinite(v) for v in vals)

    def rounded(self, ndigits: int = 1) -> Pose:
        """The pose rounded for the wire and for change detection."""
        fingers = tuple(round(v, ndigits) for v in self.fingers)
        wrist = None if self.wrist is None else round(self.wrist, ndigits)
        return Pose(fingers, wrist)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {"fingers": [round(v, 2) for v in self.fingers], "wrist": self.wrist}


@dataclass(slots=True)
class FingerLimits:
    """Travel and speed limits of one motor, in logical percent.

    `min_pos` is the most open position the motor may be commanded to (the safe open
    pose uses it), `max_pos` the most closed. `max_speed_pct_s` is the slew limit the
    safety layer applies while the hand follows the decoder. `invert` mirrors the motor
    at the wire (motor = 100 - logical).
    """

    min_pos: float = 0.0
    max_pos: float = 100.0
    max_speed_pct_s: float = 80.0
    invert: bool = False

    def validate(self, what: str) -> None:
        for name in ("min_pos", "max_pos", "max_speed_pct_s"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
                raise ValueError(f"{what}.{name} must be a finite number, got {v!r}")
        if not 0.0 <= self.min_pos < self.max_pos <= 100.0:
            raise ValueError(
                f"{what}: need 0 <= min_pos < max_pos <= 100, got {self.min_pos}..{self.max_pos}"
            )
        if self.max_speed_pct_s <= 0:
            raise ValueError(f"{what}.max_speed_pct_s must be > 0, got {self.max_speed_pct_s}")
        if not isinstance(self.invert, bool):
            raise ValueError(f"{what}.invert must be true or false, got {self.invert!r}")

    def clamp(self, v: float) -> float:
        return min(max(v, self.min_pos), self.max_pos)


def _default_fingers() -> list[FingerLimits]:
    # The thumb is given a little less speed: it closes across the palm.
    return [FingerLimits(max_speed_pct_s=60.0)] + [FingerLimits() for _ in range(4)]


@dataclass(slots=True)
class HandLimits:
    """Per-motor limits of a hand: five fingers and the wrist (used only if the hand has one).

    `wrist_neutral` is the wrist position of the safe open pose.
    """

    fingers: list[FingerLimits] = field(default_factory=_default_fingers)
    wrist: FingerLimits = field(default_factory=lambda: FingerLimits(max_speed_pct_s=40.0))
    wrist_neutral: float = 50.0

    def validate(self) -> None:
        if len(self.fingers) != N_FINGERS:
            raise ValueError(f"limits.fingers needs {N_FINGERS} entries, got {len(self.fingers)}")
        for name, lim in zip(FINGER_NAMES, self.fingers, strict=True):
            lim.validate(f"limits.fingers[{name}]")
        self.wrist.validate("limits.wrist")
        if not self.wrist.min_pos <= self.wrist_neutral <= self.wrist.max_pos:
            raise ValueError("limits.wrist_neutral must lie within the wrist limits")

    def clamp(self, pose: Pose) -> Pose:
        """`pose` with every value inside its limits (NaN must be rejected before this)."""
        fingers = tuple(lim.clamp(v) for lim, v in zip(self.fingers, pose.fingers, strict=True))
        wrist = None if pose.wrist is None else self.wrist.clamp(pose.wrist)
        return Pose(fingers, wrist)  # type: ignore[arg-type]

    def open_pose(self, has_wrist: bool) -> Pose:
        """The safe open pose: every finger at its most open limit, wrist neutral."""
        fingers = tuple(lim.min_pos for lim in self.fingers)
        return Pose(fingers, self.wrist_neutral if has_wrist else None)  # type: ignore[arg-type]

    def to_motor(self, pose: Pose) -> Pose:
        """Logical -> motor coordinates (applies `invert`); an involution."""
        fingers = tuple(
            100.0 - v if lim.invert else v
            for lim, v in zip(self.fingers, pose.fingers, strict=True)
        )
        wrist = pose.wrist
        if wrist is not None and self.wrist.invert:
            wrist = 100.0 - wrist
        return Pose(fingers, wrist)  # type: ignore[arg-type]

    def from_motor(self, pose: Pose) -> Pose:
        """Motor -> logical coordinates (feedback)."""
        return self.to_motor(pose)


@dataclass(slots=True)
class PoseMapConfig:
    """How each gesture moves the hand.

    - `fingers` (clenching): finger i goes to min + level * fist_weights[i] * (max - min).
      The default weights close the four fingers fully and the thumb to 60 % for a
      natural fist. The wrist holds.
    - `thumb`: the thumb follows the level over its full range; the other fingers and
      the wrist hold where they are.
    - `wrist`: the wrist follows the level (0 = extended, 1 = flexed) on hands with a
      wrist; on hands without one the input is ignored and everything holds.
    - `rest`: `rest_mode` "hold" keeps the pose (a relaxed arm does not drop what the
      hand holds); "open" drifts to the safe open pose at `rest_open_speed_pct_s`.
    - unknown gesture names hold.
    """

    fist_weights: list[float] = field(default_factory=lambda: [0.6, 1.0, 1.0, 1.0, 1.0])
    rest_mode: str = "hold"
    rest_open_speed_pct_s: float = 15.0

    def validate(self) -> None:
        if len(self.fist_weights) != N_FINGERS:
            raise ValueError(f"pose_map.fist_weights needs {N_FINGERS} values")
        for w in self.fist_weights:
            if not isinstance(w, int | float) or not 0.0 <= w <= 1.0:
                raise ValueError(f"pose_map.fist_weights must be numbers in 0..1, got {w!r}")
        if self.rest_mode not in REST_MODES:
            raise ValueError(
                f"pose_map.rest_mode must be one of {REST_MODES}, got {self.rest_mode!r}"
            )
        if not (
            isinstance(self.rest_open_speed_pct_s, int | float) and self.rest_open_speed_pct_s > 0
        ):
            raise ValueError("pose_map.rest_open_speed_pct_s must be > 0")


@dataclass(frozen=True, slots=True)
class PoseTarget:
    """Where the decoder asks the hand to go, and an optional slower speed cap (%/s)."""

    pose: Pose
    speed_cap_pct_s: float | None = None


class PoseMap:
    """Maps one decoded (gesture, level) onto a target pose. Pure: no state, no time."""

    def __init__(self, config: PoseMapConfig, limits: HandLimits, has_wrist: bool) -> None:
        config.validate()
        limits.validate()
        self.config = config
        self.limits = limits
        self.has_wrist = has_wrist

    def map(self, gesture: str, level: float, current: Pose) -> PoseTarget:
        """Target for `gesture` at `level` (0..1, clamped), holding the degrees of freedom
        the gesture does not drive at `current` (the pose the hand is commanded to now).

        A non-finite level (NaN, inf) means a broken decoder whatever the gesture: the
        target is then all NaN so the safety layer rejects it."""
        if not math.isfinite(level):
            nan = math.nan
            return PoseTarget(Pose((nan,) * N_FINGERS, nan if self.has_wrist else None))  # type: ignore[arg-type]
        level = min(max(level, 0.0), 1.0)
        fingers = list(current.fingers)
        wrist = current.wrist if self.has_wrist else None
        if self.has_wrist and wrist is None:
            wrist = self.limits.wrist_neutral
        lims = self.limits.fingers
        if gesture == "fingers":
            for i, w in enumerate(self.config.fist_weights):
                fingers[i] = lims[i].min_pos + level * w * (lims[i].max_pos - lims[i].min_pos)
        elif gesture == "thumb":
            fingers[0] = lims[0].min_pos + level * (lims[0].max_pos - lims[0].min_pos)
        elif gesture == "wrist":
            if self.has_wrist:
                wl = self.limits.wrist
                wrist = wl.min_pos + level * (wl.max_pos - wl.min_pos)
        elif gesture == "rest" and self.config.rest_mode == "open":
            return PoseTarget(
                self.limits.open_pose(self.has_wrist), self.config.rest_open_speed_pct_s
            )
        return PoseTarget(Pose(tuple(fingers), wrist))  # type: ignore[arg-type]


def _build(cls: Any, data: Any, what: str) -> Any:
    """Construct dataclass `cls` from a dict, refusing unknown keys with a clear message."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(data).__name__}")
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {unknown}; known: {sorted(known)}")
    return cls(**data)


def limits_from_dict(data: dict[str, Any]) -> HandLimits:
    """HandLimits from its JSON form (missing keys take defaults)."""
    d = dict(data)
    lim = HandLimits()
    if "fingers" in d:
        fl = d.pop("fingers")
        if not isinstance(fl, list):
            raise ValueError("limits.fingers must be a list of 5 objects")
        lim.fingers = [_build(FingerLimits, f, f"limits.fingers[{i}]") for i, f in enumerate(fl)]
    if "wrist" in d:
        lim.wrist = _build(FingerLimits, d.pop("wrist"), "limits.wrist")
    rest = _build(HandLimits, d, "limits")
    lim.wrist_neutral = rest.wrist_neutral
    lim.validate()
    return lim


def pose_map_config_from_dict(data: dict[str, Any]) -> PoseMapConfig:
    cfg = _build(PoseMapConfig, data, "pose_map")
    cfg.validate()
    return cfg


def load_json_object(path: str | Path) -> dict[str, Any]:
    """Read a JSON object from a file with a one-line error for the user."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read hand config {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"hand config {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"hand config {path} must hold a JSON object")
    return data
