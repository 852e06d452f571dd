"""What is known about a source (its sidecar fields) and how it is doing (its live health)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class SourceState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # lost; reconnecting with backoff
    ENDED = "ended"  # a finite source (replay) finished, or closed


@dataclass(slots=True)
class SourceInfo:
    """What is known about a source before or once it streams (recording sidecar fields)."""

    n_sensors: int | None = None
    rate_hz: float | None = None
    layout: str | None = None
    sensor_model: str = "LIS3MDL"
    full_scale_gauss: float | None = None
    positions_mm: list[list[float]] | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SourceStatus:
    """Live health of a source, reported in the bridge's `status` messages."""

    state: SourceState = SourceState.CONNECTING
    detail: str = ""
    frames: int = 0
    bad_frames: int = 0
    dropped: int = 0
    reconnects: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        return d
