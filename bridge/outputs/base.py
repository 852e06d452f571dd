"""The output interface: consumers at the end of the pipeline (server, hand, recorder)."""

from __future__ import annotations

from typing import Any

from bridge.values.sample import Decoded, Sample


class Output:
    """Receives every decoded sample and periodic status, on the pipeline thread.

    `on_sample` is on the per-sample hot path: it must not block (hand it to a queue
    or an event loop). Outputs never call back into sources or decoders.
    """

    name = "output"

    def on_sample(self, sample: Sample, decoded: Decoded | None) -> None:
        """Called once per sample; `decoded` is None when no decoder runs (record)."""

    def on_status(self, status: dict[str, Any]) -> None:
        """Called about once a second with the pipeline status (source state, rates)."""

    def close(self) -> None:
        """Release resources; called once when the pipeline stops."""
