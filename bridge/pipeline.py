"""The bridge pipeline: source -> decoder -> outputs, on a dedicated thread.

Data flows one way. A sample thread iterates `source.samples(stop)`, decodes each
sample and hands it to every output; a status thread builds a typed `PipelineStatus`
about once a second (also while the source is stalled or reconnecting, when no
samples arrive) and passes it to every output. Calls into outputs are serialised by
one lock, so an output never sees `on_sample` and `on_status` at the same time.

The pipeline only moves samples: it knows no clients and no hand (the hand is one of
its outputs). What clients may ask (gesture switch, hand commands) goes through
`bridge.control.BridgeControl`, which shares the decoder lock passed in here.
"""

from __future__ import annotations

import logging
import threading
import time

from bridge.decoders.base import Decoder
from bridge.outputs.base import Output
from bridge.realtime import (
    SHORT_TIME_SLICE_S,
    name_native_thread,
    request_short_time_slice,
    set_realtime_priority,
)
from bridge.sources.base import Source
from bridge.values.sample import Decoded
from bridge.values.status import DecoderStatus, OutputStatus, PipelineStatus, SourceReport

log = logging.getLogger("bridge.pipeline")


def _log_sparsely(count: int) -> bool:
    """Log the first few occurrences of a repeating error, then every 1000th."""
    return count <= 5 or count % 1000 == 0


