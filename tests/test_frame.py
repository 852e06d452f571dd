"""KMG frame v1 (contract 1): encoding, decoding, CRC, units, wraps."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from bridge.frame import (
    DEAD_X,
    ClockUnwrapper,
    FrameParser,
    crc16_ccitt_false,
    encode_frame,
    field_to_raw,
    frame_size,
    frame_to_sample,
)

# LIS3MDL datasheet sensitivities, LSB per gauss, by fs_code (written out here on
# purpose rather than read from bridge.sensor_model, so a wrong table fails).
DATASHEET_LSB_PER_GAUSS = {0: 6842.0, 1: 3421.0, 2: 2281.0, 3: 1711.0}


def _raw(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(-32767, 32768, size=(n, 3)).astype(np.int16)


def test_crc_check_value() -> None:
    # the catalogue check value of CRC-16/CCITT-FALSE
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_crc_bitwise_reference() -> None:
    def slow(data: bytes) -> int:
        crc = 0xFFFF
        for byte in data:
            crc ^= byte << 8
            for _ in range(8):
                crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
                crc &= 0xFFFF
        return crc

    rng = np.random.default_rng(1)
    for size in (0, 1, 7, 100):
        data = rng.integers(0, 256, size).astype(np.uint8).tobytes()
        assert crc16_ccitt_false(data) == slow(data)


@pytest.mark.parametrize("n", [1, 2, 3, 16, 32])
def test_round_trip_stream_and_datagram(n: int) -> None:
    rng = np.random.default_rng(n)
    raw = _raw(rng, n)
    data = encode_frame(seq=123456, t_us=987654321, fs_code=2, raw=raw, flags=1)
    assert len(data) == frame_size(n) == 14 + 6 * n + 2
    assert data[:2] == b"\xa5\x5a" and data[2] == 1 and data[3] == n
    seq, t_us = struct.unpack_from("<II", data, 4)
    assert (seq, t_us) == (123456, 987654321)

    (frame,) = FrameParser().feed(data)
    assert (frame.seq, frame.t_us, frame.fs_code, frame.flags) == (123456, 987654321, 2, 1)
    np.testing.assert_array_equal(frame.raw, raw)

    dgram = FrameParser().feed_datagram(data)
    assert dgram is not None
    np.testing.assert_array_equal(dgram.raw, raw)


def test_sixteen_sensor_frame_is_112_bytes() -> None:
    assert frame_size(16) == 112


def test_encode_rejects_bad_frames() -> None:
    with pytest.raises(ValueError):
        encode_frame(0, 0, 0, np.zeros((0, 3), np.int16))
    with pytest.raises(ValueError):
        encode_frame(0, 0, 0, np.zeros((33, 3), np.int16))
    with pytest.raises(ValueError):
        encode_frame(0, 0, 4, np.zeros((2, 3), np.int16))


@pytest.mark.parametrize("fs_code", [0, 1, 2, 3])
def test_lsb_to_microtesla_per_full_scale(fs_code: int) -> None:
    lsb_per_gauss = DATASHEET_LSB_PER_GAUSS[fs_code]
    raw = np.array([[1000, -2000, 0], [32767, -32767, 1]], dtype=np.int16)
    (frame,) = FrameParser().feed(encode_frame(1, 0, fs_code, raw))
    expected = raw.astype(float) / lsb_per_gauss * 100.0  # 1 gauss = 100 uT
    np.testing.assert_allclose(frame.field_ut(), expected, rtol=1e-12)


def test_field_to_raw_inverts_within_half_lsb() -> None:
    rng = np.random.default_rng(7)
    for fs_code, lsb_per_gauss in DATASHEET_LSB_PER_GAUSS.items():
        ut_per_lsb = 100.0 / lsb_per_gauss
        field = rng.uniform(-300, 300, size=(16, 3))
        raw, clipped = field_to_raw(field, fs_code)
        assert not clipped
        (frame,) = FrameParser().feed(encode_frame(0, 0, fs_code, raw))
        np.testing.assert_allclose(frame.field_ut(), field, atol=ut_per_lsb / 2 + 1e-9)


def test_dead_sensor_is_nan() -> None:
    field = np.array([[10.0, 20.0, 30.0], [np.nan, np.nan, np.nan], [1.0, 2.0, 2.0]])
    raw, _ = field_to_raw(field, 0)
    assert raw[1, 0] == DEAD_X
    (frame,) = FrameParser().feed(encode_frame(5, 0, 0, raw))
    f = frame.field_ut()
    assert np.isnan(f[1]).all()
    assert not np.isnan(f[[0, 2]]).any()
    sample = frame_to_sample(frame, 0.0, ClockUnwrapper())
    assert np.isnan(sample.magnitudes[1])
    assert sample.magnitudes[2] == pytest.approx(3.0, abs=0.05)


def test_dead_marker_bytes_elsewhere_are_not_a_dead_sensor() -> None:
    # -32768 is the dead marker only on x; its two bytes may also occur on y or z, or
    # straddle two values: those rows are live readings
    raw = np.array(
        [[0x12, -32768, 5], [7, 8, -32768], [0x12, 0x180, 0], [DEAD_X, 0x101, 0x101]],
        dtype=np.int16,
    )
    for parse in (lambda b: FrameParser().feed(b)[0], FrameParser().feed_datagram):
        frame = parse(encode_frame(1, 0, 0, raw))
        assert frame is not None
        f = frame.field_ut()
        assert np.isnan(f[3]).all()
        assert not np.isnan(f[:3]).any()
        np.testing.assert_array_equal(frame.raw, raw)
        frame.raw[0, 0] = 1  # a frame owns its values (the parser's buffer moves on)


def test_saturation_flag() -> None:
    # +-4 gauss clips near 479 uT (32767 LSB); 600 uT is beyond it
    raw, clipped = field_to_raw(np.array([[600.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), 0)
    assert clipped
    assert raw[0, 0] == 32767
    flags = 1 if clipped else 0
    (frame,) = FrameParser().feed(encode_frame(0, 0, 0, raw, flags=flags))
    assert frame.saturated
    assert frame_to_sample(frame, 0.0, ClockUnwrapper()).saturated
    _, clipped_16 = field_to_raw(np.array([[600.0, 0.0, 0.0]]), 3)
    assert not clipped_16
    (plain,) = FrameParser().feed(encode_frame(0, 0, 3, np.zeros((1, 3), np.int16)))
    assert not plain.saturated


def _seq_stream(seqs: list[int]) -> bytes:
    raw = np.ones((2, 3), np.int16)
    return b"".join(encode_frame(s, 1000 * i, 0, raw) for i, s in enumerate(seqs))


def test_seq_wrap_is_not_a_drop() -> None:
    top = 2**32 - 1
    dec = FrameParser()
    frames = dec.feed(_seq_stream([top - 1, top, 0, 1]))
    assert [f.seq for f in frames] == [top - 1, top, 0, 1]
    assert dec.stats.dropped == 0
    assert dec.stats.seq_resets == 0


def test_seq_gap_across_wrap_counts_drops() -> None:
    top = 2**32 - 1
    dec = FrameParser()
    dec.feed(_seq_stream([top - 1, 1, 2, 6]))  # missing: top, 0, then 3, 4, 5
    assert dec.stats.dropped == 5


def test_seq_backwards_is_a_reset_not_a_drop() -> None:
    dec = FrameParser()
    dec.feed(_seq_stream([100, 101, 0, 1]))
    assert dec.stats.dropped == 0
    assert dec.stats.seq_resets == 1


def test_encode_wraps_seq_and_time() -> None:
    (frame,) = FrameParser().feed(encode_frame(2**32 + 5, 2**32 + 7, 0, np.zeros((1, 3))))
    assert (frame.seq, frame.t_us) == (5, 7)


def test_t_us_unwrap_is_monotonic() -> None:
    clock = ClockUnwrapper()
    ticks = [2**32 - 2000, 2**32 - 1000, 0, 1000, 2**32 - 500, 10]
    seconds = [clock.seconds(t) for t in ticks[:4]]
    assert np.all(np.diff(seconds) > 0)
    assert seconds[2] - seconds[1] == pytest.approx(1000e-6)
    # and through frames: 2**32 - 500 after 1000 is 1.5 ms back (modulo 2**32), not
    # 4295 s forward, so the 10 after it lands 510 us later, still in the first wrap
    dec = FrameParser()
    stream = b"".join(
        encode_frame(i, t, 0, np.zeros((1, 3), np.int16)) for i, t in enumerate(ticks)
    )
    clock2 = ClockUnwrapper()
    times = [frame_to_sample(f, 0.0, clock2).t_device for f in dec.feed(stream)]
    assert times[2] == pytest.approx(2**32 / 1e6)
    assert times[-1] == pytest.approx((2**32 + 10) / 1e6)


def test_bad_version_and_length_are_not_frames() -> None:
    good = encode_frame(1, 2, 0, np.zeros((2, 3), np.int16))
    wrong_version = good[:2] + b"\x02" + good[3:]
    dec = FrameParser()
    assert dec.feed(wrong_version) == []
    assert dec.feed_datagram(good[:-1]) is None
    assert dec.feed_datagram(good + b"\x00") is None
    assert dec.stats.bad_frames == 2
    assert dec.feed_datagram(good) is not None


def test_an_implausible_seq_jump_is_a_reset_not_millions_of_drops() -> None:
    from bridge.frame import MAX_BELIEVABLE_GAP, FrameParser, encode_frame

    raw = np.zeros((2, 3), dtype=np.int16)
    dec = FrameParser()
    stream = [encode_frame(s, 0, 3, raw) for s in (10, 11, 14, 11 + MAX_BELIEVABLE_GAP + 5, 0)]
    frames = dec.feed(b"".join(stream))
    assert [f.seq for f in frames] == [10, 11, 14, 11 + MAX_BELIEVABLE_GAP + 5, 0]
    assert dec.stats.dropped == 2  # only 12 and 13
    assert dec.stats.seq_resets == 2  # the far jump, then the jump back to 0


def test_an_implausible_clock_jump_is_counted_and_time_goes_on() -> None:
    """One CRC-valid frame with a huge forward t_us (issue 11 item 12): no 4276 s gap."""
    clock = ClockUnwrapper()
    host = 100.0
    times = []
    for i in range(10):
        times.append(clock.seconds(1_000_000 + i * 1000, host + i * 0.001))
    times.append(clock.seconds(1_000_000 + 4276 * 10**6, host + 0.0101))  # the forged frame
    for i in range(11, 20):
        times.append(clock.seconds(1_000_000 + i * 1000, host + i * 0.001))
    steps = np.diff(times)
    assert steps.max() < 0.1  # no gap of thousands of seconds, neither in nor after
    assert np.all(steps >= 0)  # the frame after the jump is not read as going back
    assert clock.jumps == 2  # into the stray time and back out of it
    assert times[-1] - times[0] == pytest.approx(0.019, abs=0.01)
    # a device restart (t_us back to 0) is a jump too: time goes on by the host's clock
    assert clock.seconds(0, host + 0.021) == pytest.approx(times[-1] + 0.002)


def test_a_real_pause_is_not_a_clock_jump() -> None:
    """The device clock may advance as far as the host clock did (plus slack)."""
    clock = ClockUnwrapper()
    clock.seconds(0, 10.0)
    assert clock.seconds(30 * 10**6, 40.0) == pytest.approx(30.0)
    assert clock.jumps == 0
    # without host times nothing is judged (offline use)
    free = ClockUnwrapper()
    free.seconds(0)
    assert free.seconds(2000 * 10**6) == pytest.approx(2000.0)
