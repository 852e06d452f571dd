"""A witness of machine-wide stalls for the latency benches.

A child process that does nothing but sleep 2 ms at a time and report every wake-up
that came more than a threshold late. It shares no interpreter lock and no work with
the bridge, so a stall it sees at the same time as a latency spike is the machine (the
hypervisor, another process, the kernel), not the bridge.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time

_NAP_S = 0.002


class StallWitness:
    """Runs the witness child; `stalls(t0, t1)` lists its late wake-ups (ms) in a span."""

    def __init__(self, threshold_ms: float = 5.0) -> None:
        self.threshold_ms = threshold_ms
        self._seen: list[tuple[float, float]] = []  # (monotonic start, late by ms)
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> StallWitness:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, str(self.threshold_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, name="stall-witness", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            t, ms = line.split()
            self._seen.append((float(t), float(ms)))

    def stalls(self, t0: float, t1: float) -> list[float]:
        """How late (ms) each stall that began between t0 and t1 (time.monotonic) was."""
        return [ms for t, ms in list(self._seen) if t0 <= t <= t1]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)


def _watch(threshold_ms: float) -> None:
    late_s = threshold_ms / 1e3
    while True:
        t = time.monotonic()
        time.sleep(_NAP_S)
        late = time.monotonic() - t - _NAP_S
        if late > late_s:
            print(f"{t:.6f} {late * 1e3:.2f}", flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        _watch(float(sys.argv[1]))
