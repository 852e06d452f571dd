"""The re-don check live with the tracking decoder: a real pipeline and websocket server
on loopback, a twin fitted on a foreign socket patient, the socket re-donned 5 mm and
10 deg away; the check (its pose fit in a child process) finds the pose and hands it to
the running tracker."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from bridge.decoders.track import TrackDecoder
from bridge.redon.session_feed import routine_samples
from bridge.sim.foreign_patients import Placement, cued_session, draw_patient
from bridge.tracking.tracker import TrackerConfig
from bridge.tracking.twin_fit import CuedData, fit_twin
from tests.test_redon_live import ReplaySource, _feed, _until_final
from tests.test_server_kit import client, recv_type, start_bridge, ws_url


def test_live_redon_hands_the_socket_pose_to_the_running_tracker() -> None:
    patient = draw_patient(0)
    fitting = cued_session(patient, repetitions=3)
    twin = fit_twin([CuedData(fitting.field_ut, fitting.gesture, fitting.sensors_mm)]).twin
    assert twin is not None
    day = cued_session(patient, Placement(5.0, 10.0), repetitions=1, session_seed=7)
    samples = routine_samples(day, twin.movements)
    src = ReplaySource(twin.n_sensors)
    # the tracker never estimates the pose itself here (settle time and pose updates
    # out of reach): any pose it has afterwards came from the check
    never = TrackerConfig(settle_s=1e6, pose_update_s=1e6)
    dec = TrackDecoder(twin, config=never, path="twin.json")
    assert dec.tracker.tables is None
    pipeline, server = start_bridge(src, dec)
    updates = []

    async def go() -> tuple[list[dict], dict]:
        async with client(ws_url(server)) as ws:
            await recv_type(ws, "hello")
            started = asyncio.Event()
            feeder = asyncio.create_task(_feed(src, samples, started))
            await ws.send(json.dumps({"type": "redon", "action": "start"}))
            try:
                return await _until_final(ws, 120, started)
            finally:
                feeder.cancel()
                updates.append(dec.tracker.pose_updates)

    try:
        running, final = asyncio.run(go())
    finally:
        pipeline.close()
    assert running and {m["step"] for m in running} <= {"rest", *twin.movements}
    assert final["state"] == "adapted", final
    assert final["decoder"] == "track:twin.json"
    assert final["pose"]["shift_mm"] == pytest.approx(5.0, abs=1.0)
    assert final["pose"]["turn_deg"] == pytest.approx(10.0, abs=2.0)
    assert "applied to the running decoder" in final["reasons"]
    # the tracker runs at the handed pose: turned ~10 deg, not the twin's own frame
    assert dec.tracker.tables is not None
    assert np.degrees(np.linalg.norm(dec.tracker.pose[:3])) == pytest.approx(10.0, abs=2.0)
    assert updates[0] >= 1
