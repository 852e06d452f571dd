"""The latency bench's device: a child process that writes frames on a fixed schedule.

A real sensor board clocks its frames out by its own timer, whatever the host does. The
bench's writer used to be a thread of the bench process, sharing one interpreter lock
with the 10 websocket clients parsing every grade: a client loop holding the lock for
Python's 5 ms switch interval delayed the writer, which then wrote several frames at
once. Those bursts were the bench's, not a device's (docs/benchmarks.md, "Latency").
Here the writer has an interpreter of its own and does nothing else.

Protocol with the bench (`WriterProcess`): the frames come in a file (concatenated,
`--frame-size` bytes each), the pty master as an inherited descriptor; the child waits
for one line on stdin ("go"), writes every frame at `t0 + k / rate`, then writes a JSON
file (`--out`): the write times and the bridge's CPU readings at the start (frame
`--warmup`) and the end of the measured span.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_proc import children_cpu_seconds, cpu_seconds, steal_seconds, thread_cpu_seconds

LATE_RESET_S = 0.05
"""Behind schedule by more than this (the machine stalled): restart the schedule from
now rather than burst to catch up."""


def write_frames(
    fd: int, frames: list[bytes], rate_hz: float, warmup: int, pid: int
) -> dict[str, Any]:
    """Write `frames` into `fd` on an absolute schedule; the write times and the CPU
    readings of process `pid` over frames warmup..end."""
    period = 1.0 / rate_hz
    t_write = [float("nan")] * len(frames)
    t_next = time.monotonic()
    out: dict[str, Any] = {"late_resets": 0}
    for k, data in enumerate(frames):
        if k == warmup:
            out.update(
                t0=time.monotonic(),
                cpu0=cpu_seconds(pid),
                threads0=thread_cpu_seconds(pid),
                children0=children_cpu_seconds(pid),
                steal0=steal_seconds(),
            )
        delay = t_next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -LATE_RESET_S:
            t_next = time.monotonic()
            out["late_resets"] += 1
        t_write[k] = time.monotonic()
        os.write(fd, data)
        t_next += period
    out.update(
        t1=time.monotonic(),
        cpu1=cpu_seconds(pid),
        threads1=thread_cpu_seconds(pid),
        children1=children_cpu_seconds(pid),
        steal1=steal_seconds(),
        t_write=t_write,
    )
    return out


class WriterProcess:
    """Runs this file as the device; the bench reads its results once it has ended."""

    def __init__(
        self, fd: int, frames: list[bytes], rate_hz: float, warmup: int, pid: int, folder: Path
    ) -> None:
        sizes = {len(f) for f in frames}
        if len(sizes) != 1:
            raise ValueError("the writer takes frames of one size")
        path = folder / "frames.bin"
        path.write_bytes(b"".join(frames))
        self._out = folder / "writer.json"
        self._out.unlink(missing_ok=True)
        self._proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--fd",
                str(fd),
                "--frames",
                str(path),
                "--frame-size",
                str(sizes.pop()),
                "--rate",
                repr(rate_hz),
                "--warmup",
                str(warmup),
                "--pid",
                str(pid),
                "--out",
                str(self._out),
            ],
            stdin=subprocess.PIPE,
            text=True,
            pass_fds=(fd,),
        )
        self._result: dict[str, Any] | None = None

    def start(self) -> None:
        """Start writing (the child has loaded its frames meanwhile)."""
        assert self._proc.stdin is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()

    def is_alive(self) -> bool:
        return self._proc.poll() is None

    def result(self) -> dict[str, Any]:
        """The child's report (waits for it to end); RuntimeError if it failed."""
        if self._result is None:
            code = self._proc.wait(timeout=60)
            if code != 0 or not self._out.exists():
                raise RuntimeError(f"the frame writer exited {code} without its report")
            self._result = json.loads(self._out.read_text())
        return self._result

    @property
    def t_write(self) -> np.ndarray:
        return np.array(self.result()["t_write"], dtype=np.float64)

    @property
    def cpu_window(self) -> tuple[float, float, float, float]:
        r = self.result()
        return r["t0"], r["t1"], r["cpu0"], r["cpu1"]

    @property
    def late_resets(self) -> int:
        return int(self.result()["late_resets"])

    def threads(self) -> tuple[dict[str, float], dict[str, float]]:
        r = self.result()
        return r["threads0"], r["threads1"]

    @property
    def steal_s(self) -> float:
        """vCPU seconds the hypervisor took over the measured span."""
        r = self.result()
        return float(r["steal1"] - r["steal0"])

    def children(self) -> tuple[dict[int, float], dict[int, float]]:
        r = self.result()
        return (
            {int(k): v for k, v in r["children0"].items()},
            {int(k): v for k, v in r["children1"].items()},
        )

    def stop(self) -> None:
        """Kill the child if it is still running (the bench failed)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--frames", type=Path, required=True)
    ap.add_argument("--frame-size", type=int, required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    blob = args.frames.read_bytes()
    size = args.frame_size
    frames = [blob[i : i + size] for i in range(0, len(blob), size)]
    sys.stdin.readline()  # "go": the clients are connected
    result = write_frames(args.fd, frames, args.rate, args.warmup, args.pid)
    tmp = args.out.with_suffix(".part")
    tmp.write_text(json.dumps(result))
    tmp.replace(args.out)  # whole or absent


if __name__ == "__main__":
    main()
