"""`fist-and-ball launch` without Blender: profile, Blender finder, shortcut, add-on sync,
the looping simulator source, and the supervisor with a real bridge subprocess (restart
with backoff, stopped when "Blender" exits, nothing left after SIGTERM or SIGKILL of the
launcher). The real-window run is tests/test_launch_gui.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from live_bridge import ROOT, free_port

from bridge.backoff import Backoff
from bridge.sim.url import parse_sim_url
from fist_and_ball_app.cmd_launch import bridge_source
from fist_and_ball_app.launch.addon_sync import ensure_addon
from fist_and_ball_app.launch.blender_finder import BlenderNotFound, find_blender
from fist_and_ball_app.launch.desktop_entry import desktop_file_text, launch_command, write_shortcut
from fist_and_ball_app.launch.profile import (
    Profile,
    ProfileError,
    default_path,
    load_profile,
    save_profile,
)
from fist_and_ball_app.launch.supervisor import Supervisor, SupervisorConfig, port_open


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[1].startswith("Z"))


def wait_until(cond, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


# -- profile ---------------------------------------------------------------------------
def test_profile_round_trip_keeps_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "p" / "profile.json"
    assert load_profile(path) == Profile()  # no file yet: the defaults
    prof = Profile(name="P01", source="serial:/dev/ttyACM0", decoder="qg:cal.json", level="hard")
    prof.extra = {"future_key": [1, 2]}
    save_profile(prof, path)
    again = load_profile(path)
    assert again.name == "P01" and again.level == "hard" and again.extra == {"future_key": [1, 2]}
    assert json.loads(path.read_text())["future_key"] == [1, 2]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "cannot read"),
        ('{"level": "extreme"}', "level"),
        ('{"minutes": 5}', "minutes"),
        ("[1]", "not a JSON object"),
    ],
)
def test_bad_profile_is_one_clear_error(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "profile.json"
    path.write_text(text)
    with pytest.raises(ProfileError, match=fragment) as info:
        load_profile(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_profile_default_paths_per_platform(tmp_path: Path) -> None:
    home = tmp_path
    assert default_path("linux", {}, home) == home / ".config/fist-and-ball/profile.json"
    assert default_path("linux", {"XDG_CONFIG_HOME": "/x"}, home) == Path(
        "/x/fist-and-ball/profile.json"
    )
    assert default_path("win32", {"APPDATA": "C:/A"}, home) == Path(
        "C:/A/fist-and-ball/profile.json"
    )
    assert default_path("darwin", {}, home).parts[-4:-2] == ("Library", "Application Support")
    assert default_path("linux", {"FIST_AND_BALL_PROFILE": "/p.json"}, home) == Path("/p.json")


# -- Blender ---------------------------------------------------------------------------
def fake_exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_finder_order_explicit_remembered_path_install_places(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old = fake_exe(home / "blender-3.6.0-linux-x64" / "blender")
    new = fake_exe(home / "blender-4.2.1-linux-x64" / "blender")
    env = {"PATH": str(tmp_path / "empty")}
    assert (
        find_blender(platform="linux", env=env, home=home, root=home) == new
    )  # newest install first
    assert find_blender(remembered=str(old), platform="linux", env=env, home=home, root=home) == old
    on_path = fake_exe(tmp_path / "bin" / "blender")
    env_path = {"PATH": str(on_path.parent)}
    assert find_blender(platform="linux", env=env_path, home=home, root=home) == on_path
    assert (
        find_blender(str(old), str(new), platform="linux", env=env_path, home=home, root=home)
        == old
    )
    with pytest.raises(BlenderNotFound, match="--blender"):
        find_blender(str(tmp_path / "nope"), platform="linux", env=env, home=home, root=home)


def test_finder_knows_windows_and_macos_places(tmp_path: Path) -> None:
    win = fake_exe(tmp_path / "PF" / "Blender Foundation" / "Blender 4.2" / "blender.exe")
    env = {"PATH": "", "ProgramFiles": str(tmp_path / "PF")}
    assert find_blender(platform="win32", env=env, home=tmp_path) == win
    mac = fake_exe(tmp_path / "Applications" / "Blender.app" / "Contents" / "MacOS" / "Blender")
    assert find_blender(platform="darwin", env={"PATH": ""}, home=tmp_path, root=tmp_path) == mac
    with pytest.raises(BlenderNotFound, match="install Blender"):
        find_blender(
            platform="darwin", env={"PATH": ""}, home=tmp_path / "none", root=tmp_path / "none"
        )


# -- shortcut and add-on sync ------------------------------------------------------------
def test_desktop_entry_runs_launch_with_the_profile(tmp_path: Path) -> None:
    cmd = launch_command(Path("/home/a b/profile.json"), "/usr/bin/python3")
    text = desktop_file_text(cmd)
    assert text.startswith("[Desktop Entry]\n") and "Type=Application" in text
    assert (
        'Exec=/usr/bin/python3 -m fist_and_ball_app.main launch --profile "/home/a b/profile.json"'
        in text
    )
    path = write_shortcut(tmp_path, cmd, platform="linux")
    assert path.name == "fist-and-ball.desktop" and os.access(path, os.X_OK)
    assert write_shortcut(tmp_path, cmd, platform="win32").read_text().startswith("@echo off")
    assert "exec /usr/bin/python3" in write_shortcut(tmp_path, cmd, platform="darwin").read_text()


def test_addon_is_installed_once_and_again_after_a_change(tmp_path: Path) -> None:
    pkg = tmp_path / "fist_and_ball"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("x = 1\n")
    blender = fake_exe(tmp_path / "blender")
    calls: list[str] = []
    stamp = tmp_path / "cfg" / "installed.json"
    assert ensure_addon(blender, pkg, stamp, calls.append, env={})
    assert not ensure_addon(blender, pkg, stamp, calls.append, env={})
    (pkg / "__init__.py").write_text("x = 2\n")  # the add-on changed: update it
    assert ensure_addon(blender, pkg, stamp, calls.append, env={})
    assert ensure_addon(blender, pkg, stamp, calls.append, env={"BLENDER_USER_SCRIPTS": "/o"})
    assert calls == [str(blender)] * 3


def test_simulator_try_out_loops_unless_told_otherwise() -> None:
    assert parse_sim_url(bridge_source("sim:myo3")).loop is True
    assert parse_sim_url(bridge_source("sim:myo3?loop=0")).loop is False
    assert bridge_source("serial:/dev/ttyACM0") == "serial:/dev/ttyACM0"


# -- supervisor with a real bridge ------------------------------------------------------
def bridge_cmd(port: int) -> list[str]:
    return [
        sys.executable, "-m", "fist_and_ball_app.main", "bridge", "--source", "sim:myo3?loop=1",
        "--decoder", "none", "--port", str(port), "--quiet",
    ]  # fmt: skip


def fake_blender(tmp_path: Path) -> list[str]:
    """A stand-in for Blender: runs until the file `quit` appears, then exits 0."""
    script = tmp_path / "blender_standin.py"
    script.write_text(
        textwrap.dedent(f"""
        import os, time
        open({str(tmp_path / "pid")!r}, "w").write(str(os.getpid()))
        while not os.path.exists({str(tmp_path / "quit")!r}):
            time.sleep(0.05)
        """)
    )
    return [sys.executable, str(script)]


def test_bridge_is_restarted_and_stopped_when_blender_closes(tmp_path: Path) -> None:
    import threading

    port = free_port()
    lines: list[str] = []
    sup = Supervisor(
        bridge_cmd(port),
        fake_blender(tmp_path),
        port,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        config=SupervisorConfig(backoff=Backoff(0.5, 2.0, 2.0, jitter=0.0)),
        say=lines.append,
    )
    result: list[int] = []
    th = threading.Thread(target=lambda: result.append(sup.run(handle_signals=False)))
    th.start()
    try:
        assert wait_until(lambda: sup.blender is not None and port_open(port), 120)
        first = sup.bridge
        assert first is not None
        first.kill()  # the bridge dies
        assert wait_until(lambda: sup.bridge is not first and port_open(port), 120), lines
        assert sup.bridge_starts == 2 and any("restarting" in ln for ln in lines)
        second = sup.bridge
        assert second is not None
    finally:
        (tmp_path / "quit").write_text("")  # "Blender" closes
        th.join(60)
    assert result == [0]
    assert second.poll() is not None and not alive(second.pid)
    assert any("Blender closed" in ln for ln in lines)


def test_a_bridge_that_keeps_failing_is_reported_and_not_restarted_forever(tmp_path: Path) -> None:
    import threading

    port = free_port()
    lines: list[str] = []
    # a bridge that listens briefly and then fails: here a real bridge with --duration 1
    cmd = [*bridge_cmd(port), "--duration", "1"]
    sup = Supervisor(
        cmd, fake_blender(tmp_path), port, env=dict(os.environ, PYTHONPATH=str(ROOT)),
        config=SupervisorConfig(max_restarts=2, backoff=Backoff(0.2, 1.0, 0.2, jitter=0.0)),
        say=lines.append,
    )  # fmt: skip
    th = threading.Thread(target=lambda: sup.run(handle_signals=False))
    th.start()
    try:
        assert wait_until(lambda: sup.gave_up, 120), lines
        assert sup.bridge_starts == 3 and sup.blender is not None and sup.blender.poll() is None
        assert any("not restarting" in ln for ln in lines)
    finally:
        (tmp_path / "quit").write_text("")
        th.join(60)


LAUNCHER = """
import sys, os, json
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from fist_and_ball_app.launch.supervisor import Supervisor
from test_launch import bridge_cmd, fake_blender
from pathlib import Path
sup = Supervisor(bridge_cmd({port}), fake_blender(Path({tmp!r})), {port},
                 env=dict(os.environ, PYTHONPATH={root!r}), say=lambda s: print(s, flush=True))
