"""An XDF 1.0 writer for KMG recordings: FileHeader, StreamHeader, Samples, ClockOffset,
StreamFooter chunks (https://github.com/sccn/xdf/wiki/Specifications).

Two streams: `KMG` (type KMG, double64: `b{i}_{x,y,z}` in microtesla, then `seq` and
`grade_true`, NaN when unknown) and `KMG-gesture` (type Markers, string, irregular:
one marker whenever the cued gesture changes, empty for no cue). Timestamps are
the device clock in seconds; ClockOffset chunks (host monotonic minus device time,
the smallest seen in each period) let XDF readers that synchronise clocks map them
to the host, as LabRecorder's do. Field values are rounded to 0.1 nT like the CSV,
so a recording written in both formats holds the same numbers.

Like the CSV writer, samples are written in whole chunks at least every
FLUSH_INTERVAL_S: a crash loses at most the last interval and the footers (pyxdf
reads such a file).
"""

from __future__ import annotations

import math
import os
import struct
import threading
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

import bridge
from bridge.recording import FLUSH_INTERVAL_S
from bridge.values.sample import Sample
from bridge.values.source_info import SourceInfo

KMG_STREAM_ID = 1
GESTURE_STREAM_ID = 2
TAG_FILE_HEADER = 1
TAG_STREAM_HEADER = 2
TAG_SAMPLES = 3
TAG_CLOCK_OFFSET = 4
TAG_STREAM_FOOTER = 6


def _varlen(n: int) -> bytes:
    """XDF variable-length integer: a byte saying 1, 4 or 8, then n little-endian."""
    if n < 256:
        return struct.pack("<BB", 1, n)
    if n < 2**32:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


def chunk(tag: int, content: bytes) -> bytes:
    """One chunk: varlen length (of tag + content), uint16 tag, content."""
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


def _xml(body: str) -> bytes:
    return ('<?xml version="1.0"?>' + body).encode("utf-8")


