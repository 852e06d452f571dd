"""End to end over real serial I/O: HandOutput -> pyserial -> pty -> fake hand firmware.

The fake firmware thread reads the pty master and records every line with its arrival
time (time.monotonic, the same clock the hand output uses). Checks run on what the
firmware received. Time tolerances are generous (shared, noisy machine): they only
absorb scheduling jitter and never hide a missing limit, which shows as a jump of
tens of percent.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import random
import select
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_server_kit import pipeline_status

from bridge.outputs.hand_drivers import SerialLineDriver
from bridge.outputs.hand_drivers.generic5 import frame, unframe
from bridge.outputs.hand_output import HandConfig, open_hand
from bridge.outputs.hand_safety import HandState
from bridge.outputs.pose_map import FingerLimits, HandLimits
from bridge.values.sample import Decoded, Sample

SAMPLE_DT = 1 / 42.7
JITTER_S = 0.15  # arrival-time slack for slew checks (reader/writer scheduling)


class FakeFirmware:
    """A hand on the master side of a pty; `link` is a symlink the driver opens, so a
    replugged hand (a new pty) appears at the same path like /dev/ttyACM0 does."""

    def __init__(self, link: Path, *, echo_feedback: bool = False) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        link.unlink(missing_ok=True)
        link.symlink_to(os.ttyname(self.slave))
        self.echo = echo_feedback
        self.armed = False
        self.lines: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                time.sleep(0.01)
                continue
            t = time.monotonic()
            buf += data
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode("ascii", "replace").strip()
                if not line:
                    continue
                self.lines.append((t, line))
                self._react(line)

    def _react(self, line: str) -> None:
        body = unframe(line)
        if body == "E":
            self.armed = True
        elif body == "X":
            self.armed = False
        elif body is not None and body.startswith("P ") and self.armed and self.echo:
            reply = frame("Q " + body[2:]) + "\n"
            garbage = "Q 1,2,3,4,5*00\n"  # a bad checksum the driver must ignore
            for out in (reply, garbage):
                with contextlib.suppress(OSError):
                    os.write(self.master, out.encode())

    def snapshot(self) -> list[tuple[float, str]]:
        return list(self.lines)

    def unplug(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def limits() -> HandLimits:
    lim = HandLimits()
    lim.fingers[0] = FingerLimits(min_pos=5.0, max_pos=70.0, max_speed_pct_s=50.0)
    lim.fingers[2] = FingerLimits(min_pos=0.0, max_pos=90.0, max_speed_pct_s=80.0)
    lim.fingers[4] = FingerLimits(max_speed_pct_s=80.0, invert=True)
    return lim


def config() -> HandConfig:
    cfg = HandConfig(limits=limits())
    cfg.safety.watchdog_s = 0.2
    cfg.safety.hold_s = 0.4
    cfg.safety.open_speed_pct_s = 40.0
    cfg.keepalive_s = 0.3
    cfg.reconnect_min_s = 0.1
    cfg.reconnect_max_s = 0.4
    return cfg


READY = pipeline_status()


class Rig:
    def __init__(self, tmp: Path, protocol: str, *, enabled: bool, echo: bool = False) -> None:
        self.link = tmp / "ttyHAND"
        self.protocol = protocol
        self.fw = FakeFirmware(self.link, echo_feedback=echo)
        self.cfg = config()
        self.out = open_hand(
            f"serial:{self.link}?protocol={protocol}&baud=115200", enabled=enabled, config=self.cfg
        )
        self.seq = 0
        self.last_sample_t = -math.inf

    @property
    def driver(self) -> SerialLineDriver:
        d = self.out.driver
        assert isinstance(d, SerialLineDriver)
        return d

    def feed(self, gesture: str, level: float) -> None:
        t = time.monotonic()
        d = Decoded(self.seq, t, gesture, 4, 0.5, 1.0)
        d.level = level  # bypass Decoded's clamp: the hand must cope with anything
        self.out.on_sample(Sample.from_field(self.seq, t, t, np.zeros((1, 3))), d)
        self.seq += 1
        self.last_sample_t = t

    def stream(self, seconds: float, gesture: str, level: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.feed(gesture, level)
            time.sleep(SAMPLE_DT)

    def wait_for(self, cond, timeout: float = 3.0) -> bool:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.02)
        return cond()

    def connected(self) -> bool:
        return self.wait_for(lambda: self.out.state_dict()["connected"])

    def close(self) -> None:
        self.out.close()
        self.fw.unplug()


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for r in made:
        r.close()


def make_rig(rigs: list[Rig], tmp: Path, protocol: str, **kw: bool) -> Rig:
    r = Rig(tmp, protocol, **kw)  # type: ignore[arg-type]
    rigs.append(r)
    assert r.connected(), r.out.state_dict()["link_detail"]
    return r


def movements(lines: list[tuple[float, str]], protocol: str) -> list[tuple[float, int, float]]:
    """(arrival time, finger, motor position) for every movement command line."""
    out: list[tuple[float, int, float]] = []
    for t, line in lines:
        if protocol == "generic5":
            body = unframe(line)
            assert body is not None, f"bad checksum on the wire: {line!r}"
            if body.startswith("P "):
                out += [(t, i, float(v)) for i, v in enumerate(body[2:].split(","))]
            else:
                assert body in ("E", "X"), line
        elif protocol == "openbionics":
            f, p, s = line.split()
            assert f[0] == "F" and p[0] == "P" and s[0] == "S", line
            out.append((t, int(f[1:]), float(p[1:])))
        else:
            vals = line.split(",")
            assert len(vals) == 5, line
            out += [(t, i, float(v)) for i, v in enumerate(vals)]
    return out


def logical_tracks(
    moves: list[tuple[float, int, float]], lim: HandLimits
) -> dict[int, list[tuple[float, float]]]:
    tracks: dict[int, list[tuple[float, float]]] = {i: [] for i in range(5)}
    for t, i, p in moves:
        tracks[i].append((t, 100.0 - p if lim.fingers[i].invert else p))
    return tracks


def check_limits_and_slew(
    tracks: dict[int, list[tuple[float, float]]], lim: HandLimits, rounding: float
) -> None:
    """Positions inside limits (allowing wire rounding); per finger, consecutive commands
    and any pair >= 0.5 s apart move at most speed x (elapsed + jitter)."""
    for i, track in tracks.items():
        fl = lim.fingers[i]
        for t, p in track:
            assert fl.min_pos - rounding <= p <= fl.max_pos + rounding, (i, t, p)
        for (t0, p0), (t1, p1) in itertools.pairwise(track):
            allowed = fl.max_speed_pct_s * (t1 - t0 + JITTER_S) + 2 * rounding
            assert abs(p1 - p0) <= allowed, f"finger {i}: {p0} -> {p1} in {t1 - t0:.3f} s"
        for a in range(0, len(track), 5):
            t0, p0 = track[a]
            for t1, p1 in track[a + 1 :]:
                if t1 - t0 >= 0.5:
                    allowed = fl.max_speed_pct_s * (t1 - t0 + JITTER_S) + 2 * rounding
                    assert abs(p1 - p0) <= allowed, (i, t0, t1, p0, p1)


def test_checker_catches_violations() -> None:
    """The checker itself can fail: a jump and an out-of-limit value are caught."""
    lim = limits()
    with pytest.raises(AssertionError):
        check_limits_and_slew({1: [(0.0, 0.0), (0.02, 60.0)]}, lim, 0.5)
    with pytest.raises(AssertionError):
        check_limits_and_slew({2: [(0.0, 95.0)]}, lim, 0.5)
    with pytest.raises(AssertionError):  # 2x too fast over a long window
        track = [(k * 0.02, min(k * 0.02 * 160.0, 100.0)) for k in range(40)]
        check_limits_and_slew({1: track}, lim, 0.5)


ROUNDING = {"generic5": 0.05, "openbionics": 0.5, "openbionics-csv": 0.5}


@pytest.mark.parametrize("protocol", ["openbionics", "openbionics-csv", "generic5"])
def test_fuzzed_stream_respects_limits_and_slew(
    rigs: list[Rig], tmp_path: Path, protocol: str
) -> None:
    rig = make_rig(rigs, tmp_path, protocol, enabled=True, echo=True)
    rig.out.on_status(READY)
    rng = random.Random(f"hand-fuzz-{protocol}")
    gestures = ["fingers"] * 5 + ["thumb"] * 2 + ["wrist", "rest", "bogus"]
    level, gesture = 0.5, "fingers"
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        if rng.random() < 0.05:
            gesture = rng.choice(gestures)
        if rng.random() < 0.15:
            level = rng.uniform(-0.5, 1.5)  # out of range half the time
        bad = rng.random()
        value = math.nan if bad < 0.05 else (math.inf if bad < 0.07 else level)
        for _ in range(rng.randint(5, 12) if rng.random() < 0.05 else 1):  # bursts
            rig.feed(gesture, value)
        r = rng.random()
        if r < 0.005:
            rig.out.on_status(pipeline_status("disconnected", decoder_ready=True))
        elif r < 0.05:
            rig.out.on_status(READY)
        gap = rng.random()
        if gap < 0.01:
            time.sleep(rng.uniform(0.25, 0.6))  # watchdog, hold and maybe open
        elif gap < 0.05:
            time.sleep(rng.uniform(0.04, 0.15))
        else:
            time.sleep(SAMPLE_DT)
    status = rig.out.state_dict()
    rig.out.close()
    time.sleep(0.1)
    lines = rig.fw.snapshot()
    tracks = logical_tracks(movements(lines, protocol), rig.cfg.limits)
    assert sum(len(t) for t in tracks.values()) > 25, "the fuzz barely moved the hand"
    spans = [max(p for _, p in t) - min(p for _, p in t) for t in tracks.values() if t]
    assert max(spans) > 20.0, "the fuzz never moved a finger far"
    assert rig.out.state_dict()["rejected_inputs"] > 0  # NaN/inf levels were refused
    check_limits_and_slew(tracks, rig.cfg.limits, ROUNDING[protocol])
    if protocol == "generic5":
        assert lines[0][1] == "E*45"  # armed before the first P
        assert status["driver"]["bad_lines"] > 0  # garbage was ignored
        assert status["feedback"] is not None and status["feedback_age_s"] is not None


@pytest.mark.parametrize(
    ("protocol", "how"), [("generic5", "status"), ("openbionics", "no_samples")]
)
def test_source_loss_holds_then_opens_in_time(
    rigs: list[Rig], tmp_path: Path, protocol: str, how: str
) -> None:
    rig = make_rig(rigs, tmp_path, protocol, enabled=True)
    rig.out.on_status(READY)
    rig.stream(0.9, "fingers", 0.5)
    cfg = rig.cfg.safety
    if how == "status":
        t_cut = time.monotonic()
        rig.out.on_status(pipeline_status("disconnected", decoder_ready=True))
        hold_from = t_cut
    else:
        t_cut = rig.last_sample_t
        hold_from = t_cut + cfg.watchdog_s
    open_due = hold_from + cfg.hold_s
    held = 50.0
    open_time = held / cfg.open_speed_pct_s
    assert rig.wait_for(lambda: rig.out.state == HandState.OPENING, 3.0)
    rig.wait_for(lambda: rig.out.state_dict()["pose"]["fingers"][1] <= 0.0, open_time + 3.0)
    time.sleep(0.1)
    track = logical_tracks(movements(rig.fw.snapshot(), protocol), rig.cfg.limits)[1]
    before = [p for t, p in track if t <= t_cut]
    after = [(t, p) for t, p in track if t > t_cut]
    assert before[-1] == pytest.approx(held, abs=0.6)
    opening = [(t, p) for t, p in after if p < held - 0.6]
    assert opening, "the hand never opened"
    t_open = opening[0][0]
    # Held (no movement) from the cut until the documented hold time ran out ...
    assert all(p == pytest.approx(held, abs=0.6) for t, p in after if t < t_open)
    assert t_open >= open_due - 0.01, f"opened {open_due - t_open:.3f} s early"
    assert t_open <= open_due + 0.5, f"opened {t_open - open_due:.3f} s late"
    # ... then opened slowly (at the open speed) all the way.
    t_done = next(t for t, p in after if p <= 0.6)
    assert t_done - t_open >= open_time * 0.8 - JITTER_S
    assert t_done <= open_due + open_time + 1.0
    assert rig.out.state_dict()["transitions"][-1]["to"] == "opening"


@pytest.mark.parametrize("protocol", ["generic5", "openbionics"])
def test_estop_halts_and_needs_reenable(rigs: list[Rig], tmp_path: Path, protocol: str) -> None:
    rig = make_rig(rigs, tmp_path, protocol, enabled=True)
    rig.out.on_status(READY)
    rig.stream(0.4, "fingers", 0.9)  # moving toward a fist
    ok, msg = rig.out.command("stop", authorized=False)  # stop needs no authorization
    n = rig.driver.lines_written
    assert ok and rig.out.state == HandState.ESTOP, msg
    rig.stream(0.5, "fingers", 0.1)
    assert rig.driver.lines_written == n, "a command was written after the stop"
    assert rig.wait_for(lambda: len(rig.fw.snapshot()) >= n)
    time.sleep(0.2)
    lines = rig.fw.snapshot()
    assert len(lines) == n
    if protocol == "generic5":
        assert lines[-1][1] == "X*58"  # the stop line, and nothing after it
    ok, _ = rig.out.command("enable", authorized=False)
    assert not ok and rig.out.state == HandState.ESTOP
    rig.stream(0.3, "fingers", 0.1)
    assert rig.driver.lines_written == n
    ok, _ = rig.out.command("enable", authorized=True)
    assert ok
    rig.stream(0.4, "fingers", 0.1)
    assert rig.out.state == HandState.ACTIVE
    assert rig.wait_for(lambda: len(rig.fw.snapshot()) > n + 2)
    new = [ln for _, ln in rig.fw.snapshot()[n:]]
    if protocol == "generic5":
        assert new[0] == "E*45"
    assert movements([(0.0, ln) for ln in new if ln != "E*45"], protocol)


def test_starts_disabled_and_refuses_unauthorized_enable(
    rigs: list[Rig], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig(rigs, tmp_path, "generic5", enabled=False)
    rig.out.on_status(READY)
    rig.stream(0.5, "fingers", 1.0)
    assert movements(rig.fw.snapshot(), "generic5") == []
    with caplog.at_level(logging.WARNING, logger="bridge.hand"):
        ok, msg = rig.out.command("enable", authorized=False, who="ws client (browser origin)")
    assert not ok and "not authorized" in msg
    assert any("enable refused" in r.getMessage() for r in caplog.records)
    assert rig.out.state_dict()["events"][-1] == {
        **rig.out.state_dict()["events"][-1],
        "action": "enable",
        "accepted": False,
    }
    rig.stream(0.3, "fingers", 1.0)
    assert movements(rig.fw.snapshot(), "generic5") == []
    ok, _ = rig.out.command("enable", authorized=True)
    assert ok
    rig.stream(0.4, "fingers", 1.0)
    lines = [ln for _, ln in rig.fw.snapshot()]
    assert lines[0] == "E*45" and len(movements(rig.fw.snapshot(), "generic5")) > 0


def test_blocked_while_decoder_not_ready(rigs: list[Rig], tmp_path: Path) -> None:
    rig = make_rig(rigs, tmp_path, "openbionics-csv", enabled=True)
    rig.out.on_status(pipeline_status("connected", decoder_ready=False))
    rig.stream(0.5, "fingers", 1.0)
    assert rig.out.state == HandState.BLOCKED
    assert "decoder not ready" in rig.out.state_dict()["reason"]
    assert rig.fw.snapshot() == []
    rig.out.on_status(READY)
    rig.stream(0.4, "fingers", 1.0)
    assert rig.out.state == HandState.ACTIVE
    assert rig.wait_for(lambda: len(rig.fw.snapshot()) > 0)


@pytest.mark.parametrize("protocol", ["generic5", "openbionics"])
def test_unplug_reports_and_reconnects_without_replay(
    rigs: list[Rig], tmp_path: Path, protocol: str
) -> None:
    rig = make_rig(rigs, tmp_path, protocol, enabled=True, echo=True)
    rig.out.on_status(READY)
    rig.stream(0.8, "fingers", 0.3)
    pre = logical_tracks(movements(rig.fw.snapshot(), protocol), rig.cfg.limits)[1][-1][1]
    assert pre == pytest.approx(30.0, abs=0.6)
    rig.fw.unplug()
    rig.stream(0.6, "fingers", 1.0)  # the decoder asks for a fist while unplugged
    assert rig.wait_for(lambda: not rig.out.state_dict()["connected"])
    d = rig.out.state_dict()
    assert d["link"] == "disconnected" and "disconnected" in d["link_detail"]
    assert d["state"] in ("holding", "opening")
    rig.fw = FakeFirmware(rig.link, echo_feedback=True)  # replugged at the same path
    assert rig.wait_for(lambda: rig.out.state_dict()["reconnects"] >= 1)
    assert rig.connected()
    time.sleep(0.5)
    lines = rig.fw.snapshot()
    track = logical_tracks(movements(lines, protocol), rig.cfg.limits)[1]
    assert track, "nothing sent after reconnect (expected the held or opening pose)"
    assert all(p <= pre + 0.6 for _, p in track), "a stale fist command was replayed"
    if protocol == "generic5":
        assert lines[0][1] == "E*45"
    assert rig.out._thread.is_alive()
    # Live input after the reconnect is followed again.
    rig.stream(0.6, "fingers", 0.6)
    assert rig.out.state == HandState.ACTIVE
    track = logical_tracks(movements(rig.fw.snapshot(), protocol), rig.cfg.limits)[1]
    assert track[-1][1] > pre + 5.0


def test_release_after_stop_rearms_and_opens_slowly_on_the_wire(
    rigs: list[Rig], tmp_path: Path
) -> None:
    """A patient whose decoder failed can let go: after an e-stop (motors disarmed,
    the hand frozen closed) `release` re-arms (E) and opens at open_speed_pct_s, while
    the decoder still asks for a fist; no enable is needed and none happens."""
    rig = make_rig(rigs, tmp_path, "generic5", enabled=True)
    rig.out.on_status(READY)
    rig.stream(1.6, "fingers", 1.0)
    rig.out.command("stop", authorized=False)
    assert rig.wait_for(lambda: rig.fw.snapshot()[-1][1] == "X*58")
    n = len(rig.fw.snapshot())
    pre = logical_tracks(movements(rig.fw.snapshot(), "generic5"), rig.cfg.limits)[1][-1][1]
    assert pre > 90.0
    ok, msg = rig.out.command("release", authorized=False, who="patient")
    assert ok and rig.out.state == HandState.RELEASING, msg
    rig.stream(3.0, "fingers", 1.0)
    assert rig.wait_for(lambda: rig.out.state == HandState.RELEASED, timeout=5.0)
    new = rig.fw.snapshot()[n:]
    assert new[0][1] == "E*45"
    track = logical_tracks(movements(new[1:], "generic5"), rig.cfg.limits)[1]
    assert track[-1][1] == pytest.approx(0.0, abs=0.06)
    speed = rig.cfg.safety.open_speed_pct_s
    for (t0, p0), (t1, p1) in itertools.pairwise(track):
        assert p1 <= p0 + 0.06 and p0 - p1 <= speed * (t1 - t0 + JITTER_S) + 0.1
    assert pre - track[0][1] <= speed * JITTER_S + 0.1  # no jump at the start
