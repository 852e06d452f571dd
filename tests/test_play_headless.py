"""Headless play through the whole real chain: simulator -> pty -> bridge -> websocket -> game."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fist_and_ball.core.score_reader import read_session
from fist_and_ball.headless.play import PlayOptions, run_play

CONTRACT_FIELDS = {
    "schema", "session_id", "patient", "started_at", "ended_at", "completed", "level",
    "duration_s", "ball_speed", "up_down_movements", "held_s", "catches", "score",
    "decoder", "source",
}  # fmt: skip
CLI = [sys.executable, "-m", "bridge.cli.main"]


def test_play_in_real_blender_writes_a_complete_contract_log(tmp_path: Path) -> None:
    pytest.importorskip("bpy")
    frames = tmp_path / "frames"
    done = subprocess.run(
        [*CLI, "play", "--minutes", "2", "--level", "medium", "--seed", "3",
         "--log-dir", str(tmp_path), "--render", str(frames), "--fps", "0.05", "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    logs = sorted(tmp_path.glob("*.json"))
    assert len(logs) == 1
    summary = json.loads(logs[0].read_text())
    assert summary.keys() >= CONTRACT_FIELDS
    assert summary["completed"] is True
    assert summary["duration_s"] == pytest.approx(120.0, abs=0.1)
    assert summary["decoder"] == "qg"
    assert "sim:myo3" in summary["source"]
    assert summary["up_down_movements"] > 5
    record = read_session(logs[0])
    assert record.status == "complete", record.reason
    # 42.7 Hz for two minutes, one timeline row per decoded sample
    assert len(record.timeline().rows) > 5000
    pngs = sorted(frames.glob("frame_*.png"))
    assert 6 <= len(pngs) <= 8 and all(p.stat().st_size > 10_000 for p in pngs)


def _score(tmp_path: Path, level: str, patient: str, seed: int) -> float:
    opts = PlayOptions(
        level=level,
        minutes=2,
        seed=seed,
        patient=patient,
        log_dir=tmp_path / f"{level}-{patient}-{seed}",
        scene_updates=False,
    )
    return float(run_play(opts).summary["score"])


def test_better_patient_scores_higher_and_harder_level_scores_lower(tmp_path: Path) -> None:
    seeds = (1, 2)
    novice = sum(_score(tmp_path, "medium", "novice", s) for s in seeds)
    expert = sum(_score(tmp_path, "medium", "expert", s) for s in seeds)
    assert expert > novice * 1.2, (expert, novice)
    easy = sum(_score(tmp_path, "easy", "average", s) for s in seeds)
    hard = sum(_score(tmp_path, "hard", "average", s) for s in seeds)
    assert easy > hard * 1.2, (easy, hard)


def test_session_killed_mid_way_leaves_a_readable_incomplete_log(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*CLI, "play", "--minutes", "6", "--no-scene", "--log-dir", str(tmp_path), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("*_timeline.csv")) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.5)
        assert proc.poll() is None, "the session ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    (log,) = tmp_path.glob("*[0-9a-z].json")
    record = read_session(log)
    assert record.status == "incomplete"
    assert record.summary["completed"] is False
    t = record.timeline().numeric("t")
    assert len(t) > 40  # at least a second of play survived
    assert float(record.summary["held_s"]) <= t[-1] - t[0] + 1.0
