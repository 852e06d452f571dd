#!/usr/bin/env bash
# The add-on's in-process Blender tests against another Blender release from PyPI
# (`bpy==VERSION`), in a virtual environment of its own: the compatibility check for the
# releases the extension manifest admits (blender_version_min 4.2.0). Not part of CI:
# each bpy is a download of several hundred MB. Results: docs/addon.md, "Blender
# versions checked".
# Usage: bash tests/bpy_compat.sh VERSION [pytest args]     e.g. 4.2.23, 4.5.15
set -euo pipefail
cd "$(dirname "$0")/.."
V=${1:?usage: bash tests/bpy_compat.sh BPY_VERSION [pytest args]}
shift
PY=${PYTHON:-python3.11}
VENV=${BPY_COMPAT_VENV:-.venv-bpy-$V}

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
# One resolver run for bpy and the project, so numpy stays within what this bpy was
# built against (4.5 needs numpy < 2; the LSL and training extras are not needed).
echo "== installing bpy==$V and the project"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "bpy==$V" -e . pytest hypothesis
"$VENV/bin/python" -c "import bpy, numpy; print('== bpy', bpy.app.version_string, '/ numpy', numpy.__version__)"

# the test files that drive the add-on in this process's bpy
mapfile -t files < <(grep -l "pytest.mark.blender" tests/test_*.py)
files+=(tests/test_play_headless.py)
echo "== pytest: ${files[*]}"
exec "$VENV/bin/python" tests/bpy_compat_pytest.py -q "${files[@]}" "$@"
