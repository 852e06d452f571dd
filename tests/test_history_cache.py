"""The add-on's cached session history, on real score logs (no bpy)."""

from __future__ import annotations

from pathlib import Path

from fist_and_ball.core.quick_play import play_autopilot_session
from fist_and_ball.core.score_log import ScoreLog
from fist_and_ball.live.history_cache import HistoryCache


def make_logs(folder: Path, plan: list[tuple[str, str]], first: int = 0) -> list[dict[str, object]]:
    """One autopilot session per (level, skill); returns their summaries."""
    out = []
    for i, (level, skill) in enumerate(plan, start=first):
        log = ScoreLog.open(folder, patient="P-hist", level=level, minutes=2, decoder="autopilot",
                            source="quick", session_id=f"s{i}-{level}", seed=i + 1)  # fmt: skip
        out.append(play_autopilot_session(level, 2, skill=skill, seed=i + 1, rate_hz=20, log=log))
    return out


def test_refresh_reads_rows_and_only_on_request(tmp_path: Path) -> None:
    cache = HistoryCache(n=2)
    assert not cache.loaded and cache.rows == []
    summaries = make_logs(tmp_path, [("easy", "expert"), ("medium", "novice"), ("hard", "average")])
    rows = cache.refresh(tmp_path)
    assert cache.loaded and cache.version == 1 and cache.error == "" and len(rows) == 2
    by_id = {r.session_id: r for r in rows}
    scores = {f"s{i}-{lv}": s["score"] for i, (lv, s) in
              enumerate(zip(("easy", "medium", "hard"), summaries, strict=True))}  # fmt: skip
    for sid, r in by_id.items():
        assert r.level in sid and r.minutes == 2 and r.completed is True
        assert round(r.score) == round(float(scores[sid]))  # type: ignore[arg-type]
        assert r.short_date.count(":") == 1 and len(r.short_date) == 11
        assert r.level_text == f"{r.level} 2m" and "score" in r.text
    # A new session shows up only after the next refresh.
    make_logs(tmp_path, [("easy", "novice")], first=3)
    assert {r.session_id for r in cache.rows} == set(by_id)
    cache.n = 10
    assert len(cache.refresh(tmp_path)) == 4 and cache.version == 2


def test_missing_or_unreadable_folder_keeps_the_panel_working(tmp_path: Path) -> None:
    cache = HistoryCache()
    assert cache.refresh(tmp_path / "nope") == [] and cache.error == "" and cache.loaded
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache.refresh(blocker)
    assert cache.loaded and cache.rows == []
