"""LSL source: any Lab Streaming Layer stream of magnetometer vectors or magnitudes.

`lsl:NAME` resolves the stream called NAME, opens an inlet and yields one Sample
per LSL sample. Like the device sources it never raises for trouble: while the
stream is missing or lost the state is CONNECTING or DISCONNECTED with a reason,
and it resolves again with backoff (a restarted outlet counts as a reconnect).

Channels are read as vectors (3 per sensor, x y z) or magnitudes (1 per sensor):
`?kind=vector|magnitude`, or by default from the channel labels (`*_x`, `*_y`,
`*_z` mean vectors) and else from the count (a multiple of 3 means vectors). A
magnitude-only stream fills each sensor's x with |B| (y = z = 0): magnitudes stay
right, so magnitude decoders (QG) work; direction-based ones do not. Units come
from the channels' `unit` (T, mT, uT, nT, gauss), microtesla when absent.
`t_device` is the sample's LSL timestamp (the sender's clock, which for the
bridge's own outlet is the device clock mapping).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from bridge.lsl_scope import LslScope, load_pylsl
from bridge.sources.stream_source import READ_TIMEOUT_S, DeviceSource
from bridge.values.sample import Sample
from bridge.values.source_info import SourceState

RESOLVE_TIMEOUT_S = 1.0
SILENCE_LOST_S = 3.0
"""This much silence from a resolved stream is reported as lost (the hand holds);
samples arriving again count as a reconnect."""

MAX_CHUNK = 1024

_UNIT_TO_UT = {
    "": 1.0,
    "ut": 1.0,
    "µt": 1.0,
    "microtesla": 1.0,
    "microteslas": 1.0,
    "t": 1e6,
    "tesla": 1e6,
    "mt": 1e3,
    "millitesla": 1e3,
    "nt": 1e-3,
    "nanotesla": 1e-3,
    "g": 100.0,
    "gauss": 100.0,
    "mg": 0.1,
    "milligauss": 0.1,
}


@dataclass(frozen=True, slots=True)
class ChannelLayout:
    """How an inlet's channels become a (n, 3) field: vectors or magnitudes, scale to uT."""

    n_sensors: int
    vectors: bool
    scale: float
    positions_mm: list[list[float]] | None = None


def _channels(info: Any) -> list[tuple[str, str, Any]]:
    """(label, unit, element) of each described channel; empty when not described."""
    out = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        out.append((ch.child_value("label"), ch.child_value("unit"), ch))
        ch = ch.next_sibling("channel")
    return out


def channel_layout(info: Any, kind: str) -> ChannelLayout:
    """Decide vectors or magnitudes, the unit and the positions; ValueError when impossible."""
    count = int(info.channel_count())
    described = _channels(info)
    labels = [label.lower() for label, _, _ in described]
    if kind == "auto":
        by_label = len(labels) == count and all(lb[-2:] in ("_x", "_y", "_z") for lb in labels)
        vectors = by_label or (count % 3 == 0 and not any(lb.endswith("mag") for lb in labels))
    else:
        vectors = kind == "vector"
    if vectors and count % 3:
        raise ValueError(f"{count} channels cannot be x,y,z vectors (not a multiple of 3)")
    units = {unit.strip().lower() for _, unit, _ in described}
    if len(units) > 1:
        raise ValueError(f"channels mix units {sorted(units)}")
    unit = units.pop() if units else ""
    if unit not in _UNIT_TO_UT:
        raise ValueError(f"unit {unit!r} is not a magnetic field unit (T, mT, uT, nT, gauss)")
    n = count // 3 if vectors else count
    step = 3 if vectors else 1
    positions: list[list[float]] | None = []
    for i in range(n):
        loc = described[i * step][2].child("location") if len(described) == count else None
        try:
            xyz = [float(loc.child_value(a)) for a in "XYZ"] if loc is not None else None
        except ValueError:
            xyz = None
        if xyz is None or loc is None or loc.empty():
            positions = None
            break
        assert positions is not None
        positions.append(xyz)
    return ChannelLayout(n, vectors, _UNIT_TO_UT[unit], positions)


