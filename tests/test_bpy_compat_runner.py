"""tests/bpy_compat_pytest.py: skipping the interpreter's teardown must not hide a result
(the exit code is pytest's, and what pytest printed is all there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parent / "bpy_compat_pytest.py"


@pytest.mark.parametrize(("body", "code"), [("assert True", 0), ("assert 1 == 2", 1)])
def test_the_exit_code_is_pytests(tmp_path: Path, body: str, code: int) -> None:
    (tmp_path / "test_one.py").write_text(f"def test_one():\n    {body}\n")
    # an exit handler that would hang, as bpy 4.5's destructor does: it must not run
    (tmp_path / "conftest.py").write_text(
        "import atexit, time\natexit.register(lambda: time.sleep(600))\n"
    )
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert ("1 passed" if code == 0 else "1 failed") in proc.stdout
