"""Score log (contract 4): fields, live rewrites, crash safety, and tolerant reading."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from fist_and_ball.core.game import Game
from fist_and_ball.core.quick_play import play_autopilot_session
from fist_and_ball.core.score_log import (
    REQUIRED_FIELDS,
    SCHEMA,
    TIMELINE_COLUMNS,
    ScoreLog,
    ScoreLogError,
)
from fist_and_ball.core.score_reader import list_sessions, read_session, read_timeline
from fist_and_ball.core.view import GameView


class FakeWall:
    """A wall clock the test moves by hand (for the once-a-second cadence)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def open_log(folder: Path, **kw: Any) -> ScoreLog:
    args: dict[str, Any] = dict(patient="P01", level="easy", minutes=2, decoder="qg", source="sim")
    args.update(kw)
    return ScoreLog.open(folder, **args)


def test_open_writes_an_incomplete_summary_and_the_header(tmp_path):
    log = open_log(tmp_path, seed=4, extra={"operator": "therapist A"})
    data = json.loads(log.json_path.read_text())
    assert set(REQUIRED_FIELDS) <= set(data)
    assert data["schema"] == SCHEMA and data["completed"] is False
    assert data["state"] == "running" and data["patient"] == "P01"
    assert data["level"] == "easy" and data["minutes"] == 2 and data["seed"] == 4
    assert data["operator"] == "therapist A"
    assert log.session_id.endswith("-p01-easy-2min")
    header = log.timeline_path.read_text().splitlines()[0]
    assert header.split(",") == list(TIMELINE_COLUMNS)
    log.close({}, completed=False)


def test_full_session_log_matches_the_game(tmp_path):
    log = open_log(tmp_path, level="medium", seed=7)
    summary = play_autopilot_session("medium", 2, skill="average", seed=7, rate_hz=30, log=log)
    assert log.closed
    data = json.loads(log.json_path.read_text())
    assert set(REQUIRED_FIELDS) <= set(data)
    assert data["completed"] is True and data["state"] == "closed"
    for key in (
        "duration_s",
        "ball_speed",
        "up_down_movements",
        "held_s",
        "catches",
        "misses",
        "drops",
        "score",
    ):
        assert data[key] == summary[key], key
    assert data["duration_s"] == 120.0 and data["decoder"] == "qg" and data["source"] == "sim"
    tl = read_timeline(log.timeline_path)
    assert not tl.problems and len(tl) == data["timeline_rows"] == 3600
    assert tl.numeric("score")[-1] == pytest.approx(data["score"], abs=0.01)
    assert tl.numeric("held_s")[-1] == pytest.approx(data["held_s"], abs=0.001)
    assert tl.numeric("t_play")[-1] == pytest.approx(120.0)
    rec = read_session(log.json_path)
    assert rec.status == "complete" and rec.ok and rec.reason == ""
    assert rec.timeline_path == log.timeline_path


def test_stopped_session_is_incomplete(tmp_path):
    log = open_log(tmp_path)
    game = Game("easy", 2, seed=1)
    game.start(0.0)
    for k in range(1, 301):
        game.step(k / 30, 0, 0.0, "fingers")
        log.append(k / 30, game.row())
    game.stop(10.0)
    written = log.close(game.summary(), completed=game.completed)
    assert written["completed"] is False and written["end_reason"] == "stopped"
    rec = read_session(log.json_path)
    assert rec.status == "incomplete" and not rec.completed and rec.ok
    assert "cut short (stopped) after 10 s of 120 s" in rec.reason


def test_summary_and_timeline_are_rewritten_once_a_second(tmp_path):
    wall = FakeWall()
    log = open_log(tmp_path, wall_clock=wall)
    game = Game("easy", 2, seed=1)
    game.start(0.0)

    def play(k0: int, k1: int) -> None:
        for k in range(k0, k1):
            game.step(k / 30, round(game.target_grade), 0.5, "fingers")
            log.append(k / 30, game.row())

    play(1, 300)
    wall.now = 0.5
    play(300, 310)
    on_disk = json.loads(log.json_path.read_text())
    assert on_disk["duration_s"] == 0.0  # not yet a second of wall time
    wall.now = 1.0
    play(310, 311)
    on_disk = json.loads(log.json_path.read_text())
    assert on_disk["duration_s"] == pytest.approx(310 / 30, abs=1e-3)
    assert on_disk["score"] == pytest.approx(game.score, abs=0.01) and on_disk["score"] > 0
    assert on_disk["timeline_rows"] == 310
    # The timeline on disk already holds every row the summary counts.
    assert len(read_timeline(log.timeline_path)) == 310
    assert on_disk["completed"] is False
    assert not list(tmp_path.glob(".*.tmp"))  # the temp file was renamed into place
    log.close(game.summary(), completed=False)


