"""The window tests' launcher (tests/blender_window_launch.py): what a Blender that died
leaves in the failure, and that a retry is not silent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from blender_window_launch import driver_state, screen_env, under_xvfb, until_written


def test_a_blender_that_wrote_nothing_fails_with_its_output_and_crash_report(
    tmp_path: Path,
) -> None:
    (tmp_path / "blender.crash.txt").write_text("# Python backtrace\n  File draw_hud\n")
    proc = subprocess.CompletedProcess([], -11, "driver: 9.6s phase tab\n", "Fatal Python error")
    with pytest.raises(AssertionError) as failed:
        driver_state(tmp_path / "state.json", proc, "unused.json")
    text = str(failed.value)
    assert "driver: 9.6s phase tab" in text and "Fatal Python error" in text
    assert "File draw_hud" in text


def test_a_second_try_is_reported_as_a_warning(tmp_path: Path) -> None:
    out = tmp_path / "state.json"
    calls: list[int] = []

    def window() -> int:
        calls.append(1)
        if len(calls) == 2:
            out.write_text("{}")
        return len(calls)

    with pytest.warns(UserWarning, match="wrote no .*state.json in 1 of 2"):
        assert until_written(out, 3, window) == (2, 2)


def test_the_driver_is_told_where_xvfb_keeps_the_screen(tmp_path: Path) -> None:
    env = screen_env(tmp_path)
    cmd = under_xvfb("640x480", tmp_path, "blender")
    fbdir = Path(env["FISTBALL_GUI_SCREEN"]).parent
    assert fbdir.is_dir() and f"-fbdir {fbdir}" in cmd[3] and cmd[-1] == "blender"
    assert env["TMPDIR"] == str(tmp_path)  # where Blender writes blender.crash.txt
