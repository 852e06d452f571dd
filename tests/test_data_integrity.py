"""Recordings never stop silently (issue 11, items 11 and 14): write errors are shown
and end the command non-zero, unwritable paths are refused up front, the sidecar's
row count survives SIGKILL, and a source going silent ends `record --duration`.

Real files, real OS errors (RLIMIT_FSIZE, /dev/full, /proc), real subprocesses.
"""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from live_bridge import free_port

from bridge.frame import encode_frame
from bridge.outputs.live_view import LiveView
from bridge.outputs.recorder import RecorderOutput
from bridge.recording import RecordingWriter, read_recording, sidecar_path
from bridge.sample import Sample
from bridge.sources.base import SourceInfo

CLI = [sys.executable, "-m", "bridge.cli.main"]
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
    error = rec.status_extra()["recorder"]["error"]
    assert error is not None and "No space left" in error
    assert "recorder: recording to" in log.getvalue()
    view = LiveView(io.StringIO())
    view.on_status({"state": "connected", **rec.status_extra()})
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
