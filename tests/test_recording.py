"""Recordings (contract 2): writer/reader round trip, crash safety, errors, the CLI."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from live_bridge import free_port

from bridge.recording import (
    RecordingError,
    RecordingWriter,
    read_recording,
    recording_columns,
    sidecar_path,
)
from bridge.values.sample import GESTURES, Sample
from bridge.values.source_info import SourceInfo

CLI = [sys.executable, "-m", "fist_and_ball_app.main"]


def _info(n: int = 3) -> SourceInfo:
    return SourceInfo(
        n_sensors=n,
        rate_hz=100.0,
        layout="band3",
        sensor_model="LIS3MDL",
        full_scale_gauss=16.0,
        positions_mm=[[float(i), 0.0, 20.0] for i in range(n)],
        source="test",
    )


def _samples(n_rows: int, n: int, seed: int = 0, t0: float = 1234.5) -> list[Sample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_rows):
        field = rng.uniform(-500, 500, size=(n, 3)).round(4)
        if i % 7 == 3:
            field[1] = np.nan  # a dead sensor now and then
        gesture = GESTURES[i % 4] if i % 5 else None
        grade = float(i % 9) if i % 3 else None
        out.append(Sample.from_field(i + 10, t0 + i * 0.01, 0.0, field, False, gesture, grade))
    return out


def _write(path: Path, samples: list[Sample], n: int, extra: tuple[str, ...] = ()) -> None:
    with RecordingWriter(path, _info(n), n, extra_columns=extra) as w:
        for s in samples:
            w.write(s, {"speed": 2.5} if extra else None)


def test_round_trip(tmp_path: Path) -> None:
    n = 3
    samples = _samples(200, n)
    path = tmp_path / "rec.csv"
    _write(path, samples, n)

    header = path.read_text().splitlines()[0]
    assert header == ",".join(recording_columns(n))
    assert header.startswith("t_s,seq,b0_x,b0_y,b0_z,b1_x") and header.endswith(
        "b2_z,gesture,grade_true"
    )
    rec = read_recording(path)
    assert len(rec) == 200 and rec.n_sensors == n and rec.warnings == []
    np.testing.assert_allclose(rec.t_s, np.arange(200) * 0.01, atol=1e-6)
    assert rec.t_s[0] == 0.0
    np.testing.assert_array_equal(rec.seq, np.arange(200) + 10)
    expected = np.stack([s.field_ut for s in samples])
    np.testing.assert_allclose(rec.field_ut, expected, atol=1e-4, equal_nan=True)
    assert np.isnan(rec.field_ut[3, 1]).all() and not np.isnan(rec.field_ut[4]).any()
    assert rec.gesture == [s.gesture or "" for s in samples]
    for got, s in zip(rec.grade_true, samples, strict=True):
        assert (math.isnan(got) and s.grade_true is None) or got == s.grade_true
    np.testing.assert_allclose(
        rec.magnitudes, np.linalg.norm(expected, axis=2), rtol=1e-6, equal_nan=True
    )
    assert rec.magnitudes.shape == (200, n)

    meta = json.loads(sidecar_path(path).read_text())
    for key in (
        "rate_hz",
        "n_sensors",
        "sensor_model",
        "full_scale_gauss",
        "layout",
        "positions_mm",
        "source",
        "created_at",
        "software_version",
        "columns",
    ):
        assert key in meta, key
    assert meta["n_sensors"] == n and meta["rows"] == 200
    assert meta["created_at"].endswith("Z")
    assert meta["measured_rate_hz"] == pytest.approx(100.0, rel=1e-3)
    assert rec.meta == meta


def test_extra_columns_round_trip_and_unknown_ones_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    _write(path, _samples(5, 2), 2, extra=("speed", "note"))
    rec = read_recording(path)
    np.testing.assert_array_equal(rec.extra["speed"], 2.5)
    assert np.isnan(rec.extra["note"]).all()  # declared but never given
    # a column no writer of ours makes, with text in it: still readable
    lines = path.read_text().splitlines()
    lines = [lines[0] + ",comment"] + [line + ",hello" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n")
    assert len(read_recording(path)) == 5


def test_empty_fields_read_as_nan(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    _write(path, _samples(3, 2), 2)
    lines = path.read_text().splitlines()
    cells = lines[1].split(",")
    cells[2:5] = ["", "", ""]
    lines[1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    assert np.isnan(read_recording(path).field_ut[0, 0]).all()


def test_sidecar_exists_before_the_first_row(tmp_path: Path) -> None:
    path = tmp_path / "early.csv"
    w = RecordingWriter(path, _info(2), 2)
    try:
        assert json.loads(sidecar_path(path).read_text())["n_sensors"] == 2
        assert len(read_recording(path)) == 0
    finally:
        w.close()


def test_writer_skips_and_counts_a_wrong_sensor_count(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    good = _samples(3, 2)
    with RecordingWriter(path, _info(2), 2) as w:
        assert w.write(good[0])
        assert not w.write(_samples(1, 3)[0])  # one odd frame: skipped, not the end
        assert w.write(good[1]) and w.write(good[2])
        assert w.skipped == 1
    rec = read_recording(path)
    assert list(rec.seq) == [s.seq for s in good]
    assert rec.meta["skipped_wrong_shape"] == 1 and rec.meta["rows"] == 3


# One sensor at 40 Hz is ~1.7 kB/s: Python's 8 kB file buffer would hold several
# seconds of rows, so only the writer's own periodic flush gets them to disk in time.
KILL_RATE_HZ = 40
KILL_SCRIPT = """
import os, sys, time
import numpy as np
from bridge.recording import RecordingWriter
from bridge.values.sample import Sample
from bridge.values.source_info import SourceInfo
rate = float(sys.argv[3])
w = RecordingWriter(sys.argv[1], SourceInfo(source="kill-test"), 1)
print("ready", flush=True)
i = 0
start = time.monotonic()
while True:
    w.write(Sample.from_field(i, i / rate, 0.0, np.full((1, 3), float(i)), False, "wrist", 4.0))
    i += 1
    with open(sys.argv[2] + ".tmp", "w") as f:  # rows handed to the writer so far,
        f.write(str(i))
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])  # replaced whole: a kill never tears it
    time.sleep(max(0.0, start + i / rate - time.monotonic()))
