#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine, then runs
# lint (ruff), the type check (mypy, add-on against fake-bpy-module stubs), the import
# contracts (import-linter) and pytest.
# Usage: bash tests/run.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

# Debian packages for the GUI smoke test (Blender 3.4 under Xvfb) and the report
# screenshot (headless Chromium). Skipped when already present.
need=()
command -v blender >/dev/null 2>&1 || need+=(blender)
command -v xvfb-run >/dev/null 2>&1 || need+=(xvfb xauth)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
echo "== installing the project with its dev extras (bpy, torch CPU, onnx, pytest, ruff, mypy)"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy bridge fist_and_ball fist_and_ball_app bench
echo "== import contracts (.importlinter, docs/architecture.md)"
.venv/bin/lint-imports --no-cache
echo "== pytest"
mkdir -p test-artifacts
.venv/bin/python -m pytest -q "$@"
