"""Simulator output paths: pty / TCP / UDP emitters, the sim: source, the CLI command."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from live_bridge import free_port

from bridge.frame import FrameParser
from bridge.recording import read_recording
from bridge.sim.config import SimConfig
from bridge.sim.emitter import PtyEmitter, TcpEmitter, UdpEmitter, open_emitter
from bridge.sim.intent_listener import IntentListener, parse_intent
from bridge.sim.simulator import Simulator
from bridge.sources import open_source
from bridge.sources.sim_source import SimSource
from bridge.values.sample import GESTURES
from bridge.values.source_info import SourceState

CLI = [sys.executable, "-m", "fist_and_ball_app.main", "simulate"]


def _read_until(fd: int, n_bytes: int, timeout: float = 10.0) -> bytes:
    buf = bytearray()
    end = time.monotonic() + timeout
    while len(buf) < n_bytes and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            buf += os.read(fd, 65536)
    return bytes(buf)


def test_pty_frames_decode_to_the_same_raw_values(tmp_path: Path) -> None:
    sim = Simulator(SimConfig(layout="socket16", seed=2))
    frames = sim.generate(60)
    link = tmp_path / "kmg-tty"
    em = PtyEmitter(link=link)
    try:
        assert link.is_symlink() and os.readlink(link) == em.slave_path
        reader = os.open(link, os.O_RDONLY | os.O_NOCTTY)
        try:
            for f in frames:
                em.send(sim.frame_bytes(f))
            data = _read_until(reader, 60 * 112)
        finally:
            os.close(reader)
    finally:
        em.close()
    assert not link.exists()
    dec = FrameParser()
    got = dec.feed(data)
    assert len(got) == 60 and dec.stats.bad_frames == 0 and dec.stats.dropped == 0
    for g, f in zip(got, frames, strict=True):
        assert g.seq == f.seq and g.t_us == round(f.t_s * 1e6)
        np.testing.assert_array_equal(g.raw, f.raw)
        np.testing.assert_allclose(g.field_ut(), f.field_ut)


def test_pty_without_reader_drops_stale_bytes_and_keeps_going() -> None:
    sim = Simulator(SimConfig(layout="socket16", seed=2))
    em = PtyEmitter()
    try:
        for f in sim.generate(3000):  # ~330 kB: far more than the line buffer
            em.send(sim.frame_bytes(f))
        reader = os.open(em.slave_path, os.O_RDONLY | os.O_NOCTTY)
        try:
            late = sim.generate(5)
            for f in late:
                em.send(sim.frame_bytes(f))
            frames = FrameParser().feed(_read_until(reader, 10**6, timeout=1.0))
        finally:
            os.close(reader)
    finally:
        em.close()
    assert frames and frames[-1].seq == late[-1].seq  # the newest frames come through


def test_pty_link_refuses_to_replace_a_file(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    with pytest.raises(FileExistsError):
        PtyEmitter(link=target)
    assert target.read_text() == "keep me"


def test_tcp_server_streams_to_each_client() -> None:
    sim = Simulator(SimConfig(layout="myo3", seed=1))
    em = TcpEmitter("127.0.0.1", 0)
    try:
        clients = [socket.create_connection(("127.0.0.1", em.port), timeout=5) for _ in range(2)]
        deadline = time.monotonic() + 5
        while em.listeners < 2 and time.monotonic() < deadline:
            em.pump()
            time.sleep(0.01)
        assert em.listeners == 2
        frames = sim.generate(40)
        for f in frames:
            em.send(sim.frame_bytes(f))
        for c in clients:
            dec = FrameParser()
            got: list = []
            while len(got) < 40:
                got += dec.feed(c.recv(65536))
            assert [g.seq for g in got] == [f.seq for f in frames]
            np.testing.assert_array_equal(got[-1].raw, frames[-1].raw)
        clients[0].close()
        deadline = time.monotonic() + 5
        while em.listeners > 1 and time.monotonic() < deadline:
            em.pump()
            time.sleep(0.01)
        assert em.listeners == 1
        clients[1].close()
    finally:
        em.close()


def test_udp_datagrams_carry_one_frame_each() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    em = open_emitter(f"udp://127.0.0.1:{rx.getsockname()[1]}")
    assert isinstance(em, UdpEmitter)
    sim = Simulator(SimConfig(layout="socket16", seed=3))
    frames = sim.generate(10)
    try:
        for f in frames:
            em.send(sim.frame_bytes(f))
        dec = FrameParser()
        for f in frames:
            g = dec.feed_datagram(rx.recv(2048))
            assert g is not None and g.seq == f.seq
            np.testing.assert_array_equal(g.raw, f.raw)
    finally:
        em.close()
        rx.close()


@pytest.mark.parametrize("spec", ["serial", "tcp://127.0.0.1", "udp://127.0.0.1:0", "tcp://h:x"])
def test_bad_emit_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="--emit"):
        open_emitter(spec)


def test_sim_source_ends_after_the_protocol_with_labels() -> None:
    src = open_source("sim:myo3?speed=max&gestures=fingers&repetitions=2&seed=4")
    assert isinstance(src, SimSource)
    assert src.info.n_sensors == 3 and src.info.layout == "myo3" and src.info.rate_hz == 42.7
    samples = list(src.samples(threading.Event()))
    assert src.status.state == SourceState.ENDED
    expected = Simulator(src.config).generate_all()
    assert len(samples) == len(expected) == src.status.frames
    np.testing.assert_allclose(samples[-1].field_ut, expected.field_ut[-1])
    assert {s.gesture for s in samples} == {"rest", "fingers"}
    assert max(s.grade_true or 0 for s in samples) > 7


def test_sim_source_real_time_pacing_and_stop() -> None:
    src = SimSource("sim:myo3?rate=200&cue_script=intent")
    stop = threading.Event()
    got = []
    t0 = time.monotonic()
    for s in src.samples(stop):
        got.append(s)
        if len(got) == 60:
            stop.set()
    elapsed = time.monotonic() - t0
    # 60 frames at 200 Hz is 0.3 s of signal; paced, not instantaneous (loose: shared CI)
    assert elapsed > 0.2
    assert src.status.state == SourceState.ENDED
    assert [s.seq for s in got] == list(range(60))


def test_sim_source_loop_and_intent() -> None:
    src = SimSource("sim:myo3?speed=max&loop=1&gestures=fingers&repetitions=1")
    n_once = Simulator(src.config).n_frames_total
    assert n_once is not None
    stop = threading.Event()
    count = 0
    for _ in src.samples(stop):
        count += 1
        if count == 3 * n_once:
            stop.set()
    assert count == 3 * n_once  # did not end after one pass
    intent = SimSource("sim:socket16?speed=max&protocol=intent&tremor=0")
    it = intent.samples(threading.Event())
    for _ in range(10):
        next(it)
    intent.simulator.set_intent("wrist", 1.0)
    last = [next(it) for _ in range(200)][-1]
    assert last.gesture == "wrist" and last.grade_true is not None and last.grade_true > 7.5


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("sim:myo3?speed=fast", "speed"),
        ("sim:myo3?loop=2", "loop"),
        ("sim:myo3?colour=red", "colour"),
        ("sim:hand7", "hand7"),
    ],
)
def test_sim_source_bad_urls(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        open_source(url)


def test_intent_datagrams_parse_or_explain() -> None:
    assert parse_intent(b'{"gesture": "fingers", "level": 0.7}').level == 0.7
    assert parse_intent(b'{"gesture": "rest"}').level == 0.0
    assert parse_intent(b'{"gesture": "thumb", "level": 3}').level == 1.0
    for bad, why in [
        (b"nope", "JSON"),
        (b"[1]", "object"),
        (b'{"gesture": "pinch", "level": 1}', "gesture"),
        (b'{"gesture": "wrist"}', "level"),
        (b'{"gesture": "wrist", "level": true}', "level"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_intent(bad)
    lis = IntentListener(0)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tx.sendto(b'{"gesture": "wrist", "level": 0.5}', ("127.0.0.1", lis.port))
        tx.sendto(b"garbage", ("127.0.0.1", lis.port))
        deadline = time.monotonic() + 5
        intents: list = []
        errors: list = []
        while len(intents) + len(errors) < 2 and time.monotonic() < deadline:
            i, e = lis.poll()
            intents += i
            errors += e
            time.sleep(0.01)
        assert [(x.gesture, x.level) for x in intents] == [("wrist", 0.5)]
        assert len(errors) == 1 and "ignored" in errors[0]
    finally:
        tx.close()
        lis.close()


def test_cli_records_a_labelled_session(tmp_path: Path) -> None:
    out = tmp_path / "session.csv"
    res = subprocess.run(
        [*CLI, "--layout", "myo3", "--out", str(out), "--speed", "max", "--gestures", "wrist"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    rec = read_recording(out)
    expected = Simulator(SimConfig(layout="myo3", gestures=("wrist",))).generate_all()
    assert len(rec) == len(expected)
    np.testing.assert_allclose(rec.field_ut, expected.field_ut, atol=1e-4)
    np.testing.assert_allclose(rec.grade_true, expected.grade_true, atol=1e-3)
    assert rec.meta["layout"] == "myo3" and rec.meta["source"].startswith("sim:myo3")
    # refuses to overwrite, with a one-line error
    again = subprocess.run([*CLI, "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--emit", "pty", "--intent-port", "7100"], "--cue-script intent"),
        (["--emit", "udp://127.0.0.1:9", "--link", "/tmp/x"], "--emit pty"),
        ([], "nothing to do"),
        (["--emit", "pty", "--set", "noise=loud"], "noise"),
        (["--emit", "pty", "--speed", "0"], "--speed"),
        (["--out", "x.txt"], ".csv"),
    ],
)
def test_cli_errors_are_one_line(argv: list[str], match: str) -> None:
    res = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert match in res.stderr and "Traceback" not in res.stderr


def test_cli_pty_intent_mode_end_to_end(tmp_path: Path) -> None:
    """simulate --emit pty --link --protocol intent --intent-port: a reader on the link
    sees frames whose field changes after an intent datagram; Ctrl-C ends it cleanly."""
    port = free_port(socket.SOCK_DGRAM)
    link = tmp_path / "kmg"
    out = tmp_path / "intent.csv"
    proc = subprocess.Popen(
        [
            *CLI,
            "--layout",
            "myo3",
            "--emit",
            "pty",
            "--link",
            str(link),
            "--protocol",
            "intent",
            "--intent-port",
            str(port),
            "--rate",
            "200",
            "--out",
            str(out),
            "--set",
            "tremor=0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "emitting frames v1 on pty" in first
        deadline = time.monotonic() + 10
        while not link.is_symlink() and time.monotonic() < deadline:
            time.sleep(0.02)
        fd = os.open(link, os.O_RDONLY | os.O_NOCTTY)
        dec = FrameParser()
        try:
            before = dec.feed(_read_until(fd, 40 * 32))
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tx.sendto(
                json.dumps({"gesture": "fingers", "level": 1.0}).encode(), ("127.0.0.1", port)
            )
            tx.close()
            time.sleep(1.0)
            after = dec.feed(_read_until(fd, 10**6, timeout=0.5))
        finally:
            os.close(fd)
        assert before and after
        mid = [np.linalg.norm(f.field_ut()[1]) for f in (before[-1], after[-1])]
        assert mid[1] - mid[0] > 100.0  # the finger tag moved under the middle sensor
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped by Ctrl-C" in err and "Traceback" not in err
    assert not link.exists()
    rec = read_recording(out)
    names = set(np.asarray(rec.gesture).tolist())
    assert {"rest", "fingers"} <= names <= set(GESTURES)
