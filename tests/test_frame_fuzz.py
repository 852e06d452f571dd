"""Resynchronisation of the stream decoder under garbage, truncation and bit flips.

The stream is built so the expected counts are exact: garbage never contains 0xA5
(the first sync byte), and a damaged frame is only used when none of its bytes
after the sync is 0xA5, so no false sync can appear inside it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.frame import FrameParser, encode_frame, frame_size

NO_SYNC_BYTES = bytes(b for b in range(256) if b != 0xA5)


@dataclass
class Injected:
    stream: bytearray = field(default_factory=bytearray)
    valid: list[tuple[int, int, bytes]] = field(default_factory=list)  # seq, t_us, raw bytes
    bad: int = 0
    dropped: int = 0


def _frame(rng: random.Random, seq: int, t_us: int) -> tuple[bytes, np.ndarray]:
    n = rng.randint(1, 32)
    raw = np.array(
        [[rng.randint(-32767, 32767) for _ in range(3)] for _ in range(n)], dtype=np.int16
    )
    return encode_frame(seq, t_us, rng.randint(0, 3), raw, flags=rng.randint(0, 1)), raw


def _clean_after_sync(data: bytes) -> bool:
    return 0xA5 not in data[1:]


def build_stream(seed: int, events: int = 800) -> Injected:
    """Valid frames mixed with garbage, stubs, truncated frames, bit flips and seq skips."""
    rng = random.Random(seed)
    out = Injected()
    seq = 2**32 - events // 2  # the run crosses the seq wrap
    t_us = 2**32 - 3_000_000  # and the clock wrap
    kinds = ["valid"] * 6 + ["garbage", "garbage", "truncated", "flipped", "skip", "stub"]
    pending_seq_loss = 0

    def emit_valid() -> None:
        nonlocal pending_seq_loss
        data, raw = _frame(rng, seq, t_us)
        out.stream += data
        out.valid.append((seq % 2**32, t_us % 2**32, raw.tobytes()))
        out.dropped += pending_seq_loss
        pending_seq_loss = 0

    for i in range(events):
        kind = "valid" if i in (0, events - 1) else rng.choice(kinds)
        if kind == "garbage":
            out.stream += bytes(rng.choice(NO_SYNC_BYTES) for _ in range(rng.randint(1, 60)))
            continue
        if kind == "skip":
            skipped = rng.randint(1, 4)
            seq += skipped
            pending_seq_loss += skipped
            continue
        if kind == "stub":
            # 1-3 bytes of a frame start, then a valid frame: never a bad frame
            out.stream += b"\xa5\x5a\x01"[: rng.randint(1, 3)]
            kind = "valid"
        if kind in ("truncated", "flipped"):
            data, _ = _frame(rng, seq, t_us)
            if kind == "truncated":
                # >= 4 bytes: a plausible header, so it counts as one bad frame
                damaged = data[: rng.randint(4, len(data) - 1)]
            else:
                pos = rng.randint(4, len(data) - 1)  # seq .. CRC: the length stays right
                buf = bytearray(data)
                buf[pos] ^= 1 << rng.randint(0, 7)
                damaged = bytes(buf)
            if _clean_after_sync(damaged):
                out.stream += damaged
                out.bad += 1
                pending_seq_loss += 1
                seq += 1
                t_us += 1000
                continue
            kind = "valid"  # a 0xA5 inside would make counts depend on chance
        emit_valid()
        seq += 1
        t_us += 1000
    # a truncated frame near the end waits for its full length: give it bytes to fail on
    out.stream += bytes(frame_size(32))
    return out


def _chunks(rng: random.Random, data: bytes) -> list[bytes]:
    pieces, i = [], 0
    while i < len(data):
        size = rng.choice([1, 2, 3, 7, 13, 64, 111, 112, 500, 4096])
        pieces.append(data[i : i + size])
        i += size
    return pieces


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_every_valid_frame_recovered_with_exact_counts(seed: int) -> None:
    inj = build_stream(seed)
    assert inj.bad > 20 and inj.dropped > inj.bad  # the run exercises what it claims to
    dec = FrameParser()
    got = []
    for chunk in _chunks(random.Random(seed + 100), bytes(inj.stream)):
        got.extend(dec.feed(chunk))
    assert [(f.seq, f.t_us, f.raw.tobytes()) for f in got] == inj.valid
    assert dec.stats.frames == len(inj.valid)
    assert dec.stats.bad_frames == inj.bad
    assert dec.stats.dropped == inj.dropped


def test_whole_stream_at_once_gives_the_same_result() -> None:
    inj = build_stream(9)
    dec = FrameParser()
    got = dec.feed(bytes(inj.stream))
    assert [(f.seq, f.t_us, f.raw.tobytes()) for f in got] == inj.valid
    assert (dec.stats.bad_frames, dec.stats.dropped) == (inj.bad, inj.dropped)


def test_truncated_frame_does_not_swallow_the_next_one() -> None:
    raw = np.arange(48, dtype=np.int16).reshape(16, 3)
    first = encode_frame(1, 10, 0, raw)
    second = encode_frame(2, 20, 0, raw)
    dec = FrameParser()
    frames = dec.feed(first[:50] + second)
    assert [f.seq for f in frames] == [2]
    assert dec.stats.bad_frames == 1


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(1, 200), max_size=40))
def test_arbitrary_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    dec = FrameParser()
    i = 0
    for size in [*cuts, len(data)]:
        for frame in dec.feed(data[i : i + size]):
            assert 1 <= frame.n_sensors <= 32
            assert frame.field_ut().shape == (frame.n_sensors, 3)
        i += size
    dec.feed_datagram(data)
    assert dec.stats.frames >= 0


@settings(max_examples=200, deadline=None)
@given(prefix=st.binary(max_size=300), seq=st.integers(0, 2**32 - 1))
def test_a_valid_frame_after_arbitrary_junk_is_found(prefix: bytes, seq: int) -> None:
    # whatever came before, a valid frame followed by enough padding is decoded:
    # junk can hold a false header whose claimed length runs into the frame, so
    # the frame is repeated after a pad long enough for any such false candidate
    raw = np.full((4, 3), 7, np.int16)
    frame = encode_frame(seq, 0, 1, raw)
    pad = bytes(frame_size(32))
    frames = FrameParser().feed(prefix + frame + pad + frame + pad)
    assert any(f.seq == seq and f.raw.tobytes() == raw.tobytes() for f in frames)
