"""bench/machine.py's docs-section writer: each bench replaces only its own section."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from machine import replace_docs_section

PAGE = """# Benchmarks

## Latency

old latency

## Latency with --decoder track:

track numbers

## Hand safety (`bench/hand_safety.py`)

old hand
"""


def test_a_heading_does_not_take_a_longer_heading_that_starts_like_it(tmp_path: Path) -> None:
    page = tmp_path / "b.md"
    page.write_text(PAGE)
    replace_docs_section("Latency", "## Latency\n\nnew latency\n", page)
    text = page.read_text()
    assert "new latency" in text and "old latency" not in text
    assert "## Latency with --decoder track:\n\ntrack numbers" in text
    assert text.count("## Latency\n") == 1


def test_prefix_with_a_parenthesised_note_and_a_heading_ending_in_a_parenthesis(
    tmp_path: Path,
) -> None:
    page = tmp_path / "b.md"
    page.write_text(PAGE)
    replace_docs_section("Hand safety", "## Hand safety (`bench/hand_safety.py`)\n\nnew\n", page)
    replace_docs_section(
        "Hand safety (`bench/hand_safety.py`)",
        "## Hand safety (`bench/hand_safety.py`)\n\nnewer\n",
        page,
    )
    text = page.read_text()
    assert text.count("## Hand safety") == 1
    assert "newer" in text and "old hand" not in text


def test_a_missing_section_is_appended_once(tmp_path: Path) -> None:
    page = tmp_path / "b.md"
    page.write_text(PAGE)
    for _ in range(2):
        replace_docs_section("LSL outlet", "## LSL outlet\n\nnumbers\n", page)
    assert page.read_text().count("## LSL outlet") == 1


def test_the_abuse_bench_keeps_its_hand_written_subsections(tmp_path: Path) -> None:
    from abuse import SECTION, update_docs

    page = tmp_path / "b.md"
    page.write_text(
        f"# Benchmarks\n\n{SECTION}\n\nold generated\n\n### Runs\n\nrun log\n\n"
        "## LSL outlet\n\nlsl\n"
    )
    update_docs(f"{SECTION}\n\nnew generated\n", page)
    text = page.read_text()
    assert "new generated" in text and "old generated" not in text
    assert "### Runs\n\nrun log" in text and "## LSL outlet\n\nlsl" in text
    assert text.index("new generated") < text.index("### Runs") < text.index("## LSL")
