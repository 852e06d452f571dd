"""Scheduling hints for the server's loop thread, so websocket work yields to decoding.

The bridge's sample, hand and server threads share one interpreter lock. Two knobs:

- `lower_thread_priority`: a higher nice value for the calling thread only (Linux
  schedules threads individually), so on a busy machine the OS runs the sample and
  hand threads first. Raising one's own nice value needs no privilege.
- `shorten_switch_interval`: how long a running thread may keep the interpreter lock
  while another waits for it (Python's default is 5 ms). A sample thread woken by its
  device waits at most this long for a busy server loop.
"""

from __future__ import annotations

import os
import sys
import threading


def lower_thread_priority(increment: int) -> str | None:
    """Add `increment` to the calling thread's nice value; a warning string on failure."""
    if increment <= 0:
        return None
    if not hasattr(os, "setpriority") or sys.platform != "linux":
        return "per-thread priority is only supported on Linux"
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + increment))
    except OSError as exc:
        return f"could not lower the thread priority: {exc}"
    return None


def shorten_switch_interval(seconds: float) -> None:
    """Lower the interpreter's switch interval to `seconds` (never raises it)."""
    if 0 < seconds < sys.getswitchinterval():
        sys.setswitchinterval(seconds)
