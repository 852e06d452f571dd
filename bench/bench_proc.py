"""CPU readings of another process from /proc (no psutil), for the latency benches."""

from __future__ import annotations

import contextlib
import os


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (no psutil)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of a process (threads sharing a name are summed)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def children_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each child process (e.g. the tracker's pose worker), by pid."""
    out: dict[int, float] = {}
    kids: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:  # a child is listed under the thread that started it
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
            kids += [int(k) for k in f.read().split()]
    for kid in kids:
        with contextlib.suppress(OSError):
            out[kid] = cpu_seconds(kid)
    return out


def steal_seconds() -> float:
    """CPU time the hypervisor gave to others while this machine's vCPUs wanted it
    ("steal" in /proc/stat, summed over the vCPUs; 0 on bare metal)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()  # "cpu user nice system idle iowait irq softirq steal"
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0
