"""The bridge's garbage-collector policy: frozen startup objects, rarer and shorter pauses."""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bridge.gc_policy import GcPauseMeter, GcPolicy

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, timeout: float = 120.0) -> str:
    """Run `code` in a fresh interpreter (freezing is global: not in the test process)."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return out.stdout


def test_policy_freezes_startup_objects_and_sets_thresholds() -> None:
    got = json.loads(
        _python(
            """
            import json, gc
            import numpy
            from bridge.gc_policy import GcPolicy, apply_gc_policy
            before = gc.get_threshold()
            setup = apply_gc_policy(GcPolicy(thresholds=(50_000, 20, 100)))
            print(json.dumps({"frozen": setup.frozen, "count": gc.get_freeze_count(),
                              "thresholds": list(setup.thresholds),
                              "now": list(gc.get_threshold()), "before": list(before)}))
            """
        )
    )
    assert got["frozen"] > 10_000  # numpy alone tracks tens of thousands
    assert got["count"] > 10_000
    assert got["thresholds"] == got["now"] == [50_000, 20, 100]
    assert got["before"] != got["now"]


def test_policy_off_leaves_the_interpreter_alone() -> None:
    got = json.loads(
        _python(
            """
            import json, gc
            from bridge.gc_policy import GcPolicy, apply_gc_policy
            before = list(gc.get_threshold())
            setup = apply_gc_policy(GcPolicy.off())
            print(json.dumps({"frozen": setup.frozen, "before": before,
                              "now": list(gc.get_threshold())}))
            """
        )
    )
    assert got["frozen"] == 0
    assert got["now"] == got["before"]


def test_frozen_objects_make_a_full_collection_much_shorter() -> None:
    """The point of the policy: a full collection no longer walks what startup left."""
    got = json.loads(
        _python(
            """
            import json, gc, time
            from bridge.gc_policy import GcPolicy, apply_gc_policy
            startup = [{"i": i, "l": [i]} for i in range(300_000)]  # long-lived containers

            def full_collection_s():
                best = float("inf")
                for _ in range(5):
                    t = time.perf_counter(); gc.collect(); best = min(best, time.perf_counter() - t)
                return best

            before = full_collection_s()
            apply_gc_policy(GcPolicy())
            print(json.dumps({"before": before, "after": full_collection_s()}))
            """
        )
    )
    # ratio, not a wall-clock bound: the frozen 600k objects are no longer walked
    assert got["after"] < 0.3 * got["before"], got


def test_pause_meter_times_every_collection_with_its_clock() -> None:
    ticks = iter(range(0, 10_000_000, 5))  # every clock call is 5 ms later
    cpu_ticks = iter(range(0, 10_000_000, 2))  # and 2 ms of CPU
    meter = GcPauseMeter(
        clock=lambda: next(ticks) / 1e3, cpu_clock=lambda: next(cpu_ticks) / 1e3
    ).install()
    try:
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        gc.collect()
        gc.collect(0)
    finally:
        meter.uninstall()
    pauses = meter.pauses()
    assert pauses.collections >= 2
    assert pauses.full_collections >= 1
    assert pauses.max_ms == pytest.approx(5.0)
    assert pauses.p99_ms == pytest.approx(5.0)
    assert pauses.max_cpu_ms == pytest.approx(2.0)
    assert pauses.total_ms == pytest.approx(5.0 * pauses.collections)
    seen = pauses.collections
    gc.collect()  # uninstalled: no longer counted
    assert meter.pauses().collections == seen


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="three positive"):
        GcPolicy(thresholds=(0, 10, 10))


@pytest.mark.parametrize("tuned", [True, False])
def test_bridge_reports_its_gc_policy_when_it_stops(tuned: bool) -> None:
    cmd = [
        sys.executable,
        "-m",
        "fist_and_ball_app.main",
        "bridge",
        "--source",
        "sim:myo3",
        "--decoder",
        "none",
        "--port",
        "0",
        "--quiet",
        "--duration",
        "1.5",
    ]
    if not tuned:
        cmd.append("--no-gc-tuning")
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    m = re.search(r"bridge: gc (tuned|defaults): frozen (\d+) objects", out.stderr)
    assert m, out.stderr
    assert m.group(1) == ("tuned" if tuned else "defaults")
    frozen = int(m.group(2))
    assert (frozen > 10_000) if tuned else (frozen == 0)
    assert "collections" in out.stderr