"""


def test_sigkill_keeps_all_but_the_last_second(tmp_path: Path) -> None:
    path = tmp_path / "killed.csv"
    counter = tmp_path / "count.txt"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(path), str(counter), str(KILL_RATE_HZ)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(3.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    written = int(counter.read_text())
    assert written > KILL_RATE_HZ  # it ran for more than a second
    rec = read_recording(path)  # a torn last line would be tolerated
    # the contract: a crash loses at most the last second of rows
    assert written - KILL_RATE_HZ <= len(rec) <= written
    np.testing.assert_array_equal(rec.seq, np.arange(len(rec)))
    np.testing.assert_array_equal(rec.field_ut[:, 0, 0], np.arange(len(rec)))
    assert set(rec.gesture) == {"wrist"}
    assert len(rec.warnings) <= 1
    # the sidecar counts exactly the rows the CSV holds, though close() never ran
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["rows"] == len(rec) and meta["complete"] is False


def test_cut_last_line_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    _write(path, _samples(10, 2), 2)
    text = path.read_text()
    path.write_text(text[: len(text) - 9])  # lose the end of the last row
    rec = read_recording(path)
    assert len(rec) == 9
    assert len(rec.warnings) == 1 and "line 11" in rec.warnings[0]


def _broken(tmp_path: Path, name: str, edit: dict[int, str]) -> Path:
    path = tmp_path / name
    _write(path, _samples(20, 3), 3)
    lines = path.read_text().splitlines()
    for lineno, text in edit.items():
        lines[lineno - 1] = text
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "rec.csv"
    _write(path, _samples(3, 2), 2)
    sidecar_path(path).unlink()
    with pytest.raises(
        RecordingError, match=r"rec\.json missing: every recording needs its sidecar"
    ):
        read_recording(path)


def test_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    path = _broken(tmp_path, "rec.csv", {})
    lines = path.read_text().splitlines()
    lines[16] = ",".join(lines[16].split(",")[:-3])  # file line 17
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError) as err:
        read_recording(path)
    assert str(err.value) == f"{path} line 17: expected 13 columns, got 10"


def test_bad_number_names_file_line_and_column(tmp_path: Path) -> None:
    path = _broken(tmp_path, "rec.csv", {})
    lines = path.read_text().splitlines()
    cells = lines[8].split(",")
    cells[2 + 3 * 2 + 1] = "abc"  # b2_y on file line 9
    lines[8] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError) as err:
        read_recording(path)
    assert str(err.value) == f"{path} line 9, column b2_y: 'abc' is not a number"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({1: "time,seq,b0_x"}, "line 1: the header must start with t_s,seq"),
        ({1: "t_s,seq,b0_x,b0_y,b0_z,b2_x,gesture,grade_true"}, "column b2_x is out of place"),
        ({5: "0.1,x" + ",1" * 9 + ",rest,"}, "line 5, column seq: 'x' is not an integer"),
        ({6: "0.1,5" + ",1" * 9 + ",rest,high"}, "line 6, column grade_true: 'high'"),
    ],
)
def test_malformed_files(tmp_path: Path, edit: dict[int, str], message: str) -> None:
    path = _broken(tmp_path, "bad.csv", edit)
    with pytest.raises(RecordingError, match=message):
        read_recording(path)


def test_sidecar_and_header_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    _write(path, _samples(3, 2), 2)
    side = sidecar_path(path)
    meta = json.loads(side.read_text())
    meta["n_sensors"] = 5
    side.write_text(json.dumps(meta))
    with pytest.raises(RecordingError, match="n_sensors=5 but the header"):
        read_recording(path)
    side.write_text("{not json")
    with pytest.raises(RecordingError, match=r"m\.json line 1: not valid JSON"):
        read_recording(path)


def test_missing_recording_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        read_recording(tmp_path / "nothing.csv")


# --- the `record` command, run as a real subprocess -------------------------------------


def _run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_record_cli_from_replay(tmp_path: Path) -> None:
    src = tmp_path / "src.csv"
    samples = _samples(300, 3, seed=4)
    _write(src, samples, 3)
    out = tmp_path / "copy.csv"
    res = _run_cli("record", "--source", f"replay:{src}?speed=max", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "recorded 300 frames" in res.stdout
    rec = read_recording(out)
    orig = read_recording(src)
    assert len(rec) == 300
    np.testing.assert_allclose(rec.field_ut, orig.field_ut, equal_nan=True)
    assert rec.gesture == orig.gesture
    np.testing.assert_array_equal(np.isnan(rec.grade_true), np.isnan(orig.grade_true))
    assert rec.meta["source"] == f"replay:{src}?speed=max"
    assert rec.meta["layout"] == "band3"

    # --duration counts seconds of signal: rows 0..1.49 s of the 0.01 s grid
    short = tmp_path / "short.csv"
    res = _run_cli(
        "record", "--source", f"replay:{src}?speed=max", "--out", str(short), "--duration", "1.5"
    )
    assert res.returncode == 0, res.stderr
    assert len(read_recording(short)) == 150

    # no overwrite without --force
    res = _run_cli("record", "--source", f"replay:{src}?speed=max", "--out", str(out))
    assert res.returncode == 2
    assert "exists; use --force" in res.stderr and "Traceback" not in res.stderr
    res = _run_cli("record", "--source", f"replay:{src}?speed=max", "--out", str(out), "--force")
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_record_cli_from_udp(tmp_path: Path, stop_signal: signal.Signals) -> None:

    from bridge.frame import encode_frame

    out = tmp_path / "udp.csv"
    port = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen(
        [*CLI, "record", "--source", f"udp://127.0.0.1:{port}", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("recording udp://")
        raw = np.arange(12, dtype=np.int16).reshape(4, 3)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            # the recorder binds right after printing; send until frames are seen
            deadline = time.monotonic() + 20
            seq = 0
            while time.monotonic() < deadline:
                tx.sendto(encode_frame(seq, seq * 5000, 1, raw), ("127.0.0.1", port))
                seq += 1
                time.sleep(0.005)
                if seq >= 400 and out.exists() and len(out.read_text().splitlines()) > 50:
                    break
        time.sleep(0.7)  # let the last rows get written before stopping
        proc.send_signal(stop_signal)  # Ctrl-C, or a service manager stopping it
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "(interrupted)" in stdout
    rec = read_recording(out)
    assert len(rec) > 50
    np.testing.assert_allclose(rec.field_ut[0], raw * (100.0 / 3421.0), atol=1e-4)
    assert np.all(np.diff(rec.seq) >= 1)
    assert rec.meta["n_sensors"] == 4 and rec.meta["full_scale_gauss"] == 8.0


@pytest.mark.parametrize(
    "url", ["nope:thing", "tcp://:80", "replay:missing.csv", "serial:/dev/ttyS0?baud=fast"]
)
def test_record_cli_bad_url_is_one_line(tmp_path: Path, url: str) -> None:
    res = _run_cli("record", "--source", url, "--out", str(tmp_path / "x.csv"), timeout=30)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("fist-and-ball record: error: bad source URL")
    assert not (tmp_path / "x.csv").exists()


def test_record_cli_rejects_non_csv(tmp_path: Path) -> None:
    res = _run_cli("record", "--source", "udp://:0", "--out", str(tmp_path / "x.txt"))
    assert res.returncode == 2 and "--out must name a .csv or .xdf file" in res.stderr
    assert os.listdir(tmp_path) == []


def test_recorder_output_records_samples_and_decoder_output(tmp_path: Path) -> None:
    from bridge.outputs.recorder import DECODED_COLUMNS, RecorderOutput
    from bridge.values.sample import Decoded
    from bridge.values.status import PipelineStatus

    path = tmp_path / "served.csv"
    out = RecorderOutput(path, _info(2))
    assert not path.exists()  # opens at the first sample, when n is known
    samples = _samples(30, 2)
    for i, s in enumerate(samples):
        decoded = Decoded(s.seq, 0.0, "fingers", i % 9, (i % 9) / 8, 0.9) if i % 2 else None
        out.on_sample(s, decoded)
        if i == 10:
            out.on_status(PipelineStatus())  # no error: nothing to surface
            assert out.status().rows == 11 and out.error is None
    out.close()
    assert out.error is None
    rec = read_recording(path)
    assert len(rec) == 30 and set(DECODED_COLUMNS) <= set(rec.extra)
    np.testing.assert_array_equal(rec.extra["grade_decoded"][1::2], np.arange(1, 30, 2) % 9)
    assert np.isnan(rec.extra["grade_decoded"][0::2]).all()
    with pytest.raises(FileExistsError, match="exists"):
        RecorderOutput(path, _info(2))
    # a sensor count that changes mid-run is skipped and counted; the recording goes on
    log = io.StringIO()
    again = RecorderOutput(path, _info(2), overwrite=True, log=log)
    again.on_sample(samples[0], None)
    again.on_sample(_samples(1, 3)[0], None)
    again.on_sample(samples[1], None)
    assert again.error is None and log.getvalue() == ""
    assert again.status().skipped == 1
    again.close()
    assert len(read_recording(path)) == 2


def test_record_gives_up_on_a_source_that_never_delivers(tmp_path: Path) -> None:
    port = free_port()  # a port nobody listens on
    out = tmp_path / "none.csv"
    done = subprocess.run(
        [sys.executable, "-m", "fist_and_ball_app.main", "record", "--source",
         f"tcp://127.0.0.1:{port}", "--out", str(out), "--duration", "0.5"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no data from the source" in done.stderr
    assert "connection refused" in done.stderr
