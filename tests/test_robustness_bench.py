"""bench/robustness.py on one foreign patient with tiny training: the script runs, the
matrix has every decoder x condition cell with numbers in range, the docs sections are
replaced (not duplicated), and a deliberately broken decoder scores worse."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CONDITIONS = ("same day", "shifted +5 mm, turned +10 deg")
pytestmark = pytest.mark.slow  # ~30 s of CPU: a subprocess trains two tiny MCNN-TGs


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("robustness")
    docs = tmp / "robustness.md"
    shutil.copy(ROOT / "docs" / "robustness.md", docs)
    out = tmp / "scores.json"
    work = tmp / "work"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "robustness.py"),
            "--seeds=1",
            "--mcnn-seeds=1",
            "--epochs=1",
            "--twin-epochs=1",
            "--sessions=2",
            "--band-seeds=1",
            *(f"--condition={c}" for c in CONDITIONS),
            f"--docs={docs}",
            f"--out-json={out}",
            f"--workdir={work}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ETA" in proc.stderr
    return {"docs": docs, "json": out, "work": work}


def _robustness():  # the bench script as a module (bench/ is not a package)
    sys.path.insert(0, str(BENCH))
    try:
        import robustness
    finally:
        sys.path.remove(str(BENCH))
    return robustness


def test_matrix_has_every_cell_with_numbers_in_range(run: dict[str, Path]) -> None:
    rb = _robustness()
    data = json.loads(run["json"].read_text())
    assert data["meta"]["conditions"] == list(CONDITIONS)
    scores = data["socket"]["0"]
    assert set(scores) == set(CONDITIONS)
    for cond in CONDITIONS:
        for dec in rb.DECODERS:
            s = scores[cond][dec]
            assert 0.0 <= s["mae"] <= 8.0
            assert 0.0 <= s["within1"] <= 1.0 and 0.0 <= s["held"] <= 1.0
            if dec == "QG":
                assert s["accuracy"] is None  # switched to the cue: nothing to score
            else:
                assert 0.0 <= s["accuracy"] <= 1.0
        # the tracker refits the pose: it must really decode this patient
        assert scores[cond]["tracking"]["within1"] > 0.9
    text = run["docs"].read_text()
    table = text.split("<!-- robustness-matrix:start -->")[1].split("<!-- robustness-matrix:end")[0]
    rows = [r for r in table.splitlines() if r.startswith("| ") and "---" not in r][1:]
    cells = {(r.split(" | ")[0][2:], r.split(" | ")[1]) for r in rows}
    assert cells == {(c, d) for c in CONDITIONS for d in rb.DECODERS}
    band = json.loads(run["json"].read_text())["band"]["0"]
    assert set(band) == set(rb.BAND_CONDITIONS)
    assert all(0.0 <= band[c]["before"]["within1"] <= 1.0 for c in band)


def test_docs_sections_replaced_not_duplicated(run: dict[str, Path]) -> None:
    rb = _robustness()
    path = run["docs"]
    text = path.read_text()
    for marker in ("## Matrix", "<!-- robustness-matrix:start -->", "<!-- robustness-band:end -->"):
        assert text.count(marker) == 1, marker
    assert "Not generated yet" not in text  # the placeholder was replaced
    assert "## Reading the matrix" in text  # hand-written parts stay
    matrix = f"## {rb.MATRIX_HEADING}\n\nsecond run\n"
    band = f"## {rb.BAND_HEADING}\n\nsecond band\n"
    rb.write_docs(matrix, band, path)
    again = path.read_text()
    assert again.count("## Matrix") == 1 and again.count(rb.BAND_HEADING) == 1
    assert "second run" in again and "robustness-matrix:start" not in again
    assert again.index("## Matrix") < again.index("## Reading the matrix")


def test_a_broken_decoder_scores_worse(run: dict[str, Path]) -> None:
    """The harness can fail: the patient's own twin with the tags' movements swapped
    round, or with every stroke taken for twice what it is, must score worse than the
    real twin on the same recording."""
    from bridge.tracking.twin import Twin

    rb = _robustness()
    folder = run["work"] / "socket0"
    twin = Twin.load(folder / "twin.json")
    good = f"track:{folder / 'twin.json'}"
    swapped = replace(twin, movements=(*twin.movements[1:], twin.movements[0]))
    strokes = replace(twin, stroke_mm=2.0 * twin.stroke_mm)
    specs = {
        "good": good,
        "swapped": f"track:{swapped.save(folder / 'swapped.json')}",
        "strokes": f"track:{strokes.save(folder / 'strokes.json')}",
    }
    s = rb.score_recording(specs, folder / "later_1.csv")  # socket shifted and turned
    assert s["good"]["accuracy"] > 0.9
    assert s["swapped"]["accuracy"] < s["good"]["accuracy"] - 0.5
    assert s["strokes"]["mae"] > s["good"]["mae"] + 0.5
    assert s["strokes"]["within1"] < s["good"]["within1"]
