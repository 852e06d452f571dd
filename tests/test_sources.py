"""Sources over real transports: TCP and UDP on loopback, a pty as serial port, replay."""

from __future__ import annotations

import errno
import os
import random
import socket
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from live_bridge import free_port

from bridge.backoff import Backoff
from bridge.frame import encode_frame
from bridge.recording import RecordingWriter
from bridge.sources import open_source
from bridge.sources.base import Source
from bridge.sources.stream_source import DeviceTimebase, describe_os_error
from bridge.sources.udp_source import UdpSource
from bridge.values.sample import GESTURES, Sample
from bridge.values.source_info import SourceInfo, SourceState

RAW = np.array([[100, -200, 300], [-32768, 0, 0], [5, 6, 7]], dtype=np.int16)
WAIT_S = 20.0  # generous: the machine is shared; nothing here asserts on timing


class Runner:
    """Drains a source on a thread, recording samples, states seen and any exception."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.stop = threading.Event()
        self.samples: list[Sample] = []
        self.states: list[tuple[SourceState, str]] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    def _run(self) -> None:
        try:
            for s in self.source.samples(self.stop):
                self.samples.append(s)
        except BaseException as exc:  # the test asserts there is none
            self.error = exc

    def _watch(self) -> None:
        # state transitions last at least a backoff delay (>= 0.16 s): 2 ms polling sees them
        while not self.stop.is_set():
            st = self.source.status
            if not self.states or self.states[-1][0] != st.state:
                self.states.append((st.state, st.detail))
            time.sleep(0.002)

    def __enter__(self) -> Runner:
        self._watcher.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(5)
        self._watcher.join(5)
        assert not self._thread.is_alive(), "samples() did not honour stop"
        self.source.close()

    def until(self, cond: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not cond():
            assert self.error is None, repr(self.error)
            assert time.monotonic() < deadline, (
                f"timed out waiting for {what}; states {self.states}"
            )
            time.sleep(0.01)

    def seen(self, state: SourceState) -> list[str]:
        return [d for s, d in self.states if s == state]


# --- URL parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "missing scheme"),
        ("/dev/ttyUSB0", "missing scheme"),
        ("http://x:1", "unknown scheme 'http'"),
        ("serial:", "serial needs a target"),
        ("serial:/dev/ttyUSB0?baud=fast", "baud='fast' is not an integer"),
        ("serial:/dev/ttyUSB0?baud=0", "out of range"),
        ("serial:/dev/ttyUSB0?speed=3", "unknown option 'speed'"),
        ("serial:/dev/ttyUSB0?baud=1&baud=2", "given twice"),
        ("serial:/dev/ttyUSB0?baud", "needs a value"),
        ("tcp://localhost", "tcp needs //HOST:PORT"),
        ("tcp:localhost:80", "tcp needs //HOST:PORT"),
        ("tcp://:8888", "tcp needs a host"),
        ("tcp://host:99999", "port must be a number"),
        ("tcp://host:0", "port 0"),
        ("udp://host", "udp needs //HOST:PORT"),
        ("udp://:port", "port must be a number"),
        ("replay:rec.txt", "needs a .csv or .xdf recording"),
        ("replay:/nonexistent/rec.csv", "no recording at"),
    ],
)
def test_bad_urls_are_value_errors_listing_the_forms(url: str, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        open_source(url)
    msg = str(err.value)
    assert fragment in msg
    assert "valid forms: serial:PORT" in msg and "\n" not in msg


def test_bad_replay_speed(tmp_path: Path) -> None:
    path = _recording(tmp_path, 3)
    for speed in ("0", "-1", "fast"):
        with pytest.raises(ValueError, match="speed"):
            open_source(f"replay:{path}?speed={speed}")


def test_good_urls_open_without_touching_devices() -> None:
    src = open_source("serial:/dev/does-not-exist?baud=115200")
    assert src.status.state == SourceState.CONNECTING and src.url.startswith("serial:")
    assert open_source("tcp://192.0.2.1:8888").info.source == "tcp://192.0.2.1:8888"
    assert open_source("tcp://[::1]:8888").status.detail.startswith("tcp [::1]:8888")
    assert isinstance(open_source("udp://:9000"), UdpSource)


# --- TCP ----------------------------------------------------------------------------------


class FrameServer:
    """A stand-in for the band's Wi-Fi module: serves frames to one client at a time."""

    def __init__(self, port: int = 0) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None
        self.release = threading.Event()

    def serve(self, seqs: range, chunk_garbage: bool = False) -> threading.Thread:
        def run() -> None:
            conn, _ = self.listener.accept()
            self.conn = conn
            for seq in seqs:
                data = encode_frame(seq, seq * 1000, 0, RAW)
                if chunk_garbage:
                    data = b"\x00\x13" + data  # garbage the reader must skip
                conn.sendall(data)
                time.sleep(0.001)
            self.release.wait(WAIT_S)  # keep the link up until the test drops it

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def close(self) -> None:
        """Drop the client (it sees the connection close) and stop listening."""
        self.release.set()
        if self.conn is not None:
            self.conn.shutdown(socket.SHUT_RDWR)
            self.conn.close()
        self.listener.close()


