"""`fist-and-ball bridge`: argument errors, and end to end with a real pty and subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from fist_and_ball_app.main import main

FAB = str(Path(sys.executable).with_name("fist-and-ball"))


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def test_non_loopback_without_token_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run_cli(["bridge", "--source", "serial:/dev/null", "--host", "0.0.0.0"], capsys)
    assert code == 2
    assert "without a token" in err and "Traceback" not in err


def test_bad_arguments_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    record = ["bridge", "--source", "serial:/dev/null", "--decoder", "none", "--duration", "1",
              "--record"]  # fmt: skip
    for argv, needle in (
        (["bridge", "--source", "bogus://x"], "source"),
        (["bridge", "--source", "serial:/dev/null", "--hand-enable"], "--hand"),
        (["bridge", "--source", "serial:/dev/null", "--port", "70000"], "port"),
        (["bridge", "--source", "serial:/dev/null", "--duration", "-1"], "duration"),
        (["bridge", "--source", "serial:/dev/null", "--realtime", "0"], "--realtime"),
        (
            ["bridge", "--source", "serial:/dev/null", "--decoder", "qg:/nonexistent.json"],
            "nonexistent",
        ),
        # an unusable --record path is refused at start-up, not after the session began
        ([*record, "/nonexistent-dir/s.csv"], "folder /nonexistent-dir does not exist"),
        ([*record, "s.json"], "--record must name a .csv file"),
    ):
        code, err = _run_cli(argv, capsys)
        assert code == 2, argv
        assert needle in err, (argv, err)
        assert "Traceback" not in err
        assert err.count("\n") == 1, err


def test_port_in_use_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cal = _calibration(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, err = _run_cli(
            [
                "bridge",
                "--source",
                "serial:/dev/null",
                "--decoder",
                f"qg:{cal}",
                "--port",
                str(port),
                "--quiet",
            ],
            capsys,
        )
    assert code == 2
    assert f"127.0.0.1:{port}" in err and "Traceback" not in err


def _calibration(tmp_path: Path) -> Path:
    from bridge.decoders.qg_fit import fit_calibration
    from bridge.sim.calibration_run import record_guided_calibration
    from bridge.sim.config import SimConfig

    path = tmp_path / "cal.json"
    fit_calibration(*record_guided_calibration(SimConfig(layout="myo3", seed=3))).save(path)
    return path


class _Bridge:
    """`fist-and-ball bridge` as a subprocess; collects stderr, finds the URL."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [FAB, "bridge", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.url: str | None = None
        self.signalled = False
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "listening on " in line and self.url is None:
                self.url = line.split("listening on ", 1)[1].split()[0]
                self._ready.set()
        self._ready.set()

    def wait_url(self, timeout: float = 30.0) -> str:
        self._ready.wait(timeout)
        assert self.url, "bridge did not start:\n" + "".join(self.lines)
        return self.url

    def terminate(self) -> None:
        """SIGTERM once (a second one while exiting would kill it: that is by design)."""
        if not self.signalled and self.proc.poll() is None:
            self.signalled = True
            self.proc.send_signal(signal.SIGTERM)

    def finish(self, timeout: float = 30.0) -> int:
        """Exit code of a bridge whose finite source ends: wait for it to stop on its own
        (a SIGTERM racing its exit would kill it after its handlers are restored), and
        only then, if it is still running, stop it."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.stop()

    def stop(self) -> int:
        self.terminate()
        try:
            return self.proc.wait(15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def test_end_to_end_simulator_pty_serial_bridge_client(tmp_path: Path) -> None:
    """Simulator frames -> pty -> `bridge --source serial:` subprocess -> contract-3 client."""
    from bridge.sim.config import SimConfig
    from bridge.sim.simulator import Simulator

    cfg = SimConfig(layout="myo3", gestures=("fingers",), repetitions=2, seed=3)
    cal = _calibration(tmp_path)
    frames = Simulator(cfg).generate_all().frames()
    truth = {f.seq: f.grade_true for f in frames}

    master, slave = os.openpty()
    tty.setraw(slave)  # no echo or newline translation on the device side
    slave_path = os.ttyname(slave)
    bridge = _Bridge(
        ["--source", f"serial:{slave_path}", "--decoder", f"qg:{cal}", "--port", "0", "--quiet"]
    )
    stop_writing = threading.Event()

    def write_frames() -> None:
        # 4x real time: the decoder works per sample, not per second
        period = 1.0 / (4 * cfg.rate_hz)
        t_next = time.monotonic()
        for f in frames:
            if stop_writing.is_set():
                return
            os.write(master, Simulator.frame_bytes(f))
            t_next += period
            time.sleep(max(0.0, t_next - time.monotonic()))

    try:
        url = bridge.wait_url()

        async def client() -> tuple[dict, list[dict], int | None]:
            async with connect(url, open_timeout=10) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                writer = threading.Thread(target=write_frames, daemon=True)
                writer.start()
                grades: list[dict] = []
                last_seq = frames[-1].seq
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    except TimeoutError:
                        if not writer.is_alive():
                            break
                        continue
                    if msg["type"] == "grade":
                        grades.append(msg)
                        if msg["seq"] == last_seq:
                            break
                # a clean shutdown closes us with 1001 (going away)
                bridge.terminate()
                code = None
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 15)
                except ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd else None
                return hello, grades, code

        hello, grades, close_code = asyncio.run(client())
    finally:
        stop_writing.set()
        exit_code = bridge.stop()
        os.close(master)
        os.close(slave)

    assert exit_code == 0, "".join(bridge.lines)
    assert close_code == 1001
    assert hello["type"] == "hello" and hello["protocol"] == 1 and hello["grades"] == 9
    assert hello["decoder"] == "qg" and "fingers" in hello["gestures"]
    # (nearly) every frame arrived, in order, as a grade
    seqs = [g["seq"] for g in grades]
    assert seqs == sorted(seqs)
    assert len(grades) >= 0.95 * len(frames), (len(grades), len(frames))
    got = np.array([g["grade"] for g in grades], dtype=float)
    want = np.array([truth[s] for s in seqs])
    assert np.mean(np.abs(got - want)) < 1.0
    assert np.corrcoef(got, want)[0, 1] > 0.9
    assert got.min() == 0 and got.max() == 8  # the full range is reached


def test_sim_source_runs_with_no_calibration_file_and_records(tmp_path: Path) -> None:
    pytest.importorskip("bridge.sources.sim_source")
    rec = tmp_path / "rec.csv"
    bridge = _Bridge(
        ["--source", "sim:myo3", "--port", "0", "--quiet", "--duration", "20", "--record", str(rec)]
    )
    try:
        url = bridge.wait_url(60)

        async def client() -> tuple[dict, list[dict]]:
            async with connect(url, open_timeout=10) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                grades: list[dict] = []
                while len(grades) < 20:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if msg["type"] == "grade":
                        grades.append(msg)
                return hello, grades

        hello, grades = asyncio.run(client())
    finally:
        exit_code = bridge.stop()
    assert exit_code == 0, "".join(bridge.lines)
    assert hello["decoder"] == "qg" and hello["n_sensors"] == 3
    assert all(0 <= g["grade"] <= 8 for g in grades)
    rows = rec.read_text().splitlines()
    assert rows[0].startswith("t_s,seq,b0_x,b0_y,b0_z")
    assert len(rows) > len(grades)  # every sample recorded, header included
    assert rec.with_suffix(".json").exists()
