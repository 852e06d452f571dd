"""The pipeline thread: decoding, fan-out to outputs, status, control API, failures."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from test_server_kit import CollectOutput, PushSource, StepDecoder

from bridge.outputs.base import Output
from bridge.pipeline import Pipeline
from bridge.values.sample import Decoded, Sample


def _wait(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


class BrokenOutput(Output):
    name = "broken"

    def __init__(self) -> None:
        self.closed = False

    def on_sample(self, sample: Sample, decoded: Decoded | None) -> None:
        raise RuntimeError("output bug")

    def close(self) -> None:
        self.closed = True


def test_decoder_exception_on_one_sample_is_counted_logged_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    src = PushSource()
    out = CollectOutput()
    pipeline = Pipeline(src, StepDecoder(fail_seqs=(2,)), [out], status_interval_s=0.2)
    pipeline.start()
    with caplog.at_level(logging.ERROR, logger="bridge.pipeline"):
        for v in (1.0, 2.0, 3.0, 4.0, 5.0):
            src.push([v, 0.0, 0.0])
        src.end()
        assert pipeline.wait(5)
    pipeline.close()
    assert [s.seq for s, _ in out.samples] == [0, 1, 2, 3, 4]
    decoded = [d for _, d in out.samples]
    assert decoded[2] is None  # the failing sample still reaches outputs, undecoded
    assert [d.grade for d in decoded if d is not None] == [1, 2, 4, 5]
    assert pipeline.decode_errors == 1
    assert "injected failure at seq 2" in caplog.text
    assert out.statuses and out.statuses[-1]["decode_errors"] == 1
    assert out.closed and src.closed


def test_output_exception_does_not_stop_other_outputs() -> None:
    src = PushSource()
    broken, out = BrokenOutput(), CollectOutput()
    pipeline = Pipeline(src, StepDecoder(), [broken, out])
    pipeline.start()
    for v in range(10):
        src.push([float(v), 0.0, 0.0])
    _wait(lambda: len(out.samples) == 10)
    pipeline.close()
    assert pipeline.output_errors == {"broken": 10}
    assert broken.closed and out.closed


def test_status_fields_rate_and_status_while_source_is_silent() -> None:
    src = PushSource(n_sensors=3)
    out = CollectOutput()
    pipeline = Pipeline(src, StepDecoder(), [out], status_interval_s=0.2)
    pipeline.start()
    t0 = time.monotonic()
    for v in range(40):
        src.push([float(v % 9), 0.0, 0.0])
        time.sleep(0.005)
    _wait(lambda: len(out.samples) == 40)
    elapsed = time.monotonic() - t0
    n_before = len(out.statuses)
    # no samples for a while: status keeps coming
    _wait(lambda: len(out.statuses) >= n_before + 2)
    pipeline.close()
    st = out.statuses[-1]
    for key in (
        "state",
        "rate_hz",
        "frames",
        "dropped",
        "bad_frames",
        "decoder_ready",
        "decoder",
        "samples",
        "source",
        "hand",
    ):
        assert key in st, key
    assert st["samples"] == 40 and st["frames"] == 40
    assert st["decoder"] == "step" and st["decoder_ready"] is True
    assert st["rate_hz"] == 0.0  # silent source: nothing in the last interval
    busy = [s["rate_hz"] for s in out.statuses if s["rate_hz"] > 0]
    assert busy, "no status measured a rate while samples flowed"
    # the summed measured rates x intervals account for the 40 samples
    assert max(busy) >= 40 / (elapsed + 0.4) / 2


def test_control_api() -> None:
    src = PushSource(n_sensors=4, rate_hz=42.7)
    dec = StepDecoder()
    pipeline = Pipeline(src, dec, [])
    assert pipeline.set_gesture("wrist") is None and dec.gesture == "wrist"
    problem = pipeline.set_gesture("tail")
    assert problem is not None and "tail" in problem
    ok, detail = pipeline.hand_command("enable", True)
    assert not ok and "--hand" in detail
    info = pipeline.hello_info()
    assert info == {
        "source": "test:push",
        "n_sensors": 4,
        "rate_hz": 42.7,
        "decoder": "step",
        "gestures": ["fingers", "wrist"],
        "layout": None,
        "positions_mm": None,
    }
    no_decoder = Pipeline(PushSource(), None, [])
    assert no_decoder.set_gesture("wrist") == "no decoder is running"
    assert no_decoder.hello_info()["decoder"] is None


def test_no_decoder_passes_samples_undecoded() -> None:
    src = PushSource()
    out = CollectOutput()
    pipeline = Pipeline(src, None, [out])
    pipeline.start()
    src.push([1.0, 2.0, 3.0])
    src.end()
    assert pipeline.wait(5)
    pipeline.close()
    pipeline.close()  # idempotent
    assert len(out.samples) == 1 and out.samples[0][1] is None
    assert out.statuses[-1]["decoder"] is None and out.statuses[-1]["decoder_ready"] is False


def test_live_view_draws_grade_bar_on_tty_and_lines_otherwise() -> None:
    import io

    from bridge.outputs.live_view import LiveView, grade_bar

    assert grade_bar(5) == "[#####...]"
    assert grade_bar(0) == "[........]" and grade_bar(8) == "[########]"

    tty_stream, log_stream = io.StringIO(), io.StringIO()
    src = PushSource()
    views = [LiveView(tty_stream, tty=True, refresh_hz=50), LiveView(log_stream, tty=False)]
    pipeline = Pipeline(src, StepDecoder(), list(views), status_interval_s=0.1)
    pipeline.start()
    src.push([5.2, 1.0, 1.0])
    _wait(lambda: "5/8 fingers" in tty_stream.getvalue())
    _wait(lambda: log_stream.getvalue().count("\n") >= 2)
    pipeline.close()
    screen = tty_stream.getvalue()
    assert "[#####...] 5/8 fingers" in screen
    assert "\x1b[" in screen  # redrawn in place
    assert "|B| s0" in screen and "5.2 uT" in screen
    log = log_stream.getvalue()
    assert "\x1b[" not in log
    assert "grade 5/8 fingers" in log.splitlines()[-1]


def test_status_reports_why_decoding_fails_and_the_log_line_says_it() -> None:
    """A QG calibrated for 3 sensors behind a source that turns out to send 16."""
    import io

    import numpy as np

    from bridge.decoders.qg import QGParams
    from bridge.decoders.qg_calibration import Calibration
    from bridge.outputs.live_view import LiveView

    params = QGParams.from_anchors("fingers", 1, 300.0, 340.0, 0.3)
    bank_cal = Calibration(
        layout="myo3",
        n_sensors=3,
        sensor_model="LIS3MDL",
        full_scale_gauss=16.0,
        gestures={"fingers": params},
    )
    from bridge.decoders.qg_bank import QGBank

    src = PushSource(n_sensors=16)
    out, log_stream = CollectOutput(), io.StringIO()
    pipeline = Pipeline(
        src, QGBank(bank_cal), [out, LiveView(log_stream, tty=False)], status_interval_s=0.1
    )
    pipeline.start()
    src.push(list(np.full(16, 320.0)))
    _wait(lambda: any(st["decode_errors"] for st in out.statuses))
    pipeline.close()
    st = next(st for st in out.statuses if st["decode_errors"])
    assert st["decoder_ready"] is False
    assert "3 sensors" in st["last_decode_error"] and "16" in st["last_decode_error"]
    assert all(d is None for _, d in out.samples)  # no grade reaches the outputs
    assert "NOT READY" in log_stream.getvalue() and "sends 16" in log_stream.getvalue()


def test_plain_live_view_line_says_why_the_source_is_down() -> None:
    import io

    from bridge.outputs.live_view import LiveView

    view = LiveView(io.StringIO(), tty=False)
    view.on_status(
        {
            "state": "disconnected",
            "rate_hz": 0.0,
            "detail": "tcp 127.0.0.1:9: connection refused (errno 111); retrying in 0.4 s",
        }
    )
    line = view.stream.getvalue()  # type: ignore[attr-defined]
    assert line.startswith("[disconnected] (tcp 127.0.0.1:9: connection refused")