def test_gameview_rows_are_accepted(tmp_path):
    log = open_log(tmp_path)
    log.append(5.0, GameView(grade=3, closure=0.4, ball_height=0.5, holding=True, score=12.5))
    log.append(5.5, GameView(grade=4, closure=0.5, ball_height=0.6, score=13.0))
    log.close({}, completed=False)
    tl = read_timeline(log.timeline_path)
    assert len(tl) == 2 and tl.column("grade") == ["3", "4"]
    assert tl.numeric("target_grade")[0] == pytest.approx(4.0)
    assert tl.column("catches") == ["", ""]
    data = json.loads(log.json_path.read_text())
    assert data["score"] == 13.0 and data["duration_s"] == 0.5


def test_deterministic_logs(tmp_path):
    paths = []
    for run in ("a", "b"):
        log = open_log(tmp_path / run, session_id="same", level="hard", seed=3)
        play_autopilot_session("hard", 2, skill="novice", seed=3, rate_hz=30, log=log)
        paths.append(log)
    a, b = paths
    assert a.timeline_path.read_bytes() == b.timeline_path.read_bytes()
    da, db = (json.loads(p.json_path.read_text()) for p in paths)
    for d in (da, db):
        d.pop("started_at")
        d.pop("ended_at")
    assert da == db


def test_open_rejects_bad_arguments(tmp_path):
    with pytest.raises(ScoreLogError, match="2, 4 or 6"):
        open_log(tmp_path, minutes=3)
    with pytest.raises(ScoreLogError, match="unknown level"):
        open_log(tmp_path, level="insane")
    with pytest.raises(ScoreLogError, match="file name"):
        open_log(tmp_path, session_id="../escape")
    with pytest.raises(ScoreLogError, match="patient"):
        open_log(tmp_path, patient=None)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ScoreLogError, match="cannot create"):
        open_log(blocker / "sub")
    open_log(tmp_path, session_id="s1").close({}, completed=False)
    with pytest.raises(ScoreLogError, match="already exists"):
        open_log(tmp_path, session_id="s1")


def test_generated_ids_do_not_collide(tmp_path):
    a = open_log(tmp_path)
    b = open_log(tmp_path)
    assert a.session_id != b.session_id
    a.close({}, completed=False)
    b.close({}, completed=False)


def test_context_manager_marks_an_error_incomplete(tmp_path):
    with pytest.raises(RuntimeError), open_log(tmp_path) as log:
        log.append(0.1, {"t_play": 0.1, "score": 1.0})
        raise RuntimeError("boom")
    data = json.loads(log.json_path.read_text())
    assert data["completed"] is False and data["end_reason"] == "error: RuntimeError"
    with pytest.raises(ScoreLogError, match="closed"):
        log.append(0.2, {})


