"""`fist-and-ball addon build|install`: package the Blender add-on and install it.

    fist-and-ball addon build [--out dist]
    fist-and-ball addon install [--blender PATH|bpy] [--zip FILE]

`build` works from the installed package (importlib.resources: a wheel install and a
source checkout alike) and writes only under --out: it puts the pinned pure `websockets`
wheel in OUT/addon/wheels (pip download, unless a checkout's ./wheels has it), assembles
the extension folder OUT/addon/fist_and_ball (the fist_and_ball package, which holds
blender_manifest.toml, plus wheels/; an extension needs its __init__.py and manifest at
the root), then runs Blender's own `blender_ext.py build` and `validate` on it.
`install` puts the zip into a Blender 4.2+ (the bpy module or a binary) with
`bpy.ops.extensions.package_install_files`, or copies the same folder into the user
add-ons of an older Blender (a legacy add-on) and enables it. Both respect
BLENDER_USER_RESOURCES / BLENDER_USER_SCRIPTS.
"""

from __future__ import annotations

import argparse
import importlib.resources
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.cli.errors import CliError
from bridge.cli.extras import require_extra

EXTENSION_ID = "fist_and_ball"
MANIFEST = "blender_manifest.toml"
"""Inside the fist_and_ball package: Blender wants it at the extension zip's root."""
STAGE_DIR = "addon"
"""OUT/addon/fist_and_ball is the staged extension (and the legacy add-on folder)."""
WHEEL_RE = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-py3-none-any\.whl$")
EXTENSIONS_MIN = (4, 2)
"""Blender versions from here on take extensions; older ones take legacy add-ons."""
BLENDER_TIMEOUT_S = 300.0
CACHES = ("__pycache__", "*.pyc")
"""The only things of fist_and_ball/ not copied into the extension: fist_and_ball/ is
exactly the add-on (what needs the bridge lives in fist_and_ball_app/)."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "addon",
        help="build the Blender extension zip / install the add-on into Blender",
        description=(
            "Build the Fist & Ball Blender extension (zip validated by Blender's own tool) "
            "or install it into a Blender on this machine (4.2+: extension; older: legacy "
            "add-on with the bundled websockets wheel)."
        ),
    )
    sub = p.add_subparsers(dest="addon_command", metavar="ACTION")
    b = sub.add_parser("build", help="make and validate the extension zip")
    b.add_argument("--out", default="dist", help="folder for the zip (default: dist)")
    b.add_argument(
        "--blender-ext",
        metavar="PATH",
        help="Blender's blender_ext.py (default: the one inside the installed bpy module)",
    )
    b.set_defaults(func=run_build)
    i = sub.add_parser("install", help="install and enable the add-on in a Blender")
    i.add_argument(
        "--blender",
        metavar="PATH",
        help=(
            "a blender executable, or 'bpy' for the bpy module of this Python "
            "(default: `blender` on PATH, else bpy)"
        ),
    )
    i.add_argument("--zip", metavar="FILE", help="extension zip to install (default: build it)")
    i.add_argument("--out", default="dist", help="where a fresh build goes (default: dist)")
    i.add_argument("--blender-ext", metavar="PATH", help="Blender's blender_ext.py for the build")
    i.set_defaults(func=run_install)
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])


# -- locating things ----------------------------------------------------------------
def addon_package_dir() -> Path:
    """The installed fist_and_ball package (the add-on's sources and its manifest)."""
    try:
        package = importlib.resources.files(EXTENSION_ID)
    except ModuleNotFoundError:
        raise CliError("the fist_and_ball package is not importable") from None
    if not isinstance(package, Path) or not (package / MANIFEST).is_file():
        raise CliError(f"the fist_and_ball package at {package} has no {MANIFEST}: reinstall it")
    return package


def read_manifest(package: Path) -> dict[str, Any]:
    """The add-on's blender_manifest.toml (inside the package)."""
    path = package / MANIFEST
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None


def find_blender_ext(explicit: str | None = None) -> Path:
    """Blender's extension tool: given, or inside the bpy module of this Python."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise CliError(f"--blender-ext {path} does not exist")
        return path
    require_extra(
        "blender",
        ("bpy",),
        "Blender's extension tool",
        "or pass --blender-ext PATH/TO/blender_ext.py",
    )
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise CliError("the bpy module has no folder to find blender_ext.py in")
    for base in spec.submodule_search_locations:
        found = sorted(Path(base).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    raise CliError("bpy is installed but has no scripts/addons_core/bl_pkg/cli/blender_ext.py")


# -- build --------------------------------------------------------------------------
def ensure_wheels(manifest: dict[str, Any], wheel_dir: Path, look_in: list[Path]) -> list[Path]:
    """Every wheel the manifest names: found in `look_in` (read only) or `wheel_dir`, else
    downloaded into `wheel_dir` (pip download)."""
    out: list[Path] = []
    for rel in manifest.get("wheels", []):
        name = Path(rel).name
        m = WHEEL_RE.match(name)
        if m is None:
            raise CliError(f"manifest wheel {rel!r} is not a pure py3-none-any wheel")
        found = [d / name for d in look_in if (d / name).is_file()]
        path = found[0] if found else (wheel_dir / name).resolve()
        if not path.is_file():
            name, version = m["name"], m["version"]
            print(f"addon: downloading {name} {version} (py3-none-any) into {path.parent} ...")
            path.parent.mkdir(parents=True, exist_ok=True)
            cmd = [
                sys.executable, "-m", "pip", "download", f"{name}=={version}",
                "--only-binary=:all:", "--no-deps", "--python-version", "3.11",
                "--implementation", "py", "--abi", "none", "--platform", "any",
                "--dest", str(path.parent), "--quiet",
            ]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0 or not path.is_file():
                detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise CliError(f"could not download {path.name}: {detail[0]}")
        out.append(path)
    return out


def stage_addon(stage_parent: Path, package: Path | None = None) -> Path:
    """Assemble <stage_parent>/fist_and_ball: the package (with its manifest) and wheels/.

    Writes only under `stage_parent`: a wheel not found in a source checkout's ./wheels
    is downloaded into <stage_parent>/wheels, kept for the next build.
    """
    package = package or addon_package_dir()
    manifest = read_manifest(package)
    wheels = ensure_wheels(manifest, stage_parent / "wheels", [package.parent / "wheels"])
    stage = stage_parent / EXTENSION_ID
    if stage.exists():
        shutil.rmtree(stage)
    stage_parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(package, stage, ignore=shutil.ignore_patterns(*CACHES, "wheels"))
    (stage / "wheels").mkdir()
    for wheel in wheels:
        shutil.copy2(wheel, stage / "wheels" / wheel.name)
    return stage


def _run_ext_tool(tool: Path, args: list[str]) -> str:
    proc = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)
    text = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise CliError(f"blender_ext {args[0]} failed: {text.splitlines()[-1] if text else '?'}")
    return text


@dataclass(slots=True)
class BuildResult:
    stage: Path
    zip_path: Path


def build_addon(out: Path, blender_ext: str | None = None) -> BuildResult:
    """Stage the extension, build the zip with Blender's tool, validate it."""
    tool = find_blender_ext(blender_ext)
    package = addon_package_dir()
    stage = stage_addon(out / STAGE_DIR, package)
    manifest = read_manifest(package)
    zip_path = out.resolve() / f"{EXTENSION_ID}-{manifest.get('version', '0')}.zip"
    if zip_path.exists():
        zip_path.unlink()
    print(f"addon: building {zip_path.name} with {tool.name} ...")
    _run_ext_tool(tool, ["build", "--source-dir", str(stage), "--output-filepath", str(zip_path)])
    _run_ext_tool(tool, ["validate", str(zip_path)])
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
    if "__init__.py" not in names or not any(n.startswith("wheels/websockets-") for n in names):
        raise CliError(f"{zip_path} lacks __init__.py or the websockets wheel: {names[:10]}")
    if "report/__init__.py" not in names or "protocol_v1.py" not in names:
        raise CliError(f"{zip_path}: wrong contents (report/ or protocol_v1.py missing)")
    return BuildResult(stage, zip_path)


def run_build(args: argparse.Namespace) -> int:
    res = build_addon(Path(args.out), args.blender_ext)
    size_kb = res.zip_path.stat().st_size / 1024
    print(f"addon: {res.zip_path} ({size_kb:.0f} KiB), validated by Blender's extension tool")
    print(f"addon: legacy add-on folder (Blender < 4.2): {res.stage}")
    return 0


# -- install ------------------------------------------------------------------------
INSTALL_EXTENSION = """
import bpy, json, sys
res = bpy.ops.extensions.package_install_files(
    filepath={zip!r}, repo='user_default', enable_on_install=True)
bpy.ops.wm.save_userpref()
mods = [a.module for a in bpy.context.preferences.addons]
print('FISTBALL_RESULT ' + json.dumps({{'result': sorted(res), 'enabled': [m for m in mods
      if m.endswith('fist_and_ball')], 'version': bpy.app.version_string}}))
"""

INSTALL_LEGACY = """
import bpy, addon_utils, json, shutil, os
dst = os.path.join(bpy.utils.user_resource('SCRIPTS', path='addons', create=True), 'fist_and_ball')
if os.path.isdir(dst):
    shutil.rmtree(dst)
shutil.copytree({src!r}, dst)
bpy.utils.refresh_script_paths()  # a user add-ons folder made just now is not on sys.path yet
addon_utils.modules_refresh()
mod = addon_utils.enable('fist_and_ball', default_set=True, handle_error=None)
bpy.ops.wm.save_userpref()
print('FISTBALL_RESULT ' + json.dumps({{'result': ['FINISHED' if mod else 'FAILED'],
      'enabled': [a.module for a in bpy.context.preferences.addons if a.module == 'fist_and_ball'],
      'path': dst, 'version': bpy.app.version_string}}))
"""


def blender_version(blender: str) -> tuple[int, int]:
    """(major, minor) of a blender executable (`blender --version`)."""
    try:
        proc = subprocess.run([blender, "--version"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CliError(f"cannot run {blender}: {exc}") from None
    m = re.search(r"Blender (\d+)\.(\d+)", proc.stdout)
    if m is None:
        raise CliError(f"{blender} --version did not print a Blender version")
    return int(m[1]), int(m[2])


def blender_env() -> dict[str, str]:
    """This environment without PYTHONPATH / PYTHONHOME: a Blender with its own Python
    would import the add-on from a checkout on PYTHONPATH instead of the installed copy."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _run_script(cmd: list[str], script: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        proc = subprocess.run(
            [*cmd, script], capture_output=True, text=True, timeout=BLENDER_TIMEOUT_S, env=env
        )
    except subprocess.TimeoutExpired:
        raise CliError(f"{cmd[0]} did not finish within {BLENDER_TIMEOUT_S:.0f} s") from None
    for line in proc.stdout.splitlines():
        if line.startswith("FISTBALL_RESULT "):
            result: dict[str, Any] = json.loads(line.split(" ", 1)[1])
            errors = [ln for ln in (proc.stderr + proc.stdout).splitlines() if "Error" in ln]
            result["errors"] = errors[-3:]
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    raise CliError("installing failed: " + " | ".join(tail))


def install_addon(
    blender: str | None, zip_path: Path | None, out: Path, blender_ext: str | None = None
) -> dict[str, Any]:
    """Install and enable the add-on; returns what Blender reported."""
    target = blender or shutil.which("blender") or "bpy"
    if target == "bpy":
        if importlib.util.find_spec("bpy") is None:
            raise CliError(
                "no `blender` on PATH and no bpy module: pass --blender PATH or "
                'pip install "fist-and-ball[blender]"'
            )
        version = (99, 0)
        cmd = [sys.executable, "-c"]
        env = None  # bpy as a module: this Python's own path
    else:
        version = blender_version(target)
        cmd = [target, "--background", "--python-expr"]
        env = blender_env()
    if version >= EXTENSIONS_MIN:
        if zip_path is None:
            zip_path = build_addon(out, blender_ext).zip_path
        if not zip_path.is_file():
            raise CliError(f"--zip {zip_path} does not exist")
        print(f"addon: installing {zip_path.name} as an extension into {target} ...")
        result = _run_script(cmd, INSTALL_EXTENSION.format(zip=str(zip_path.resolve())), env)
    else:
        if zip_path is not None:
            src = out / "addon-unzipped" / EXTENSION_ID
            if src.exists():
                shutil.rmtree(src)
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(src)
        else:
            src = stage_addon(out / STAGE_DIR)
        print(f"addon: installing the legacy add-on into Blender {version[0]}.{version[1]} ...")
        result = _run_script(cmd, INSTALL_LEGACY.format(src=str(src)), env)
    if not result.get("enabled"):
        why = " | ".join(result.get("errors") or []) or str(result)
        raise CliError(f"Blender did not enable the add-on: {why}")
    return result


def run_install(args: argparse.Namespace) -> int:
    res = install_addon(
        args.blender, Path(args.zip) if args.zip else None, Path(args.out), args.blender_ext
    )
    print(f"addon: enabled {res['enabled'][0]} in Blender {res.get('version', '?')}")
    return 0
