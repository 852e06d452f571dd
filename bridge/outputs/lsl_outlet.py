"""LSL output: the KMG field, the magnitudes and the decoded grades as LSL streams.

Three outlets, made at the first sample once the sensor count and rate are known:

| stream | type | channels |
|---|---|---|
| `NAME-KMG` | `KMG` | 3 x n, `b{i}_{x,y,z}` in microtesla (double64), positions in the metadata |
| `NAME-magnitude` | `KMG-magnitude` | n, `b{i}_mag` in microtesla (double64) |
| `NAME-grade` | `KMG-grade` | `grade`, `level`, `confidence` (float32); only while a decoder runs |

Every sample is stamped with its device time mapped onto LSL's clock
(`DeviceClockMap`), so the streams keep the device's spacing, not the host's
arrival jitter. Pushing is a few microseconds per stream and never blocks: liblsl
buffers and sends on its own threads (docs/lsl.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from bridge.lsl_scope import LslScope, load_pylsl
from bridge.outputs.base import Output
from bridge.values.sample import Decoded, Sample
from bridge.values.source_info import SourceInfo
from bridge.values.status import LslStatus

RATE_PROBE_S = 1.0
"""Without a known nominal rate (serial, TCP, UDP), this much device time is measured
first; the samples are held and pushed once the outlets exist."""

REANCHOR_JUMP_S = 1.0
"""A device-time discontinuity bigger than this re-anchors the clock map (counted)."""

MAX_BUFFERED_S = 60
"""Seconds of data liblsl keeps for a slow consumer before dropping the oldest."""

GRADE_CHANNELS = ("grade", "level", "confidence")


@dataclass(frozen=True, slots=True)
class LslOutletConfig:
    """Stream names are `{name}-KMG`, `{name}-magnitude`, `{name}-grade`."""

    name: str = "FistAndBall"
    scope: LslScope = LslScope.MACHINE


class DeviceClockMap:
    """Device seconds -> LSL seconds: `t_lsl = t_device + offset`.

    The offset is fixed at the first sample (its host arrival time on LSL's clock
    minus its device time), so LSL timestamps keep the device's own spacing. A jump
    in device time larger than REANCHOR_JUMP_S (a device restart that the source
    did not rebase) fixes a new offset and is counted in `reanchors`.
    `lag_s` is the smallest host-minus-mapped time seen since the last `take_lag()`:
    transport latency, plus any drift between the device and host clocks.
    """

    def __init__(self, host_to_lsl: float) -> None:
        self.host_to_lsl = host_to_lsl
        self.offset: float | None = None
        self.reanchors = 0
        self._last_device: float | None = None
        self._min_lag: float | None = None

    def map(self, t_device: float, t_host: float) -> float:
        host_lsl = t_host + self.host_to_lsl
        last = self._last_device
        if self.offset is None or (last is not None and abs(t_device - last) > REANCHOR_JUMP_S):
            if self.offset is not None:
                self.reanchors += 1
            self.offset = host_lsl - t_device
        self._last_device = t_device
        t = t_device + self.offset
        lag = host_lsl - t
        if self._min_lag is None or lag < self._min_lag:
            self._min_lag = lag
        return t

    def take_lag(self) -> float | None:
        lag, self._min_lag = self._min_lag, None
        return lag


def _rounded_rate(rate: float) -> float:
    """A measured rate snapped to the integer it is within 1% of (devices run at 100, 1000 Hz)."""
    near = round(rate)
    return float(near) if near > 0 and abs(rate - near) <= 0.01 * near else round(rate, 3)


class LslOutlet(Output):
    """Publishes every sample (and decoded grade) on three LSL outlets."""

    name = "lsl"

    def __init__(self, info: SourceInfo, config: LslOutletConfig | None = None) -> None:
        self.info = info
        self.config = config or LslOutletConfig()
        self._lsl: ModuleType = load_pylsl(self.config.scope)
        self.clock = DeviceClockMap(self._lsl.local_clock() - time.monotonic())
        self._held: list[tuple[Sample, Decoded | None]] = []
        self._outlets: dict[str, Any] | None = None
        self.rate_hz: float | None = None
        self.n_sensors: int | None = None
        self.pushed = 0
        self.skipped = 0
        self.error: str | None = None
        self._lag_ms: float | None = None

    # ---- hot path --------------------------------------------------------------------

    def on_sample(self, sample: Sample, decoded: Decoded | None) -> None:
        if self.error is not None:
            return
        t = self.clock.map(sample.t_device, sample.t_host)
        if self._outlets is None:
            self._held.append((sample, decoded))
            if not self._ready_to_open():
                return
            try:
                self._open(sample.n_sensors)
            except Exception as exc:  # liblsl refused (ports, memory): say so, keep the bridge
                self.error = f"LSL outlets could not be made: {exc}"
                self._held.clear()
                return
            held, self._held = self._held, []
            for s, d in held[:-1]:
                self._push(s, d, s.t_device + (self.clock.offset or 0.0))
        self._push(sample, decoded, t)

    def _push(self, sample: Sample, decoded: Decoded | None, t: float) -> None:
        outlets = self._outlets
        assert outlets is not None
        if sample.n_sensors != self.n_sensors:
            self.skipped += 1  # channel counts are fixed for an outlet's life
            return
        outlets["field"].push_sample(sample.field_ut.reshape(-1).tolist(), t)
        outlets["magnitude"].push_sample(sample.magnitudes.tolist(), t)
        if decoded is not None:
            outlets["grade"].push_sample(
                [float(decoded.grade), decoded.level, decoded.confidence], t
            )
        self.pushed += 1

    # ---- making the outlets ----------------------------------------------------------

    def _ready_to_open(self) -> bool:
        if self.info.rate_hz:
            self.rate_hz = float(self.info.rate_hz)
            return True
        first, last = self._held[0][0], self._held[-1][0]
        span = last.t_device - first.t_device
        if span < RATE_PROBE_S or len(self._held) < 2:
            return False
        self.rate_hz = _rounded_rate((len(self._held) - 1) / span)
        return True

    def _open(self, n: int) -> None:
        assert self.rate_hz is not None
        lsl = self._lsl
        base = self.config.name
        self.n_sensors = n
        field_labels = [f"b{i}_{axis}" for i in range(n) for axis in "xyz"]
        mag_labels = [f"b{i}_mag" for i in range(n)]
        specs = {
            "field": (f"{base}-KMG", "KMG", field_labels, "double64", "microtesla"),
            "magnitude": (
                f"{base}-magnitude",
                "KMG-magnitude",
                mag_labels,
                "double64",
                "microtesla",
            ),
            "grade": (f"{base}-grade", "KMG-grade", list(GRADE_CHANNELS), "float32", ""),
        }
        outlets: dict[str, Any] = {}
        for key, (name, kind, labels, fmt, unit) in specs.items():
            info = lsl.StreamInfo(
                name, kind, len(labels), self.rate_hz, fmt, f"fist-and-ball:{name}"
            )
            self._describe(info.desc(), labels, unit)
            max_buffered = max(1, int(MAX_BUFFERED_S))
            outlets[key] = lsl.StreamOutlet(info, 0, max_buffered)
        self._outlets = outlets

    def _describe(self, desc: Any, labels: list[str], unit: str) -> None:
        """Channel labels, units and sensor positions (XDF meta-data conventions), and
        the KMG details (layout, sensor model, clock mapping)."""
        positions = self.info.positions_mm or []
        channels = desc.append_child("channels")
        for label in labels:
            ch = channels.append_child("channel")
            ch.append_child_value("label", label)
            if unit:
                ch.append_child_value("unit", unit)
                ch.append_child_value("type", "MagneticField")
            sensor = int(label[1:].split("_")[0]) if label.startswith("b") else None
            if sensor is not None:
                ch.append_child_value("sensor", str(sensor))
                if sensor < len(positions) and len(positions[sensor]) == 3:
                    loc = ch.append_child("location")
                    for axis, v in zip("XYZ", positions[sensor], strict=True):
                        loc.append_child_value(axis, f"{float(v):.3f}")
        acq = desc.append_child("acquisition")
        acq.append_child_value("manufacturer", "Fist & Ball")
        acq.append_child_value("model", "KMG bridge")
        kmg = desc.append_child("kmg")
        kmg.append_child_value("n_sensors", str(self.n_sensors))
        kmg.append_child_value("layout", str(self.info.layout or ""))
        kmg.append_child_value("sensor_model", str(self.info.sensor_model))
        if self.info.full_scale_gauss is not None:
            kmg.append_child_value("full_scale_gauss", f"{self.info.full_scale_gauss:g}")
        kmg.append_child_value("position_unit", "millimeters")
        kmg.append_child_value("source", self.info.source)
        clock = kmg.append_child("clock")
        clock.append_child_value("mapping", "t_lsl = t_device + device_clock_offset_s")
        clock.append_child_value("device_clock_offset_s", repr(self.clock.offset))

    # ---- status and shutdown ---------------------------------------------------------

    def stream_names(self) -> tuple[str, ...]:
        base = self.config.name
        return (f"{base}-KMG", f"{base}-magnitude", f"{base}-grade")

    def on_status(self, status: Any) -> None:
        lag = self.clock.take_lag()
        self._lag_ms = None if lag is None else round(lag * 1000.0, 3)

    def status(self) -> LslStatus:
        """Streams, whether anyone reads them, samples pushed, the clock mapping."""
        outlets = self._outlets
        consumers = outlets is not None and any(o.have_consumers() for o in outlets.values())
        return LslStatus(
            streams=self.stream_names() if outlets else (),
            scope=str(self.config.scope),
            rate_hz=self.rate_hz,
            consumers=consumers,
            pushed=self.pushed,
            skipped=self.skipped,
            clock_offset_s=self.clock.offset,
            clock_reanchors=self.clock.reanchors,
            lag_ms=self._lag_ms,
            error=self.error,
        )

    def close(self) -> None:
        # dropping the outlets unpublishes the streams (liblsl closes them)
        self._outlets = None
