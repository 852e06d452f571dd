"""The bridge pipeline: source -> decoder -> outputs, on a dedicated thread.

Data flows one way. A sample thread iterates `source.samples(stop)`, decodes each
sample and hands it to every output; a status thread builds a status dict about once
a second (also while the source is stalled or reconnecting, when no samples arrive)
and passes it to every output. Calls into outputs are serialised by one lock, so an
output never sees `on_sample` and `on_status` at the same time.

The websocket server reaches the pipeline only through the small control API here
(`hello_info`, `set_gesture`, `hand_command`, `hand_state`): user commands, not data.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from bridge.decoders.base import Decoder
from bridge.outputs.base import Output
from bridge.realtime import set_realtime_priority
from bridge.sources.base import Source
from bridge.values.sample import Decoded

log = logging.getLogger("bridge.pipeline")


class HandController(Protocol):
    """The hand output's command interface (bridge.outputs.hand_output.HandOutput).

    `command` is called from the server's threads, concurrently with `on_sample` on
    the pipeline thread: implementations must be thread-safe. Actions: `enable` (needs
    `authorized`), `disable`, `stop` and `release` (any client may send these three).
    """

    def command(self, action: str, authorized: bool, who: str = "client") -> tuple[bool, str]: ...

    def state_dict(self) -> dict[str, Any]: ...


def _log_sparsely(count: int) -> bool:
    """Log the first few occurrences of a repeating error, then every 1000th."""
    return count <= 5 or count % 1000 == 0


def _rounded_positions(positions: Any) -> list[list[float]] | None:
    """Sensor positions for `hello`, rounded to 0.01 mm; None when unknown or malformed."""
    try:
        return [[round(float(v), 2) for v in p] for p in positions] if positions else None
    except (TypeError, ValueError):
        return None


class Pipeline:
    """Runs a source through a decoder into outputs; see the module docstring."""

    def __init__(
        self,
        source: Source,
        decoder: Decoder | None,
        outputs: list[Output],
        *,
        hand: HandController | None = None,
        status_interval_s: float = 1.0,
        realtime_priority: int | None = None,
    ) -> None:
        self.source = source
        self.decoder = decoder
        self.outputs = list(outputs)
        if hand is not None and isinstance(hand, Output) and hand not in self.outputs:
            self.outputs.append(hand)
        self.hand = hand
        self.status_interval_s = status_interval_s
        self.realtime_priority = realtime_priority
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._decoder_lock = threading.Lock()
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
        self._last_status: dict[str, Any] = {}

    # ---- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Start the sample and status threads."""
        if self._sample_thread is not None:
            raise RuntimeError("pipeline already started")
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
        problem = set_realtime_priority(self.realtime_priority)
        if problem:
            log.warning("%s; running with normal priority", problem)
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

    def emit_status(self) -> dict[str, Any]:
        """Build the status dict and hand it to every output; returns it."""
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

    def build_status(self) -> dict[str, Any]:
        """The status dict (docs/bridge.md, "Status fields"); outputs add their extras."""
        now = time.monotonic()
        t0, n0 = self._rate_mark
        n = self.samples
        if now - t0 > 1e-3:
            self.rate_hz = (n - n0) / (now - t0)
            self._rate_mark = (now, n)
        src = self.source.status.to_dict()
        decoder = self.decoder
        state = src.get("state", "unknown")
        if self.source_error is not None:
            state, src["detail"] = "failed", self.source_error
        status: dict[str, Any] = {
            "t": round(now, 6),
            "uptime_s": round(now - self._started_at, 3),
            "source": self.source.url,
            "state": state,
            "detail": src.get("detail", ""),
            "rate_hz": round(self.rate_hz, 2),
            "samples": n,
            "frames": src.get("frames", 0),
            "dropped": src.get("dropped", 0),
            "bad_frames": src.get("bad_frames", 0),
            "reconnects": src.get("reconnects", 0),
            "source_status": src,
            "decoder": decoder.name if decoder is not None else None,
            "decoder_ready": bool(decoder is not None and decoder.ready),
            "decode_errors": self.decode_errors,
            "last_decode_error": self.last_decode_error,
            "output_errors": dict(self.output_errors),
            "hand": self.hand_state(),
        }
        for out in self.outputs:
            extra = getattr(out, "status_extra", None)
            if callable(extra):
                try:
                    status.update(extra())
                except Exception:
                    self._output_failed(out, "status_extra")
        self._last_status = status
        return status

    @property
    def last_status(self) -> dict[str, Any]:
        """The most recent status dict (empty before the first one)."""
        return self._last_status

    # ---- control API (called from the websocket server's threads) ----------------------

    def hello_info(self) -> dict[str, Any]:
        """Facts for the `hello` message."""
        info = self.source.info
        desc: dict[str, Any] = {}
        if self.decoder is not None:
            try:
                desc = dict(self.decoder.describe())
            except Exception:
                log.exception("decoder.describe() failed")
        rate = info.rate_hz if info.rate_hz else (self.rate_hz or None)
        return {
            "source": self.source.url,
            "n_sensors": info.n_sensors or self._n_sensors,
            "rate_hz": rate,
            "decoder": desc.get("decoder", self.decoder.name if self.decoder else None),
            "gestures": list(desc.get("gestures", self.decoder.gestures if self.decoder else ())),
            "layout": info.layout,
            "positions_mm": _rounded_positions(info.positions_mm),
        }

    def set_gesture(self, name: str) -> str | None:
        """Manual gesture switch (QG); returns an error detail, or None when applied."""
        decoder = self.decoder
        if decoder is None:
            return "no decoder is running"
        try:
            # serialised with decode(): decoders are not thread-safe
            with self._decoder_lock:
                decoder.set_gesture(name)
        except Exception as exc:
            return str(exc) or type(exc).__name__
        return None

    def hand_command(self, action: str, authorized: bool, who: str = "client") -> tuple[bool, str]:
        """Forward enable/disable/stop/release to the hand; `who` (the client's address
        and origin) goes into the hand's event log. Errors come back as (False, detail)."""
        hand = self.hand
        if hand is None:
            return False, "no hand attached (start the bridge with --hand URL)"
        if action == "enable" and not authorized:
            # Checked here as well as in the hand output: defence in depth.
            return False, "this connection is not authorised to enable the hand"
        try:
            # Not under the outputs lock: `stop` must never wait behind a slow output
            # (e.g. a recorder flushing). The hand output is thread-safe itself.
            return hand.command(action, authorized, who)
        except Exception as exc:
            log.exception("hand command %s failed", action)
            return False, f"hand error: {exc}"

    def hand_state(self) -> dict[str, Any] | None:
        """The hand's state dict, or None when no hand is attached."""
        if self.hand is None:
            return None
        try:
            return dict(self.hand.state_dict())
        except Exception as exc:
            return {"error": str(exc)}
