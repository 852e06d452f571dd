"""What the benchmarks ran on: one CPU model reader shared by the bench scripts."""

from __future__ import annotations

import platform
import re
from pathlib import Path


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


def replace_docs_section(heading: str, section: str, path: Path) -> None:
    """Replace (or append) only the `## {heading}` section of a docs page."""
    text = path.read_text()
    # the heading, then the end of its line or a parenthesised note: "Latency" must not
    # take "Latency with ...", and a heading ending in ")" must still match itself
    pattern = re.compile(rf"^## {re.escape(heading)}(?=[ \t]*(?:\(|$)).*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section.rstrip() + "\n\n", text)
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n")