def test_tcp_receives_and_reconnects_after_server_restart() -> None:
    server = FrameServer()
    port = server.port
    server.serve(range(0, 200), chunk_garbage=True)
    src = open_source(f"tcp://127.0.0.1:{port}")
    with Runner(src) as run:
        run.until(lambda: len(run.samples) == 200, "the first 200 frames")
        assert src.status.state == SourceState.CONNECTED
        assert src.info.n_sensors == 3 and src.info.full_scale_gauss == 4.0
        # the module reboots: connection dropped, port closed for a while, then back
        server.close()
        run.until(lambda: src.status.state == SourceState.DISCONNECTED, "DISCONNECTED")
        time.sleep(0.5)  # a few refused reconnect attempts
        server2 = FrameServer(port)
        server2.serve(range(1000, 1100))
        run.until(lambda: len(run.samples) == 300, "frames after the restart")
        server2.close()
    assert run.error is None
    assert [s.seq for s in run.samples] == [*range(200), *range(1000, 1100)]
    assert src.status.reconnects == 1
    assert src.status.frames == 300 and src.status.bad_frames == 0
    assert src.status.dropped == 0  # gaps are counted within one connection
    states = [s for s, _ in run.states]
    i = states.index(SourceState.DISCONNECTED)
    assert SourceState.CONNECTED in states[:i] and SourceState.CONNECTED in states[i:]
    details = " | ".join(run.seen(SourceState.DISCONNECTED))
    assert f"tcp 127.0.0.1:{port}: " in details and "retrying in" in details
    assert src.status.state == SourceState.ENDED
    # device time stays monotonic across the reconnect
    t = np.array([s.t_device for s in run.samples])
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(run.samples[0].field_ut[0], RAW[0] * 100 / 6842)
    assert np.isnan(run.samples[0].magnitudes[1])


def test_tcp_refused_is_a_status_not_an_exception() -> None:
    port = free_port()  # nobody listens here
    src = open_source(f"tcp://127.0.0.1:{port}")
    with Runner(src) as run:
        run.until(lambda: src.status.state == SourceState.DISCONNECTED, "DISCONNECTED")
        detail = src.status.detail
    assert detail.startswith(f"tcp 127.0.0.1:{port}: connection refused (errno ")
    assert "retrying in" in detail
    assert run.error is None and run.samples == []


# --- UDP ----------------------------------------------------------------------------------


def test_udp_one_frame_per_datagram() -> None:
    src = open_source("udp://127.0.0.1:0")
    assert isinstance(src, UdpSource)
    with Runner(src) as run:
        assert src.wait_bound(WAIT_S)
        assert src.local_address is not None
        sent = [s for s in range(60) if s not in (10, 11, 40)]  # 3 dropped
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for k, seq in enumerate(sent):
                tx.sendto(encode_frame(seq, seq * 2000, 3, RAW), src.local_address)
                if k == 5:
                    tx.sendto(b"\xa5\x5a garbage", src.local_address)
                    broken = bytearray(encode_frame(999, 0, 3, RAW))
                    broken[20] ^= 0x40
                    tx.sendto(bytes(broken), src.local_address)
                time.sleep(0.001)
        run.until(lambda: len(run.samples) == len(sent), "all datagrams")
        assert src.status.state == SourceState.CONNECTED
        assert "receiving 3 sensors from 127.0.0.1:" in src.status.detail
    assert [s.seq for s in run.samples] == sent
    assert src.status.bad_frames == 2
    assert src.status.dropped == 3
    assert src.info.full_scale_gauss == 16.0
    np.testing.assert_allclose(run.samples[3].t_device - run.samples[2].t_device, 0.002)


# --- serial on a pty ----------------------------------------------------------------------


def test_serial_pty_closed_master_is_disconnected_not_an_exception() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)  # no line discipline games with our binary bytes
    path = os.ttyname(slave)
    os.close(slave)  # the source opens the slave by its path, like a real port
    src = open_source(f"serial:{path}?baud=921600")
    with Runner(src) as run:
        run.until(lambda: src.status.state == SourceState.CONNECTED, "the port to open")
        data = b"".join(encode_frame(s, s * 1000, 1, RAW) for s in range(50))
        os.write(master, b"\x01\x02" + data)
        run.until(lambda: len(run.samples) == 50, "50 frames")
        os.close(master)  # the cable is pulled
        run.until(lambda: src.status.state == SourceState.DISCONNECTED, "DISCONNECTED")
        detail = src.status.detail
        time.sleep(0.3)  # at least one failed reopen attempt
    assert run.error is None
    # EIO (errno 5) or "ready but no data", depending on where the read was
    assert detail.startswith(f"serial {path}: device disconnected (")
    assert "retrying in" in detail
    details = run.seen(SourceState.DISCONNECTED)
    assert all(d.startswith(f"serial {path}: ") for d in details)
    assert [s.seq for s in run.samples] == list(range(50))
    assert src.status.state == SourceState.ENDED