import threading
def report():
    import time
    while sup.blender is None:
        time.sleep(0.05)
    print("PIDS " + json.dumps([sup.bridge.pid, sup.blender.pid]), flush=True)
threading.Thread(target=report, daemon=True).start()
sys.exit(sup.run())
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_no_process_is_left_when_the_launcher_is_stopped(tmp_path: Path, sig: int) -> None:
    port = free_port()
    code = LAUNCHER.format(root=str(ROOT), tests=str(ROOT / "tests"), port=port, tmp=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids: list[int] = []
    for line in proc.stdout:
        if line.startswith("PIDS "):
            pids = json.loads(line[5:])
            break
    assert len(pids) == 2 and all(alive(p) for p in pids)
    proc.send_signal(sig)
    proc.wait(60)
    assert wait_until(lambda: not any(alive(p) for p in pids), 30), [(p, alive(p)) for p in pids]
    assert not port_open(port)


def test_blender_gets_no_pythonpath_so_it_uses_the_installed_addon() -> None:
    env = {"PYTHONPATH": str(ROOT), "PYTHONHOME": "/x", "HOME": "/h"}
    sup = Supervisor(["true"], ["true"], 1, env=env)
    assert sup.blender_env() == {"HOME": "/h"} and sup.env["PYTHONPATH"] == str(ROOT)
