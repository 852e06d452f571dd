"""The pipeline thread: decoding, fan-out to outputs, typed status, failures; the control."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from test_server_kit import CollectOutput, PushSource, StepDecoder

from bridge.control import BridgeControl
from bridge.outputs.base import Output
from bridge.pipeline import Pipeline
from bridge.values.sample import Decoded, Sample
from bridge.values.source_info import SourceState
from bridge.values.status import (
    FAILED,
    DecoderStatus,
    HandStatus,
    HelloInfo,
    PipelineStatus,
    RecorderStatus,
    SourceReport,
)


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
    assert out.statuses and out.statuses[-1].decoder.errors == 1
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
    assert isinstance(st, PipelineStatus)
    assert st.samples == 40 and st.source.frames == 40 and st.n_sensors == 3
    assert st.source.url == "test:push" and st.source.state == "ended"
    assert st.decoder == DecoderStatus(name="step", ready=True)
    assert st.hand is None and st.server is None  # no such outputs here
    assert st.rate_hz == 0.0  # silent source: nothing in the last interval
    busy = [s.rate_hz for s in out.statuses if s.rate_hz > 0]
    assert busy, "no status measured a rate while samples flowed"
    # the summed measured rates x intervals account for the 40 samples
    assert max(busy) >= 40 / (elapsed + 0.4) / 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.samples = 0  # type: ignore[misc]


class ReportingOutput(CollectOutput):
    """Reports a recorder status, or fails to."""

    name = "reporting"

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail

    def status(self) -> RecorderStatus:
        if self.fail:
            raise RuntimeError("status bug")
        return RecorderStatus(path="x.csv", rows=len(self.samples))


def test_outputs_report_their_part_and_a_failing_report_is_counted() -> None:
    src = PushSource()
    good, bad = ReportingOutput(), ReportingOutput(fail=True)
    bad.name = "bad"
    pipeline = Pipeline(src, None, [good, bad], status_interval_s=0.1)
    pipeline.start()
    src.push([1.0, 0.0, 0.0])
    _wait(lambda: any(s.recorder is not None and s.recorder.rows == 1 for s in good.statuses))
    pipeline.close()
    st = good.statuses[-1]
    assert st.outputs == (RecorderStatus(path="x.csv", rows=1),)
    assert st.output_errors["bad"] >= 1  # counted, the other output's report still arrives
    assert st.decoder == DecoderStatus()  # no decoder: name None, not ready


def test_a_source_that_raises_reports_failed_to_the_outputs() -> None:
    class RaisingSource(PushSource):
        def samples(self, stop: threading.Event) -> Iterator[Sample]:
            self.status.state = SourceState.CONNECTED
            raise OSError("device exploded")
            yield  # pragma: no cover

    out = CollectOutput()
    pipeline = Pipeline(RaisingSource(), None, [out], status_interval_s=0.1)
    pipeline.start()
    assert pipeline.wait(5)
    _wait(lambda: any(s.source.state == FAILED for s in out.statuses))
    pipeline.close()
    st = next(s for s in out.statuses if s.source.state == FAILED)
    assert "device exploded" in st.source.detail and not st.source.connected


def test_control_api() -> None:
    src = PushSource(n_sensors=4, rate_hz=42.7)
    dec = StepDecoder()
    control = BridgeControl(src, dec)
    assert control.set_gesture("wrist") is None and dec.gesture == "wrist"
    problem = control.set_gesture("tail")
    assert problem is not None and "tail" in problem
    ok, detail = control.hand_command("enable", True)
    assert not ok and "--hand" in detail
    assert control.hand_state() is None
    assert control.hello_info() == HelloInfo(
        source="test:push",
        n_sensors=4,
        rate_hz=42.7,
        decoder="step",
        gestures=("fingers", "wrist"),
    )
    no_decoder = BridgeControl(PushSource(), None)
    assert no_decoder.set_gesture("wrist") == "no decoder is running"
    assert no_decoder.hello_info().decoder is None


def test_control_hello_falls_back_to_what_the_status_measured() -> None:
    src = PushSource()
    src.info.n_sensors = None
    src.info.rate_hz = None  # a device source that does not know them up front
    control = BridgeControl(src, None)
    assert control.hello_info().n_sensors is None and control.hello_info().rate_hz is None
    control.on_status(PipelineStatus(rate_hz=99.5, n_sensors=16))
    info = control.hello_info()
    assert info.n_sensors == 16 and info.rate_hz == 99.5


def test_set_gesture_waits_for_the_decoder_lock_the_pipeline_holds() -> None:
    """The gesture switch and `decode` are serialised by the control's lock."""
    dec = StepDecoder()
    control = BridgeControl(PushSource(), dec)
    done = threading.Event()
    with control.decoder_lock:  # the pipeline is mid-decode
        t = threading.Thread(target=lambda: (control.set_gesture("wrist"), done.set()))
        t.start()
        assert not done.wait(0.3)
        assert dec.gesture == "fingers"
    assert done.wait(5) and dec.gesture == "wrist"
    t.join()


def test_enable_refused_for_an_unauthorised_client_even_if_the_hand_would_take_it() -> None:
    class LaxHand:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def command(self, action: str, authorized: bool, who: str = "client") -> tuple[bool, str]:
            self.calls.append(action)
            return True, "done"

        def status(self) -> HandStatus:
            return HandStatus(state="active", enabled=True, connected=True)

    hand = LaxHand()
    control = BridgeControl(PushSource(), None, hand)
    ok, detail = control.hand_command("enable", False)
    assert not ok and "not authorised" in detail and hand.calls == []
    assert control.hand_command("stop", False) == (True, "done") and hand.calls == ["stop"]
    state = control.hand_state()
    assert state is not None and state.moves_hand


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
    assert out.statuses[-1].decoder.name is None and out.statuses[-1].decoder.ready is False


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
    _wait(lambda: any(st.decoder.errors for st in out.statuses))
    pipeline.close()
    st = next(st for st in out.statuses if st.decoder.errors)
    assert st.decoder.ready is False
    error = st.decoder.last_error
    assert error is not None and "3 sensors" in error and "16" in error
    assert all(d is None for _, d in out.samples)  # no grade reaches the outputs
    assert "NOT READY" in log_stream.getvalue() and "sends 16" in log_stream.getvalue()


def test_plain_live_view_line_says_why_the_source_is_down() -> None:
    import io

    from bridge.outputs.live_view import LiveView

    view = LiveView(io.StringIO(), tty=False)
    view.on_status(
        PipelineStatus(
            source=SourceReport(
                state="disconnected",
                detail="tcp 127.0.0.1:9: connection refused (errno 111); retrying in 0.4 s",
            )
        )
    )
    line = view.stream.getvalue()  # type: ignore[attr-defined]
    assert line.startswith("[disconnected] (tcp 127.0.0.1:9: connection refused")
