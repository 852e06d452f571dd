"""The add-on's one atomic file writer: temp file, fsync, rename; strict JSON.

Every file the add-on writes whole (score-log summaries, report HTML and CSV) goes
through here, so a crash or a full disk leaves the old file or the new one, never half
of one. The bridge has its own (`bridge/json_io.py`) because the two sides are separate
processes and packages: the add-on ships alone as a Blender extension and must not
import the bridge. They differ on purpose in one point: the bridge masks non-finite
numbers as null in its data files, while the add-on refuses them, since a NaN in a
score summary is a bug to see, not a value to keep.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def temp_path(path: Path) -> Path:
    """The temp file next to `path` (hidden, same folder so the rename is atomic)."""
    return path.with_name(f".{path.name}.tmp")


def write_text_atomic(path: Path | str, text: str, *, sync: bool = True) -> Path:
    """Write `text` via a temp file + rename, so a reader never sees half a file.

    `sync=False` skips the fsync, for writers on Blender's main thread that rewrite the
    same file every second: a SIGKILL keeps the page cache anyway, and an fsync can
    stall on a busy disk. Returns the path written.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def strict_json(data: Any, *, indent: int = 1, default: Callable[[Any], Any] | None = None) -> str:
    """`data` as JSON text; ValueError (one line) when it holds NaN or infinity."""
    try:
        return json.dumps(data, indent=indent, allow_nan=False, default=default)
    except ValueError as exc:
        raise ValueError(f"refusing to write non-finite numbers as JSON ({exc})") from None


def write_json_atomic(
    path: Path | str,
    data: Any,
    *,
    sync: bool = True,
    indent: int = 1,
    default: Callable[[Any], Any] | None = None,
) -> Path:
    """Write `data` as strict JSON (trailing newline) atomically; see `write_text_atomic`.

    The check comes first: a refused value leaves the old file untouched.
    """
    return write_text_atomic(
        path, strict_json(data, indent=indent, default=default) + "\n", sync=sync
    )
