"""Recorder output: writes every sample to a recording while the bridge serves."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from bridge.outputs.base import Output
from bridge.recording import RecordingWriter, check_new_recording
from bridge.values.sample import Decoded, Sample
from bridge.values.source_info import SourceInfo
from bridge.values.status import PipelineStatus, RecorderStatus

DECODED_COLUMNS = ("grade_decoded", "level_decoded", "confidence_decoded")
"""Extra columns holding what the decoder made of each sample (empty when none ran)."""


class RecorderOutput(Output):
    """Record samples (and optionally the decoder's output) to a contract-2 recording.

    The file opens at the first sample, when the sensor count is known. A sample
    with another sensor count is skipped and counted (`skipped` in the status); the
    recording goes on. A write error (disk full, medium gone) stops the recording
    with a message in `error`, on `log` and in the status; it never stops the
    pipeline, but `bridge` exits non-zero.
    """

    name = "recorder"

    def __init__(
        self,
        path: str | os.PathLike[str],
        info: SourceInfo,
        *,
        overwrite: bool = False,
        record_decoded: bool = True,
        log: TextIO | None = None,
    ) -> None:
        # checked here, at start-up: the file itself opens only at the first sample
        self.path = check_new_recording(
            path, "--record", overwrite=overwrite, exists_hint="choose another name or remove it"
        )
        self.info = info
        self.record_decoded = record_decoded
        self.writer: RecordingWriter | None = None
        self.error: str | None = None
        self._rows = 0
        self._skipped = 0
        self._log = log if log is not None else sys.stderr

    def on_sample(self, sample: Sample, decoded: Decoded | None) -> None:
        if self.error is not None:
            return
        try:
            if self.writer is None:
                extra = DECODED_COLUMNS if self.record_decoded else ()
                self.writer = RecordingWriter(
                    self.path, self.info, sample.n_sensors, extra_columns=extra
                )
            values: dict[str, float] | None = None
            if self.record_decoded and decoded is not None:
                values = {
                    "grade_decoded": float(decoded.grade),
                    "level_decoded": decoded.level,
                    "confidence_decoded": decoded.confidence,
                }
            self.writer.write(sample, values)
        except (OSError, ValueError) as exc:
            self._fail(f"recording to {self.path} stopped: {exc}")

    def _fail(self, error: str) -> None:
        self.error = error
        print(f"recorder: {self.error}", file=self._log)
        self.close()

    def status(self) -> RecorderStatus:
        """The recording's part of the status: file, rows, skipped samples, error."""
        if self.writer is not None:
            self._rows, self._skipped = self.writer.rows, self.writer.skipped
        return RecorderStatus(str(self.path), self._rows, self._skipped, self.error)

    def on_status(self, status: PipelineStatus) -> None:
        # The writer flushes on its own thread (contract 2's interval); the status tick
        # only surfaces a write error that thread met, so it shows without a new sample.
        writer = self.writer
        if writer is not None and self.error is None and writer.error is not None:
            self._fail(f"recording to {self.path} stopped: {writer.error}")

    def close(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            self._rows, self._skipped = writer.rows, writer.skipped
            try:
                writer.close()
            except OSError as exc:
                self.error = self.error or f"recording to {self.path} stopped: {exc}"
