"""KMG frame v1 (contract 1): encoder and a streaming, resynchronising parser.

Layout (little-endian): sync A5 5A, version, n, seq u32, t_us u32, fs_code, flags,
6n bytes of int16 x/y/z per sensor, CRC-16/CCITT-FALSE over bytes 2..13+6n.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

import numpy as np

from bridge.sensor_model import FRAME_SENSOR_MODEL
from bridge.values.sample import Sample

SYNC = b"\xa5\x5a"
VERSION = 1
HEADER_SIZE = 14
CRC_SIZE = 2
MAX_SENSORS = 32
DEAD_X = -32768
FLAG_SATURATED = 0x01
_HEADER = struct.Struct("<2sBBIIBB")
_CRC = struct.Struct("<H")
_U32 = 1 << 32
_DEAD_BYTES = np.array([DEAD_X], dtype=np.int16).tobytes()
_UT_PER_LSB = {fs.code: fs.ut_per_lsb for fs in FRAME_SENSOR_MODEL.full_scales}
MAX_BELIEVABLE_GAP = 1 << 20
"""A larger seq gap (17 min at 1 kHz) is counted as a reset, not as dropped frames."""


def crc16_ccitt_false(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    # binascii.crc_hqx is exactly this polynomial, unreflected; the init is passed in.
    return binascii.crc_hqx(data, 0xFFFF)


def frame_size(n_sensors: int) -> int:
    """Total bytes of a frame carrying `n_sensors` sensors."""
    return HEADER_SIZE + 6 * n_sensors + CRC_SIZE


@dataclass(slots=True)
class Frame:
    """One decoded frame with its raw LSB values (shape (n, 3), int16)."""

    seq: int
    t_us: int
    fs_code: int
    flags: int
    raw: np.ndarray

    @property
    def n_sensors(self) -> int:
        return int(self.raw.shape[0])

    @property
    def saturated(self) -> bool:
        return bool(self.flags & FLAG_SATURATED)

    def field_ut(self) -> np.ndarray:
        """Raw LSB -> microtesla per the full-scale code; dead sensors become NaN rows."""
        raw = self.raw
        scale = _UT_PER_LSB.get(self.fs_code)
        if scale is None:  # raises the model's error for an unknown code
            scale = FRAME_SENSOR_MODEL.full_scale(self.fs_code).ut_per_lsb
        # astype, then an in-place scalar multiply: numpy resolves int16 x float per call
        out = raw.astype(np.float64)
        out *= scale
        # a bytes search first (the marker's two bytes occur nowhere in most frames):
        # far cheaper per frame than the array comparison it spares
        if _DEAD_BYTES in raw.tobytes():
            dead = raw[:, 0] == DEAD_X
            if dead.any():
                out[dead] = np.nan
        return out


def encode_frame(seq: int, t_us: int, fs_code: int, raw: np.ndarray, flags: int = 0) -> bytes:
    """Encode one frame. `raw` is (n, 3) int16 LSB; seq and t_us wrap at 2**32."""
    arr = np.ascontiguousarray(raw, dtype="<i2").reshape(-1, 3)
    n = arr.shape[0]
    if not 1 <= n <= MAX_SENSORS:
        raise ValueError(f"a frame carries 1..{MAX_SENSORS} sensors, got {n}")
    FRAME_SENSOR_MODEL.full_scale(fs_code)  # validates the code
    body = _HEADER.pack(SYNC, VERSION, n, seq % _U32, t_us % _U32, fs_code, flags & 0xFF)
    body += arr.tobytes()
    return body + _CRC.pack(crc16_ccitt_false(body[2:]))


def field_to_raw(field_ut: np.ndarray, fs_code: int) -> tuple[np.ndarray, bool]:
    """Quantise a field (n, 3) in uT to int16 LSB, clipping at full scale.

    Returns the raw array and whether any axis clipped (the frame's saturation flag).
    NaN rows become the dead-sensor marker.
    """
    fs = FRAME_SENSOR_MODEL.full_scale(fs_code)
    f = np.asarray(field_ut, dtype=np.float64).reshape(-1, 3)
    dead = np.isnan(f).any(axis=1)
    lsb = np.rint(np.nan_to_num(f) / fs.ut_per_lsb)
    # -32768 is reserved for the dead marker on x, so clip symmetrically.
    clipped = np.abs(lsb) > 32767
    raw = np.clip(lsb, -32767, 32767).astype(np.int16)
    raw[dead] = (DEAD_X, 0, 0)
    return raw, bool(clipped[~dead].any())


@dataclass(slots=True)
class ParserStats:
    """Counters a stream parser keeps; all exact."""

    frames: int = 0
    bad_frames: int = 0
    dropped: int = 0
    garbage_bytes: int = 0
    seq_resets: int = 0


class FrameParser:
    """Streaming parser for byte streams (serial, TCP) and datagrams (UDP).

    Feed it any chunks; it returns every valid frame in order. After a bad CRC it
    skips only the sync bytes, so a truncated frame never swallows the next good one.
    `bad_frames` counts candidates (sync + plausible header) whose CRC failed;
    `dropped` counts frames missing from `seq` gaps.
    """

    def __init__(self, max_buffer: int = 1 << 16) -> None:
        self._buf = bytearray()
        self._max_buffer = max_buffer
        self._last_seq: int | None = None
        self.stats = ParserStats()

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Append bytes and return the frames completed by them."""
        self._buf += data
        frames: list[Frame] = []
        buf = self._buf
        pos = 0
        while True:
            i = buf.find(SYNC, pos)
            if i < 0:
                # keep a trailing 0xA5: it may be the first half of the next sync
                keep = 1 if buf.endswith(SYNC[:1]) else 0
                self.stats.garbage_bytes += len(buf) - pos - keep
                pos = len(buf) - keep
                break
            self.stats.garbage_bytes += i - pos
            pos = i
            if len(buf) - i < 4:
                break
            version, n = buf[i + 2], buf[i + 3]
            if version != VERSION or not 1 <= n <= MAX_SENSORS:
                self.stats.garbage_bytes += 1
                pos = i + 1
                continue
            size = frame_size(n)
            if len(buf) - i < size:
                if len(buf) - i > self._max_buffer:
                    pos = i + 1
                    continue
                break
            end = i + size
            (crc,) = _CRC.unpack_from(buf, end - CRC_SIZE)
            if crc != crc16_ccitt_false(memoryview(buf)[i + 2 : end - CRC_SIZE]):
                self.stats.bad_frames += 1
                pos = i + 1
                continue
            frames.append(self._parse(buf, i, n))
            pos = end
        del buf[:pos]
        return frames

    def feed_datagram(self, data: bytes) -> Frame | None:
        """Decode exactly one frame from a datagram; anything else is one bad frame."""
        n = data[3] if len(data) >= 4 else 0
        if (
            len(data) < HEADER_SIZE + CRC_SIZE
            or data[:2] != SYNC
            or data[2] != VERSION
            or not 1 <= n <= MAX_SENSORS
            or len(data) != frame_size(n)
            or _CRC.unpack_from(data, len(data) - 2)[0] != crc16_ccitt_false(data[2:-2])
        ):
            self.stats.bad_frames += 1
            return None
        return self._parse(data, 0, n)

    def _parse(self, buf: bytes | bytearray, i: int, n: int) -> Frame:
        _, _, _, seq, t_us, fs_code, flags = _HEADER.unpack_from(buf, i)
        start = i + HEADER_SIZE
        # a bytearray copy of the payload owns the array's memory (writable, and the
        # parser's buffer stays free to shrink); "<i2" is native int16 on x86 and ARM
        payload = bytearray(buf[start : start + 6 * n])
        raw = np.frombuffer(payload, dtype="<i2").astype(np.int16, copy=False)
        self._count_seq(seq)
        self.stats.frames += 1
        if fs_code > 3:
            fs_code = 3  # reserved codes: read as the widest range rather than drop data
        return Frame(seq, t_us, fs_code, flags, raw.reshape(n, 3))

    def _count_seq(self, seq: int) -> None:
        last = self._last_seq
        self._last_seq = seq
        if last is None:
            return
        gap = (seq - last - 1) % _U32
        if gap >= MAX_BELIEVABLE_GAP:
            # seq went backwards (the device restarted) or jumped implausibly far (a
            # chance-valid frame in garbage carries a random seq): a reset, not drops
            self.stats.seq_resets += 1
            return
        self.stats.dropped += gap


MAX_CLOCK_LEAD_S = 2.0
"""How far the device clock may run ahead of the host's between two frames (buffering,
jitter); a bigger forward step of `t_us` is a clock jump, not elapsed time."""

MAX_REORDER_S = 0.5
"""A step back of `t_us` up to this long is reordering (UDP); a longer one is a jump."""


class ClockUnwrapper:
    """Turns the wrapping uint32 microsecond device clock into monotonic seconds.

    With host times given, a forward step the host clock cannot account for (a
    chance-valid frame with a random `t_us`, a device restart read as a wrap) is an
    implausible jump, like an implausible seq jump; so is a step back longer than
    MAX_REORDER_S (a restart). A jump is counted in `jumps` and the time continues
    from the last value plus the host time that elapsed.
    """

    def __init__(self, max_lead_s: float = MAX_CLOCK_LEAD_S) -> None:
        self._last_us: int | None = None
        self._last_s = 0.0
        self._last_host: float | None = None
        self._max_lead_s = max_lead_s
        self.jumps = 0

    def seconds(self, t_us: int, t_host: float | None = None) -> float:
        """Device seconds for `t_us`; `t_host` (host seconds) enables the jump check."""
        last_us, last_host = self._last_us, self._last_host
        self._last_us, self._last_host = t_us, t_host
        if last_us is None:
            self._last_s = t_us / 1e6
            return self._last_s
        step = (t_us - last_us) % _U32
        # modulo 2**32 the nearer reading wins: a wrap is a small step forward
        forward = step / 1e6 if step < _U32 // 2 else -(_U32 - step) / 1e6
        if t_host is not None and last_host is not None:
            host_elapsed = max(0.0, t_host - last_host)
            too_far = forward > host_elapsed * 1.01 + self._max_lead_s
            # a small step back is UDP reordering; a big one a restart or a stray frame
            too_back = forward < -MAX_REORDER_S
            if too_far or too_back:
                self.jumps += 1
                forward = host_elapsed
        self._last_s += forward
        return self._last_s


def frame_to_sample(frame: Frame, t_host: float, clock: ClockUnwrapper) -> Sample:
    """Convert a decoded frame into a pipeline sample (uT, magnitudes)."""
    field = frame.field_ut()  # float64 (n, 3): from_field's conversions have nothing to do
    return Sample(
        frame.seq,
        clock.seconds(frame.t_us, t_host),
        t_host,
        field,
        np.sqrt(np.einsum("ij,ij->i", field, field)),
        frame.saturated,
    )
