"""UDP source hardening: loopback by default, one pinned sender, foreign datagrams
counted and shown, clock jumps absorbed. Real sockets on loopback throughout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from bridge.frame import encode_frame
from bridge.sources import open_source
from bridge.sources import udp_source as udp_module
from bridge.sources.udp_source import UdpSource
from bridge.values.sample import Sample
from bridge.values.source_info import SourceState

RAW = np.array([[100, -200, 300], [5, 6, 7]], dtype=np.int16)
FORGED = np.array([[32767, 32767, 32767], [32767, 32767, 32767]], dtype=np.int16)
WAIT_S = 20.0  # generous: the machine is shared; nothing asserts on timing


class Drain:
    """Runs `samples()` on a thread and keeps what it yields."""

    def __init__(self, src: UdpSource) -> None:
        self.src = src
        self.stop = threading.Event()
        self.samples: list[Sample] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for s in self.src.samples(self.stop):
            self.samples.append(s)

    def __enter__(self) -> Drain:
        self.thread.start()
        assert self.src.wait_bound(WAIT_S)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive()

    def until(self, cond: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.01)

    @property
    def address(self) -> tuple[str, int]:
        assert self.src.local_address is not None
        return self.src.local_address


@pytest.fixture
def senders() -> Iterator[tuple[socket.socket, socket.socket]]:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    yield a, b
    a.close()
    b.close()


def _udp(url: str) -> UdpSource:
    src = open_source(url)
    assert isinstance(src, UdpSource)
    return src


def _non_loopback_ip() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        ip = str(s.getsockname()[0])
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


def test_empty_host_binds_loopback_only() -> None:
    with Drain(_udp("udp://:0")) as run:
        assert run.address[0] == "127.0.0.1"
        ip = _non_loopback_ip()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            if ip is not None:
                # from the network side the port is not there at all
                tx.sendto(encode_frame(0, 0, 3, FORGED), (ip, run.address[1]))
                time.sleep(0.3)
            tx.sendto(encode_frame(1, 1000, 3, RAW), run.address)
            run.until(lambda: len(run.samples) >= 1, "the loopback frame")
        time.sleep(0.2)
    assert [s.seq for s in run.samples] == [1]


def test_the_first_sender_is_pinned_and_a_second_one_is_an_error(
    senders: tuple[socket.socket, socket.socket],
) -> None:
    """128 forged frames interleaved with the device's: none is read, all are counted."""
    device, intruder = senders
    with Drain(_udp("udp://127.0.0.1:0")) as run:
        device.sendto(encode_frame(0, 0, 3, RAW), run.address)
        run.until(lambda: len(run.samples) == 1, "the device's first frame")
        for k in range(128):
            device.sendto(encode_frame(k + 1, (k + 1) * 1000, 3, RAW), run.address)
            # interleaved seq numbers, CRC-valid: without pinning these are resets
            intruder.sendto(encode_frame(900_000 + k, 5_000_000_000, 3, FORGED), run.address)
            time.sleep(0.0005)
        run.until(lambda: run.src.foreign >= 128 and len(run.samples) == 129, "all datagrams")
        st = run.src.status
        assert st.state == SourceState.CONNECTED
        device_port = device.getsockname()[1]
        intruder_port = intruder.getsockname()[1]
        assert st.extra["sender"] == f"127.0.0.1:{device_port}"
        assert st.extra["foreign_datagrams"] == 128
        assert st.extra["foreign_sender"] == f"127.0.0.1:{intruder_port}"
        assert "ignored 128 datagrams from" in st.extra["error"]
        assert "ignored 128 datagrams" in st.detail
    assert [s.seq for s in run.samples] == list(range(129))
    assert all(np.nanmax(np.abs(s.field_ut)) < 100 for s in run.samples)
    assert run.src.status.extra["seq_resets"] == 0
    assert run.src.status.dropped == 0


