"""Test helpers: Debian's Blender 3.4 in a real window under Xvfb, for the GUI tests
(test_gui_smoke, test_patient_mode_gui, test_addon_redon_gui, test_launch_gui).

A run installs the legacy add-on into temporary user folders, starts Blender with a
driver script (tests/*_driver.py, see tests/blender_window_driver.py), and reads back the
JSON the driver wrote; screenshots and that JSON are kept in test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from live_bridge import ROOT, BridgeProcess, free_port
from xwd_png import FRAMEBUFFER

BLENDER = "/usr/bin/blender"
ARTIFACTS = ROOT / "test-artifacts"
GUI_MARKS = [
    pytest.mark.gui,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(BLENDER).exists(), reason=f"{BLENDER} (Debian blender) missing"),
    pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run (Debian xvfb) missing"),
]


def user_folders(tmp: Path) -> dict[str, str]:
    """Environment that points Blender's user scripts, config and data into `tmp`."""
    return {
        "BLENDER_USER_SCRIPTS": str(tmp / "scripts"),
        "BLENDER_USER_CONFIG": str(tmp / "config"),
        "BLENDER_USER_DATAFILES": str(tmp / "datafiles"),
    }


def install_legacy_addon(tmp: Path) -> None:
    """Stage the add-on (folder + bundled wheels) into `tmp`'s user scripts folder."""
    from bridge.cli.cmd_addon import stage_addon

    stage = stage_addon(tmp / "stage")
    addons = tmp / "scripts" / "addons"
    addons.mkdir(parents=True)
    shutil.copytree(stage, addons / "fist_and_ball")


def under_xvfb(screen: str, tmp: Path, *cmd: str) -> list[str]:
    """`cmd` under xvfb-run with one `screen` ("WIDTHxHEIGHT") of 24-bit colour, whose
    framebuffer Xvfb keeps in a folder of `tmp` (`screen_env` tells the driver)."""
    fbdir = _framebuffer_dir(tmp)
    return ["xvfb-run", "-a", "-s", f"-screen 0 {screen}x24 -fbdir {fbdir}", *cmd]


def screen_env(tmp: Path) -> dict[str, str]:
    """The environment that tells a driver where Xvfb's framebuffer is
    (FISTBALL_GUI_SCREEN, for `WindowRun.screenshot`) and Blender where to write a crash
    report (TMPDIR, shown by `driver_state`)."""
    return {"FISTBALL_GUI_SCREEN": str(_framebuffer_dir(tmp) / FRAMEBUFFER), "TMPDIR": str(tmp)}


def _framebuffer_dir(tmp: Path) -> Path:
    fbdir = tmp / "xvfb"
    fbdir.mkdir(exist_ok=True)
    return fbdir


@contextmanager
def sim_hand_bridge() -> Iterator[str]:
    """A real bridge (simulated myo3 source and hand) on a free port; yields its URL."""
    with BridgeProcess(free_port(), extra=["--hand", "sim"]) as bridge:
        bridge.start()
        yield bridge.url


def run_driver(
    driver: str,
    tmp: Path,
    url: str,
    out: Path,
    driver_env: Mapping[str, str],
    *,
    screen: str = "1280x1024",
    window: tuple[int, int] | None = None,
    attempts: int = 1,
    timeout_s: float,
) -> subprocess.CompletedProcess[str]:
    """Blender in a window with the add-on installed in `tmp`, running tests/<driver>
    against the bridge at `url` (FISTBALL_GUI_URL); the driver writes its JSON to `out`
    (FISTBALL_GUI_OUT). A run that writes none is tried again up to `attempts` times
    (under heavy load software-GL Blender has once failed to get its window up before
    the driver's own deadline).
    """
    env = dict(os.environ, **user_folders(tmp), **driver_env)
    env.update(FISTBALL_GUI_URL=url, FISTBALL_GUI_OUT=str(out), **screen_env(tmp))
    env.pop("PYTHONPATH", None)  # Blender must use the installed add-on only
    geometry = ["--window-geometry", "0", "0", *map(str, window)] if window else []
    cmd = under_xvfb(
        screen,
        tmp,
        BLENDER, "--factory-startup", "--enable-event-simulate", *geometry,
        "--python", str(ROOT / "tests" / driver),
    )  # fmt: skip
    proc, _tries = until_written(
        out,
        attempts,
        lambda: subprocess.run(
            cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout_s
        ),
    )
    return proc


R = TypeVar("R")


def until_written(out: Path, attempts: int, run: Callable[[], R]) -> tuple[R, int]:
    """Calls `run` until the driver has written `out`, at most `attempts` times: its last
    result and how many tries it took (software-GL Blender under a loaded Xvfb has
    failed to get its window up before the driver's deadline). Tries that wrote nothing
    are counted in a warning; `driver_state` shows the last one's crash report."""
    tries = 0
    while True:
        tries += 1
        result = run()
        if out.is_file() or tries >= attempts:
            failed = tries - out.is_file()
            if failed:  # shown in pytest's summary, so a flaky window is not hidden
                lost = f"Blender wrote no {out.parent.name}/{out.name} in {failed} of {tries}"
                warnings.warn(lost, stacklevel=2)
            return result, tries


def driver_state(
    out: Path, proc: subprocess.CompletedProcess[str], artifact: str, **extra: Any
) -> dict[str, Any]:
    """What the driver wrote to `out`, with Blender's output (`_stdout`, `_stderr`,
    `_output`: both) and `extra`; kept as test-artifacts/<artifact>. Fails the test
    unless the driver wrote it and ended ok."""
    crash = out.parent / "blender.crash.txt"
    assert out.is_file(), (
        f"no state written; blender said:\n{proc.stdout[-3000:]}{proc.stderr[-4000:]}"
        + (f"\n{crash}:\n{crash.read_text()[-4000:]}" if crash.is_file() else "")
    )
    state: dict[str, Any] = json.loads(out.read_text())
    state["_stdout"], state["_stderr"] = proc.stdout, proc.stderr
    state["_output"] = proc.stdout + proc.stderr
    state.update(extra)
    (ARTIFACTS / artifact).write_text(json.dumps(state, indent=1, default=str))
    assert state.get("ok"), state.get("error")
    return state


def assert_real_frame(path: Path) -> None:
    """A screenshot of a whole window with something drawn: not blank, not one colour."""
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(path)
    assert img.shape[0] >= 600 and img.shape[1] >= 800, path.name
    rgb = (img[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > 200, path.name  # not blank or single-colour
