"""The re-don check live in the bridge: a real pipeline and websocket server on loopback,
a real QG bank calibrated on a foreign band patient, the routine's samples pushed through
the source as the patient (band shifted 5 mm) follows the prompts; the client gets
running messages, then the verdict, and the running decoder is re-anchored."""

from __future__ import annotations

import asyncio
import json
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.decoders.qg_bank import QGBank
from bridge.decoders.qg_fit import fit_calibration
from bridge.redon.routine import RoutineTiming
from bridge.redon.session_feed import routine_samples
from bridge.sim.foreign_patients import Placement, cued_session, draw_patient
from bridge.sources.base import Source
from bridge.values.sample import Sample
from bridge.values.source_info import SourceInfo, SourceState, SourceStatus
from bridge.values.status import HandStatus
from fist_and_ball.live.redon_state import parse_redon
from tests.test_server_kit import client, recv_json, recv_type, start_bridge, ws_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from tracking_compare import _info, qg_holds  # noqa: E402

BROWSER = "http://localhost:3000"


class ReplaySource(Source):
    """Samples the test pushes (fields and device times as given), stamped on arrival."""

    def __init__(self, n_sensors: int) -> None:
        self.url = "test:replay"
        self.info = SourceInfo(n_sensors=n_sensors, rate_hz=42.7, source=self.url)
        self.status = SourceStatus(state=SourceState.CONNECTING)
        self._q: queue.Queue[Sample] = queue.Queue()

    def push(self, s: Sample) -> None:
        self._q.put(Sample.from_field(s.seq, s.t_device, time.monotonic(), s.field_ut))

    def samples(self, stop: threading.Event) -> Iterator[Sample]:
        self.status.state = SourceState.CONNECTED
        while not stop.is_set():
            try:
                s = self._q.get(timeout=0.05)
            except queue.Empty:
                continue
            self.status.frames += 1
            yield s


@pytest.fixture(scope="module")
def patient_data() -> tuple[Any, list[Sample]]:
    patient = draw_patient(0, kind="band")
    fitting = cued_session(patient, repetitions=3)
    holds = [h for h in qg_holds(fitting) if h.phase.gesture == "fingers"]
    cal = fit_calibration(holds, _info(fitting))
    day = cued_session(patient, Placement(shift_mm=5.0), repetitions=1, session_seed=7)
    return cal, routine_samples(day, ("fingers",), RoutineTiming())


def _bridge(cal: Any) -> tuple[Any, Any, ReplaySource, QGBank]:
    src = ReplaySource(cal.n_sensors)
    dec = QGBank(cal, path="cal.json")
    pipeline, server = start_bridge(src, dec, allowed_origins=(BROWSER,))
    return pipeline, server, src, dec


async def _feed(
    src: ReplaySource, samples: list[Sample], started: asyncio.Event, chunk: int = 5
) -> None:
    """The stream: the relaxed patient (the routine's first second, cycled) until
    `started` (the first running message: the prompts are on), then the patient
    following the routine, then relaxed again, until cancelled. A chunk every 20 ms:
    device time runs ~6x faster than the wall clock, so the few ms between the routine's
    start and `started` are a few samples of rest."""
    dt = samples[1].t_device - samples[0].t_device
    relaxed = samples[: round(1.0 / dt)]
    k = i = 0
    while True:
        for _ in range(chunk):
            if not started.is_set():
                s = relaxed[k % len(relaxed)]
            else:
                s = samples[i] if i < len(samples) else relaxed[i % len(relaxed)]
                i += 1
            src.push(Sample.from_field(k, k * dt, 0.0, s.field_ut))
            k += 1
        await asyncio.sleep(0.02)


async def _until_final(
    ws: Any, timeout: float = 60.0, started: asyncio.Event | None = None
) -> tuple[list[dict], dict]:
    running: list[dict] = []
    while True:
        msg = await recv_type(ws, "redon", timeout)
        if msg["state"] == "running":
            running.append(msg)
            if started is not None:
                started.set()
        else:
            return running, msg