def test_from_option_names_the_sender(senders: tuple[socket.socket, socket.socket]) -> None:
    other, device = senders
    port = device.getsockname()[1]
    with Drain(_udp(f"udp://127.0.0.1:0?from=127.0.0.1:{port}")) as run:
        other.sendto(encode_frame(0, 0, 3, FORGED), run.address)  # first, but not named
        device.sendto(encode_frame(7, 7000, 3, RAW), run.address)
        run.until(lambda: len(run.samples) == 1 and run.src.foreign == 1, "both datagrams")
        assert f"only 127.0.0.1:{port} may send" in run.src.status.extra["error"]
    assert run.samples[0].seq == 7


def test_from_host_without_port_pins_the_first_port_of_that_host(
    senders: tuple[socket.socket, socket.socket],
) -> None:
    first, second = senders
    with Drain(_udp("udp://127.0.0.1:0?from=localhost")) as run:
        first.sendto(encode_frame(0, 0, 3, RAW), run.address)
        run.until(lambda: len(run.samples) == 1, "the first frame")
        second.sendto(encode_frame(1, 1000, 3, FORGED), run.address)
        run.until(lambda: run.src.foreign == 1, "the second sender counted")
    assert len(run.samples) == 1


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("udp://:9000?from=", "needs a value"),
        ("udp://:9000?from=:5", "must be HOST or HOST:PORT"),
        ("udp://:9000?from=host:x", "port must be a number"),
        ("udp://:9000?from=host/path", "must be HOST or HOST:PORT"),
        ("udp://:9000?sender=host", "unknown option 'sender'"),
    ],
)
def test_bad_from_option(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        open_source(url)


def test_the_pin_is_freed_after_silence_so_a_restarted_device_is_read(
    senders: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(udp_module, "SILENCE_LOST_S", 0.3)
    before, after_restart = senders  # a restarted device sends from a new port
    with Drain(_udp("udp://127.0.0.1:0")) as run:
        before.sendto(encode_frame(5, 5000, 3, RAW), run.address)
        run.until(lambda: len(run.samples) == 1, "the first frame")
        run.until(lambda: run.src.status.state == SourceState.DISCONNECTED, "silence noticed")
        assert run.src.status.extra["sender"] is None
        after_restart.sendto(encode_frame(0, 0, 3, RAW), run.address)
        run.until(lambda: len(run.samples) == 2, "the restarted device's frame")
        assert run.src.status.extra["sender"] == f"127.0.0.1:{after_restart.getsockname()[1]}"
        assert run.src.status.reconnects == 1


def test_foreign_traffic_does_not_keep_a_silent_device_connected(
    senders: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(udp_module, "SILENCE_LOST_S", 0.3)
    device, intruder = senders
    with Drain(_udp("udp://127.0.0.1:0")) as run:
        device.sendto(encode_frame(0, 0, 3, RAW), run.address)
        run.until(lambda: len(run.samples) == 1, "the first frame")
        deadline = time.monotonic() + WAIT_S
        while run.src.status.state != SourceState.DISCONNECTED:
            assert time.monotonic() < deadline, "silence of the device not noticed"
            intruder.sendto(b"noise", run.address)
            time.sleep(0.02)
    assert len(run.samples) == 1


def test_a_wild_device_clock_leaves_no_gap(senders: tuple[socket.socket, socket.socket]) -> None:
    """One CRC-valid frame with t_us far ahead: the timeline goes on, the jump is counted."""
    device, _ = senders
    with Drain(_udp("udp://127.0.0.1:0")) as run:
        for seq in range(40):
            t_us = 4_276_000_000 if seq == 20 else 1_000_000 + seq * 1000
            device.sendto(encode_frame(seq, t_us, 3, RAW), run.address)
            time.sleep(0.001)
        run.until(lambda: len(run.samples) == 40, "all frames")
    t = np.array([s.t_device for s in run.samples])
    assert np.diff(t).max() < 5.0  # was 4276 s
    assert t[-1] - t[0] < 10.0
    assert run.src.status.extra["clock_jumps"] >= 1
