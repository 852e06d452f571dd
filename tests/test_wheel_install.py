"""The package as a user gets it from the registry: a built wheel (not the editable
checkout) installed into fresh virtual environments, run from empty folders.

- With the `blender` extra: `fist-and-ball demo` runs end to end with the MCNN-TG live
  view (the shipped bundle is package data), and `addon build` makes a validated zip
  writing only into its --out folder.
- Without extras: the commands that need bpy or torch say which extra to install, in one
  line with exit code 2 and no traceback; `--decoder mcnn:default` still works (the
  bridge needs neither).

Slow (a wheel build and two installs). The first run on a machine with a cold pip cache
downloads bpy (~350 MB) and the other dependencies from PyPI.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from live_bridge import ROOT

pytestmark = pytest.mark.slow

INSTALL_TIMEOUT_S = 1200
RUN_TIMEOUT_S = 600
SHIPPED_FILES = (
    "bridge/models/mcnn_socket16/model.json",
    "bridge/models/mcnn_socket16/model.onnx",
    "fist_and_ball/blender_manifest.toml",
)


@dataclass(frozen=True, slots=True)
class Venv:
    """A fresh virtual environment with the wheel installed."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def command(self) -> Path:
        return self.root / "bin" / "fist-and-ball"

    def run(self, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """`fist-and-ball ARGS` in `cwd`, with nothing of the checkout on the path."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(
            [str(self.command), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )


def _checkout_copy(dest: Path) -> Path:
    """The source files (tracked and new, not ignored) copied away from the checkout, so
    building the wheel writes nothing into it (setuptools builds in-tree)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(src.read_bytes())
    return dest


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    assert proc.returncode == 0, f"{what} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = _checkout_copy(tmp_path_factory.mktemp("src"))
    dist = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-w", str(dist), "-q"],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    _check(proc, "pip wheel")
    (built,) = dist.glob("fist_and_ball-*-py3-none-any.whl")
    return built


def _venv(parent: Path, requirement: str) -> Venv:
    venv = Venv(parent / "venv")
    _check(
        subprocess.run(
            [sys.executable, "-m", "venv", str(venv.root)], capture_output=True, text=True
        ),
        "venv",
    )
    proc = subprocess.run(
        [str(venv.python), "-m", "pip", "install", "-q", requirement],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    _check(proc, f"pip install {requirement}")
    return venv


@pytest.fixture(scope="module")
def venv_blender(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return _venv(tmp_path_factory.mktemp("with_blender"), f"{wheel}[blender]")


@pytest.fixture(scope="module")
def venv_plain(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return _venv(tmp_path_factory.mktemp("plain"), str(wheel))


def _empty_dir(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


def test_the_wheel_carries_the_model_bundle_and_the_manifest(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    missing = [f for f in SHIPPED_FILES if f not in names]
    assert not missing, f"{wheel.name} lacks {missing}"
    assert not [n for n in names if n.startswith(("tests/", "bench/", "assets/"))]


def test_demo_from_an_empty_folder_with_the_mcnn_live_view(
    venv_blender: Venv, tmp_path: Path
) -> None:
    here = _empty_dir(tmp_path, "empty")
    proc = venv_blender.run(here, "demo", "--live-seconds", "4", "--out", "demo")
    _check(proc, "fist-and-ball demo")
    out = proc.stdout
    # the live view runs the shipped bundle: the demo says so and the bridge confirms it
    assert "bridge live view: simulated socket16, MCNN-TG" in out, out[:2000]
    # the bridge subprocess reports on stderr (its start line, then one line per status)
    bridge = proc.stderr
    assert re.search(r"source sim:socket16\s+decoder mcnn\b", bridge), bridge[:2000]
    assert re.search(r"grade \d/8", bridge), bridge[:2000]
    assert "uses QG instead" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "session completed" in out
    assert list((here / "demo" / "sessions").glob("*.json"))
    assert list((here / "demo" / "frames").glob("*.png"))
    assert (here / "demo" / "report.html").is_file()
    assert sorted(p.name for p in here.iterdir()) == ["demo"]  # nothing beside --out


def test_addon_build_writes_only_into_its_out_folder(venv_blender: Venv, tmp_path: Path) -> None:
    here = _empty_dir(tmp_path, "empty")
    site = next((venv_blender.root / "lib").glob("python3*/site-packages"))
    package_files = sorted(p.relative_to(site) for p in (site / "fist_and_ball").rglob("*"))
    proc = venv_blender.run(here, "addon", "build", "--out", "dist")
    _check(proc, "fist-and-ball addon build")
    assert "validated" in proc.stdout
    assert sorted(p.name for p in here.iterdir()) == ["dist"]
    (zip_path,) = (here / "dist").glob("fist_and_ball-*.zip")
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
    assert {"blender_manifest.toml", "__init__.py", "protocol_v1.py"} <= names
    assert any(n.startswith("wheels/websockets-") for n in names)
    # the installed package is read, never written (no staging beside it)
    after = sorted(p.relative_to(site) for p in (site / "fist_and_ball").rglob("*"))
    assert [p for p in after if "__pycache__" not in p.parts] == [
        p for p in package_files if "__pycache__" not in p.parts
    ]
    assert not (site / "build").exists()


def _one_line_naming(proc: subprocess.CompletedProcess[str], extra: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f'pip install "fist-and-ball[{extra}]"' in lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [("demo",), ("play",), ("addon", "build")])
def test_without_the_blender_extra_one_line_names_it(
    venv_plain: Venv, tmp_path: Path, command: tuple[str, ...]
) -> None:
    here = _empty_dir(tmp_path, "empty")
    line = _one_line_naming(venv_plain.run(here, *command), "blender")
    assert "bpy" in line
    assert list(here.iterdir()) == []  # refused before writing anything


def test_without_the_train_extra_one_line_names_it(venv_plain: Venv, tmp_path: Path) -> None:
    here = _empty_dir(tmp_path, "empty")
    (here / "rec.csv").write_text("t_host\n")
    line = _one_line_naming(venv_plain.run(here, "train", "rec.csv", "--out", "model"), "train")
    assert "torch" in line


def test_the_shipped_bundle_is_named_from_anywhere(venv_plain: Venv, tmp_path: Path) -> None:
    here = _empty_dir(tmp_path, "empty")
    proc = venv_plain.run(
        here, "bridge", "--source", "sim:socket16", "--decoder", "mcnn:default",
        "--port", "0", "--duration", "2",
    )  # fmt: skip
    _check(proc, "fist-and-ball bridge --decoder mcnn:default")
    assert re.search(r"decoder mcnn\b", proc.stdout + proc.stderr)
    assert re.search(r"grade \d/8", proc.stdout + proc.stderr)
