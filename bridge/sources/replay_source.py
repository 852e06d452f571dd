"""Replay of a recording (contract 2, CSV or XDF) as a live source, with its labels."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bridge.recording import read_recording
from bridge.sensor_model import SENSOR_MODELS
from bridge.sources.base import Source
from bridge.values.sample import Sample
from bridge.values.source_info import SourceState, SourceStatus

_WAIT_SLICE_S = 0.1


class ReplaySource(Source):
    """Yields a recording's rows paced by its `t_s` divided by `speed` (None = max).

    The file is read and checked when the source is made, so a bad recording is a
    ValueError (RecordingError) at open, never a failure mid-stream.
    """

    def __init__(self, url: str, path: str | Path, speed: float | None = 1.0) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"replay speed must be > 0 or max, got {speed}")
        self.url = url
        self.speed = speed
        if Path(path).suffix.lower() == ".xdf":
            from bridge.xdf.reader import read_xdf_recording

            self.recording = read_xdf_recording(path)
        else:
            self.recording = read_recording(path)
        self.info = self.recording.source_info(source=url)
        self.status = SourceStatus(
            detail=f"replay {self.recording.path.name}: {len(self.recording)} rows ready"
        )
        self._saturated = self._saturation_rows()
        self._closed = threading.Event()

    def _saturation_rows(self) -> np.ndarray:
        """Rows where an axis sits at the clipping limit (recordings carry no flag).

        The limit is the nominal full scale (where the simulator clips) or the int16
        register limit, whichever comes first.
        """
        rec = self.recording
        model = SENSOR_MODELS.get(str(rec.meta.get("sensor_model")))
        gauss = rec.meta.get("full_scale_gauss")
        if model is None or not isinstance(gauss, int | float):
            return np.zeros(len(rec), dtype=bool)
        try:
            fs = model.by_gauss(float(gauss))
        except ValueError:
            return np.zeros(len(rec), dtype=bool)
        limit = min(fs.limit_ut, 32767 * fs.ut_per_lsb) - 0.5 * fs.ut_per_lsb
        with np.errstate(invalid="ignore"):
            return np.asarray(np.nan_to_num(np.abs(rec.field_ut)) >= limit).any(axis=(1, 2))

    def samples(self, stop: threading.Event) -> Iterator[Sample]:
        """Yield every row once, in order; then state ENDED."""
        rec = self.recording
        name = rec.path.name
        n = len(rec)
        self.status.state = SourceState.CONNECTED
        pace = "as fast as possible" if self.speed is None else f"at {self.speed:g}x"
        self.status.detail = f"replay {name}: playing {n} rows {pace}"
        start_host = time.monotonic()
        t0 = float(rec.t_s[0]) if n else 0.0
        for i in range(n):
            if self.speed is not None:
                due = start_host + (float(rec.t_s[i]) - t0) / self.speed
                while (left := due - time.monotonic()) > 0:
                    if stop.wait(min(left, _WAIT_SLICE_S)) or self._closed.is_set():
                        break
            if stop.is_set() or self._closed.is_set():
                self.status.state = SourceState.ENDED
                self.status.detail = f"replay {name}: stopped after {i} of {n} rows"
                return
            grade = float(rec.grade_true[i])
            sample = Sample.from_field(
                seq=int(rec.seq[i]),
                t_device=float(rec.t_s[i]),
                t_host=time.monotonic(),
                field_ut=rec.field_ut[i],
                saturated=bool(self._saturated[i]),
                gesture=rec.gesture[i] or None,
                grade_true=None if grade != grade else grade,
            )
            self.status.frames = i + 1
            yield sample
        self.status.state = SourceState.ENDED
        self.status.detail = f"replay {name}: finished, {n} rows"

    def close(self) -> None:
        """End samples() within ~0.1 s."""
        self._closed.set()
