"""Real-time scheduling for the bridge's hot threads (the sample thread, the server loop)."""

from __future__ import annotations

import os


def set_realtime_priority(priority: int | None) -> str | None:
    """Give the calling thread SCHED_FIFO `priority` (Linux); None leaves it alone.

    The bridge's hot threads block on I/O almost all the time, so a real-time class
    costs the rest of the system little, while it stops other busy processes from
    delaying a sample by a scheduler time slice. Returns a warning when the OS
    refuses (no CAP_SYS_NICE / rtprio limit) or has no such scheduler.
    """
    if priority is None:
        return None
    if not hasattr(os, "sched_setscheduler"):
        return "real-time scheduling is not available on this OS"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, ValueError) as exc:
        return f"could not switch to real-time priority {priority}: {exc}"
    return None