class Pipeline:
    """Runs a source through a decoder into outputs; see the module docstring."""

    def __init__(
        self,
        source: Source,
        decoder: Decoder | None,
        outputs: list[Output],
        *,
        decoder_lock: threading.Lock | None = None,
        status_interval_s: float = 1.0,
        realtime_priority: int | None = None,
        time_slice_s: float | None = SHORT_TIME_SLICE_S,
    ) -> None:
        """`decoder_lock` is held around every `decode`; pass the one whose holder
        also reconfigures the decoder from another thread (`BridgeControl`).
        `time_slice_s`: the sample thread's scheduler slice (`request_short_time_slice`;
        None leaves the OS default)."""
        self.source = source
        self.decoder = decoder
        self.outputs = list(outputs)
        self.status_interval_s = status_interval_s
        self.realtime_priority = realtime_priority
        self.time_slice_s = time_slice_s
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._decoder_lock = decoder_lock if decoder_lock is not None else threading.Lock()
        self._outputs_lock = threading.Lock()
        self._sample_thread: threading.Thread | None = None
        self._status_thread: threading.Thread | None = None
        self._closed = False
        self.samples = 0
        self.decode_errors = 0
        self.last_decode_error: str | None = None
        self.output_errors: dict[str, int] = {}
        self.source_error: str | None = None
        self._n_sensors: int | None = None
        self._started_at = time.monotonic()
        self._rate_mark = (self._started_at, 0)
        self.rate_hz = 0.0
        self._last_status: PipelineStatus | None = None

    # ---- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Start the sample and status threads."""
        if self._sample_thread is not None:
            raise RuntimeError("pipeline already started")
        if self.decoder is not None:
            try:
                self.decoder.start_stream()
            except Exception:
                # the first job for the helper tries again; decoding never depends on it
                log.exception("decoder %s could not start its helpers", self.decoder.name)
        self._started_at = time.monotonic()
        self._rate_mark = (self._started_at, 0)
        self._sample_thread = threading.Thread(
            target=self._run_samples, name="bridge-pipeline", daemon=True
        )
        self._status_thread = threading.Thread(
            target=self._run_status, name="bridge-status", daemon=True
        )
        self._sample_thread.start()
        self._status_thread.start()

    def stop(self) -> None:
        """Ask the threads to stop (returns at once)."""
        self._stop.set()

    @property
    def finished(self) -> bool:
        """True once the source ended or the pipeline was stopped."""
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the source ends or the pipeline stops; True when it did."""
        return self._finished.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop, join the threads, close every output and the source. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        for t in (self._sample_thread, self._status_thread):
            if t is not None:
                t.join(timeout)
        if self._sample_thread is not None and self._sample_thread.is_alive():
            log.warning("the source did not stop within %.0f s; closing it anyway", timeout)
        for out in self.outputs:
            try:
                out.close()
            except Exception:
                log.exception("closing output %s failed", getattr(out, "name", out))
        try:
            self.source.close()
        except Exception:
            log.exception("closing the source failed")

    # ---- threads ------------------------------------------------------------------

    def _run_samples(self) -> None:
        decoder = self.decoder
        outputs = self.outputs
        decoder_lock, outputs_lock = self._decoder_lock, self._outputs_lock
        name_native_thread("bridge-pipeline")
        problem = set_realtime_priority(self.realtime_priority)
        if problem:
            log.warning("%s; running with normal priority", problem)
        problem = request_short_time_slice(self.time_slice_s)
        if problem:
            log.info("sample thread: %s", problem)
        try:
            for sample in self.source.samples(self._stop):
                self.samples += 1
                self._n_sensors = sample.n_sensors
                decoded: Decoded | None = None
                if decoder is not None:
                    try:
                        with decoder_lock:
                            decoded = decoder.decode(sample)
                    except Exception as exc:
                        self.decode_errors += 1
                        self.last_decode_error = str(exc) or type(exc).__name__
                        if _log_sparsely(self.decode_errors):
                            log.error(
                                "decoder %s failed on sample seq %d (%d errors so far): %r",
                                decoder.name,
                                sample.seq,
                                self.decode_errors,
                                exc,
                            )
                with outputs_lock:
                    for out in outputs:
                        try:
                            out.on_sample(sample, decoded)
                        except Exception:
                            self._output_failed(out, "on_sample")
                if self._stop.is_set():
                    break
        except Exception as exc:
            # Sources should report trouble through their status, not raise; if one
            # does anyway, end cleanly and say why.
            self.source_error = f"{type(exc).__name__}: {exc}"
            log.exception("the source failed; the pipeline stops")
        finally:
            self._finished.set()

    def _run_status(self) -> None:
        interval = self.status_interval_s
        name_native_thread("bridge-status")
        # One status at once: outputs (the hand's safety layer) learn the source state
        # and decoder readiness before the first interval has passed.
        self.emit_status()
        next_t = time.monotonic() + interval
        while True:
            done = self._finished.wait(max(0.0, next_t - time.monotonic()))
            next_t += interval
            now = time.monotonic()
            if next_t < now:  # we fell behind (suspended machine): don't burst
                next_t = now + interval
            self.emit_status()
            if done or self._stop.is_set():
                return

    def emit_status(self) -> PipelineStatus:
        """Build the status and hand it to every output; returns it."""
        status = self.build_status()
        with self._outputs_lock:
            for out in self.outputs:
                try:
                    out.on_status(status)
                except Exception:
                    self._output_failed(out, "on_status")
        return status

    def _output_failed(self, out: Output, where: str) -> None:
        name = getattr(out, "name", type(out).__name__)
        n = self.output_errors.get(name, 0) + 1
        self.output_errors[name] = n
        if _log_sparsely(n):
            log.exception("output %s failed in %s (%d errors so far)", name, where, n)

    # ---- status -------------------------------------------------------------------

    def build_status(self) -> PipelineStatus:
        """The status (docs/bridge.md, "Status fields"), with each output's own part."""
        now = time.monotonic()
        t0, n0 = self._rate_mark
        n = self.samples
        if now - t0 > 1e-3:
            self.rate_hz = (n - n0) / (now - t0)
            self._rate_mark = (now, n)
        decoder = self.decoder
        outputs = self._output_statuses()
        status = PipelineStatus(
            t=round(now, 6),
            uptime_s=round(now - self._started_at, 3),
            source=SourceReport.of(self.source.url, self.source.status, self.source_error),
            rate_hz=round(self.rate_hz, 2),
            samples=n,
            n_sensors=self._n_sensors,
            decoder=DecoderStatus(
                name=decoder.name if decoder is not None else None,
                ready=bool(decoder is not None and decoder.ready),
                errors=self.decode_errors,
                last_error=self.last_decode_error,
            ),
            # after the outputs reported: a failing `status()` is counted in this one
            output_errors=dict(self.output_errors),
            outputs=outputs,
        )
        self._last_status = status
        return status

    def _output_statuses(self) -> tuple[OutputStatus, ...]:
        reports: list[OutputStatus] = []
        for out in self.outputs:
            try:
                report = out.status()
            except Exception:
                self._output_failed(out, "status")
                continue
            if report is not None:
                reports.append(report)
        return tuple(reports)

    @property
    def last_status(self) -> PipelineStatus | None:
        """The most recent status (None before the first one)."""
        return self._last_status
