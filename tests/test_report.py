"""Therapist report: history table, CSV, HTML, problems, CLI, add-on helpers."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from fist_and_ball.core.autopilot import Autopilot, SimplePlant
from fist_and_ball.core.game import Game
from fist_and_ball.core.quick_play import play_autopilot_session
from fist_and_ball.core.score_log import ScoreLog
from fist_and_ball.report import ReportError, build_report, recent_sessions
from fist_and_ball.report.history import CSV_COLUMNS, level_trends, load_history
from fist_and_ball_app.main import main as cli_main

START = datetime(2025, 3, 3, 10, 0).astimezone()
PATIENTS = {"Alice": 0.9, "Bob": 0.15}  # Alice controls the hand far better than Bob


def redate(json_path: Path, when: datetime) -> None:
    """Give a finished log a simulated session day (the writer stamps the wall clock)."""
    data = json.loads(json_path.read_text())
    data["started_at"] = when.isoformat()
    data["ended_at"] = (when + timedelta(minutes=3)).isoformat()
    json_path.write_text(json.dumps(data))


def add_session(folder: Path, patient: str, level: str, skill: float, week: int, seed: int):
    when = START + timedelta(weeks=week, hours=seed % 5)
    log = ScoreLog.open(
        folder,
        patient=patient,
        level=level,
        minutes=2,
        decoder="autopilot",
        source="test",
        session_id=f"{when:%Y%m%d-%H%M}-{patient.lower()}-{level}",
    )
    summary = play_autopilot_session(level, 2, skill=skill, seed=seed, log=log)
    redate(log.json_path, when)
    return summary, log.json_path


def add_cut_short(folder: Path, patient: str, week: int) -> Path:
    log = ScoreLog.open(
        folder,
        patient=patient,
        level="easy",
        minutes=2,
        decoder="autopilot",
        source="test",
        session_id=f"cut-{patient.lower()}",
    )
    game, pilot, hand = Game("easy", 2, 9), Autopilot(0.5, 9), SimplePlant()
    view = game.start(0.0)
    k = 0
    while game.played_s < 40.0:
        k += 1
        gesture, intent = pilot.intent(k / 60, view)
        grade, closure = hand.step(k / 60, intent)
        view = game.step(k / 60, grade, closure, gesture)
        log.append(k / 60, game.row())
    game.stop(k / 60)
    log.close(game.summary(), completed=False)
    redate(log.json_path, START + timedelta(weeks=week, days=1))
    return log.json_path


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("logs")
    seed = 0
    for patient, skill in PATIENTS.items():
        for week in range(2):
            for level in ("easy", "medium"):
                seed += 1
                add_session(folder, patient, level, skill + 0.03 * week, week, seed)
    add_cut_short(folder, "Bob", 1)
    # Malformed logs: truncated JSON, a foreign schema, a summary whose timeline is gone.
    good = next(folder.glob("*alice-easy.json")).read_text()
    (folder / "truncated.json").write_text(good[: len(good) // 2])
    (folder / "foreign.json").write_text(json.dumps({"schema": "someone-else/1", "x": 1}))
    lost = json.loads(good)
    lost.update(session_id="lost-timeline", timeline="lost-timeline_timeline.csv")
    lost["started_at"] = (START + timedelta(days=3)).isoformat()
    (folder / "lost-timeline.json").write_text(json.dumps(lost))
    return folder


@pytest.fixture(scope="module")
def built(logs, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    seen: list[tuple[int, int]] = []
    html_path = build_report(
        logs,
        out / "report.html",
        csv_path=out / "sessions.csv",
        progress=lambda done, total, name: seen.append((done, total)),
    )
    return html_path, out / "sessions.csv", seen


def patient_sections(html: str) -> dict[str, str]:
    parts = re.split(r'<section class="card patient" id="[^"]*" data-patient="', html)[1:]
    return {p.split('"', 1)[0]: p for p in parts}


def test_csv_shows_the_better_patient_scoring_higher(built):
    _, csv_path, _ = built
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert rows and list(rows[0]) == list(CSV_COLUMNS)
    assert {r["patient"] for r in rows} == {"Alice", "Bob"}
    for level in ("easy", "medium"):
        mean = {}
        for p in PATIENTS:
            scores = [
                float(r["score"])
                for r in rows
                if r["patient"] == p and r["level"] == level and r["completed"] == "true"
            ]
            assert len(scores) >= 2
            mean[p] = sum(scores) / len(scores)
        assert mean["Alice"] > mean["Bob"] * 1.1, (level, mean)
    # Control metrics follow skill too: Alice tracks the ball more closely.
    rms = {
        p: [float(r["rms_error"]) for r in rows if r["patient"] == p and r["rms_error"]]
        for p in PATIENTS
    }
    assert len(rms["Alice"]) == 4 and len(rms["Bob"]) == 5  # the lost timeline has none
    assert max(rms["Alice"]) < min(rms["Bob"])
    cut = [r for r in rows if r["session_id"] == "cut-bob"]
    assert cut and cut[0]["completed"] == "false" and "cut short" in cut[0]["note"]


def test_html_per_patient_means_and_table(built):
    html_path, _, _ = built
    sections = patient_sections(html_path.read_text())
    assert set(sections) == {"Alice", "Bob"}

    def means(section: str) -> dict[str, float]:
        found = re.findall(
            r'data-level="(\w+)" data-minutes="2" data-mean-score="([\d.]+)"', section
        )
        return {lv: float(v) for lv, v in found}

    alice, bob = means(sections["Alice"]), means(sections["Bob"])
    assert set(alice) == set(bob) == {"easy", "medium"}
    for level in alice:
        assert alice[level] > bob[level]
    # Table 3 rows: one per session (Alice's 4 + the copy whose timeline is lost).
    assert len(re.findall(r'data-patient="Alice" data-score=', sections["Alice"])) == 5
    assert len(re.findall(r'data-patient="Bob" data-score=', sections["Bob"])) == 5
    # The cut-short session is in Bob's table, marked.
    assert 'class="incomplete"' in sections["Bob"] and "cut short" in sections["Bob"]
    assert 'class="incomplete"' not in sections["Alice"]
    for heading in (
        "Trend per level",
        "Progress over time",
        "Sessions (Table 3)",
        "Control metrics",
        "Session details",
    ):
        assert heading in sections["Alice"]


def test_malformed_logs_are_listed_with_their_reason(built):
    html_path, _, _ = built
    html = html_path.read_text()
    problems = html.split('id="problems"', 1)[1].split("</section>", 1)[0]
    assert "truncated.json" in problems and "The summary file is cut off at line" in problems
    assert "foreign.json" in problems and "Not a Fist &amp; Ball score log" in problems
    assert "lost-timeline.json" in problems and "missing" in problems
    assert "cut-bob.json" in problems and "Cut short" in problems


def test_report_is_self_contained_and_its_svg_is_well_formed(built):
    html = built[0].read_text()
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert len(svgs) >= 12
    for svg in svgs:
        ET.fromstring(svg)  # raises on malformed markup
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "duplicate element ids"


def test_progress_is_reported(built):
    _, _, seen = built
    assert seen[0] == (0, 10) and seen[-1] == (10, 10)


def test_details_limit_and_trends(logs, tmp_path):
    out = build_report(logs, tmp_path / "r.html", details=1)
    html = out.read_text()
    assert html.count("<details") == 2  # one per patient
    assert "Details shown for the most recent session of 5 sessions" in html
    history = load_history(logs, with_metrics=False)
    trends = {t.level: t for t in level_trends(history.patients["Alice"])}
    assert trends["easy"].sessions == 3 and trends["easy"].score_per_week is not None


def test_patient_filter_and_unknown_patient(logs, tmp_path):
    out = build_report(logs, tmp_path / "alice.html", patient="alice")
    assert set(patient_sections(out.read_text())) == {"Alice"}
    with pytest.raises(ReportError, match=r"no sessions of patient 'Carol'.*Alice, Bob"):
        build_report(logs, tmp_path / "carol.html", patient="Carol")
    with pytest.raises(ReportError, match="does not exist"):
        build_report(tmp_path / "nowhere", tmp_path / "x.html")


def test_empty_folder_gives_a_report_saying_so(tmp_path):
    out = build_report(tmp_path, tmp_path / "empty.html")
    assert "No sessions" in out.read_text()


def test_recent_sessions_for_the_addon(logs):
    recent = recent_sessions(logs, n=3)
    assert len(recent) == 3
    dates = [r["started_at"] for r in recent]
    assert dates == sorted(dates, reverse=True)
    for r in recent:
        assert {"date", "level", "score", "completed"} <= set(r)
        assert isinstance(r["completed"], bool) and isinstance(r["score"], float)
    everything = recent_sessions(logs, n=100)
    assert len(everything) == 10  # 9 sessions + the lost-timeline one; invalid logs skipped
    assert recent_sessions(logs.parent / "nowhere") == []


def test_cli_report(logs, tmp_path, capsys):
    out, csv_out = tmp_path / "cli.html", tmp_path / "cli.csv"
    code = cli_main(
        ["report", str(logs), "--out", str(out), "--csv", str(csv_out), "--patient", "BOB"]
    )
    err = capsys.readouterr().err
    assert code == 0 and out.exists() and csv_out.exists()
    assert "reading timelines" in err and f"wrote {out}" in err
    assert {r["patient"] for r in csv.DictReader(io.StringIO(csv_out.read_text()))} == {"Bob"}
    assert cli_main(["report", str(logs), "--out", str(out), "--patient", "nobody"]) == 2
    assert "no sessions of patient 'nobody'" in capsys.readouterr().err
    assert cli_main(["report", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    assert cli_main(["report", str(csv_out), "--out", str(out)]) == 2  # a file, not a folder
    assert "is not a folder" in capsys.readouterr().err
    assert cli_main(["report", str(logs), "--out", str(out), "--details", "x"]) == 2


def test_report_builds_without_matplotlib(logs, tmp_path):
    # Blender's Python has numpy but no matplotlib: block it and build the report.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from fist_and_ball.report import build_report\n"
        f"build_report({str(logs)!r}, {str(tmp_path / 'nompl.html')!r})\n"
        "assert not any(m.startswith('matplotlib') for m in sys.modules if sys.modules[m])\n"
        "assert 'bpy' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert (tmp_path / "nompl.html").stat().st_size > 10_000


def test_example_log_generator(tmp_path):
    # bench/make_example_logs.py: real sessions a week apart, a cut-short one, two broken.
    folder = tmp_path / "example"
    script = Path(__file__).resolve().parents[1] / "bench" / "make_example_logs.py"
    subprocess.run(
        [sys.executable, str(script), str(folder), "--weeks", "3"],
        check=True,
        timeout=300,
        capture_output=True,
    )
    history = load_history(folder, with_metrics=False)
    assert set(history.patients) == {"P01", "P02", "P03"}
    auto = history.patients["P03"]
    assert len(auto) == 3 and all(r.level == "auto" and len(r.speed_track) >= 2 for r in auto)
    days = {r.started.date() for r in history.patients["P01"] if r.started}
    assert len(days) == 3 and (max(days) - min(days)).days == 14
    assert any(not r.completed for r in history.patients["P02"])
    errors = {p.file for p in history.problems if p.severity == "error"}
    assert errors == {"20990101-0000-p01-crashed-copy.json", "settings-backup.json"}


def test_awkward_patient_names_are_escaped_and_anchors_unique(tmp_path):
    names = ["P 1", "p-1", "<b>O'Brien & Co</b>"]
    for k, name in enumerate(names):
        log = ScoreLog.open(
            tmp_path,
            patient=name,
            level="easy",
            minutes=2,
            decoder="autopilot",
            source="test",
            session_id=f"s{k}",
        )
        play_autopilot_session("easy", 2, skill=0.5, seed=k, log=log)
    html = build_report(tmp_path, tmp_path / "out" / "r.html").read_text()
    assert "<b>O'Brien" not in html and "&lt;b&gt;O&#x27;Brien &amp; Co&lt;/b&gt;" in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    anchors = [i for i in ids if i.startswith("p-")]
    assert len(anchors) == 3
    for a in anchors:
        assert f'href="#{a}"' in html
