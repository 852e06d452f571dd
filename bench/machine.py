"""What the benchmarks ran on: one CPU model reader shared by the bench scripts."""

from __future__ import annotations

import platform


def cpu_model() -> str:
    """The CPU model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
