"""Recordings never stop silently (issue 11, items 11 and 14): write errors are shown
and end the command non-zero, unwritable paths are refused up front, the sidecar's
row count survives SIGKILL, and a source going silent ends `record --duration`.

Real files, real OS errors (RLIMIT_FSIZE, /dev/full, /proc), real subprocesses.
"""

from __future__ import annotations

import io
import json
import math
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from live_bridge import free_port

from bridge.frame import encode_frame
from bridge.outputs.live_view import LiveView
from bridge.outputs.recorder import RecorderOutput
from bridge.recording import RecordingWriter, read_recording, sidecar_path
from bridge.values.sample import Sample
from bridge.values.source_info import SourceInfo
from bridge.values.status import PipelineStatus, SourceReport

CLI = [sys.executable, "-m", "fist_and_ball_app.main"]
FILE_LIMIT = 16 * 1024
"""Bytes a child may write per file: the CSV hits it within a second of data."""


def _info(n: int) -> SourceInfo:
    return SourceInfo(n_sensors=n, rate_hz=100.0, source="test")


def _sample(i: int, n: int = 3) -> Sample:
    field = np.full((n, 3), float(i))
    return Sample.from_field(i, i * 0.01, 0.0, field, False, "rest", 0.0)


def _recording(path: Path, rows: int, n: int = 3) -> Path:
    with RecordingWriter(path, _info(n), n) as w:
        for i in range(rows):
            w.write(_sample(i, n))
    return path


def _limit_file_size() -> None:
    # the child gets EFBIG from write() instead of being killed by SIGXFSZ
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def _run(*args: str, limit: bool = False, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_file_size if limit else None,
    )


# --- unwritable paths are refused before anything starts ---------------------------------


@pytest.mark.parametrize("command", ["record", "bridge"])
def test_an_unwritable_record_path_is_refused_up_front(command: str, tmp_path: Path) -> None:
    # /proc refuses new files even to root: a real "cannot write here"
    target = "/proc/self/session.csv"
    option = "--out" if command == "record" else "--record"
    extra = ["--port", "0", "--quiet", "--duration", "30"] if command == "bridge" else []
    started = time.monotonic()
    res = _run(command, "--source", "udp://127.0.0.1:0", option, target, *extra)
    assert res.returncode == 2, res.stderr
    assert "cannot write in folder /proc/self" in res.stderr
    assert "Traceback" not in res.stderr
    assert time.monotonic() - started < 30  # refused, not after the session


def test_a_folder_as_record_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.csv").mkdir()
    res = _run("record", "--source", "udp://127.0.0.1:0", "--out", str(tmp_path / "x.csv"))
    assert res.returncode == 2 and "is a folder" in res.stderr


# --- write errors are shown and end the command non-zero ----------------------------------


def test_record_exits_non_zero_when_the_disk_refuses(tmp_path: Path) -> None:
    src = _recording(tmp_path / "src.csv", 1000)
    out = tmp_path / "out.csv"
    res = _run("record", "--source", f"replay:{src}?speed=max", "--out", str(out), limit=True)
    assert res.returncode != 0, res.stdout + res.stderr
    assert "recording stopped early" in res.stderr and "too large" in res.stderr.lower()


