"""`track:TWIN.json`: the magnet-tracking decoder (a patient twin + `bridge.tracking.Tracker`).

Per sample the tracker estimates every tag's displacement; this wraps the estimate into
a `Decoded`: the gesture whose tag moved most (through the twin's coupling), its grade,
level = that movement's grade / 8, the tracker's confidence, and `grades` with the
simultaneous result of every movement. Confidence is 0 while the socket pose is being
estimated (the first seconds, patient relaxed) and for samples with the wrong number of
sensors, which the hand's safety layer treats as no input.

Opened for the bridge (`load`), the socket-pose fits run in a child process
(`ProcessPoseWorker`) so no sample waits for them; `run_offline()` switches to inline
fits, reproducible sample for sample (evaluation).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from bridge.decoders.base import Decoder
from bridge.tracking.pose_worker import InlinePoseWorker, PoseWorker, ProcessPoseWorker
from bridge.tracking.tracker import GRADES, Tracker, TrackerConfig
from bridge.tracking.twin import Twin, TwinError
from bridge.values.sample import Decoded, Sample
from bridge.values.source_info import SourceInfo
from fist_and_ball.protocol_v1 import REST

DEFAULT_RATE_HZ = 42.7
"""The paper's sample rate, used when the source does not say its own."""
RATE_SAMPLES = 40
"""Samples timed to measure an unknown source rate (fewer than the settle time's
samples at 42.7 Hz, so the settle time is counted at the measured rate)."""
SENSOR_POSITION_TOLERANCE_MM = 1.0
"""A sidecar's sensor positions further than this from the twin's mean another layout."""


class TrackDecoder(Decoder):
    """Decodes with a Tracker; not thread-safe (the pipeline's one sample thread)."""

    name = "track"

    def __init__(
        self,
        twin: Twin,
        rate_hz: float = DEFAULT_RATE_HZ,
        config: TrackerConfig | None = None,
        path: str = "",
        worker: PoseWorker | None = None,
    ) -> None:
        self.twin = twin
        self.path = path
        self.tracker = Tracker(twin, config, rate_hz, worker)
        self._n_sensors = twin.n_sensors
        self.gestures = (REST, *twin.movements)
        self.wrong_device: str | None = None
        """Why the last sample could not be decoded (sensor count), or None."""
        self._last_ready = False
        self._started = False
        self._measure_rate = False
        """The source did not say its rate: measure it from the first samples' clock."""
        self._t_first: float | None = None
        self._n_timed = 0

    @staticmethod
    def load(path: str, info: SourceInfo) -> TrackDecoder:
        """A decoder from a twin file, checked against the source `info`; ValueError."""
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"decoder track: twin {path} does not exist")
        try:
            twin = Twin.load(p)
        except TwinError as exc:
            raise ValueError(str(exc)) from None
        _check_source(twin, info, path)
        known = bool(info.rate_hz and info.rate_hz > 0)
        rate = float(info.rate_hz) if known and info.rate_hz else DEFAULT_RATE_HZ
        dec = TrackDecoder(twin, rate, path=str(path), worker=ProcessPoseWorker())
        dec._measure_rate = not known
        return dec

    def run_offline(self) -> None:
        """Fit the pose inline from now on: a replay decodes the same way every time
        (the samples do not wait for the clock, so a child's timing would show)."""
        worker = self.tracker.worker
        if not isinstance(worker, InlinePoseWorker):
            worker.close()
            self.tracker.worker = InlinePoseWorker()

    def start_stream(self) -> None:
        """Start the pose worker's child process (once). With the stream, not at open:
        an offline run (run_offline before the first sample) never starts one; and
        before the first sample, not on it: the child's start-up (a new interpreter
        importing numpy and scipy) took a core for most of a second, which stalled the
        first second of grades at 1000 Hz."""
        if self._started:
            return
        self._started = True
        start = getattr(self.tracker.worker, "start", None)
        if start is not None:
            start()

    def close(self) -> None:
        """Stop the pose worker's child process (the decoder still works, inline)."""
        self.run_offline()

    @property
    def ready(self) -> bool:
        return self._last_ready and self.wrong_device is None

    def decode(self, sample: Sample) -> Decoded:
        """Track one sample; confidence 0 until the pose is known or with the wrong sensors."""
        if sample.field_ut.shape[0] != self._n_sensors:
            self.wrong_device = (
                f"the twin is for {self.twin.n_sensors} sensors but the source sends "
                f"{sample.n_sensors}: fit a twin for this device (fist-and-ball twin fit)"
            )
            return Decoded(sample.seq, sample.t_host, REST, 0, 0.0, 0.0)
        self.wrong_device = None
        if not self._started:
            self.start_stream()  # a stream the pipeline did not announce
        if self._measure_rate:
            self._time_sample(sample.t_device)
        est = self.tracker.decode(sample.field_ut)
        self._last_ready = est.ready
        conf = float(est.confidence) if est.ready else 0.0
        if not np.isfinite(conf):
            conf = 0.0
        if sample.saturated:
            conf *= 0.5  # some sensor clipped: the model cannot explain it fully
        grades = {g: (round(v), float(v) / GRADES, conf) for g, v in est.grades.items()}
        level = grades[est.gesture][1] if est.gesture in grades else 0.0
        return Decoded(sample.seq, sample.t_host, est.gesture, est.grade, level, conf, None, grades)

    def _time_sample(self, t_device: float) -> None:
        """Counts the settle time and pose updates in real seconds at any rate (the
        default 42.7 Hz at 1000 Hz would refit the pose every 0.2 s)."""
        if self._t_first is None:
            self._t_first = t_device
        self._n_timed += 1
        if self._n_timed < RATE_SAMPLES:
            return
        self._measure_rate = False
        span = t_device - self._t_first
        if span > 0 and math.isfinite(span):
            self.tracker.set_rate((self._n_timed - 1) / span)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(
            ready=self.ready,
            twin=self.path,
            tags=list(self.twin.movements),
            n_sensors=self.twin.n_sensors,
        )
        worker_problem = getattr(self.tracker.worker, "problem", None)
        if self.wrong_device or worker_problem:
            d["problem"] = self.wrong_device or worker_problem
        return d


def _check_source(twin: Twin, info: SourceInfo, path: str) -> None:
    """The source must be the layout the twin was fitted on (when the source says so)."""
    if info.n_sensors is not None and info.n_sensors != twin.n_sensors:
        raise ValueError(
            f"twin {path} is for {twin.n_sensors} sensors, the source has {info.n_sensors}"
        )
    if info.positions_mm is None:
        return
    pos = np.asarray(info.positions_mm, dtype=np.float64)
    if pos.shape != twin.sensors_mm.shape:
        return  # the count check above or the per-sample check reports it
    off = float(np.max(np.linalg.norm(pos - twin.sensors_mm, axis=1)))
    if off > SENSOR_POSITION_TOLERANCE_MM:
        raise ValueError(
            f"twin {path} was fitted with other sensor positions (up to {off:.1f} mm "
            "apart): fit a twin for this device (fist-and-ball twin fit)"
        )
