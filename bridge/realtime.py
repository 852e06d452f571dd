"""Real-time scheduling and OS names for the bridge's hot threads (the sample thread, the
server loop)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import struct
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


SHORT_TIME_SLICE_S = 0.0005
"""The time slice the hot threads ask for: shorter than the default (1.4 ms on the test
machine), so a woken hot thread preempts; longer than their ~0.1-0.3 ms of work per
sample, so a nice-0 competitor does not cut that work in two and run its own slice."""

_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}  # syscall numbers (no libc wrapper)
_SCHED_ATTR = struct.Struct("IIQiIQQQ")  # struct sched_attr, version 0 (48 bytes)


def request_short_time_slice(seconds: float | None) -> str | None:
    """Ask the scheduler for `seconds`-long time slices for the calling thread (Linux).

    Linux 6.12+ (EEVDF) reads a normal thread's `sched_runtime` as its slice: a thread
    asking for short slices gets earlier deadlines, so when it wakes (a frame came, a
    delivery is due) it preempts a busy process instead of waiting out that process's
    slice (1.4 ms by default on the test machine). Its CPU share does not change.
    Older kernels ignore it.
    Only for SCHED_OTHER threads: a real-time thread is left alone. None does nothing.
    Returns a warning when the OS refuses.
    """
    if seconds is None:
        return None
    number = _SCHED_SETATTR.get(platform.machine())
    if not sys.platform.startswith("linux") or number is None:
        return "short time slices need Linux on x86_64 or aarch64"
    if os.sched_getscheduler(0) != os.SCHED_OTHER:
        return None  # real-time (--realtime) or batch: not ours to change
    tid = threading.get_native_id()
    nice = os.getpriority(os.PRIO_PROCESS, tid)  # kept: sched_setattr also sets it
    attr = ctypes.create_string_buffer(
        _SCHED_ATTR.pack(_SCHED_ATTR.size, os.SCHED_OTHER, 0, nice, 0, round(seconds * 1e9), 0, 0)
    )
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, 0, attr, 0) != 0:
        err = ctypes.get_errno()
        return f"could not shorten the time slice: {os.strerror(err)}"
    return None
