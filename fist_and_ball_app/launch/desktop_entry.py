"""The desktop shortcut that starts `fist-and-ball launch` with a profile."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

APP_NAME = "Fist & Ball"
FILE_STEM = "fist-and-ball"


def launch_command(profile: Path, python: str = sys.executable) -> list[str]:
    """The command the shortcut runs."""
    return [python, "-m", "fist_and_ball_app.main", "launch", "--profile", str(profile)]


def desktop_file_text(command: Sequence[str], comment: str = "Hand rehabilitation game") -> str:
    """A freedesktop.org .desktop entry running `command` (Exec quoting per the spec)."""

    def quote(arg: str) -> str:
        if not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
            return arg
        escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
        return '"' + escaped.replace("$", "\\$") + '"'

    exec_line = " ".join(quote(a) for a in command).replace("%", "%%")
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        f"Name={APP_NAME}\n"
        f"Comment={comment}\n"
        f"Exec={exec_line}\n"
        "Icon=blender\n"
        "Terminal=false\n"
        "Categories=Game;Education;MedicalSoftware;\n"
    )


def default_shortcut_dir(
    platform: str = sys.platform, env: Mapping[str, str] | None = None, home: Path | None = None
) -> Path:
    """Linux: the user's applications menu folder; Windows and macOS: the desktop."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    if platform.startswith("win") or platform == "darwin":
        return home / "Desktop"
    data = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    return data / "applications"


def write_shortcut(folder: Path, command: Sequence[str], platform: str = sys.platform) -> Path:
    """Write the shortcut for `platform` into `folder`; return its path.

    Linux: fist-and-ball.desktop; Windows: fist-and-ball.cmd (a double-clickable batch
    file); macOS: fist-and-ball.command (a double-clickable shell script).
    """
    folder.mkdir(parents=True, exist_ok=True)
    if platform.startswith("win"):
        path = folder / f"{FILE_STEM}.cmd"
        line = " ".join(f'"{a}"' if " " in a else a for a in command)
        path.write_text(f"@echo off\r\n{line}\r\n", encoding="utf-8")
        return path
    if platform == "darwin":
        path = folder / f"{FILE_STEM}.command"
        path.write_text("#!/bin/sh\nexec " + shlex.join(command) + "\n", encoding="utf-8")
    else:
        path = folder / f"{FILE_STEM}.desktop"
        path.write_text(desktop_file_text(command), encoding="utf-8")
    path.chmod(0o755)
    return path
