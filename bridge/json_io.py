"""Strict JSON files: NaN-free values and atomic writes (recording sidecars, bundles, reports).

The add-on has its own writer (fist_and_ball/core/atomic_file.py): it ships alone as a
Blender extension in another process and must not import the bridge. Here non-finite
numbers become null (a dead sensor's value is data); there they are refused.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """NaN/inf -> None and numpy scalars/arrays -> Python, recursively (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write `json_safe(data)` (indent 2, trailing newline) via a temp file + rename.

    A crash mid-write never leaves a half file: readers see the old or the new one.
    """
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(json_safe(data), f, indent=2, allow_nan=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)
