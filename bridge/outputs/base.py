"""The output interface: consumers at the end of the pipeline (server, hand, recorder)."""

from __future__ import annotations

from bridge.values.sample import Decoded, Sample
from bridge.values.status import OutputStatus, PipelineStatus


class Output:
    """Receives every decoded sample and periodic status, on the pipeline thread.

    `on_sample` is on the per-sample hot path: it must not block (hand it to a queue
    or an event loop). Outputs never call back into sources or decoders.
    """

    name = "output"

    def on_sample(self, sample: Sample, decoded: Decoded | None) -> None:
        """Called once per sample; `decoded` is None when no decoder runs (record)."""

    def on_status(self, status: PipelineStatus) -> None:
        """Called about once a second with the pipeline status (source state, rates)."""

    def status(self) -> OutputStatus | None:
        """This output's part of the next status (None: nothing to report). Called on
        the status thread, concurrently with `on_sample`: read, don't block."""
        return None

    def close(self) -> None:
        """Release resources; called once when the pipeline stops."""
