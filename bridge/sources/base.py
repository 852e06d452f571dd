"""The source interface: anything that yields timestamped KMG samples."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator

from bridge.values.sample import Sample
from bridge.values.source_info import SourceInfo, SourceStatus


class Source(ABC):
    """A KMG sample source. `samples()` blocks; run it in its own thread.

    Implementations never raise out of `samples()` for device trouble: they set
    `status.state` to DISCONNECTED with a clear `detail`, back off and reconnect.
    The iterator ends when `stop` is set or a finite source runs out.
    """

    url: str
    info: SourceInfo
    status: SourceStatus

    @abstractmethod
    def samples(self, stop: threading.Event) -> Iterator[Sample]:
        """Yield samples until `stop` is set or the source ends."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device; default does nothing."""
