"""pytest for tests/bpy_compat.sh: runs the tests, then leaves without the interpreter's
teardown. Some bpy releases break in their own exit handlers after every test has
passed (bpy 4.2.0 segfaults, 4.5.15 deadlocks in a destructor of its own), which
would turn a passing run into a crash or a hang; the exit code stays pytest's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# as `python -m pytest` from the checkout would: some tests import `tests.<helper>`
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    """Run pytest with these arguments and exit with its code, skipping bpy's teardown."""
    rc = int(pytest.main(sys.argv[1:]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    main()
