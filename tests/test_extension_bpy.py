"""The real extension: `fist-and-ball addon build` -> zip validated by Blender's tool ->
installed and enabled in bpy 5.0 (temporary user folder) -> live play against a real
bridge subprocess, including killing and restarting the bridge -> disabled cleanly.

bpy runs in a subprocess (tests/bpy_live_driver.py) with BLENDER_USER_RESOURCES pointing
at a temporary folder: nothing touches ~/.config/blender, and bpy state from other test
files cannot leak in.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from bpy_live_driver import check_samples
from cli_process import run_cli
from live_bridge import ROOT, free_port

pytestmark = [
    pytest.mark.blender,
    pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs bpy 5.0 (pip)"),
]

ADDON_ID = "bl_ext.user_default.fist_and_ball"


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = run_cli("addon", "build", "--out", str(out))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    (zip_path,) = out.glob("fist_and_ball-*.zip")
    assert "validated" in proc.stdout
    return zip_path


@pytest.fixture(scope="module")
def live_report(built_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    user = tmp_path_factory.mktemp("blender_user")
    out = user / "report.json"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user), PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [
            sys.executable, str(ROOT / "tests" / "bpy_live_driver.py"),
            "--zip", str(built_zip), "--port", str(free_port()), "--out", str(out),
            "--disconnect",
        ],
        cwd=user,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert out.is_file(), proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.read_text())
    report["_stderr"] = proc.stderr
    report["_user"] = str(user)
    assert report["ok"], report.get("traceback") or report.get("error")
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "extension_live_report.json").write_text(
        json.dumps(report, indent=1, default=str)
    )
    return report


def test_build_makes_a_validated_zip_with_the_pure_wheel(built_zip: Path) -> None:
    with zipfile.ZipFile(built_zip) as zf:
        names = set(zf.namelist())
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
    assert {"__init__.py", "registration.py", "live/timer.py", "ui/panel.py"} <= names
    assert "core/game.py" in names and "scene/build.py" in names
    assert "report/__init__.py" in names and "live/kmg_bars.py" in names  # History, decoder
    # fist_and_ball/ is exactly the add-on: every module of it ships, no exclusion list
    package = ROOT / "fist_and_ball"
    modules = {
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert modules == {n for n in names if n.endswith(".py")}
    assert "protocol_v1.py" in names
    (wheel,) = [n for n in names if n.startswith("wheels/")]
    assert wheel.endswith("-py3-none-any.whl") and wheel.startswith("wheels/websockets-")
    assert manifest["wheels"] == [f"./{wheel}"]
    assert manifest["id"] == "fist_and_ball" and manifest["blender_version_min"] == "4.2.0"
    assert "network" in manifest["permissions"]
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "bridge/"))]
    # Blender's own validator, run again independently of the build command.
    from bridge.cli.cmd_addon import find_blender_ext

    tool = find_blender_ext()
    proc = subprocess.run(
        [sys.executable, str(tool), "validate", str(built_zip)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_build_refuses_a_bad_blender_ext_path(tmp_path: Path) -> None:
    proc = run_cli("addon", "build", "--out", str(tmp_path), "--blender-ext", "/nope.py")
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_installed_from_zip_into_the_temporary_user_folder(live_report: dict[str, Any]) -> None:
    r = live_report
    assert r["install"] == ["FINISHED"] and r["enabled"] == [ADDON_ID]
    assert r["user_resources"] == r["_user"]
    # The code that ran is the installed copy, not the source checkout.
    assert r["package_name"] == ADDON_ID
    assert r["registration_file"].startswith(str(Path(r["_user"]) / "extensions"))
    # No alias: the registered operators are the extension's own module, and the plain
    # name `fist_and_ball` (the source checkout is on PYTHONPATH) was never imported.
    assert r["operator_module"].startswith(ADDON_ID + ".")
    assert r["operator_file"].startswith(str(Path(r["_user"]) / "extensions"))
    assert r["plain_name_imported"] is False


def test_scene_follows_the_live_grades(live_report: dict[str, Any]) -> None:
    samples = live_report["idle_samples"] + live_report["play_samples"]
    usable = [s for s in samples if s.get("signal") and "leds_in_scene" in s]
    good, grades = check_samples(samples)
    assert len(usable) >= 30
    assert good == len(usable), [s for s in usable][:5]
    assert len(grades) >= 2, f"the simulated hand did not move: grades {grades}"


def test_session_plays_with_rate_and_latency_and_logs(live_report: dict[str, Any]) -> None:
    p = live_report["playing"]
    assert p["state"] == "running" and p["connected"] and p["signal"]
    assert p["played_s"] > 1.0 and p["grades_per_s"] > 10 and p["rtt_ms"] is not None
    assert p["log_folder"].startswith(str(Path(live_report["_user"]) / "extensions"))
    summary = json.loads((Path(p["log_folder"]) / f"{p['session_id']}.json").read_text())
    assert summary["state"] == "closed" and summary["completed"] is False
    assert summary["source"] == "sim:myo3" and summary["decoder"] == "qg"
    assert summary["timeline_rows"] > 30


def test_killing_the_bridge_pauses_and_restart_resumes(live_report: dict[str, Any]) -> None:
    r = live_report
    k = r["after_kill"]
    assert not k["connected"] and k["state"] == "paused" and k["pause_reason"] == "disconnected"
    assert r["disconnect_seen_after_s"] < 1.0
    assert r["after_kill_sample"]["leds_in_scene"] == 0  # no LED lit = no signal
    assert r["after_kill_1s"]["played_s"] == k["played_s"]  # the game stood still
    back = r["after_restart"]
    assert back["connected"] and back["signal"] and back["state"] == "running"
    assert r["after_restart_played"]["played_s"] > k["played_s"] + 0.5
    assert r["summary"]["pause_reasons"] == ["disconnected"]
    for key in ("playing", "after_kill", "after_restart_played", "stopped"):
        assert r[key]["tick_errors"] == 0, r[key]["last_tick_error"]
    assert "Traceback" not in r["_stderr"]


def test_disable_leaves_no_timer_handler_or_thread(live_report: dict[str, Any]) -> None:
    r = live_report
    assert r["timer_registered_after_connect"] is True
    assert r["timer_registered_after_disconnect"] is False
    assert r["disabled"] == [] and r["leftovers"] == []
    assert r["timer_registered_after_disable"] is False


def test_cli_install_into_bpy_persists_the_enabled_extension(
    built_zip: Path, tmp_path: Path
) -> None:
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "fist_and_ball_app.main", "addon", "install", "--blender", "bpy",
         "--zip", str(built_zip)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"enabled {ADDON_ID}" in proc.stdout
    assert (tmp_path / "extensions" / "user_default" / "fist_and_ball" / "__init__.py").is_file()
    # The saved preferences have it enabled (bpy as a module starts from factory
    # preferences, so read the saved ones as a Blender session does at startup).
    check = subprocess.run(
        [sys.executable, "-c",
         "import bpy; bpy.ops.wm.read_userpref(); "
         "print('MODS', [a.module for a in bpy.context.preferences.addons])"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ADDON_ID in check.stdout, check.stdout + check.stderr


def test_cli_install_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_cli("addon", "install", "--blender", "bpy", "--zip", str(tmp_path / "no.zip"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = run_cli("addon", "install", "--blender", str(tmp_path / "no-blender"))
    assert proc.returncode == 2 and "cannot run" in proc.stderr
    assert "Traceback" not in proc.stderr


LEGACY_THEN_EXTENSION = r"""
import json, sys
from pathlib import Path
import bpy
import addon_utils

