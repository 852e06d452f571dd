"""The one policy for output paths of every command: the parent folder must exist.

A mistyped path should not silently grow a folder tree somewhere unexpected, so
nothing creates missing parents: the command stops before any work with a message
naming the folder. (`record`, `simulate` and `bridge --record` apply the same rule
through `bridge.recording.check_new_recording`.)
"""

from __future__ import annotations

import os
from pathlib import Path

from bridge.cli.errors import CliError


def check_out_parent(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Return `path` (user-expanded) if its parent folder exists, else raise CliError."""
    p = Path(path).expanduser()
    parent = p.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise CliError(f"{option}: folder {parent} {what} (create it first)")
    return p
