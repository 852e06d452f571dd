"""The bridge's status as typed, frozen values.

The pipeline builds a `PipelineStatus` about once a second and hands the same object
to every output: the hand's safety rule reads `status.source.state` and
`status.decoder.ready`, the live view draws it, and only the websocket server turns
it into JSON (`bridge.server.protocol.status_fields`, the `status` message of
docs/bridge.md). Each output reports its own part through `Output.status()` as one of
the `OutputStatus` values below; the pipeline collects them into `outputs`.

Values only: nothing here imports the rest of the bridge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from bridge.values.source_info import SourceState, SourceStatus

FAILED = "failed"
"""`SourceReport.state` when the source raised instead of reporting trouble: the
pipeline stopped, `detail` says why."""


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy (one level deep: the values are JSON-ready scalars or records
    built fresh for this status, shared with nobody)."""
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class SourceReport:
    """One status-time snapshot of the source: its URL and health counters.

    `state` is a `SourceState` value (`connecting`, `connected`, `disconnected`,
    `ended`) or `FAILED`; anything but `connected` makes the hand hold.
    """

    url: str = ""
    state: str = SourceState.CONNECTING.value
    detail: str = ""
    frames: int = 0
    bad_frames: int = 0
    dropped: int = 0
    reconnects: int = 0
    extra: Mapping[str, Any] = field(default_factory=lambda: _frozen(None))

    @classmethod
    def of(cls, url: str, status: SourceStatus, failure: str | None = None) -> SourceReport:
        """Snapshot a source's live `status`; a `failure` (the source raised) overrides
        its state and detail."""
        return cls(
            url=url,
            state=FAILED if failure is not None else SourceState(status.state).value,
            detail=failure if failure is not None else status.detail,
            frames=status.frames,
            bad_frames=status.bad_frames,
            dropped=status.dropped,
            reconnects=status.reconnects,
            extra=_frozen(status.extra),
        )

    @property
    def connected(self) -> bool:
        return self.state == SourceState.CONNECTED.value


@dataclass(frozen=True, slots=True)
class DecoderStatus:
    """The grade decoder: name (None without one), readiness and per-sample failures."""

    name: str | None = None
    ready: bool = False
    errors: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class OutputStatus:
    """Base of what an output reports in the status (`Output.status()`)."""


@dataclass(frozen=True, slots=True)
class HandStatus(OutputStatus):
    """The hand output: safety state and link, plus its full JSON-ready `record`
    (pose, target, transitions, events, config ...; docs/hand.md) for the `hand` field."""

    state: str
    enabled: bool
    connected: bool
    reason: str = ""
    record: Mapping[str, Any] = field(default_factory=lambda: _frozen(None))

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> HandStatus:
        """From the hand's state record (`HandOutput.state_dict()`)."""
        return cls(
            state=str(record.get("state", "")),
            enabled=bool(record.get("enabled", False)),
            connected=bool(record.get("connected", False)),
            reason=str(record.get("reason", "")),
            record=_frozen(record),
        )

    @property
    def moves_hand(self) -> bool:
        """True unless the hand is disabled or stopped (holding and opening count)."""
        return self.enabled or self.state not in ("", "disabled", "estop")


@dataclass(frozen=True, slots=True)
class RecorderStatus(OutputStatus):
    """The `--record` output: file, rows written, odd samples skipped, write error."""

    path: str
    rows: int = 0
    skipped: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LslStatus(OutputStatus):
    """The `--lsl` output (docs/lsl.md): its streams (empty until the first sample),
    whether any inlet reads them, samples pushed and the device-clock mapping."""

    streams: tuple[str, ...] = ()
    scope: str = "machine"
    rate_hz: float | None = None
    consumers: bool = False
    pushed: int = 0
    skipped: int = 0
    clock_offset_s: float | None = None
    clock_reanchors: int = 0
    lag_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LatencyReport:
    """Bridge-added latency percentiles in ms (None when no grade was sent)."""

    n: int = 0
    p50: float | None = None
    p99: float | None = None
    max: float | None = None
    hist: tuple[tuple[float, int], ...] = ()
    """Whole run only: cumulative histogram, (bucket upper bound ms, count) per
    non-empty bucket (docs/bridge.md, "Status fields")."""


@dataclass(frozen=True, slots=True)
class SlowClient:
    """One of the few clients that dropped the most messages (full status only)."""

    id: int
    peer: str
    kmg: bool
    queued: int
    dropped: int
    dropped_kmg: int
    dropped_grade: int


@dataclass(frozen=True, slots=True)
class ServerStatus(OutputStatus):
    """The websocket server: aggregate client counters (size independent of the
    number of clients) and latency."""

    clients: int = 0
    clients_kmg: int = 0
    max_clients: int = 0
    clients_refused_full: int = 0
    clients_rejected: int = 0
    clients_dropping: int = 0
    dropped_kmg_total: int = 0
    dropped_grade_total: int = 0
    slow_clients: tuple[SlowClient, ...] = ()
    clients_dropped_slow: int = 0
    clients_dropped_buffer: int = 0
    token_lockouts: int = 0
    batching: bool = False
    """Grades are delivered in batches now (the loop is under pressure)."""
    batching_spells: int = 0
    """How often pressure has turned batching on since start."""
    latency: LatencyReport = LatencyReport()
    latency_total: LatencyReport = LatencyReport()


_O = TypeVar("_O", bound=OutputStatus)


@dataclass(frozen=True, slots=True)
class PipelineStatus:
    """Everything the bridge reports about once a second (docs/bridge.md, "Status fields").

    `t` and `uptime_s` are bridge-clock seconds; `rate_hz` is the sample rate measured
    since the previous status; `outputs` holds what each output reported.
    """

    t: float = 0.0
    uptime_s: float = 0.0
    source: SourceReport = SourceReport()
    rate_hz: float = 0.0
    samples: int = 0
    n_sensors: int | None = None
    decoder: DecoderStatus = DecoderStatus()
    output_errors: Mapping[str, int] = field(default_factory=lambda: _frozen(None))
    outputs: tuple[OutputStatus, ...] = ()

    def output(self, kind: type[_O]) -> _O | None:
        """The first output status of type `kind`, or None."""
        return next((o for o in self.outputs if isinstance(o, kind)), None)

    @property
    def hand(self) -> HandStatus | None:
        return self.output(HandStatus)

    @property
    def server(self) -> ServerStatus | None:
        return self.output(ServerStatus)

    @property
    def recorder(self) -> RecorderStatus | None:
        return self.output(RecorderStatus)

    @property
    def lsl(self) -> LslStatus | None:
        return self.output(LslStatus)


@dataclass(frozen=True, slots=True)
class HelloInfo:
    """What the `hello` message tells a client about this bridge."""

    source: str = ""
    n_sensors: int | None = None
    rate_hz: float | None = None
    decoder: str | None = None
    gestures: tuple[str, ...] = ()
    layout: str | None = None
    positions_mm: tuple[tuple[float, ...], ...] | None = None