zip_path, out_path = sys.argv[-2], sys.argv[-1]
out = {}
legacy = addon_utils.enable("fist_and_ball", default_set=True, handle_error=None)
out["legacy_file"] = getattr(legacy, "__file__", None)
res = bpy.ops.extensions.package_install_files(
    filepath=zip_path, repo="user_default", enable_on_install=True
)
out["install"] = sorted(res)
out["enabled"] = sorted(a.module for a in bpy.context.preferences.addons)
cls = bpy.types.FISTBALL_OT_connect
out["op_module"] = cls.__module__
out["op_file"] = sys.modules[cls.__module__].__file__
ext = "bl_ext.user_default.fist_and_ball"
out["ext_files"] = sorted(
    str(getattr(m, "__file__", "")) for n, m in list(sys.modules.items()) if n.startswith(ext + ".")
)
out["connect"] = sorted(bpy.ops.fistball.build_scene())
Path(out_path).write_text(json.dumps(out))
"""


def test_extension_over_a_legacy_install_registers_its_own_code(
    built_zip: Path, tmp_path: Path
) -> None:
    """A legacy copy (scripts/addons/fist_and_ball, enabled) must not be what the
    extension runs: its operators come from the extension's own files."""
    from bridge.cli.cmd_addon import stage_addon

    user = tmp_path / "user"
    legacy_dir = user / "scripts" / "addons" / "fist_and_ball"
    legacy_dir.parent.mkdir(parents=True)
    shutil.copytree(stage_addon(tmp_path / "stage"), legacy_dir)
    out = tmp_path / "out.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["BLENDER_USER_RESOURCES"] = str(user)
    proc = subprocess.run(
        [sys.executable, "-c", LEGACY_THEN_EXTENSION, str(built_zip), str(out)],
        cwd=tmp_path,  # not the checkout: `fist_and_ball` must come from scripts/addons
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.is_file(), proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["legacy_file"] == str(legacy_dir / "__init__.py")
    assert r["install"] == ["FINISHED"] and ADDON_ID in r["enabled"]
    assert r["op_module"].startswith(ADDON_ID + ".")
    extensions = str(user / "extensions")
    assert r["op_file"].startswith(extensions)
    assert r["ext_files"] and all(f.startswith(extensions) for f in r["ext_files"]), r
    assert r["connect"] == ["FINISHED"]
