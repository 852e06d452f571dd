"""`--decoder track:TWIN.json`: the decoder, the `grades` extension of `grade`, and the
bridge end to end (replayed foreign-patient recording -> real websocket client)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect

from bridge.decoders.factory import open_decoder
from bridge.decoders.track import TrackDecoder
from bridge.server import protocol
from bridge.sim.foreign_patients import Placement, write_recording
from bridge.values.sample import Decoded, Sample
from bridge.values.source_info import SourceInfo
from tests.test_bridge_cli import _Bridge
from tests.tracking_cases import SEEDS, later_session, patient, twin_fit

SEED = SEEDS[0]
SHIFTED = Placement(shift_mm=5.0, turn_deg=10.0)


def _twin_file(tmp_path: Path) -> Path:
    fit = twin_fit(SEED)
    assert fit.twin is not None, fit.refused
    return fit.twin.save(tmp_path / "twin.json")


def _info(n: int | None, rate: float = 42.7) -> SourceInfo:
    return SourceInfo(n_sensors=n, rate_hz=rate)


def test_confidence_zero_until_pose_known_then_grades_for_every_tag(tmp_path: Path) -> None:
    s = later_session(SEED, SHIFTED)
    dec = open_decoder(f"track:{_twin_file(tmp_path)}", _info(s.field_ut.shape[1], s.rate_hz))
    assert isinstance(dec, TrackDecoder) and not dec.ready
    dec.run_offline()  # pose fitted inline: ready exactly after the settle time
    out = [dec.decode(Sample.from_field(i, 0.0, 0.0, f)) for i, f in enumerate(s.field_ut)]
    settle = round(2.0 * s.rate_hz) - 1
    assert all(d.confidence == 0.0 for d in out[:settle])
    assert dec.ready
    later = out[settle + 5 :]
    assert all(d.grades is not None and set(d.grades) == set(dec.twin.movements) for d in later)
    # every tag's simultaneous grade follows its own true displacement
    stroke = patient(SEED).strokes_mm
    for j, g in enumerate(dec.twin.movements):
        got = np.array([d.grades[g][0] for d in later if d.grades is not None])
        want = 8.0 * s.displacement_mm[settle + 5 :, j] / stroke[j]
        assert np.mean(np.abs(got - want)) < 0.6, g
    assert np.mean([d.confidence for d in later]) > 0.9


def test_wrong_sensor_count_is_not_ready_with_confidence_zero(tmp_path: Path) -> None:
    s = later_session(SEED, Placement())
    dec = open_decoder(f"track:{_twin_file(tmp_path)}", _info(None, s.rate_hz))
    assert isinstance(dec, TrackDecoder)
    dec.run_offline()
    for i, f in enumerate(s.field_ut[:200]):
        dec.decode(Sample.from_field(i, 0.0, 0.0, f))
    assert dec.ready
    short = dec.decode(Sample.from_field(200, 0.0, 0.0, s.field_ut[200][:-1]))
    assert short.confidence == 0.0 and not dec.ready
    assert "fist-and-ball twin fit" in dec.describe()["problem"]
    back = dec.decode(Sample.from_field(201, 0.0, 0.0, s.field_ut[201]))
    assert dec.ready and back.confidence > 0.5


def test_open_refuses_a_twin_for_another_device(tmp_path: Path) -> None:
    twin = _twin_file(tmp_path)
    n = int(np.asarray(json.loads(twin.read_text())["sensors_mm"]).shape[0])
    with pytest.raises(ValueError, match="sensors"):
        open_decoder(f"track:{twin}", _info(n + 1))
    moved = [[x + 3.0, y, z] for x, y, z in json.loads(twin.read_text())["sensors_mm"]]
    with pytest.raises(ValueError, match="other sensor positions"):
        open_decoder(f"track:{twin}", SourceInfo(n_sensors=n, positions_mm=moved))
    for spec, needle in (("track", "track:TWIN.json"), ("track:/nope.json", "does not exist")):
        with pytest.raises(ValueError, match=needle):
            open_decoder(spec, _info(n))
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something-else"}')
    with pytest.raises(ValueError, match="not a twin file"):
        open_decoder(f"track:{bad}", _info(n))


def _strict(data: bytes) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} in a message")

    return dict(json.loads(data, parse_constant=refuse))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_grade_message_grades_object_is_finite_and_optional(bad: float) -> None:
    s = Sample.from_field(3, 0.03, 12.5, np.zeros((2, 3)))
    plain = _strict(protocol.grade(Decoded(3, 12.5, "fingers", 4, 0.5, 0.9), s))
    assert "grades" not in plain
    grades = {"fingers": (4, 0.5, 0.9), "wrist": (9, bad, bad), "thumb": (-1, 2.0, 0.3)}
    msg = _strict(protocol.grade(Decoded(3, 12.5, "fingers", 4, 0.5, 0.9, None, grades), s))
    assert msg["grades"] == {
        "fingers": {"grade": 4, "level": 0.5, "confidence": 0.9},
        "wrist": {"grade": 8, "level": 0.0, "confidence": 0.0},
        "thumb": {"grade": 0, "level": 1.0, "confidence": 0.3},
    }
    assert msg["gesture"] == "fingers" and msg["grade"] == 4


def test_bridge_with_track_decoder_sends_grades_per_tag(tmp_path: Path) -> None:
    """A foreign patient's later session (socket shifted and turned), replayed through
    `bridge --decoder track:` with a twin fitted on another session: a websocket client
    receives `grades` for every tag, and they follow the true displacements."""
    s = later_session(SEED, SHIFTED)
    rec = write_recording(s, tmp_path / "later.csv")
    twin = _twin_file(tmp_path)
    bridge = _Bridge(
        [
            "--source",
            f"replay:{rec}?speed=4",
            "--decoder",
            f"track:{twin}",
            "--port",
            "0",
            "--quiet",
        ]
    )
    last_seq = len(s) - 1
    try:
        url = bridge.wait_url(60)

        async def client() -> tuple[dict, list[dict]]:
            async with connect(url, open_timeout=10) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                got: list[dict] = []
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    try:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    except TimeoutError:
                        break
                    if msg["type"] == "grade":
                        got.append(msg)
                        if msg["seq"] == last_seq:
                            break
                return hello, got

        hello, grades = asyncio.run(client())
        exit_code = bridge.finish()
    finally:
        bridge.stop()
    assert exit_code == 0, "".join(bridge.lines)
    assert hello["decoder"] == "track"
    assert len(grades) > 0.8 * len(s), (len(grades), len(s))
    movements = ("fingers", "wrist", "thumb")
    confident = [g for g in grades if g["confidence"] > 0.5]
    assert len(confident) > 0.7 * len(s)
    stroke = patient(SEED).strokes_mm
    for g in grades:
        assert set(g["grades"]) == set(movements), g
    for j, m in enumerate(movements):
        got = np.array([g["grades"][m]["grade"] for g in confident])
        want = np.array([8.0 * s.displacement_mm[g["seq"], j] / stroke[j] for g in confident])
        assert np.mean(np.abs(got - want)) < 0.6, m
        assert got.max() >= 6  # each tag's own movement is seen


def test_unknown_source_rate_is_measured_from_the_device_clock(tmp_path: Path) -> None:
    """A source that does not say its rate (serial): the settle time and the pose-update
    period are counted at the measured rate, not the 42.7 Hz default."""
    s = later_session(SEED, Placement())
    dec = open_decoder(f"track:{_twin_file(tmp_path)}", _info(None, 0.0))
    assert isinstance(dec, TrackDecoder)
    dec.run_offline()
    for i in range(60):
        dec.decode(Sample.from_field(i, i / 1000.0, 0.0, s.field_ut[0]))
    assert dec.tracker.rate_hz == pytest.approx(1000.0)
    assert not dec.ready  # 60 samples are not 2 s at 1000 Hz
