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
from fist_and_ball_app.headless.play import PlayOptions, run_play

CONTRACT_FIELDS = {
    "schema", "session_id", "patient", "started_at", "ended_at", "completed", "level",
    "duration_s", "ball_speed", "up_down_movements", "held_s", "catches", "score",
    "decoder", "source",
}  # fmt: skip
CLI = [sys.executable, "-m", "fist_and_ball_app.main"]


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


def _grade_server(messages: list[dict]) -> tuple[str, object]:
    """A real websocket server on loopback that says hello, then sends `messages`
    (cycled, 50 per second) to each client: a stand-in bridge with bad grades."""
    import threading

    from websockets.sync.server import serve

    hello = {"type": "hello", "protocol": 1, "bridge": "test", "source": "test-source",
             "n_sensors": 3, "rate_hz": 50.0, "decoder": "qg", "grades": 9,
             "gestures": ["fingers", "wrist", "thumb"]}  # fmt: skip

    def handler(ws) -> None:  # type: ignore[no-untyped-def]
        ws.send(json.dumps(hello))
        seq = 0
        try:
            while True:
                msg = dict(messages[seq % len(messages)], seq=seq, t=seq / 50.0)
                ws.send(json.dumps(msg))
                seq += 1
                time.sleep(0.02)
        except Exception:
            return  # the client went away

    server = serve(handler, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"ws://127.0.0.1:{server.socket.getsockname()[1]}", server


def test_bridge_feed_survives_malformed_grades_and_closes_the_log_on_interrupt(
    tmp_path: Path,
) -> None:
    """--bridge mode: bad grade messages must not crash a tick (they count as grade 0,
    as in the add-on), and an interrupt closes the log incomplete and stops the client."""
    import threading

    url, server = _grade_server(
        [
            {"type": "grade", "gesture": "fingers", "grade": 0, "level": 0.0, "confidence": 1},
            {"type": "grade", "gesture": "fingers", "grade": "x", "level": None},
            {"type": "grade", "gesture": "fingers"},
            {"type": "grade", "gesture": "fingers", "grade": 1e400, "level": "nan"},
        ]
    )
    played: list[float] = []

    def stop_after_two_seconds(t: float, view, info) -> None:  # type: ignore[no-untyped-def]
        played.append(t)
        if t > 2.0:
            raise KeyboardInterrupt

    opts = PlayOptions(bridge_url=url, patient=None, log_dir=tmp_path, scene_updates=False)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_play(opts, stop_after_two_seconds)
    finally:
        server.shutdown()  # type: ignore[attr-defined]
    assert not any(t.name == "fistball-ws" and t.is_alive() for t in threading.enumerate())
    (log,) = tmp_path.glob("*[0-9a-z].json")
    record = read_session(log)
    assert record.status == "incomplete"
    assert record.summary["end_reason"] == "interrupted"
    assert record.summary["state"] == "closed" and record.summary["source"] == "test-source"
    grades = record.timeline().numeric("grade")
    assert len(grades) > 50 and set(grades[grades == grades]) == {0.0}


def test_simulated_chain_leaves_no_open_file_descriptors() -> None:
    """Starting and closing the chain (pty pair, bridge child, its log file, websocket)
    must give back every descriptor: a long-lived caller would run out otherwise."""
    from bridge.sim.config import SimConfig
    from fist_and_ball_app.headless.sim_chain import SimulatedChain

    def open_fds() -> set[str]:
        return set(os.listdir("/proc/self/fd"))

    before = open_fds()
    with SimulatedChain(SimConfig(layout="myo3", seed=0)) as chain:
        assert chain.exchange("fingers", 0.5).grade >= 0
    assert open_fds() <= before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--render", "/proc/no-such-dir/frames"], "cannot create the frames folder"),
        (["--video", "/proc/no-such-dir/x.gif"], "cannot create the video folder"),
        (["--fps", "nan"], "render rate must be > 0"),
        (["--fps", "0"], "render rate must be > 0"),
        (["--bridge", "garbage"], "not a websocket URL"),
        (["--bridge", "ws://10.9.8.7:8765"], "only to a bridge on this machine"),
        (["--bridge", "ws://127.0.0.1:1", "--intent-port", "99999"], "1..65535"),
        (["--intent-port", "5000"], "use it with a bridge URL"),
        (["--no-scene", "--render", "frames"], "drop --no-scene"),
        (["--patient", "superhuman"], "unknown skill"),
    ],
)
def test_bad_play_options_are_refused_at_once_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from fist_and_ball_app.main import main as cli_main

    code = cli_main(["play", "--quiet", "--log-dir", str(tmp_path / "logs"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert not list(tmp_path.glob("logs/*.json"))  # refused before any session began