class LslSource(DeviceSource):
    """Samples from the LSL stream named `stream_name` (`lsl:NAME[?kind=..&scope=..]`).

    `status.extra` carries `stream` (name, type, channels, rate of the resolved
    stream) and `kind` (vector or magnitude).
    """

    def __init__(
        self, url: str, stream_name: str, kind: str = "auto", scope: LslScope = LslScope.MACHINE
    ) -> None:
        super().__init__(url, f"lsl {stream_name}")
        if kind not in ("auto", "vector", "magnitude"):
            raise ValueError(f"kind must be auto, vector or magnitude, got {kind!r}")
        self.stream_name = stream_name
        self.kind = kind
        self._lsl: ModuleType = load_pylsl(scope)
        self._seq = 0

    def _resolve(self, stop: threading.Event) -> Any | None:
        """The stream's inlet with its layout checked, or None (status and backoff done)."""
        lsl = self._lsl
        self._set(SourceState.CONNECTING, "looking for the stream")
        found = lsl.resolve_byprop("name", self.stream_name, 1, RESOLVE_TIMEOUT_S)
        if not found:
            self._lost(f"no LSL stream named '{self.stream_name}'", stop)
            return None
        # recover=False: a lost outlet raises LostError, so the loss shows in the status
        inlet = lsl.StreamInlet(found[0], max_buflen=30, recover=False)
        try:
            full = inlet.info(5.0)
            layout = channel_layout(full, self.kind)
            inlet.open_stream(5.0)
        except ValueError as exc:
            self._lost(f"stream '{self.stream_name}' is not magnetometer data: {exc}", stop)
            return None
        except Exception as exc:  # timeout or lost while opening
            self._lost(f"cannot open stream '{self.stream_name}': {exc}", stop)
            return None
        rate = float(full.nominal_srate())
        self.info.n_sensors = layout.n_sensors
        self.info.rate_hz = rate if rate > 0 else None
        if layout.positions_mm is not None:
            self.info.positions_mm = layout.positions_mm
        kmg = full.desc().child("kmg")
        if not kmg.empty() and kmg.child_value("layout"):
            self.info.layout = kmg.child_value("layout")
        self.status.extra.update(
            stream=f"{full.name()} ({full.type()}, {full.channel_count()} ch, {rate:g} Hz)",
            kind="vector" if layout.vectors else "magnitude",
            hosts=len(found),
        )
        self._layout = layout
        return inlet

    def _to_samples(self, values: np.ndarray, stamps: list[float], t_host: float) -> list[Sample]:
        lay = self._layout
        v = np.asarray(values, dtype=np.float64) * lay.scale
        if lay.vectors:
            fields = v.reshape(len(stamps), lay.n_sensors, 3)
        else:
            fields = np.zeros((len(stamps), lay.n_sensors, 3))
            fields[:, :, 0] = v
        out = []
        for row, ts in zip(fields, stamps, strict=True):
            out.append(Sample.from_field(self._seq, float(ts), t_host, row))
            self._seq += 1
        return out

    def samples(self, stop: threading.Event) -> Iterator[Sample]:
        """Yield samples until `stop`, resolving the stream again whenever it is lost."""
        ever_connected = False
        try:
            while not self._stopping(stop):
                inlet = self._resolve(stop)
                if inlet is None:
                    continue
                if ever_connected:
                    self.status.reconnects += 1
                ever_connected = True
                self._set(SourceState.CONNECTED, "connected, waiting for samples")
                why = yield from self._stream(inlet, stop)
                inlet.close_stream()
                if why is not None:
                    self._lost(why, stop)
        finally:
            self._set(SourceState.ENDED, "closed")

    def _stream(self, inlet: Any, stop: threading.Event) -> Generator[Sample, None, str | None]:
        """One inlet's life; returns why it was lost (None on stop)."""
        lsl = self._lsl
        last_data = time.monotonic()
        receiving = False
        while not self._stopping(stop):
            values: Any = []
            stamps: list[float] = []
            try:
                values, stamps = inlet.pull_chunk(READ_TIMEOUT_S, MAX_CHUNK)
                correction = inlet.time_correction(READ_TIMEOUT_S) if stamps else 0.0
            except lsl.util.LostError:
                return f"stream '{self.stream_name}' lost (outlet closed or unreachable)"
            except lsl.util.TimeoutError:  # no clock estimate yet
                correction = 0.0
            now = time.monotonic()
            if not stamps:
                silent = now - last_data
                if receiving and silent > SILENCE_LOST_S:
                    receiving = False
                    self._set(SourceState.DISCONNECTED, f"no samples for {silent:.0f} s")
                continue
            last_data = now
            if not receiving:
                receiving = True
                if self.status.state == SourceState.DISCONNECTED:
                    self.status.reconnects += 1  # samples again after a silence
                self._backoff.reset()
                self._set(SourceState.CONNECTED, self._receiving_detail())
            for sample in self._to_samples(values, [t + correction for t in stamps], now):
                sample.t_device = self._timebase.adjust(sample.t_device, now)
                self.status.frames += 1
                yield sample
        return None

    def close(self) -> None:
        """End samples() within ~0.2 s."""
        self._closed.set()