def test_bridge_exits_non_zero_when_its_recording_fails(tmp_path: Path) -> None:
    src = _recording(tmp_path / "src.csv", 600)
    out = tmp_path / "served.csv"
    res = _run(
        "bridge", "--source", f"replay:{src}?speed=max", "--port", "0", "--quiet",
        "--duration", "60", "--decoder", "none", "--record", str(out), limit=True,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert f"bridge: recording to {out} stopped" in res.stderr


def test_a_write_error_shows_in_the_status_and_the_live_view(tmp_path: Path) -> None:
    path = tmp_path / "full.csv"
    path.symlink_to("/dev/full")  # every write: ENOSPC, a real full disk
    log = io.StringIO()
    rec = RecorderOutput(path, _info(3), overwrite=True, log=log)
    rec.on_sample(_sample(0), None)
    error = rec.status().error
    assert error is not None and "No space left" in error
    assert "recorder: recording to" in log.getvalue()
    view = LiveView(io.StringIO())
    view.on_status(PipelineStatus(source=SourceReport(state="connected"), outputs=(rec.status(),)))
    assert any("RECORDING STOPPED" in line for line in view.render_lines())
    assert "RECORDING STOPPED" in view.render_line()
    rec.on_sample(_sample(1), None)  # no exception once stopped


# --- the sidecar's row count survives SIGKILL ---------------------------------------------


def test_sidecar_row_count_is_right_after_sigkill_of_record(tmp_path: Path) -> None:
    src = _recording(tmp_path / "src.csv", 1000)  # 10 s at 100 Hz, replayed in real time
    out = tmp_path / "killed.csv"
    proc = subprocess.Popen(
        [*CLI, "record", "--source", f"replay:{src}?speed=1", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.stat().st_size > 8000):
            assert time.monotonic() < deadline and proc.poll() is None, "no rows written"
            time.sleep(0.05)
        time.sleep(0.37)  # somewhere between two flushes
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    rec = read_recording(out)
    meta = json.loads(sidecar_path(out).read_text())
    assert len(rec) > 20
    assert meta["rows"] == len(rec) and meta["complete"] is False


# --- record --duration ends when the source goes silent after data began -------------------


def test_record_duration_gives_up_when_the_source_goes_silent(tmp_path: Path) -> None:
    out = tmp_path / "silent.csv"
    port = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen(
        [*CLI, "record", "--source", f"udp://127.0.0.1:{port}", "--out", str(out),
         "--duration", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        raw = np.ones((2, 3), dtype=np.int16)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            deadline = time.monotonic() + 30
            seq = 0
            while not (out.exists() and len(out.read_text().splitlines()) > 10):
                assert time.monotonic() < deadline, "the recorder never wrote rows"
                tx.sendto(encode_frame(seq, seq * 1000, 1, raw), ("127.0.0.1", port))
                seq += 1
                time.sleep(0.002)
        # 0.01+ s of signal sent, 1 s asked for; now the band goes quiet
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, stderr
    assert "went silent after" in stderr and "--duration 1" in stderr
    assert len(read_recording(out)) > 10  # what did arrive is kept


def test_sidecar_rate_stays_sane_after_a_wild_clock_frame(tmp_path: Path) -> None:
    """Item 12 end to end: a 4276 s t_us jump must not reach the recording or sidecar."""
    out = tmp_path / "wild.csv"
    port = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen(
        [*CLI, "record", "--source", f"udp://127.0.0.1:{port}", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        raw = np.ones((2, 3), dtype=np.int16)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            deadline = time.monotonic() + 30
            while not out.exists():
                assert time.monotonic() < deadline, "the recorder never opened the file"
                tx.sendto(encode_frame(0, 1_000_000, 1, raw), ("127.0.0.1", port))
                time.sleep(0.05)
            for seq in range(1, 300):
                t_us = 4_276_000_000 if seq == 150 else 1_000_000 + seq * 5000
                tx.sendto(encode_frame(seq, t_us, 1, raw), ("127.0.0.1", port))
                time.sleep(0.005)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    rec = read_recording(out)
    assert np.diff(rec.t_s).max() < 5.0  # was a 4276 s gap
    assert rec.meta["measured_rate_hz"] > 20  # was 0.18 Hz
    assert os.path.getsize(out) > 0


# --- non-finite data (item 13) -------------------------------------------------------------


def _edit_cell(path: Path, line: int, column: str, value: str) -> None:
    lines = path.read_text().split("\n")
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines))


@pytest.mark.parametrize("value", ["inf", "-inf", "1e308"])
def test_reader_rejects_non_finite_fields_naming_file_line_column(
    tmp_path: Path, value: str
) -> None:
    from bridge.recording import RecordingError

    path = _recording(tmp_path / "bad.csv", 10)
    _edit_cell(path, 5, "b1_y", value)
    with pytest.raises(RecordingError) as err:
        read_recording(path)
    assert f"{path} line 5, column b1_y: '{value}'" in str(err.value)
    # the replay source reads through the same reader: refused at open, one line
    from bridge.sources import open_source

    with pytest.raises(ValueError, match="line 5, column b1_y"):
        open_source(f"replay:{path}")


def test_reader_rejects_an_infinite_grade_and_masks_infinite_extras(tmp_path: Path) -> None:
    from bridge.recording import RecordingError

    path = tmp_path / "x.csv"
    with RecordingWriter(path, _info(2), 2, extra_columns=("speed",)) as w:
        for i in range(5):
            w.write(_sample(i, 2), {"speed": 1.0})
    _edit_cell(path, 3, "speed", "inf")
    rec = read_recording(path)
    assert math.isnan(rec.extra["speed"][1]) and rec.extra["speed"][0] == 1.0
    _edit_cell(path, 4, "grade_true", "inf")
    with pytest.raises(RecordingError, match="line 4, column grade_true"):
        read_recording(path)


def test_a_sidecar_with_a_word_for_a_rate_names_the_file(tmp_path: Path) -> None:
    from bridge.recording import RecordingError

    path = _recording(tmp_path / "r.csv", 5)
    side = sidecar_path(path)
    meta = json.loads(side.read_text())
    meta["rate_hz"] = "fast"
    side.write_text(json.dumps(meta))
    with pytest.raises(RecordingError, match=f"{side}: rate_hz must be a positive number"):
        read_recording(path)


def _tiny_net() -> Any:
    from bridge.training.model import McnnTG, ModelConfig

    return McnnTG(ModelConfig(n_sensors=3, channels=(2, 2, 2), hidden=4))


def _write_tiny_bundle(out: Path) -> Any:
    from bridge.training.export import write_bundle

    net = _tiny_net()
    write_bundle(
        out, net, layout=None, rate_hz=100.0, classes=("rest", "fingers", "wrist", "thumb"),
        training={}, metrics={}, recordings=[],
    )  # fmt: skip
    return net


def test_train_refuses_to_write_non_finite_weights(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from bridge.training.export import write_bundle

    net = _tiny_net()
    with torch.no_grad():
        next(iter(net.parameters())).view(-1)[0] = float("inf")
    out = tmp_path / "poisoned"
    with pytest.raises(ValueError, match="non-finite weights"):
        write_bundle(
            out, net, layout=None, rate_hz=100.0, classes=("rest", "fingers", "wrist", "thumb"),
            training={}, metrics={}, recordings=[],
        )  # fmt: skip
    assert not out.exists()


def test_the_bridge_refuses_a_bundle_with_non_finite_weights(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from bridge.decoders.mcnn import McnnDecoder, ModelBundleError
    from bridge.training.dataset import file_sha256
    from bridge.training.export import export_onnx

    out = tmp_path / "model"
    net = _write_tiny_bundle(out)
    McnnDecoder.load(out)  # the healthy bundle loads
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    export_onnx(net, out / "model.onnx")  # as a broken trainer would have written it
    meta = json.loads((out / "model.json").read_text())
    meta["model_sha256"] = file_sha256(out / "model.onnx")
    (out / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelBundleError, match="answers NaN/inf"):
        McnnDecoder.load(out)
    src = _recording(tmp_path / "src.csv", 50)
    res = _run("bridge", "--source", f"replay:{src}", "--decoder", f"mcnn:{out}", "--port", "0")
    assert res.returncode == 2 and "answers NaN/inf" in res.stderr


def test_train_checks_for_onnx_before_loading_data(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "onnx"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named onnx')\n")
    garbage = tmp_path / "rec.csv"
    garbage.write_text("not a recording\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shadow")}
    res = subprocess.run(
        [*CLI, "train", str(garbage), "--out", str(tmp_path / "m")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert res.returncode == 2
    assert 'pip install "fist-and-ball[train]"' in res.stderr and "onnx" in res.stderr
    assert "rec.csv" not in res.stderr  # the data was never opened


# --- smaller ones (item 14) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["record", "--source", "udp://127.0.0.1:0", "--out", "{missing}/r.csv"],
        ["simulate", "--out", "{missing}/r.csv", "--seconds", "1"],
        ["train", "{rec}", "--out", "{missing}/model"],
        ["report", "{tmp}", "--out", "{missing}/report.html"],
        ["report", "{tmp}", "--csv", "{missing}/s.csv", "--out", "{tmp}/r.html"],
        ["label", "{rec}", "--out", "{missing}/labels.csv"],
        ["bridge", "--source", "udp://127.0.0.1:0", "--record", "{missing}/r.csv"],
    ],
)
def test_one_policy_for_missing_out_folders(tmp_path: Path, argv: list[str]) -> None:
    """Every command refuses a missing output folder, naming it, and creates nothing."""
    rec = _recording(tmp_path / "rec.csv", 20)
    missing = tmp_path / "no" / "such"
    args = [a.format(missing=missing, rec=rec, tmp=tmp_path) for a in argv]
    res = _run(*args)
    assert res.returncode == 2, res.stderr
    assert f"folder {missing} does not exist" in res.stderr, res.stderr
    assert not (tmp_path / "no").exists()


def test_simulate_to_an_unresolvable_host_fails_clearly() -> None:
    res = _run("simulate", "--emit", "udp://nonexistent.invalid:5", "--seconds", "1")
    assert res.returncode == 2
    assert "cannot resolve host 'nonexistent.invalid'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_report_lists_a_deeply_nested_log_as_malformed(tmp_path: Path) -> None:
    from fist_and_ball.core.score_reader import read_session

    path = tmp_path / "20250101-1000-deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    record = read_session(path)
    assert record.status == "invalid"
    assert any("nested too deeply" in p for p in record.problems)
    res = _run("report", str(tmp_path), "--out", str(tmp_path / "r.html"))
    assert "Traceback" not in res.stderr and "RecursionError" not in res.stderr


def test_report_csv_defuses_formula_cells() -> None:
    from fist_and_ball.report.history import csv_safe_cell

    assert csv_safe_cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    for bad in ("+1+2", "-2+3", "@SUM(A1)", "\t=1"):
        assert csv_safe_cell(bad) == "'" + bad
    assert csv_safe_cell("-3.5") == "-3.5" and csv_safe_cell(-3.5) == -3.5
    assert csv_safe_cell("Alice") == "Alice"
