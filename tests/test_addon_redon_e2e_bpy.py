# mypy: disable-error-code="func-returns-value,attr-defined,union-attr"
# (bpy.ops.fistball exists only at run time; fake-bpy-module stubs are Optional-heavy)
"""The re-don check end to end in bpy 5.0: the add-on from the checkout, its operator,
client, ticks and panel, against a real `fist-and-ball bridge` subprocess that runs
the check (bridge/redon/, docs/redon.md) on its simulated patient's stream."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

from bpy_live_driver import tick_for  # noqa: E402
from live_bridge import ROOT, BridgeProcess, free_port  # noqa: E402
from test_addon_redon_bpy import connect, draw_panel, texts  # noqa: E402

pytestmark = pytest.mark.blender


def test_end_to_end_the_addon_runs_a_real_bridges_check(addon: Any) -> None:
    """A real `fist-and-ball bridge --source sim:myo3 --decoder qg`: the operator
    cancels one check, starts another, the panel follows the bridge's steps, and a
    verdict arrives that meets the contract."""
    with BridgeProcess(free_port(), source="sim:myo3", extra=["--decoder", "qg"]) as bridge:
        bridge.start()
        rt = connect(bridge.url)
        assert rt.controller.bridge.hand_authorized is True  # loopback, no token
        # cancelled by its owner first: the bridge confirms, nothing changed
        assert bpy.ops.fistball.redon(action="start") == {"FINISHED"}
        tick_for(30.0, until=lambda: rt.redon.phase == "running")
        assert bpy.ops.fistball.redon(action="cancel") == {"FINISHED"}
        tick_for(30.0, until=lambda: not rt.redon.busy)
        assert rt.redon.result is not None and rt.redon.result.state == "cancelled"
        assert rt.redon.problem == ""

        assert bpy.ops.fistball.redon(action="start") == {"FINISHED"}
        steps: list[str] = []

        def seen() -> None:
            if rt.redon.step and (not steps or steps[-1] != rt.redon.step):
                steps.append(rt.redon.step)

        tick_for(120.0, until=lambda: not rt.redon.busy, on_tick=seen)
        result = rt.redon.result
        assert result is not None and not rt.redon.busy, (rt.redon.phase, steps)
        assert rt.redon.problem == ""  # every message met the contract
        assert result.state in ("accepted", "adapted"), result  # in place: it must fit
        assert result.summary and result.decoder.startswith("qg")
        assert steps[0] == "rest" and len(steps) >= 2, steps  # rest, then movements
        shown = texts(draw_panel())
        assert any(line.startswith(("Placement accepted", "Accepted, decoder")) for line in shown)
        assert rt.controller.bridge_error == "" and rt.errors == 0, rt.last_error
        bpy.ops.fistball.disconnect()


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A QG calibration of the simulated patient with the band where it belongs."""
    out = tmp_path_factory.mktemp("cal") / "cal.json"
    proc = subprocess.run(
        [sys.executable, "-m", "fist_and_ball_app.main", "calibrate",
         "--source", "sim:myo3?speed=max", "--out", str(out), "--yes"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


def test_end_to_end_a_turned_band_is_refused_in_the_panel(
    addon: Any,
    calibration: Path,
) -> None:
    """The band put back on turned 45 degrees: the bridge refuses, the panel says why."""
    source = "sim:myo3?rotation_deg=45"
    with BridgeProcess(
        free_port(), source=source, extra=["--decoder", f"qg:{calibration}"]
    ) as bridge:
        bridge.start()
        rt = connect(bridge.url)
        assert bpy.ops.fistball.redon(action="start") == {"FINISHED"}
        tick_for(120.0, until=lambda: not rt.redon.busy)
        result = rt.redon.result
        assert result is not None and result.state == "refused", result
        assert result.reasons and rt.redon.verdict == "refused" and rt.redon.problem == ""
        rec = draw_panel()
        (head,) = [d for d in rec.drawn if d.text == "Placement refused"]
        assert head.alert  # red
        assert any(line.startswith("- ") for line in texts(rec))  # the reasons, as bullets
        bpy.ops.fistball.disconnect()
