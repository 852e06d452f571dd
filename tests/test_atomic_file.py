"""The add-on's one atomic writer: whole files only, strict JSON, the old file kept on refusal."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fist_and_ball.core.atomic_file import write_json_atomic, write_text_atomic


@pytest.mark.parametrize("sync", [True, False])
def test_writes_whole_files_and_leaves_no_temp_file(tmp_path: Path, sync: bool) -> None:
    path = tmp_path / "deep" / "s.json"  # the folder is made
    write_json_atomic(path, {"score": 3, "when": "now"}, sync=sync)
    assert json.loads(path.read_text()) == {"score": 3, "when": "now"}
    write_text_atomic(path, "replaced\n", sync=sync)
    assert path.read_text() == "replaced\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["s.json"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_and_the_old_file_kept(tmp_path: Path, bad: float) -> None:
    path = tmp_path / "s.json"
    write_json_atomic(path, {"score": 1})
    with pytest.raises(ValueError, match="non-finite") as exc:
        write_json_atomic(path, {"score": 2, "mean": [1.0, bad]})
    assert "\n" not in str(exc.value)
    assert json.loads(path.read_text()) == {"score": 1}
    assert not (tmp_path / ".s.json.tmp").exists()


def test_default_turns_other_objects_into_text(tmp_path: Path) -> None:
    path = write_json_atomic(tmp_path / "s.json", {"where": tmp_path}, default=str)
    assert json.loads(path.read_text()) == {"where": str(tmp_path)}