KILLED_SESSION = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from fist_and_ball.core.quick_play import play_autopilot_session
    from fist_and_ball.core.score_log import ScoreLog

    log = ScoreLog.open(Path(sys.argv[1]), patient="P02", level="medium", minutes=6,
                        decoder="qg", source="autopilot", session_id="killed", seed=5)
    # 60 Hz simulated ticks, 1 ms of real sleep each: ~16x real time, ~25 s in all.
    play_autopilot_session("medium", 6, skill="average", seed=5, rate_hz=60.0, log=log,
                           on_tick=lambda t, view: time.sleep(0.001))
    """
)


def test_sigkill_mid_session_leaves_a_readable_incomplete_log(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SESSION, str(tmp_path)])
    summary_path = tmp_path / "killed.json"
    try:
        # Wait (up to 60 s on a loaded machine) for ~2 s of play and two rewrites.
        deadline = time.monotonic() + 60.0
        started = None
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            if started is None and summary_path.exists():
                started = time.monotonic()
            if started is not None and time.monotonic() - started > 2.0:
                data = json.loads(summary_path.read_text())
                if data["duration_s"] > 0 and data["timeline_rows"] > 0:
                    break
        assert proc.poll() is None, "the session ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    rec = read_session(summary_path)
    assert rec.status == "incomplete" and rec.ok
    assert "not closed" in rec.reason
    data = rec.summary
    assert set(REQUIRED_FIELDS) <= set(data)
    assert data["completed"] is False and data["state"] == "running"
    assert 0.0 < data["duration_s"] < 360.0
    assert data["ended_at"] > data["started_at"]  # the last update, not the start
    tl = rec.timeline()
    t_play = tl.numeric("t_play")
    # The timeline holds at least everything the summary counts (flushed before rewrite).
    assert len(tl) >= data["timeline_rows"] > 0
    assert t_play[-1] >= data["duration_s"] - 1e-3
    assert tl.numeric("score")[data["timeline_rows"] - 1] == pytest.approx(data["score"], abs=0.01)
    assert not [p for p in tl.problems if "malformed" in p]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def good_summary(tmp_path: Path, name: str = "s") -> dict:
    log = open_log(tmp_path, session_id=name)
    play_autopilot_session("easy", 2, skill="expert", seed=1, rate_hz=10, log=log)
    return json.loads(log.json_path.read_text())


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "empty"),
        ('{"schema": "fist-and-ball.score-log/1", "session_', "not valid JSON"),
        ("[1, 2, 3]", "JSON list"),
        ('{"schema": "something-else/1"}', "not a Fist & Ball score log"),
        ('{"schema": "fist-and-ball.score-log/2"}', "unsupported score log schema"),
        ('{"schema": "fist-and-ball.score-log/1", "patient": "x"}', "lacks field(s): session_id"),
    ],
)
def test_malformed_summaries_are_reported(tmp_path, content, reason):
    rec = read_session(write(tmp_path / "bad.json", content))
    assert rec.status == "invalid" and not rec.ok
    assert reason in rec.reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("score", "lots"),
        ("held_s", -1.0),
        ("catches", 2.5),
        ("completed", "yes"),
        ("started_at", "last tuesday"),
        ("patient", 7),
    ],
)
def test_bad_field_values_are_reported(tmp_path, field, value):
    data = good_summary(tmp_path)
    data[field] = value
    rec = read_session(write(tmp_path / "s.json", json.dumps(data)))
    assert rec.status == "invalid"
    assert f"bad value(s) for: {field}" in rec.reason


def test_missing_and_damaged_timelines_are_reported(tmp_path):
    data = good_summary(tmp_path)
    timeline = tmp_path / data["timeline"]
    lines = timeline.read_text().splitlines(keepends=True)
    # A malformed row in the middle and a last row cut off by a crash.
    damaged = [*lines[:50], "1.0,2.0,oops\n", *lines[50:-1], lines[-1][:10]]
    timeline.write_text("".join(damaged))
    rec = read_session(tmp_path / "s.json")
    assert rec.status == "complete"
    tl = rec.timeline()
    assert len(tl) == len(lines) - 2  # header and the cut row not counted
    assert any("1 malformed row" in p for p in tl.problems)
    assert any("last line incomplete" in p for p in tl.problems)
    timeline.unlink()
    rec = read_session(tmp_path / "s.json")
    assert rec.status == "complete" and "timeline file s_timeline.csv is missing" in rec.reason
    assert rec.timeline().problems == ["no timeline file"]


def test_broken_summary_is_recovered_from_its_timeline(tmp_path):
    data = good_summary(tmp_path)
    write(tmp_path / "s.json", json.dumps(data)[:40])
    rec = read_session(tmp_path / "s.json")
    assert rec.status == "invalid" and "not valid JSON" in rec.reason
    assert "recovered from" in rec.reason
    assert rec.summary["score"] == pytest.approx(data["score"], abs=0.01)
    assert rec.summary["duration_s"] == pytest.approx(120.0)


def test_list_sessions_orders_and_filters(tmp_path):
    first = good_summary(tmp_path, "first")
    second = dict(first, session_id="second", timeline="first_timeline.csv")
    second["started_at"] = "2030-01-01T10:00:00+00:00"
    second["ended_at"] = "2030-01-01T10:02:00+00:00"
    write(tmp_path / "second.json", json.dumps(second))
    older = dict(second, session_id="older", started_at="2001-01-01T10:00:00+00:00")
    write(tmp_path / "older.json", json.dumps(older))
    write(tmp_path / "notes.json", '{"hello": 1}')
    write(tmp_path / ".first.json.tmp", "{")
    records = list_sessions(tmp_path)
    assert [r.session_id for r in records] == ["older", "first", "second", "notes"]
    assert records[-1].status == "invalid" and "schema None" in records[-1].reason
    assert [r.session_id for r in list_sessions(tmp_path, include_invalid=False)] == [
        "older",
        "first",
        "second",
    ]
    assert list_sessions(tmp_path / "nowhere") == []


def test_unreadable_summary_is_reported(tmp_path):
    rec = read_session(tmp_path / "missing.json")
    assert rec.status == "invalid" and "unreadable" in rec.reason


def test_garbage_line_beyond_the_csv_field_limit_is_left_out_not_fatal(tmp_path):
    """A long run of garbage (e.g. a corrupted block) used to raise csv.Error out of the
    reader and crash the report; it is one malformed row like any other."""
    data = good_summary(tmp_path)
    timeline = tmp_path / data["timeline"]
    lines = timeline.read_text().splitlines(keepends=True)
    timeline.write_text("".join([*lines[:20], "x" * 200_000 + "\n", *lines[20:]]))
    tl = read_session(tmp_path / "s.json").timeline()
    assert len(tl) == len(lines) - 1
    assert any("1 malformed row" in p for p in tl.problems)
    timeline.write_text("y" * 200_000 + "\n" + "".join(lines[1:]))
    tl = read_timeline(timeline)
    assert len(tl) == 0 and any("no 't' column" in p for p in tl.problems)