# --- replay -------------------------------------------------------------------------------


def _recording(tmp_path: Path, rows: int, n: int = 3) -> Path:
    path = tmp_path / "labels.csv"
    info = SourceInfo(
        n_sensors=n, rate_hz=200.0, layout="band3", source="test", full_scale_gauss=4.0
    )
    rng = np.random.default_rng(3)
    with RecordingWriter(path, info, n) as w:
        for i in range(rows):
            field = rng.normal(0, 80, size=(n, 3))
            if i == 7:
                field[0, 0] = 32767 * 100 / 6842  # sitting at the +-4 gauss rail
            g = GESTURES[(i // 10) % 4]
            w.write(Sample.from_field(i, 50.0 + i / 200.0, 0.0, field, False, g, i % 9 / 2))
    return path


def test_replay_max_yields_all_rows_with_labels(tmp_path: Path) -> None:
    path = _recording(tmp_path, 500)
    src = open_source(f"replay:{path}?speed=max")
    assert src.info.n_sensors == 3 and src.info.layout == "band3"
    assert src.info.rate_hz == 200.0
    samples = list(src.samples(threading.Event()))
    assert len(samples) == 500
    assert [s.seq for s in samples] == list(range(500))
    assert [s.gesture for s in samples] == [GESTURES[(i // 10) % 4] for i in range(500)]
    assert [s.grade_true for s in samples] == [i % 9 / 2 for i in range(500)]
    np.testing.assert_allclose(samples[-1].t_device, 499 / 200.0, atol=1e-6)
    assert [s.saturated for s in samples].count(True) == 1 and samples[7].saturated
    assert src.status.state == SourceState.ENDED and src.status.frames == 500
    assert "finished, 500 rows" in src.status.detail


def test_replay_paced_stops_on_request(tmp_path: Path) -> None:
    path = _recording(tmp_path, 2000)  # 10 s at 1x
    src = open_source(f"replay:{path}?speed=1")
    stop = threading.Event()
    got: list[Sample] = []
    for s in src.samples(stop):
        got.append(s)
        if len(got) == 20:
            stop.set()
    assert len(got) == 20
    assert src.status.state == SourceState.ENDED and "stopped after 20" in src.status.detail
    # paced: host time between rows follows the recording (ratio, not absolute time)
    host = got[-1].t_host - got[0].t_host
    dev = got[-1].t_device - got[0].t_device
    assert host >= 0.9 * dev


# --- pieces -------------------------------------------------------------------------------


def test_backoff_grows_caps_and_resets() -> None:
    b = Backoff(initial=0.2, factor=2.0, cap=5.0, jitter=0.2, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(12)]
    for k, d in enumerate(delays):
        base = min(5.0, 0.2 * 2**k)
        assert 0.8 * base - 1e-9 <= d <= min(5.0, 1.2 * base) + 1e-9
    assert max(delays) <= 5.0 and delays[-1] >= 4.0
    b.reset()
    assert b.next_delay() <= 0.24
    for _ in range(5000):
        b.next_delay()  # days of retrying must not overflow
    assert b.next_delay() <= 5.0


def test_describe_os_error() -> None:
    assert describe_os_error(ConnectionRefusedError(errno.ECONNREFUSED, "x")) == (
        f"connection refused (errno {errno.ECONNREFUSED})"
    )
    try:
        try:
            raise OSError(errno.EIO, "Input/output error")
        except OSError as inner:
            raise RuntimeError("read failed") from inner
    except RuntimeError as outer:
        assert describe_os_error(outer) == f"device disconnected (errno {errno.EIO})"
    assert describe_os_error(ConnectionError("closed by the device")) == "closed by the device"


def test_device_timebase_survives_a_device_restart() -> None:
    tb = DeviceTimebase()
    times = [
        tb.adjust(t, host) for t, host in [(100.0, 1.0), (100.5, 1.5), (0.01, 3.0), (0.51, 3.5)]
    ]
    assert times[:2] == [100.0, 100.5]
    assert times[2] == pytest.approx(102.0)  # continues by the host time that passed
    assert times[3] == pytest.approx(102.5)
    assert tb.adjust(0.46, 3.6) == pytest.approx(102.45)  # small reorder: left alone
