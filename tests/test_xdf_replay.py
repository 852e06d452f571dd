"""XDF: a file written by the test replays to the same grades as the CSV; `record`
writes XDF beside the CSV; a broken XDF is a one-line error."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from bridge.recording import read_recording
from bridge.sources import open_source
from bridge.values.sample import Sample
from bridge.xdf.reader import read_xdf_recording
from bridge.xdf.writer import XdfWriter
from tests.kmg_lsl_support import FAB, calibration, replay_grades, simulated_recording

pyxdf = pytest.importorskip("pyxdf")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdf")


@pytest.fixture(scope="module")
def recording(folder: Path) -> Path:
    return simulated_recording(folder)


def _write_xdf(csv: Path, out: Path) -> float:
    """The test's own XDF of a CSV recording, row by row through the writer."""
    rec = read_recording(csv)
    with_host = time.monotonic()
    writer = XdfWriter(out, rec.source_info(), rec.n_sensors)
    for i in range(len(rec)):
        grade = float(rec.grade_true[i])
        writer.write(
            Sample.from_field(
                int(rec.seq[i]),
                1000.0 + float(rec.t_s[i]),
                with_host + float(rec.t_s[i]),
                rec.field_ut[i],
                gesture=rec.gesture[i] or None,
                grade_true=None if grade != grade else grade,
            )
        )
    writer.close()
    return with_host


def test_xdf_written_by_the_test_replays_to_the_same_grades_as_the_csv(
    folder: Path, recording: Path
) -> None:
    xdf = folder / "sim.xdf"
    _write_xdf(recording, xdf)
    cal = calibration(folder)
    from_csv = replay_grades(recording, cal, folder, "csv_replay")
    from_xdf = replay_grades(xdf, cal, folder, "xdf_replay")
    assert len(from_csv) == len(read_recording(recording)) > 100
    assert len(np.unique(from_csv)) > 2, "the recording must exercise several grades"
    np.testing.assert_array_equal(from_xdf, from_csv)


def test_xdf_reads_back_as_the_same_recording_with_pyxdf_and_our_reader(
    folder: Path, recording: Path
) -> None:
    xdf = folder / "same.xdf"
    host0 = _write_xdf(recording, xdf)
    rec = read_recording(recording)
    back = read_xdf_recording(xdf)
    np.testing.assert_array_equal(back.field_ut, rec.field_ut)
    np.testing.assert_allclose(back.t_s, rec.t_s, atol=1e-9)
    np.testing.assert_array_equal(back.seq, rec.seq)
    assert back.gesture == rec.gesture
    np.testing.assert_array_equal(back.grade_true, rec.grade_true)
    assert back.meta["positions_mm"] == rec.meta["positions_mm"]
    assert back.rate_hz == rec.rate_hz
    # an independent reader sees the XDF metadata conventions
    streams, _header = pyxdf.load_xdf(str(xdf), synchronize_clocks=True, verbose=False)
    kmg = next(s for s in streams if s["info"]["type"] == ["KMG"])
    labels = [c["label"][0] for c in kmg["info"]["desc"][0]["channels"][0]["channel"]]
    assert labels[:3] == ["b0_x", "b0_y", "b0_z"] and labels[-2:] == ["seq", "grade_true"]
    assert int(kmg["footer"]["info"]["sample_count"][0]) == len(rec)
    # the clock offsets map device time (1000 s + t_s) onto the host's receipt time
    assert kmg["time_stamps"][0] == pytest.approx(host0, abs=1e-6)


def test_record_format_both_writes_csv_and_xdf_with_the_same_samples(tmp_path: Path) -> None:
    out = tmp_path / "both.csv"
    subprocess.run(
        [
            FAB,
            "record",
            "--source",
            "sim:myo3?speed=max",
            "--out",
            str(out),
            "--format",
            "both",
            "--duration",
            "2",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    csv = read_recording(out)
    xdf = read_xdf_recording(out.with_suffix(".xdf"))
    assert len(xdf) == len(csv) > 10
    np.testing.assert_array_equal(xdf.field_ut, csv.field_ut)
    assert xdf.gesture == csv.gesture
    only = tmp_path / "only.xdf"
    subprocess.run(
        [FAB, "record", "--source", "sim:myo3?speed=max", "--out", str(only), "--duration", "1"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert only.exists() and not only.with_suffix(".csv").exists()
    assert len(read_xdf_recording(only)) > 5


def test_a_broken_or_foreign_xdf_is_a_one_line_error(tmp_path: Path, recording: Path) -> None:
    cut = tmp_path / "cut.xdf"
    cut.write_bytes(b"XDF:\x01\x05")
    with pytest.raises(ValueError) as err:
        open_source(f"replay:{cut}")
    assert "cut.xdf" in str(err.value) and "\n" not in str(err.value)
    notes = tmp_path / "notes.txt.xdf"
    notes.write_bytes(b"hello")
    proc = subprocess.run(
        [FAB, "bridge", "--source", f"replay:{notes}", "--quiet", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "notes.txt.xdf" in lines[0], proc.stderr
