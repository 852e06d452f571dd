"""Simulated frames made a block at a time and handed out one by one.

The simulator's cost is mostly per call: about 0.5 ms for one frame of 16 sensors,
against 10-40 us per frame in blocks of 20-250. Paced at 1000 Hz with one call per
due frame, the `sim:` source took half a core, with the interpreter lock held, from
the websocket server in the same process (bench/abuse.py), and `simulate --emit` as
much from everything else on the machine. A real-time caller asks for frames as they
fall due and gets them from a block made ahead; the next block is made only when
the last one is used up, so no frame exists more than `block` frames before its time.
"""

from __future__ import annotations

from bridge.sim.simulator import SimBlock, SimFrame, Simulator


class FramesAhead:
    """Frames of `sim`, made `block` at a time; at most `limit` frames in all."""

    def __init__(self, sim: Simulator, block: int, limit: int | None = None) -> None:
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self._sim = sim
        self._size = block
        total = sim.n_frames_total
        if limit is None or total is None:
            self._limit = total if limit is None else limit
        else:
            self._limit = min(limit, total)
        self._block: SimBlock | None = None
        self._k = 0
        self.handed_out = 0
        """Frames handed out so far."""

    @property
    def exhausted(self) -> bool:
        """Every frame the script (or the limit) allows has been handed out."""
        return self._limit is not None and self.handed_out >= self._limit

    def next(self) -> SimFrame | None:
        """The next frame, making a block when needed; None once exhausted."""
        if self.exhausted:
            return None
        if self._block is None or self._k >= len(self._block):
            n = self._size
            if self._limit is not None:
                n = min(n, self._limit - self._sim.next_seq)
            self._block, self._k = self._sim.generate_block(n), 0
        self._k += 1
        self.handed_out += 1
        return self._block.frame(self._k - 1)
