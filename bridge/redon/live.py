"""The re-don check on a running bridge: the routine fed from the live samples.

`LiveRedon` is started by `BridgeControl.redon_start` for one client. The sample thread
only copies each sample's field into a bounded deque (`offer`: an append, no locks, no
waiting); a worker thread feeds the routine from that deque, reports the status about
5 times a second, runs the check when the routine ends and applies the adaptation
under the decoder lock (`apply_result`). Messages go out through the `send` callback
(the server hands them to the requesting client only).

What the hand does: if it could move (enabled, holding, opening ...), it is disabled
for the routine: the patient flexes fully on purpose and the decoder may change under
it. It is not re-enabled afterwards; the final message says so.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from bridge.redon.check import RedonResult, check_decoder, check_track, routine_movements
from bridge.redon.routine import RedonRoutine, RoutineRecording, RoutineStatus, RoutineTiming
from bridge.values.sample import Sample
from fist_and_ball.protocol_v1 import MAX_REDON_TEXT, MSG_REDON

log = logging.getLogger("bridge.redon")

REPORT_INTERVAL_S = 0.2
"""Running messages about 5 per second."""
NO_SAMPLES_S = 5.0
"""Give up (state `failed`) when no sample arrives for this long (wall time)."""
BUFFER_SAMPLES = 4096
"""Samples waiting for the worker (4 s at 1000 Hz); older ones are dropped (counted)."""


def _cut(text: str) -> str:
    return text if len(text) <= MAX_REDON_TEXT else text[: MAX_REDON_TEXT - 3] + "..."


def running_message(st: RoutineStatus) -> dict[str, Any]:
    """The `running` message for a routine status."""
    return {
        "type": MSG_REDON,
        "state": "running",
        "step": st.step,
        "prompt": _cut(st.prompt),
        "progress": round(float(st.progress), 3),
        "remaining_s": round(float(st.remaining_s), 2),
    }


def final_message(
    state: str, summary: str, reasons: list[str], decoder: str, pose: Any = None
) -> dict[str, Any]:
    """A final message (accepted, adapted, refused, cancelled, failed)."""
    return {
        "type": MSG_REDON,
        "state": state,
        "summary": _cut(summary),
        "reasons": [_cut(r) for r in reasons[:16]],
        "pose": pose,
        "decoder": decoder,
    }


def _background() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)  # the bridge's own threads first (2 cores)


def run_check(rec: RoutineRecording, decoder: Any, spec: str, twin: Any = None) -> RedonResult:
    """The verdict, computed off the sample thread. Tracking's pose fit is Python-level
    code holding the GIL for 0.1-2.5 s (it would delay every sample by up to the
    interpreter's switch interval meanwhile), so it runs in a spawned child process, as
    the tracker's own fits do; inline if no child can be had. QG and MCNN-TG (onnxruntime
    releases the GIL) are quick and run here."""
    if getattr(decoder, "name", "") != "track":
        return check_decoder(rec, decoder, spec, twin)
    try:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=ctx, initializer=_background) as pool:
            result: RedonResult = pool.submit(check_track, rec, decoder.twin, spec).result()
            return result
    except (OSError, BrokenProcessPool) as exc:
        log.warning("re-don check: no child process (%s); checking inline", exc)
        return check_track(rec, decoder.twin, spec)


def apply_result(decoder: Any, result: RedonResult) -> bool:
    """Apply an accepted/adapted result to the running decoder (call under its lock):
    QG gets the re-anchored calibration, the tracker the socket pose. True if applied."""
    if result.refused:
        return False
    if result.calibration is not None and hasattr(decoder, "adopt_calibration"):
        if result.verdict == "accepted":
            return False  # the calibration as it is: keep the running QGs and their gain
        decoder.adopt_calibration(result.calibration)
        return True
    tracker = getattr(decoder, "tracker", None)
    if result.pose_result is not None and tracker is not None:
        tracker.adopt_pose(result.pose_result)
        return True
    return False


class LiveRedon:
    """One running re-don check (see the module docstring). Thread-safe."""

    def __init__(
        self,
        decoder: Any,
        spec: str,
        decoder_lock: threading.Lock,
        send: Callable[[dict[str, Any]], None],
        on_end: Callable[[LiveRedon], None] | None = None,
        timing: RoutineTiming | None = None,
        notes: tuple[str, ...] = (),
        twin: Any = None,
    ) -> None:
        self.decoder = decoder
        self.spec = spec
        self.lock = decoder_lock
        self.send = send
        self.on_end = on_end
        self.notes = notes
        self.twin = twin
        self.routine = RedonRoutine(routine_movements(decoder), timing)
        self._buf: collections.deque[tuple[float, np.ndarray, bool]] = collections.deque(
            maxlen=BUFFER_SAMPLES
        )
        self._offered = 0
        self._fed = 0
        self._cancel = threading.Event()
        self.result: RedonResult | None = None
        self.final: dict[str, Any] | None = None
        self._thread = threading.Thread(target=self._run, name="redon", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, sample: Sample) -> None:
        """From the sample thread: keep a copy, nothing else."""
        self._buf.append((sample.t_device, sample.field_ut.copy(), bool(sample.saturated)))
        self._offered += 1

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def dropped(self) -> int:
        """Samples the worker never saw (it fell more than the buffer behind)."""
        return max(0, self._offered - len(self._buf) - self._fed)

    def _drain(self) -> RoutineStatus | None:
        st = None
        while self._buf:
            t, field, sat = self._buf.popleft()
            self._fed += 1
            st = self.routine.feed(Sample.from_field(self._fed, t, 0.0, field, sat))
            if st.done:
                break
        return st

    def _run(self) -> None:
        try:
            self._finish(self._routine())
        except Exception as exc:  # a bug must not kill the bridge: say it failed
            log.exception("re-don check failed")
            self._finish(
                final_message(
                    "failed", "The re-don check failed: try again.", [str(exc)], self.spec
                )
            )

    def _routine(self) -> dict[str, Any]:
        last_sample = time.monotonic()
        next_report = 0.0
        st: RoutineStatus | None = None
        while True:
            if self._cancel.wait(0.02):
                return final_message(
                    "cancelled", "Re-don check cancelled: nothing was changed.", [], self.spec
                )
            got = self._drain()
            now = time.monotonic()
            if got is not None:
                st, last_sample = got, now
            elif now - last_sample > NO_SAMPLES_S:
                return final_message(
                    "failed",
                    "No signal from the sensors: check the band and the cable, then try again.",
                    [f"no sample for {NO_SAMPLES_S:g} s"],
                    self.spec,
                )
            if st is not None and st.done:
                break
            if st is not None and now >= next_report:
                self.send(running_message(st))
                next_report = now + REPORT_INTERVAL_S
        result = run_check(self.routine.recording(), self.decoder, self.spec, self.twin)
        self.result = result
        reasons = list(result.reasons)
        if not result.refused:
            with self.lock:
                applied = apply_result(self.decoder, result)
            if applied:
                reasons.append("applied to the running decoder")
        reasons.extend(self.notes)
        pose = None if result.pose is None else result.pose.to_message()
        return final_message(result.verdict, result.summary, reasons, self.spec, pose)

    def _finish(self, message: dict[str, Any]) -> None:
        self.final = message
        try:
            self.send(message)
        finally:
            if self.on_end is not None:
                self.on_end(self)
