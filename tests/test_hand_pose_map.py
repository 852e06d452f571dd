"""Pose map semantics, limits/inversion, config loading and the hand URL syntax."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bridge.outputs.hand_drivers import (
    Generic5Driver,
    HandUrlError,
    OpenBionicsDriver,
    SimHand,
    driver_from_url,
)
from bridge.outputs.hand_drivers.generic5 import (
    checksum,
    format_positions,
    frame,
    parse_feedback,
    unframe,
)
from bridge.outputs.hand_drivers.openbionics import format_csv_line, format_finger_lines
from bridge.outputs.hand_output import HandConfig
from bridge.outputs.pose_map import FingerLimits, HandLimits, Pose, PoseMap, PoseMapConfig

OPEN = Pose((0.0,) * 5)


def test_fist_closes_fingers_and_thumb_partially() -> None:
    pm = PoseMap(PoseMapConfig(), HandLimits(), has_wrist=False)
    t = pm.map("fingers", 1.0, OPEN)
    assert t.pose.fingers == (60.0, 100.0, 100.0, 100.0, 100.0)
    assert t.pose.wrist is None and t.speed_cap_pct_s is None
    half = pm.map("fingers", 0.5, OPEN).pose
    assert half.fingers[1] == 50.0 and half.fingers[0] == 30.0


def test_thumb_moves_only_thumb_and_others_hold() -> None:
    pm = PoseMap(PoseMapConfig(), HandLimits(), has_wrist=False)
    cur = Pose((10.0, 40.0, 41.0, 42.0, 43.0))
    t = pm.map("thumb", 0.8, cur).pose
    assert t.fingers == (80.0, 40.0, 41.0, 42.0, 43.0)


def test_wrist_drives_wrist_or_is_ignored() -> None:
    cur = Pose((10.0, 40.0, 41.0, 42.0, 43.0), 50.0)
    with_wrist = PoseMap(PoseMapConfig(), HandLimits(), has_wrist=True)
    t = with_wrist.map("wrist", 0.25, cur).pose
    assert t.wrist == 25.0 and t.fingers == cur.fingers
    no_wrist = PoseMap(PoseMapConfig(), HandLimits(), has_wrist=False)
    t2 = no_wrist.map("wrist", 0.25, Pose(cur.fingers)).pose
    assert t2 == Pose(cur.fingers)


def test_rest_hold_and_open_modes() -> None:
    lim = HandLimits()
    cur = Pose((10.0, 40.0, 41.0, 42.0, 43.0))
    assert PoseMap(PoseMapConfig(), lim, False).map("rest", 0.9, cur).pose == cur
    t = PoseMap(PoseMapConfig(rest_mode="open", rest_open_speed_pct_s=7.0), lim, False).map(
        "rest", 0.9, cur
    )
    assert t.pose == lim.open_pose(False) and t.speed_cap_pct_s == 7.0
    assert PoseMap(PoseMapConfig(), lim, False).map("nonsense", 0.9, cur).pose == cur


def test_levels_clamped_and_nan_propagates() -> None:
    pm = PoseMap(PoseMapConfig(), HandLimits(), has_wrist=False)
    assert pm.map("fingers", 7.0, OPEN).pose.fingers[1] == 100.0
    assert pm.map("fingers", -3.0, OPEN).pose.fingers[1] == 0.0
    for g in ("fingers", "thumb", "wrist", "rest", "bogus"):
        for bad in (math.nan, math.inf, -math.inf):
            assert not pm.map(g, bad, OPEN).pose.is_finite()


def test_limits_scale_and_inversion_at_the_wire() -> None:
    lim = HandLimits()
    lim.fingers[1] = FingerLimits(min_pos=10.0, max_pos=90.0, invert=True)
    pm = PoseMap(PoseMapConfig(), lim, has_wrist=False)
    p = pm.map("fingers", 1.0, OPEN).pose
    assert p.fingers[1] == 90.0  # logical: 90 % closed
    motor = lim.to_motor(p)
    assert motor.fingers[1] == pytest.approx(10.0)
    assert lim.from_motor(motor) == p
    assert lim.clamp(Pose((-5.0, 95.0, 50.0, 120.0, 0.0))).fingers[:2] == (0.0, 90.0)
    assert lim.open_pose(True) == Pose((0.0, 10.0, 0.0, 0.0, 0.0), 50.0)


def test_config_json_roundtrip_and_errors(tmp_path: Path) -> None:
    cfg = HandConfig()
    cfg.limits.fingers[2].max_pos = 85.0
    cfg.pose_map.rest_mode = "open"
    cfg.safety.hold_s = 3.0
    path = tmp_path / "hand.json"
    path.write_text(json.dumps(cfg.to_dict()))
    back = HandConfig.from_json(path)
    assert back == cfg
    partial = HandConfig.from_dict({"safety": {"watchdog_s": 0.3}})
    assert partial.safety.watchdog_s == 0.3 and partial.safety.hold_s == 1.5
    bad: list[tuple[dict[str, Any], str]] = [
        ({"safety": {"watchdog": 1}}, "unknown key"),
        ({"safety": {"watchdog_s": -1}}, "watchdog_s"),
        ({"limits": {"fingers": [{"min_pos": 50, "max_pos": 10}] * 5}}, "min_pos < max_pos"),
        ({"limits": {"fingers": [{}] * 4}}, "5 entries"),
        ({"pose_map": {"rest_mode": "wiggle"}}, "rest_mode"),
        ({"tick_hz": 0}, "tick_hz"),
        ({"speed": 3}, "unknown key"),
    ]
    for data, needle in bad:
        with pytest.raises(ValueError, match=needle):
            HandConfig.from_dict(data)
    (tmp_path / "broken.json").write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        HandConfig.from_json(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="cannot read"):
        HandConfig.from_json(tmp_path / "missing.json")


def test_driver_urls() -> None:
    d = driver_from_url("sim?wrist=1&speed=50")
    assert isinstance(d, SimHand) and d.has_wrist and d.motor_speed_pct_s == 50.0
    ob = driver_from_url("serial:/dev/ttyACM0?protocol=openbionics&baud=57600&speed=100")
    assert isinstance(ob, OpenBionicsDriver) and ob.baud == 57600 and not ob.csv
    assert ob.port == "/dev/ttyACM0" and ob.speed == 100
    csv = driver_from_url("serial:/dev/ttyUSB1?protocol=openbionics-csv")
    assert isinstance(csv, OpenBionicsDriver) and csv.csv and csv.baud == 115200
    g = driver_from_url("serial:///dev/ttyACM0?protocol=generic5&wrist=1")
    assert isinstance(g, Generic5Driver) and g.has_wrist and g.port == "/dev/ttyACM0"
    for url, needle in [
        ("", "empty"),
        ("usb:/dev/x", "not understood"),
        ("serial:?protocol=generic5", "missing port"),
        ("serial:/dev/x?protocol=can", "unknown protocol"),
        ("serial:/dev/x?baud=fast", "integer"),
        ("serial:/dev/x?protocol=openbionics&speed=999", "0..255"),
        ("serial:/dev/x?protocol=openbionics&wrist=1", "no wrist"),
        ("sim?colour=red", "unknown option"),
    ]:
        with pytest.raises(HandUrlError, match=needle):
            driver_from_url(url)


def test_line_formats() -> None:
    p = Pose((0.0, 49.6, 100.0, 12.34, 80.0))
    assert format_finger_lines(p, 200) == ["F0 P0 S200", "F1 P50 S200", "F2 P100 S200",
                                            "F3 P12 S200", "F4 P80 S200"]  # fmt: skip
    assert format_csv_line(p) == "0,50,100,12,80"
    line = format_positions(p, has_wrist=False)
    assert line.startswith("P 0.0,49.6,100.0,12.3,80.0*")
    assert unframe(line) == line.split("*")[0]
    assert unframe(line[:-1] + ("0" if line[-1] != "0" else "1")) is None
    assert unframe("P 1,2,3,4,5") is None
    assert frame("E") == "E*45" and frame("X") == "X*58" and checksum("") == "00"
    fb = parse_feedback("Q 1.0,2,3,4,5,60", has_wrist=True)
    assert fb == Pose((1.0, 2.0, 3.0, 4.0, 5.0), 60.0)
    assert parse_feedback("Q 1,2,3", False) is None
    assert parse_feedback("Q 1,2,3,4,nan", False) is None
    assert parse_feedback("Q 1,2,3,4,500", False) is None
