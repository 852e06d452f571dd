"""Patient mode's logic without Blender: start-screen keys and clicks, the HUD layout at
1280x720 and 4K, sound cues, the week-earlier comparison on real score logs, and
History reading with numpy unavailable."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_history_cache import make_logs

from fist_and_ball.core.patient_hud import MIN_FONT_PX, Dot, HudModel, Rect, Text, hud_layout
from fist_and_ball.core.session_briefs import SessionBrief, read_briefs
from fist_and_ball.core.start_screen import (
    FOCUS_MINUTES,
    Command,
    Counters,
    PatientFlow,
    Screen,
    sound_cues,
)
from fist_and_ball.core.week_compare import compare_with_last_week, week_earlier

ROOT = Path(__file__).resolve().parents[1]


def test_start_screen_keys_choose_level_and_length_then_start() -> None:
    flow = PatientFlow()
    assert flow.choices.level == "easy" and flow.choices.minutes == 2
    assert flow.key("RIGHT_ARROW") is Command.REDRAW and flow.choices.level == "medium"
    flow.key("LEFT_ARROW")
    flow.key("LEFT_ARROW")  # wraps to the last level
    assert flow.choices.level == flow.choices.levels[-1] == "auto"
    assert flow.key("DOWN_ARROW") is Command.REDRAW and flow.choices.focus == FOCUS_MINUTES
    flow.key("RIGHT_ARROW")
    flow.key("RIGHT_ARROW")
    assert flow.choices.minutes == 6 and flow.choices.level == "auto"
    assert flow.key("TWO") is Command.REDRAW and flow.choices.level == "medium"
    assert flow.key("A") is Command.NONE
    assert flow.key("RET") is Command.START and flow.key("SPACE") is Command.START
    assert flow.key("ESC") is Command.LEAVE


def test_play_and_end_screen_keys() -> None:
    flow = PatientFlow(screen=Screen.PLAY)
    assert flow.key("SPACE") is Command.TOGGLE_PAUSE
    assert flow.key("ESC") is Command.END_AND_LEAVE
    assert flow.key("RIGHT_ARROW") is Command.NONE and flow.key("RET") is Command.NONE
    flow.screen = Screen.END
    assert flow.key("RET") is Command.TO_START and flow.key("ESC") is Command.LEAVE


def test_clicks_select_buttons_only_on_the_start_screen() -> None:
    flow = PatientFlow()
    flow.choices.select("hard", 4)
    assert (flow.choices.level, flow.choices.minutes) == ("hard", 4)
    flow.choices.select("nonsense", 5)  # unknown values keep the choice
    assert (flow.choices.level, flow.choices.minutes) == ("hard", 4)
    assert flow.click("minutes:6") is Command.REDRAW and flow.choices.minutes == 6
    assert flow.click("level:easy") is Command.REDRAW and flow.choices.level == "easy"
    assert flow.click("level:bogus") is Command.NONE and flow.click(None) is Command.NONE
    assert flow.click("start") is Command.START
    flow.screen = Screen.PLAY
    assert flow.click("start") is Command.NONE


def _inside(item: Rect | Dot | Text, w: float, h: float) -> bool:
    if isinstance(item, Rect):
        return (
            item.x >= -0.5
            and item.y >= -0.5
            and item.x + item.w <= w + 0.5
            and item.y + item.h <= h + 0.5
        )
    if isinstance(item, Dot):
        return item.r <= item.x <= w - item.r and item.r <= item.y <= h - item.r
    return item.x >= 0 and item.x + 0.55 * item.size * len(item.text) <= w + 1 and 0 <= item.y <= h


@pytest.mark.parametrize("screen", list(Screen))
def test_hud_fits_and_scales_from_720p_to_4k(screen: Screen) -> None:
    model = HudModel(
        screen=screen, score=1234, time_left_s=151, leds_lit=6, grade=5, connected=True,
        signal=True, hand="following", paused=True, result_lines=["Well done!", "Score 1234",
        "Held 80 s of 120 s    12 catches"], comparison="Held 12% longer than last week",
    )  # fmt: skip
    small, big = hud_layout(model, 1280, 720), hud_layout(model, 3840, 2160)
    for lay, (w, h) in ((small, (1280, 720)), (big, (3840, 2160))):
        outside = [i for i in lay.items if not _inside(i, w, h)]
        assert outside == [], outside
    sizes_small = [t.size for t in small.items if isinstance(t, Text)]
    sizes_big = [t.size for t in big.items if isinstance(t, Text)]
    assert min(sizes_small) >= MIN_FONT_PX and max(sizes_small) >= 40  # readable at 720p
    assert all(abs(b / s - 3.0) < 1e-6 for s, b in zip(sizes_small, sizes_big, strict=True))
    assert hud_layout(model, 1280, 720, ui_scale=2.0).items != small.items


def test_play_hud_shows_score_time_leds_grade_link_and_hand() -> None:
    model = HudModel(screen=Screen.PLAY, score=87.6, time_left_s=61.2, leds_lit=4, grade=3,
                     connected=True, signal=True, hand="following")  # fmt: skip
    lay = hud_layout(model, 1280, 720)
    texts = lay.texts()
    assert "Score 88" in texts and "1:02 left" in texts and "Grade 3 / 8" in texts
    assert "Connected" in texts and "Hand: following" in texts and "PAUSED" not in texts
    dots = [d for d in lay.items if isinstance(d, Dot)]
    assert len(dots) == 9 and sum(d.color[1] > 0.9 for d in dots) == 4
    model.paused, model.pause_reason, model.connected = True, "disconnected", False
    texts = hud_layout(model, 1280, 720).texts()
    assert "PAUSED" in texts and "disconnected" in texts and "Not connected" in texts


def test_start_screen_buttons_are_hit_where_drawn() -> None:
    flow = PatientFlow()
    model = HudModel(screen=Screen.START, levels=flow.choices.levels, signal=True)
    for w, h in ((1280, 720), (3840, 2160)):
        lay = hud_layout(model, w, h)
        buttons = {i.button: i for i in lay.items if isinstance(i, Rect) and i.button}
        assert set(buttons) == set(flow.choices.button_ids())
        for bid, r in buttons.items():
            assert lay.button_at(r.x + r.w / 2, r.y + r.h / 2) == bid
        assert lay.button_at(1, 1) is None
        rects = list(buttons.values())
        for i, a in enumerate(rects):  # no two buttons overlap
            for b in rects[i + 1 :]:
                assert a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y


def test_sound_cues_follow_the_counters() -> None:
    assert sound_cues(Counters(1, 0, False), Counters(2, 0, False)) == ["catch"]
    assert sound_cues(Counters(2, 0, False), Counters(2, 1, False)) == ["drop"]
    assert sound_cues(Counters(2, 1, False), Counters(3, 1, True)) == ["catch", "end"]
    assert sound_cues(Counters(3, 1, True), Counters(3, 1, True)) == []


def _brief(
    sid: str, days_ago: float, held: float, *, level: str = "easy", done: bool = True
) -> SessionBrief:
    start = datetime(2026, 5, 20, 10, 0) - timedelta(days=days_ago)
    return SessionBrief(sid, start, level, 2, 100.0, held, 120.0, done)


def test_week_comparison_picks_the_same_level_about_a_week_earlier() -> None:
    now = _brief("now", 0, 67.2)
    history = [
        _brief("a", 7.5, 60.0),
        _brief("b", 6.9, 55.0, level="hard"),  # other level
        _brief("c", 7.1, 60.0, done=False),  # stopped early
        _brief("d", 3.0, 30.0),  # not last week
        now,
    ]
    assert week_earlier(now, history).session_id == "a"  # type: ignore[union-attr]
    cmp = compare_with_last_week(now, history)
    assert cmp.text == "Held 12% longer than last week" and cmp.change_pct == pytest.approx(12.0)
    assert compare_with_last_week(_brief("x", 0, 54.0), history).text.endswith(
        "10% shorter than last week"
    )
    assert (
        compare_with_last_week(_brief("y", 0, 60.3), history).text
        == "Held about as long as last week"
    )
    assert compare_with_last_week(now, [now]).text == "No easy session a week ago to compare with"


def _age(folder: Path, session_id: str, days: float) -> None:
    p = folder / f"{session_id}.json"
    s = json.loads(p.read_text())
    started = datetime.fromisoformat(s["started_at"]) - timedelta(days=days)
    s["started_at"] = started.isoformat()
    p.write_text(json.dumps(s))


def test_week_comparison_on_real_score_logs(tmp_path: Path) -> None:
    summaries = make_logs(tmp_path, [("easy", "novice"), ("easy", "expert")])
    _age(tmp_path, "s0-easy", 7)
    briefs = read_briefs(tmp_path)
    assert [b.session_id for b in briefs] == ["s0-easy", "s1-easy"]
    cmp = compare_with_last_week(briefs[-1], briefs)
    then = float(summaries[0]["held_s"]) / float(summaries[0]["duration_s"])  # type: ignore[arg-type]
    now = float(summaries[1]["held_s"]) / float(summaries[1]["duration_s"])  # type: ignore[arg-type]
    assert cmp.earlier is not None and cmp.earlier.session_id == "s0-easy"
    assert cmp.change_pct == pytest.approx(100 * (now - then) / then, rel=1e-3)


NO_NUMPY = """
import sys
sys.modules['numpy'] = None  # any `import numpy` now fails, as in Debian's Blender 3.4
from fist_and_ball.live.history_cache import read_history
from fist_and_ball.core.session_briefs import read_briefs
from fist_and_ball.core.week_compare import compare_with_last_week
read = read_history(sys.argv[1], 10)
briefs = read_briefs(sys.argv[1])
print(len(read.rows), repr(read.error), compare_with_last_week(briefs[-1], briefs).text)
"""


def test_history_and_week_comparison_work_without_numpy(tmp_path: Path) -> None:
    make_logs(tmp_path, [("easy", "novice"), ("easy", "expert")])
    _age(tmp_path, "s0-easy", 7)
    proc = subprocess.run([sys.executable, "-c", NO_NUMPY, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("2 ''") and "than last week" in proc.stdout
