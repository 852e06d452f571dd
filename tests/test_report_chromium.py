"""The report renders in a real headless Chromium without console errors; keeps a screenshot.

Artifact: test-artifacts/report.png (1280 x 2000, the top of the report). The polish test
renders 1, 3 and 30 sessions at 1280 and 420 px and refreshes docs/img/report_{1,3,30}.png.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_report import add_session

from fist_and_ball.report import build_report

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install chromium) - cannot render"
)


def run_chromium(
    url: str, workdir: Path, screenshot: Path | None = None, size: tuple[int, int] = (1280, 2000)
) -> str:
    """Load `url` headless; return Chromium's stderr log (console messages included)."""
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={workdir / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={size[0]},{size[1]}",
    ]
    if screenshot is not None:
        args.append(f"--screenshot={screenshot}")
    else:
        args.append("--dump-dom")
    proc = subprocess.run([*args, url], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stderr


def console_errors(log: str) -> list[str]:
    """Lines where the page logged to the console or threw (Chromium's stderr format)."""
    return [ln for ln in log.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]


def test_console_scan_detects_a_page_error(tmp_path):
    # Control: the scan must see an error when there is one, or the real test proves nothing.
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('boom'); nope();</script></body></html>")
    found = console_errors(run_chromium(page.as_uri(), tmp_path))
    assert any("boom" in ln for ln in found) and any("Uncaught" in ln for ln in found)


def make_logs(folder: Path) -> None:
    seed = 0
    for patient, skill in (("P01", 0.3), ("P02", 0.8)):
        for week in range(3):
            for level in ("easy", "medium"):
                seed += 1
                add_session(folder, patient, level, skill + 0.1 * week, week, seed)
    (folder / "broken.json").write_text('{"schema": "fist-and-ball.score-log/1", "pat')


def test_report_renders_without_console_errors(tmp_path):
    logs = tmp_path / "logs"
    make_logs(logs)
    report = build_report(logs, tmp_path / "report.html")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    log = run_chromium(report.as_uri(), tmp_path, screenshot=shot)
    assert console_errors(log) == []
    assert shot.exists() and shot.stat().st_size > 50_000  # a real page, not a blank one

    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 2000)
        rgb = im.convert("RGB")
        # The header band is the report's dark blue; the body below has white cards.
        assert rgb.getpixel((640, 30)) == (0x16, 0x32, 0x4F)
        colours = rgb.resize((64, 100)).getcolors(64 * 100)
        assert colours is not None and len(colours) > 50  # charts, tables, badges drawn
    # The DOM Chromium built has every patient section and the problems list.
    dom = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    ).stdout
    assert 'data-patient="P01"' in dom and 'data-patient="P02"' in dom
    assert "broken.json" in dom


DOCS_IMG = ROOT / "docs" / "img"


def _logs_for(n: int, folder: Path) -> None:
    """1 session; 3 sessions (two days, one of them on the auto level); 30 sessions of three
    patients over six weeks (the example generator, with its two broken files)."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from make_example_logs import make_logs as make_example

    folder.mkdir(parents=True)
    if n == 30:
        from datetime import datetime

        make_example(folder, 6, datetime(2025, 3, 3), verbose=False)
        return
    add_session(folder, "P01", "easy", 0.5, 0, 1)
    if n == 3:
        add_session(folder, "P01", "easy", 0.6, 1, 2)
        add_session(folder, "P01", "auto", 0.6, 1, 3)


@pytest.mark.parametrize("n", [1, 3, 30])
def test_report_pages_for_1_3_30_sessions_at_two_widths(tmp_path, monkeypatch, n):
    _logs_for(n, tmp_path / "logs")
    # A relative folder, so the header of the screenshots in docs/ shows "logs", not a tmp path.
    monkeypatch.chdir(tmp_path)
    report = build_report(Path("logs"), tmp_path / "report.html")
    assert "log folder logs ·" in report.read_text()
    html = report.read_text()
    assert f"{n} session{'s' if n > 1 else ''} of" in html
    from PIL import Image

    for width in (1280, 420):
        shot = tmp_path / f"report_{n}_{width}.png"
        log = run_chromium(report.as_uri(), tmp_path, screenshot=shot, size=(width, 1800))
        assert console_errors(log) == []
        with Image.open(shot) as im:
            assert im.size == (width, 1800)
            rgb = im.convert("RGB")
            assert rgb.getpixel((width // 2, 20)) == (0x16, 0x32, 0x4F)  # the header band
            colours = rgb.resize((64, 90)).getcolors(64 * 90)
            assert colours is not None and len(colours) > 40, f"{shot.name} looks blank"
            # Nothing spills past the page: the right-most column is background or card.
            edge = {rgb.getpixel((width - 2, y)) for y in range(200, 1800, 10)}
            assert edge <= {(0xEE, 0xF1, 0xF5), (0x16, 0x32, 0x4F), (0xFF, 0xFF, 0xFF)}, edge
        if width == 1280:
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, DOCS_IMG / f"report_{n}.png")
