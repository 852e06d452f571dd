"""Real-time scheduling and OS names for the bridge's hot threads (the sample thread, the
server loop)."""

from __future__ import annotations

import contextlib
import os
import sys
import threading


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


def set_process_realtime_priority(priority: int | None) -> str | None:
    """Give every thread of this process SCHED_FIFO `priority` (Linux); threads made
    later by any of them inherit it. None leaves them alone.

    One real-time thread is not enough in Python: the hot threads still need the GIL,
    and a normal-priority thread holding it (the hand loop, the status thread, a
    garbage collection) can be preempted by any busy process while everyone waits.
    Returns a warning when the OS refuses or has no such scheduler.
    """
    if priority is None:
        return None
    if not hasattr(os, "sched_setscheduler"):
        return "real-time scheduling is not available on this OS"
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]  # no /proc: at least this thread, and the ones it starts
    param = os.sched_param(priority)
    try:
        for tid in threads:
            with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                os.sched_setscheduler(tid, os.SCHED_FIFO, param)
    except (OSError, ValueError) as exc:
        return f"could not switch to real-time priority {priority}: {exc}"
    return None


def name_native_thread(name: str) -> None:
    """Show `name` (at most 15 bytes) as the calling thread's OS name (Linux).

    Python names threads only for itself; with the OS name set, `top -H`, py-spy
    and /proc/PID/task/*/comm tell the sample thread from the server loop (the
    latency bench reports CPU per thread this way). Best effort: never raises.
    """
    if not sys.platform.startswith("linux"):
        return
    path = f"/proc/self/task/{threading.get_native_id()}/comm"
    try:
        with open(path, "w", encoding="ascii", errors="replace") as f:
            f.write(name[:15])
    except OSError:
        pass
