"""The import contracts in .importlinter hold on the real tree, and each one breaks when
a forbidden import is added to a copy of the tree (so a contract cannot pass vacuously,
e.g. because of a misspelt module name).

`lint-imports` reads the source statically (grimp), so the copies are never imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("bridge", "fist_and_ball", "fist_and_ball_app")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="needs import-linter")


def lint_imports(tree: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the packages under `tree` (only `contracts`, if given)."""
    selected = [arg for c in contracts for arg in ("--contract", c)]
    # PYTHONPATH first: the editable install would otherwise resolve the real packages
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *selected],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_real_tree_keeps_every_contract() -> None:
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "BROKEN" not in proc.stdout
    assert "5 kept, 0 broken" in proc.stdout


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The three packages and the contracts file, copied without caches."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


# (contract id, file that gets the import, the import line, the edge lint-imports reports)
FORBIDDEN = [
    ("addon-standalone", "fist_and_ball/core/game.py", "import bridge",
     "fist_and_ball.core.game -> bridge"),
    ("addon-standalone", "fist_and_ball/ui/panel.py", "import fist_and_ball_app.main",
     "fist_and_ball.ui.panel -> fist_and_ball_app.main"),
    ("bridge-standalone", "bridge/frame.py", "import fist_and_ball.core.levels",
     "bridge.frame -> fist_and_ball.core.levels"),
    ("bridge-standalone", "bridge/server/ws_server.py", "import fist_and_ball_app.main",
     "bridge.server.ws_server -> fist_and_ball_app.main"),
    ("protocol-dependency-free", "fist_and_ball/protocol_v1.py", "import fist_and_ball.live",
     "fist_and_ball.protocol_v1 -> fist_and_ball.live"),
    ("no-bpy-below-the-scene", "fist_and_ball/core/game.py", "import bpy",
     "fist_and_ball.core.game -> bpy"),
    ("no-bpy-below-the-scene", "fist_and_ball/protocol_v1.py", "from mathutils import Vector",
     "fist_and_ball.protocol_v1 -> mathutils"),
    ("bridge-layers", "bridge/values/sample.py", "import bridge.sources",
     "bridge.values.sample -> bridge.sources"),
    ("bridge-layers", "bridge/decoders/qg.py", "import bridge.pipeline",
     "bridge.decoders.qg -> bridge.pipeline"),
]  # fmt: skip


@pytest.mark.parametrize(("contract", "rel", "line", "edge"), FORBIDDEN)
def test_a_forbidden_import_breaks_its_contract(
    tree_copy: Path, contract: str, rel: str, line: str, edge: str
) -> None:
    target = tree_copy / rel
    # the unchanged copy does not report this edge, so the break below is the new import's
    before = lint_imports(tree_copy, contract)
    assert "Contracts: " in before.stdout, before.stderr[-2000:]  # it ran and checked
    assert edge not in before.stdout
    with target.open("a") as f:
        f.write(f"\n{line}  # added by test_import_contracts\n")
    after = lint_imports(tree_copy, contract)
    assert after.returncode == 1, after.stdout[-3000:] + after.stderr[-2000:]
    assert "0 kept, 1 broken" in after.stdout
    assert edge in after.stdout
