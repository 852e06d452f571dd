"""The patient profile: one JSON file with everything the daily start needs.

Default path: `$XDG_CONFIG_HOME/fist-and-ball/profile.json` (~/.config/...) on Linux,
`%APPDATA%\\fist-and-ball\\profile.json` on Windows, `~/Library/Application
Support/fist-and-ball/profile.json` on macOS; `FIST_AND_BALL_PROFILE` or
`launch --profile PATH` name another. Unknown keys are kept, so a newer version's file
still loads.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from fist_and_ball.core.levels import PLAYABLE_LEVELS, SESSION_MINUTES

PROFILE_ENV = "FIST_AND_BALL_PROFILE"
APP_DIR = "fist-and-ball"


class ProfileError(ValueError):
    """The profile file cannot be read or holds a bad value; the message says which."""


@dataclass(slots=True)
class Profile:
    """What `launch` needs to start the patient's session."""

    name: str = "patient"
    """Patient name or ID written into the score logs."""
    source: str = "sim:myo3"
    """The device: serial:/dev/ttyACM0, tcp://HOST:PORT, ... (sim: for a try-out)."""
    decoder: str = "qg"
    """Calibration or model: qg:CAL.json, mcnn:DIR, linear:MODEL.json, qg (sim only)."""
    level: str = "auto"
    """Preferred level: easy, medium, hard or auto."""
    minutes: int = 4
    """Preferred session length: 2, 4 or 6."""
    hand: str = ""
    """Optional prosthetic hand URL for the bridge's --hand (empty: none)."""
    blender: str = ""
    """The Blender executable chosen last time (remembered by launch)."""
    port: int = 0
    """Websocket port of the bridge (0: any free port)."""
    extra: dict[str, Any] | None = None
    """Keys this version does not know, kept as they were."""

    def check(self) -> Profile:
        """Raise ProfileError naming the first bad field."""
        if self.level not in PLAYABLE_LEVELS:
            raise ProfileError(f"level {self.level!r}: choose one of {', '.join(PLAYABLE_LEVELS)}")
        if self.minutes not in SESSION_MINUTES:
            raise ProfileError(f"minutes {self.minutes!r}: choose 2, 4 or 6")
        if not self.source.strip():
            raise ProfileError("source is empty: name the device, e.g. serial:/dev/ttyACM0")
        if not 0 <= self.port <= 65535:
            raise ProfileError(f"port {self.port} is not 0..65535")
        return self

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "extra"}
        return {**(self.extra or {}), **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        known = {f.name for f in fields(cls)} - {"extra"}
        types = {"minutes": int, "port": int}
        values: dict[str, Any] = {}
        for key in known & data.keys():
            conv = types.get(key, str)
            try:
                values[key] = conv(data[key])
            except (TypeError, ValueError):
                raise ProfileError(f"{key}: {data[key]!r} is not a {conv.__name__}") from None
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra or None).check()


def default_path(
    platform: str = sys.platform, env: Mapping[str, str] | None = None, home: Path | None = None
) -> Path:
    """Where the profile lives when no path is given (see the module docstring)."""
    env = os.environ if env is None else env
    if env.get(PROFILE_ENV):
        return Path(env[PROFILE_ENV]).expanduser()
    home = Path.home() if home is None else home
    if platform.startswith("win"):
        base = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return base / APP_DIR / "profile.json"


def load_profile(path: Path) -> Profile:
    """The profile at `path`; the defaults when there is no file yet."""
    if not path.exists():
        return Profile()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"cannot read the profile {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"the profile {path} is not a JSON object")
    try:
        return Profile.from_json(data)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def save_profile(profile: Profile, path: Path) -> None:
    """Write the profile atomically (a crash leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(profile.check().to_json(), indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".profile-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
