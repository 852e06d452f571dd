"""The serial source's own read path (poll, then one read of all that waits) on a real
pty and a real pipe: bursts, silence, end of file."""

from __future__ import annotations

import errno
import os
import select
import threading
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from bridge.frame import encode_frame
from bridge.sources import open_source
from bridge.sources.serial_source import SerialSource
from bridge.sources.stream_source import describe_os_error
from bridge.values.source_info import SourceState

RAW = np.arange(48, dtype=np.int16).reshape(16, 3)


class CountingSerial(SerialSource):
    """The real source, counting the reads that returned data."""

    reads_with_data = 0

    def _read(self) -> bytes:
        data = super()._read()
        if data:
            self.reads_with_data += 1
        return data


@contextmanager
def _pty() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)  # the source opens the slave by its path, like a real port
    try:
        yield master, path
    finally:
        os.close(master)


def _wait(cond: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@contextmanager
def _reading(src: SerialSource) -> Iterator[list[int]]:
    """`src` reading on a thread, its port open; yields the seqs read so far."""
    stop = threading.Event()
    seqs: list[int] = []
    t = threading.Thread(target=lambda: seqs.extend(s.seq for s in src.samples(stop)))
    t.start()
    try:
        _wait(lambda: src.status.state == SourceState.CONNECTED, "the port to open")
        yield seqs
    finally:
        stop.set()
        t.join(5)


def test_a_burst_is_read_many_frames_at_a_time_in_order() -> None:
    n = 400
    with _pty() as (master, path):
        src = CountingSerial(f"serial:{path}", path)
        with _reading(src) as seqs:
            burst = b"".join(encode_frame(i, i * 1000, 1, RAW) for i in range(n))
            os.write(master, burst)  # 45 kB at once: the device caught up after a stall
            _wait(lambda: len(seqs) >= n, f"{n} samples")
    assert seqs == list(range(n))
    assert src.status.bad_frames == 0 and src.status.dropped == 0
    # one read takes every frame waiting (the pty passes ~4 kB, ~36 frames, at a time)
    assert src.reads_with_data <= n // 4, src.reads_with_data


def test_frames_split_across_reads_are_joined() -> None:
    frames = [encode_frame(i, i * 1000, 1, RAW) for i in range(5)]
    data = b"".join(frames)
    with _pty() as (master, path), _reading(SerialSource(f"serial:{path}", path)) as seqs:
        for cut in range(0, len(data), 37):  # pieces never aligned with frames
            os.write(master, data[cut : cut + 37])
            time.sleep(0.01)
        _wait(lambda: len(seqs) >= 5, "5 samples")
    assert seqs == list(range(5))


def test_a_silent_port_returns_empty_reads_and_stop_is_seen() -> None:
    with _pty() as (_master, path):
        src = open_source(f"serial:{path}")
        stop = threading.Event()
        samples: list[object] = []
        t = threading.Thread(target=lambda: samples.extend(src.samples(stop)))
        t.start()
        _wait(lambda: src.status.state == SourceState.CONNECTED, "the port to open")
        time.sleep(0.3)  # a few read timeouts pass with nothing to read
        assert t.is_alive() and not samples
        stop.set()
        t.join(5)  # generous: the read returns within READ_TIMEOUT_S
        assert not t.is_alive(), "a silent port kept the source from stopping"
    assert src.status.state == SourceState.ENDED


def _source_on(fd: int) -> SerialSource:
    """A SerialSource reading `fd` the way it reads an opened port."""
    src = SerialSource("serial:/dev/null", "/dev/null")
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    os.set_blocking(fd, False)
    src._fd, src._poll = fd, poll
    return src


def test_end_of_file_is_a_lost_device_not_silence() -> None:
    # a vanished USB adapter reads as end of file, ready again at once: treated as
    # silence, the source would spin on empty reads instead of reconnecting
    r, w = os.pipe()
    try:
        src = _source_on(r)
        os.write(w, b"\xa5")
        assert src._read() == b"\xa5"
        os.close(w)
        w = -1
        with pytest.raises(OSError) as info:
            src._read()
        assert info.value.errno == errno.EIO
        assert describe_os_error(info.value) == "device disconnected (errno 5)"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_a_read_with_nothing_waiting_times_out_empty() -> None:
    r, w = os.pipe()
    try:
        src = _source_on(r)
        done: list[bytes] = []
        t = threading.Thread(target=lambda: done.append(src._read()))
        t.start()
        t.join(5)  # READ_TIMEOUT_S is 0.1 s; 5 s only guards a hang
        assert done == [b""]
    finally:
        os.close(r)
        os.close(w)


def test_reading_a_closed_source_is_an_os_error() -> None:
    with pytest.raises(OSError):
        SerialSource("serial:/dev/null", "/dev/null")._read()


class PyserialReadSource(SerialSource):
    """The port as on Windows: no descriptor to poll, so pyserial's own read."""

    def _open(self, stop: threading.Event) -> None:
        super()._open(stop)
        self._poll = None


def test_the_pyserial_read_path_gets_every_frame() -> None:
    with _pty() as (master, path), _reading(PyserialReadSource(f"serial:{path}", path)) as seqs:
        os.write(master, b"".join(encode_frame(i, i * 1000, 1, RAW) for i in range(30)))
        _wait(lambda: len(seqs) >= 30, "30 samples")
    assert seqs == list(range(30))
