"""LSL on loopback (liblsl confined to this machine): the bridge's outlets read by a
pylsl inlet, a test outlet feeding `--source lsl:`, and the source's status on loss."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bridge.lsl_scope import load_pylsl
from bridge.recording import read_recording
from bridge.sources import open_source
from bridge.values.source_info import SourceState
from tests.kmg_lsl_support import (
    calibration,
    decoded_grades,
    replay_grades,
    simulated_recording,
    start_bridge,
    stop_bridge,
    wait_rows,
)

pytest.importorskip("pylsl")
lsl = load_pylsl()  # machine scope: loopback only, before any other LSL call


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lsl")


@pytest.fixture(scope="module")
def recording(folder: Path) -> Path:
    return simulated_recording(folder)


@pytest.fixture(scope="module")
def cal(folder: Path) -> Path:
    return calibration(folder)


def _labels(info: object) -> list[str]:
    out = []
    ch = info.desc().child("channels").child("channel")  # type: ignore[attr-defined]
    while not ch.empty():
        out.append(ch.child_value("label"))
        ch = ch.next_sibling("channel")
    return out


def _resolve(name: str, timeout: float = 60.0) -> object:
    found = lsl.resolve_byprop("name", name, 1, timeout)
    assert found, f"no LSL stream {name}"
    return found[0]


def test_bridge_outlets_carry_labels_rate_and_device_clock_timestamps(
    folder: Path, recording: Path, cal: Path
) -> None:
    rec = read_recording(recording)
    n = rec.n_sensors
    proc = start_bridge(
        ["--source", f"replay:{recording}", "--decoder", f"qg:{cal}", "--lsl", "T1"],
        folder / "outlet.log",
    )
    try:
        inlet = lsl.StreamInlet(_resolve("T1-KMG"), max_buflen=60)
        info = inlet.info(10.0)
        assert info.channel_count() == 3 * n
        assert info.nominal_srate() == pytest.approx(rec.rate_hz)
        assert _labels(info) == [f"b{i}_{a}" for i in range(n) for a in "xyz"]
        first = info.desc().child("channels").child("channel")
        assert first.child_value("unit") == "microtesla"
        loc = first.child("location")
        assert [float(loc.child_value(a)) for a in "XYZ"] == rec.meta["positions_mm"][0]
        offset = float(info.desc().child("kmg").child("clock").child_value("device_clock_offset_s"))
        for name, count, labels in (
            ("T1-magnitude", n, [f"b{i}_mag" for i in range(n)]),
            ("T1-grade", 3, ["grade", "level", "confidence"]),
        ):
            other = lsl.StreamInlet(_resolve(name)).info(10.0)
            assert other.channel_count() == count and _labels(other) == labels
            assert other.nominal_srate() == pytest.approx(rec.rate_hz)
        values: list[list[float]] = []
        stamps: list[float] = []
        end = time.monotonic() + 60
        while len(values) < 100 and time.monotonic() < end:
            chunk, ts = inlet.pull_chunk(1.0)
            values.extend(chunk)
            stamps.extend(ts)
            received_at = lsl.local_clock()
        assert len(values) >= 100, (folder / "outlet.log").read_text()
    finally:
        stop_bridge(proc)
    # which rows arrived: the inlet joined mid-replay, so find the first one by value
    flat = rec.field_ut.reshape(len(rec), -1)
    start = int(np.flatnonzero((flat == np.asarray(values[0])).all(axis=1))[0])
    rows = np.arange(start, start + len(values))
    np.testing.assert_array_equal(np.asarray(values), flat[rows])
    # every timestamp is the documented mapping of the device clock, within 2 ms
    expected = rec.t_s[rows] + offset
    assert np.max(np.abs(np.asarray(stamps) - expected)) < 0.002
    # the spacing is the device's, not the host's arrival jitter
    np.testing.assert_allclose(np.diff(stamps), np.diff(rec.t_s[rows]), atol=1e-6)
    # and the mapping lands on LSL's clock (generous: the sample is seconds old at most)
    assert 0 <= received_at - stamps[-1] < 30


def _outlet_of(rec_path: Path, name: str) -> tuple[object, np.ndarray, np.ndarray]:
    rec = read_recording(rec_path)
    n = rec.n_sensors
    info = lsl.StreamInfo(name, "KMG", 3 * n, rec.rate_hz, "double64", f"test:{name}")
    channels = info.desc().append_child("channels")
    for i in range(n):
        for a in "xyz":
            ch = channels.append_child("channel")
            ch.append_child_value("label", f"b{i}_{a}")
            ch.append_child_value("unit", "microtesla")
    return lsl.StreamOutlet(info), rec.field_ut.reshape(len(rec), -1), rec.t_s


def test_lsl_source_decodes_the_same_grades_as_the_csv_replay(
    folder: Path, recording: Path, cal: Path
) -> None:
    outlet, rows, t_s = _outlet_of(recording, "T2src")
    out = folder / "from_lsl.csv"
    proc = start_bridge(
        ["--source", "lsl:T2src", "--decoder", f"qg:{cal}", "--record", str(out)],
        folder / "inlet.log",
    )
    try:
        assert outlet.wait_for_consumers(60), (folder / "inlet.log").read_text()  # type: ignore[attr-defined]
        time.sleep(0.5)  # the inlet subscribes right after connecting
        t0 = lsl.local_clock()
        for row, t in zip(rows, t_s, strict=True):
            outlet.push_sample(row.tolist(), t0 + float(t))  # type: ignore[attr-defined]
        wait_rows(out, len(rows), proc, 60)
    finally:
        stop_bridge(proc)
    from_lsl = decoded_grades(out)
    from_csv = replay_grades(recording, cal, folder, "csv_reference")
    assert len(from_lsl) == len(from_csv) == len(rows), (folder / "inlet.log").read_text()
    assert len(np.unique(from_csv)) > 2
    np.testing.assert_array_equal(from_lsl, from_csv)
    np.testing.assert_allclose(read_recording(out).t_s, t_s, atol=1e-3)


def test_lsl_source_reports_loss_and_reconnects_to_a_restarted_outlet(recording: Path) -> None:
    source = open_source("lsl:T3src")
    stop = threading.Event()
    got: list[int] = []

    def run() -> None:
        for sample in source.samples(stop):
            got.append(sample.n_sensors)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def wait_for(pred: object, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():  # type: ignore[operator]
                return True
            time.sleep(0.05)
        return False

    try:
        assert wait_for(lambda: "no LSL stream named 'T3src'" in source.status.detail)
        assert source.status.state == SourceState.DISCONNECTED
        for round_ in range(2):
            outlet, rows, _ = _outlet_of(recording, "T3src")
            assert outlet.wait_for_consumers(30)  # type: ignore[attr-defined]
            before = len(got)
            end = time.monotonic() + 30
            while len(got) < before + 20 and time.monotonic() < end:
                outlet.push_sample(rows[len(got) % len(rows)].tolist())  # type: ignore[attr-defined]
                time.sleep(0.01)
            assert source.status.state == SourceState.CONNECTED
            assert source.status.reconnects == round_
            assert source.info.n_sensors == rows.shape[1] // 3
            del outlet  # the outlet goes away: the inlet sees the loss
            assert wait_for(lambda: source.status.state == SourceState.DISCONNECTED)
            assert "lost" in source.status.detail or "no " in source.status.detail
    finally:
        stop.set()
        source.close()
        thread.join(5)
    assert not thread.is_alive() and source.status.state == SourceState.ENDED
