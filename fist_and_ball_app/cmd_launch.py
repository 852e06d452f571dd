"""`fist-and-ball launch`: the daily start, from one command or a desktop shortcut.

    fist-and-ball launch                      # the profile's device, level and Blender
    fist-and-ball launch --source sim:myo3    # a try-out with the simulator (loops)
    fist-and-ball launch --name P01 --source serial:/dev/ttyACM0 --decoder qg:cal.json \\
        --level auto --save-profile           # remember the settings
    fist-and-ball launch --write-shortcut     # a .desktop / .cmd / .command file

Starts the bridge, finds Blender, installs or updates the add-on, opens Blender with the
game scene built, connected and in patient mode; closing Blender stops the bridge.
docs/launch.md has the details.
"""

from __future__ import annotations

import argparse
import importlib.util
import socket
import sys
from pathlib import Path

from bridge.cli.errors import CliError
from bridge.sim.url import is_sim_url, parse_sim_url
from fist_and_ball.core.levels import PLAYABLE_LEVELS, SESSION_MINUTES
from fist_and_ball_app.launch.blender_finder import BlenderNotFound, find_blender
from fist_and_ball_app.launch.desktop_entry import (
    default_shortcut_dir,
    launch_command,
    write_shortcut,
)
from fist_and_ball_app.launch.profile import (
    Profile,
    ProfileError,
    default_path,
    load_profile,
    save_profile,
)

STARTUP_SCRIPT = Path(__file__).resolve().parent / "launch" / "startup_script.py"
STAMP_NAME = "installed-addon.json"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "launch",
        help="start the bridge and Blender in patient mode (the daily start)",
        description=(
            "Start the bridge on the profile's device (or --source), find Blender, install "
            "or update the add-on, and open Blender with the game scene built, connected "
            "and in patient mode. Closing Blender stops the bridge. See docs/launch.md."
        ),
    )
    p.add_argument("--profile", type=Path, metavar="FILE", help="profile file (default: see docs)")
    p.add_argument("--name", help="patient name or ID for the score logs")
    p.add_argument("--source", metavar="URL", help="device, e.g. serial:/dev/ttyACM0 or sim:myo3")
    p.add_argument("--decoder", metavar="SPEC", help="calibration or model, e.g. qg:cal.json")
    p.add_argument("--level", choices=PLAYABLE_LEVELS, help="preferred level")
    p.add_argument("--minutes", type=int, choices=SESSION_MINUTES, help="session length")
    p.add_argument("--hand", metavar="URL", help="prosthetic hand for the bridge (--hand)")
    p.add_argument("--port", type=int, help="websocket port (default: any free port)")
    p.add_argument("--blender", metavar="PATH", help="the Blender executable to use")
    p.add_argument(
        "--save-profile", action="store_true", help="store these settings in the profile"
    )
    p.add_argument(
        "--write-shortcut",
        nargs="?",
        const="",
        metavar="DIR",
        help="write a desktop shortcut starting this profile (default folder: see docs) and exit",
    )
    p.add_argument(
        "--reinstall", action="store_true", help="install the add-on even if it looks current"
    )
    p.add_argument(
        "--no-autostart",
        action="store_true",
        help="open patient mode on its start screen instead of starting a session",
    )
    p.set_defaults(func=run)


def merged_profile(args: argparse.Namespace, base: Profile) -> Profile:
    """The profile with the command line's choices on top."""
    for key in ("name", "source", "decoder", "level", "minutes", "hand", "port"):
        value = getattr(args, key)
        if value is not None:
            setattr(base, key, value)
    return base.check()


def bridge_source(source: str) -> str:
    """The source the bridge gets: a simulator loops its script so a session never
    runs out of signal (sim:myo3's script ends after 242 s otherwise)."""
    if is_sim_url(source):
        return parse_sim_url(source).with_defaults(loop="1")
    return source


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bridge_command(profile: Profile, port: int) -> list[str]:
    cmd = [
        sys.executable, "-m", "fist_and_ball_app.main", "bridge",
        "--source", bridge_source(profile.source), "--decoder", profile.decoder,
        "--port", str(port), "--quiet",
    ]  # fmt: skip
    if profile.hand:
        cmd += ["--hand", profile.hand]
    return cmd


def blender_command(blender: Path, profile: Profile, port: int, autostart: bool) -> list[str]:
    cmd = [
        str(blender), "--python", str(STARTUP_SCRIPT), "--",
        "--url", f"ws://127.0.0.1:{port}", "--level", profile.level,
        "--minutes", str(profile.minutes), "--patient", profile.name,
    ]  # fmt: skip
    return cmd + ([] if autostart else ["--no-autostart"])


def install_addon_into(blender: str) -> None:
    """`fist-and-ball addon install --blender PATH` (extension or legacy by version)."""
    from bridge.cli.cmd_addon import install_addon

    result = install_addon(blender, None, Path("build") / "dist")
    print(f"launch: add-on {result['enabled'][0]} enabled in Blender {result.get('version', '?')}")


def run(args: argparse.Namespace) -> int:
    from fist_and_ball_app.launch.addon_sync import ensure_addon
    from fist_and_ball_app.launch.supervisor import LaunchAborted, Supervisor

    path = args.profile or default_path()
    try:
        profile = merged_profile(args, load_profile(path))
    except (ProfileError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if args.write_shortcut is not None:
        folder = Path(args.write_shortcut) if args.write_shortcut else default_shortcut_dir()
        if not path.exists():
            save_profile(profile, path)
        shortcut = write_shortcut(folder, launch_command(path))
        print(f"launch: shortcut {shortcut} starts the profile {path}")
        return 0
    try:
        blender = find_blender(args.blender, profile.blender or None)
    except BlenderNotFound as exc:
        raise CliError(str(exc)) from None
    if args.save_profile or (profile.blender != str(blender) and path.exists()):
        profile.blender = str(blender)  # remembered for the next start
        save_profile(profile, path)
        print(f"launch: profile saved to {path}")
    package = importlib.util.find_spec("fist_and_ball")
    assert package is not None and package.origin is not None
    if ensure_addon(
        blender,
        Path(package.origin).parent,
        path.parent / STAMP_NAME,
        install_addon_into,
        force=args.reinstall,
    ):
        print(f"launch: add-on installed into {blender}")
    port = profile.port or free_port()
    print(f"launch: bridge on {bridge_source(profile.source)} ({profile.decoder}), port {port}")
    sup = Supervisor(
        bridge_command(profile, port),
        blender_command(blender, profile, port, not args.no_autostart),
        port,
    )
    try:
        return sup.run()
    except LaunchAborted as exc:
        raise CliError(str(exc)) from None
