"""End to end over a real pty: 16 sensors at 1000 frames/s for 10 s, serial -> recording.

A writer thread plays the device on the pty master; the `serial:` source reads the
slave through pyserial and feeds a RecordingWriter; the recording read back must
hold every frame, with values within one LSB of what was sent.
"""

from __future__ import annotations

import os
import threading
import time
import tty
from pathlib import Path

import numpy as np

from bridge.frame import DEAD_X, encode_frame
from bridge.recording import RecordingWriter, read_recording
from bridge.sources import open_source
from bridge.values.source_info import SourceState

N_SENSORS = 16
RATE_HZ = 1000
SECONDS = 10
N_FRAMES = RATE_HZ * SECONDS
FS_CODE = 1  # +-8 gauss
UT_PER_LSB = 100.0 / 3421.0  # datasheet sensitivity at +-8 gauss


def _device_frames() -> tuple[np.ndarray, list[bytes]]:
    rng = np.random.default_rng(2024)
    raw = rng.integers(-20000, 20000, size=(N_FRAMES, N_SENSORS, 3)).astype(np.int16)
    raw[::97, 5] = (DEAD_X, 0, 0)  # sensor 5 drops out now and then
    frames = [encode_frame(i, i * 1000, FS_CODE, raw[i]) for i in range(N_FRAMES)]
    return raw, frames


def _play(master: int, frames: list[bytes], stop: threading.Event) -> None:
    """Write 10 frames every 10 ms (1000 frames/s); a full pty buffer blocks, never drops."""
    start = time.monotonic()
    for k in range(0, len(frames), 10):
        if stop.is_set():
            return
        os.write(master, b"".join(frames[k : k + 10]))
        delay = start + (k + 10) / RATE_HZ - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def test_serial_pty_to_recording_every_frame(tmp_path: Path) -> None:
    raw, frames = _device_frames()
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    os.close(slave)
    source = open_source(f"serial:{port}?baud=921600")
    out = tmp_path / "pty.csv"
    stop = threading.Event()
    watchdog = threading.Timer(120.0, stop.set)  # a hung run fails instead of hanging
    errors: list[BaseException] = []
    written = 0

    def consume() -> None:
        nonlocal written
        try:
            writer: RecordingWriter | None = None
            for sample in source.samples(stop):
                if writer is None:
                    writer = RecordingWriter(out, source.info, sample.n_sensors)
                writer.write(sample)
                written += 1
                if written == N_FRAMES:
                    break
            if writer is not None:
                writer.close()
        except BaseException as exc:
            errors.append(exc)

    consumer = threading.Thread(target=consume)
    player = threading.Thread(target=_play, args=(master, frames, stop))
    watchdog.start()
    consumer.start()
    try:
        while source.status.state != SourceState.CONNECTED and not stop.is_set():
            time.sleep(0.01)
        player.start()
        consumer.join(130)
    finally:
        stop.set()
        watchdog.cancel()
        if player.is_alive():
            player.join(5)
        consumer.join(5)
        os.close(master)
    assert not errors, errors
    assert written == N_FRAMES, f"{written} frames; status {source.status}"
    assert source.status.bad_frames == 0 and source.status.dropped == 0

    rec = read_recording(out)
    assert len(rec) == N_FRAMES
    np.testing.assert_array_equal(rec.seq, np.arange(N_FRAMES))
    np.testing.assert_allclose(rec.t_s, np.arange(N_FRAMES) / 1000.0, atol=1e-6)
    expected = raw.astype(np.float64) * UT_PER_LSB
    dead = raw[:, :, 0] == DEAD_X
    expected[dead] = np.nan
    np.testing.assert_allclose(rec.field_ut, expected, rtol=0, atol=UT_PER_LSB, equal_nan=True)
    assert np.isnan(rec.field_ut[dead]).all() and dead.sum() == len(range(0, N_FRAMES, 97))
    assert rec.meta["n_sensors"] == N_SENSORS and rec.meta["full_scale_gauss"] == 8.0
    assert rec.meta["source"] == f"serial:{port}?baud=921600"
