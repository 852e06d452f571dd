"""`sim:LAYOUT?options`: the virtual forearm + patient as a live source (with labels).

Options are SimConfig fields (see docs/simulator.md) plus two of the source's own:
`speed` (1 = real time, a factor, or `max` = as fast as the consumer takes them) and
`loop` (1 = repeat the scripted cue script forever instead of ending).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

from bridge.sim.frames_ahead import FramesAhead
from bridge.sim.pacing import Pacer
from bridge.sim.simulator import Simulator
from bridge.sim.url import parse_sim_url
from bridge.sources.base import Source
from bridge.values.sample import Sample
from bridge.values.source_info import SourceState, SourceStatus

_MAX_SPEED_BLOCK = 512
_REALTIME_BLOCK_S = 0.02
"""In real time, frames are made at most this far ahead in one go (5 ms in intent mode)."""


class SimSource(Source):
    """Yields simulated Samples (labels included), paced at rate_hz x speed.

    A scripted or calibration cue script ends the stream (state ENDED) unless `loop=1`.
    In intent mode, call `source.simulator.set_intent(gesture, level)` from any thread.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = parse_sim_url(url)
        self.config, self.speed, self.loop = parsed.config(), parsed.speed, parsed.loop
        self.simulator = Simulator(self.config, loop=self.loop)
        self.info = self.simulator.info
        self.info.source = url
        self._closed = threading.Event()
        d = self.simulator.duration_s
        length = "open-ended" if math.isinf(d) else f"{d:.0f} s"
        pace = "as fast as possible" if self.speed is None else f"at {self.speed:g}x real time"
        self._describe = (
            f"simulator {self.config.layout}: {self.config.cue_script} cue script ({length}), "
            f"{self.config.rate_hz:g} Hz {pace}"
        )
        self.status = SourceStatus(detail=self._describe + ", ready")

    def samples(self, stop: threading.Event) -> Iterator[Sample]:
        """Yield samples until stopped, closed, or the (non-looping) cue script ends."""
        sim = self.simulator
        st = self.status
        st.state = SourceState.CONNECTED
        st.detail = self._describe
        if self.config.cue_script == "intent":
            # an intent must reach the very next frame the consumer gets: no frames ahead
            block_cap = 1 if self.speed is None else max(1, int(0.005 * sim.rate_hz))
        elif self.speed is None:
            block_cap = _MAX_SPEED_BLOCK
        else:
            block_cap = max(1, int(_REALTIME_BLOCK_S * sim.rate_hz * self.speed))
        pacer = Pacer(sim.rate_hz, self.speed, max_block=block_cap)
        ahead = FramesAhead(sim, block_cap)
        while not (stop.is_set() or self._closed.is_set()):
            if ahead.exhausted:
                st.state = SourceState.ENDED
                st.detail = f"{self._describe}: cue script finished after {st.frames} frames"
                return
            n = pacer.due()
            if n == 0:
                pacer.wait(stop)
                continue
            for _ in range(n):
                frame = ahead.next()
                if frame is None or stop.is_set() or self._closed.is_set():
                    break
                pacer.sent(1)
                st.frames += 1
                yield sim.to_sample(frame, time.monotonic())
        st.state = SourceState.ENDED
        st.detail = f"{self._describe}: stopped after {st.frames} frames"

    def close(self) -> None:
        self._closed.set()