def _el(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def kmg_stream_header(info: SourceInfo, n_sensors: int, name: str) -> str:
    """The KMG stream's <info> XML, with channel labels, units and sensor positions."""
    positions = info.positions_mm or []
    channels = []
    for i in range(n_sensors):
        loc = ""
        if i < len(positions) and len(positions[i]) == 3:
            loc = (
                "<location>"
                + "".join(
                    _el(a, f"{float(v):.3f}") for a, v in zip("XYZ", positions[i], strict=True)
                )
                + "</location>"
            )
        for axis in "xyz":
            channels.append(
                "<channel>"
                + _el("label", f"b{i}_{axis}")
                + _el("unit", "microtesla")
                + _el("type", "MagneticField")
                + _el("sensor", i)
                + loc
                + "</channel>"
            )
    channels.append("<channel>" + _el("label", "seq") + "</channel>")
    channels.append("<channel>" + _el("label", "grade_true") + "</channel>")
    kmg = (
        _el("n_sensors", n_sensors)
        + _el("layout", info.layout or "")
        + _el("sensor_model", info.sensor_model)
        + _el(
            "full_scale_gauss",
            "" if info.full_scale_gauss is None else f"{info.full_scale_gauss:g}",
        )
        + _el("position_unit", "millimeters")
        + _el("source", info.source)
        + _el("software_version", bridge.__version__)
    )
    return (
        "<info>"
        + _el("name", name)
        + _el("type", "KMG")
        + _el("channel_count", 3 * n_sensors + 2)
        + _el("nominal_srate", info.rate_hz or 0)
        + _el("channel_format", "double64")
        + _el("source_id", f"fist-and-ball:{name}")
        + _el("created_at", _now())
        + "<desc><channels>"
        + "".join(channels)
        + "</channels><kmg>"
        + kmg
        + "</kmg></desc></info>"
    )


def gesture_stream_header(name: str) -> str:
    return (
        "<info>"
        + _el("name", f"{name}-gesture")
        + _el("type", "Markers")
        + _el("channel_count", 1)
        + _el("nominal_srate", 0)
        + _el("channel_format", "string")
        + _el("source_id", f"fist-and-ball:{name}-gesture")
        + _el("created_at", _now())
        + "<desc><kmg>"
        + _el("labels_for", name)
        + "</kmg></desc></info>"
    )


def numeric_samples(stream_id: int, stamps: list[float], rows: np.ndarray) -> bytes:
    """A Samples chunk of double64 rows, each with its 8-byte timestamp."""
    out = [struct.pack("<I", stream_id), _varlen(len(stamps))]
    data = np.ascontiguousarray(rows, dtype="<f8")
    for t, row in zip(stamps, data, strict=True):
        out.append(struct.pack("<Bd", 8, t))
        out.append(row.tobytes())
    return chunk(TAG_SAMPLES, b"".join(out))


def string_samples(stream_id: int, stamps: list[float], values: list[str]) -> bytes:
    out = [struct.pack("<I", stream_id), _varlen(len(stamps))]
    for t, v in zip(stamps, values, strict=True):
        raw = v.encode("utf-8")
        out.append(struct.pack("<Bd", 8, t) + _varlen(len(raw)) + raw)
    return chunk(TAG_SAMPLES, b"".join(out))


class XdfWriter:
    """Writes samples to an XDF file (see the module docstring for its streams).

    The same interface as `RecordingWriter` for the `record` command: `write`,
    `rows`, `skipped`, `measured_rate_hz`, `error`, `close`.
    """

    def __init__(
        self, path: str | os.PathLike[str], info: SourceInfo, n_sensors: int, name: str = "KMG"
    ) -> None:
        if not 1 <= n_sensors <= 32:
            raise ValueError(f"a recording holds 1..32 sensors, got {n_sensors}")
        self.path = Path(path)
        self.n_sensors = n_sensors
        self.name = name
        self.rows = 0
        self.skipped = 0
        self._t_first: float | None = None
        self._t_last = 0.0
        self._stamps: list[float] = []
        self._values: list[np.ndarray] = []
        self._marks: list[tuple[float, str]] = []
        self._gesture: str | None = None
        self._markers = 0
        self._min_offset: tuple[float, float] | None = None
        self._offsets: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._error: OSError | None = None
        self._closed = False
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        header = _xml("<info>" + _el("version", "1.0") + _el("datetime", _now()) + "</info>")
        self._file.write(b"XDF:" + chunk(TAG_FILE_HEADER, header))
        for sid, xml in (
            (KMG_STREAM_ID, kmg_stream_header(info, n_sensors, name)),
            (GESTURE_STREAM_ID, gesture_stream_header(name)),
        ):
            self._file.write(chunk(TAG_STREAM_HEADER, struct.pack("<I", sid) + _xml(xml)))
        self._file.flush()
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_loop, name=f"flush {self.path.name}", daemon=True
        )
        self._flusher.start()

    @property
    def error(self) -> OSError | None:
        return self._error

    @property
    def measured_rate_hz(self) -> float | None:
        if self.rows < 2 or self._t_first is None or self._t_last <= self._t_first:
            return None
        return (self.rows - 1) / (self._t_last - self._t_first)

    def write(self, sample: Sample) -> bool:
        """Queue one sample; False (counted in `skipped`) for another sensor count."""
        if sample.n_sensors != self.n_sensors:
            self.skipped += 1
            return False
        t = sample.t_device
        grade = sample.grade_true
        row = np.empty(3 * self.n_sensors + 2)
        row[:-2] = np.round(sample.field_ut.reshape(-1), 4)
        row[-2] = sample.seq
        row[-1] = math.nan if grade is None else grade
        offset = sample.t_host - t
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._closed:
                raise ValueError(f"{self.path}: recording already closed")
            self._stamps.append(t)
            self._values.append(row)
            gesture = sample.gesture or ""
            if gesture != self._gesture:
                self._gesture = gesture
                self._marks.append((t, gesture))
            if self._min_offset is None or offset < self._min_offset[1]:
                self._min_offset = (sample.t_host, offset)
        if self._t_first is None:
            self._t_first = t
        self._t_last = t
        self.rows += 1
        return True

    def _flush_locked(self) -> None:
        parts = []
        if self._stamps:
            parts.append(numeric_samples(KMG_STREAM_ID, self._stamps, np.vstack(self._values)))
        if self._marks:
            stamps, values = zip(*self._marks, strict=True)
            parts.append(string_samples(GESTURE_STREAM_ID, list(stamps), list(values)))
            self._markers += len(self._marks)
        if self._min_offset is not None:
            self._offsets.append(self._min_offset)
            for sid in (KMG_STREAM_ID, GESTURE_STREAM_ID):
                parts.append(chunk(TAG_CLOCK_OFFSET, struct.pack("<Idd", sid, *self._min_offset)))
        self._stamps, self._values, self._marks, self._min_offset = [], [], [], None
        if parts:
            try:
                self._file.write(b"".join(parts))
                self._file.flush()
            except OSError as exc:
                self._error = exc
                raise

    def flush(self) -> None:
        with self._lock:
            if self._error is not None:
                raise self._error
            if not self._closed:
                self._flush_locked()

    def _flush_loop(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_S):
            try:
                self.flush()
            except OSError:
                return

    def _footer(self, sid: int, first: float, last: float, count: int) -> bytes:
        offsets = "".join(
            "<offset>" + _el("time", repr(t)) + _el("value", repr(v)) + "</offset>"
            for t, v in self._offsets
        )
        xml = (
            "<info>"
            + _el("first_timestamp", repr(first))
            + _el("last_timestamp", repr(last))
            + _el("sample_count", count)
            + "<clock_offsets>"
            + offsets
            + "</clock_offsets></info>"
        )
        return chunk(TAG_STREAM_FOOTER, struct.pack("<I", sid) + _xml(xml))

    def close(self) -> None:
        """Write what is pending and the stream footers; sync and close."""
        if self._closed:
            return
        self._stop.set()
        self._flusher.join()
        with self._lock:
            try:
                if self._error is None:
                    self._flush_locked()
                    first = self._t_first if self._t_first is not None else 0.0
                    self._file.write(self._footer(KMG_STREAM_ID, first, self._t_last, self.rows))
                    self._file.write(
                        self._footer(GESTURE_STREAM_ID, first, self._t_last, self._markers)
                    )
                    self._file.flush()
                    os.fsync(self._file.fileno())
            finally:
                self._closed = True
                self._file.close()
