"""The decoder interface: Sample -> Decoded, one call per sample, no I/O."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from bridge.values.sample import Decoded, Sample


class Decoder(ABC):
    """Turns KMG samples into (gesture, grade, level, confidence).

    `decode` runs on the bridge's hot path once per sample: no I/O, no allocation
    beyond the result. `ready` is False when the calibration or model is missing or
    invalid; the hand safety layer refuses to move while it is False.
    """

    name: str = "decoder"
    gestures: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return True

    @abstractmethod
    def decode(self, sample: Sample) -> Decoded:
        """Decode one sample."""

    def start_stream(self) -> None:
        """Called by the pipeline once before the first sample of a live stream: start
        background helpers here, so that the first samples do not wait for them.
        Most decoders have none."""
        return None

    def set_gesture(self, name: str) -> None:
        """Manual gesture switch (QG). Decoders that detect the gesture ignore it."""
        raise ValueError(f"decoder {self.name} has no manual gesture switch")

    def describe(self) -> dict[str, Any]:
        """Facts for the `hello` message and the live view."""
        return {"decoder": self.name, "gestures": list(self.gestures)}