def test_live_redon_runs_on_the_stream_and_adapts_the_running_qg(patient_data) -> None:
    cal, samples = patient_data
    pipeline, server, src, dec = _bridge(cal)
    before = dec.calibration.gestures["fingers"]

    async def go() -> tuple[list[dict], dict]:
        async with client(ws_url(server)) as ws:
            assert (await recv_type(ws, "hello"))["hand_authorized"] is True
            started = asyncio.Event()
            feeder = asyncio.create_task(_feed(src, samples, started))
            await ws.send(json.dumps({"type": "redon", "action": "start"}))
            try:
                return await _until_final(ws, started=started)
            finally:
                feeder.cancel()

    try:
        running, final = asyncio.run(go())
    finally:
        pipeline.close()
    assert running, "no running message"
    for m in [*running, final]:
        parse_redon(m)  # what the add-on reads: its parser takes every message
    for m in running:
        assert m["step"] in ("rest", "fingers") and 0.0 <= m["progress"] <= 1.0
        assert m["prompt"] and m["remaining_s"] >= 0.0
    progress = [m["progress"] for m in running]
    assert progress == sorted(progress)
    assert final["state"] == "adapted", final
    assert final["summary"] and final["reasons"] and final["pose"] is None
    assert final["decoder"] == "qg:cal.json"
    assert "applied to the running decoder" in final["reasons"]
    after = dec.calibration.gestures["fingers"]
    assert after.rest_ut != before.rest_ut and after.thresholds_ut != before.thresholds_ut


def test_live_redon_refuses_unauthorised_and_second_start_and_cancels(patient_data) -> None:
    cal, samples = patient_data
    pipeline, server, src, dec = _bridge(cal)
    before = dec.calibration

    async def go() -> None:
        async with client(ws_url(server)) as owner, client(ws_url(server), origin=BROWSER) as other:
            assert (await recv_type(other, "hello"))["hand_authorized"] is False
            await other.send(json.dumps({"type": "redon", "action": "start"}))
            err = await recv_type(other, "error")
            assert err["code"] == "redon_refused" and err["ref"] == "redon"
            assert "not authorised" in err["detail"]
            feeder = asyncio.create_task(_feed(src, samples, asyncio.Event()))  # at rest
            await owner.send(json.dumps({"type": "redon", "action": "start"}))
            first = await recv_type(owner, "redon", 30)
            assert first["state"] == "running" and first["step"] == "rest"
            await owner.send(json.dumps({"type": "redon", "action": "start"}))
            assert "already running" in (await recv_type(owner, "error"))["detail"]
            await other.send(json.dumps({"type": "redon", "action": "cancel"}))
            assert "another client" in (await recv_type(other, "error"))["detail"]
            await owner.send(json.dumps({"type": "redon", "action": "cancel"}))
            _, final = await _until_final(owner, 30)
            assert final["state"] == "cancelled" and final["pose"] is None
            # the other client never saw the owner's messages
            await other.send(json.dumps({"type": "ping", "id": 1}))
            while (msg := await recv_json(other))["type"] != "pong":
                assert msg["type"] != "redon"
            await owner.send(json.dumps({"type": "redon", "action": "bogus"}))
            assert (await recv_type(owner, "error"))["code"] == "bad_field"
            feeder.cancel()

    try:
        asyncio.run(go())
    finally:
        pipeline.close()
    assert dec.calibration is before  # cancelled: nothing applied


class DisableRecordingHand:
    """The hand's command side: records commands; enabled until disabled."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool, str]] = []
        self.enabled = True

    def command(self, action: str, authorized: bool, who: str = "client") -> tuple[bool, str]:
        self.calls.append((action, authorized, who))
        if action == "disable":
            self.enabled = False
        return True, f"{action} done"

    def status(self) -> HandStatus:
        return HandStatus.of(
            {"enabled": self.enabled, "state": "active" if self.enabled else "disabled"}
        )


def test_live_redon_switches_a_moving_hand_off_for_the_check(patient_data) -> None:
    cal, samples = patient_data
    src = ReplaySource(cal.n_sensors)
    hand = DisableRecordingHand()
    pipeline, server = start_bridge(src, QGBank(cal, path="cal.json"), hand=hand)

    async def go() -> dict:
        async with client(ws_url(server)) as ws:
            await recv_type(ws, "hello")
            started = asyncio.Event()
            feeder = asyncio.create_task(_feed(src, samples, started))
            await ws.send(json.dumps({"type": "redon", "action": "start"}))
            try:
                return (await _until_final(ws, started=started))[1]
            finally:
                feeder.cancel()

    try:
        final = asyncio.run(go())
    finally:
        pipeline.close()
    # the routine's full flexions must not drive the prosthesis: disabled at the start,
    # and not re-enabled by the check
    assert [c[0] for c in hand.calls] == ["disable"]
    assert not hand.enabled
    assert any("hand was switched off" in r for r in final["reasons"])
