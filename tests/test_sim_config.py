"""SimConfig: URL options, defaults, validation messages."""

from __future__ import annotations

import pytest

from bridge.sim.config import SimConfig
from bridge.sim.layouts import LAYOUTS


def test_from_query_parses_types_and_aliases() -> None:
    cfg = SimConfig.from_query(
        "socket16",
        "seed=3&shift_mm=5&rate=1000&cue_script=intent&gestures=fingers,thumb&drift=0"
        "&disturbances=mains+step&arm_yaw_deg=auto&samples_per_gesture=7000",
    )
    assert cfg.layout == "socket16" and cfg.seed == 3 and cfg.shift_mm == 5.0
    assert cfg.rate_hz == 1000.0 and cfg.cue_script == "intent"
    assert cfg.gestures == ("fingers", "thumb") and cfg.drift is False
    assert cfg.disturbance_kinds == ("mains", "step")
    assert cfg.arm_yaw_deg is None and cfg.samples_per_gesture == 7000
    assert SimConfig.from_query("myo3", "?disturbances=1").disturbance_kinds == (
        "mains",
        "object",
        "step",
    )
    assert SimConfig.from_query("myo3", "").layout == "myo3"


def test_defaults() -> None:
    cfg = SimConfig()
    assert (cfg.layout, cfg.rate_hz, cfg.seed, cfg.remanence_t) == ("socket16", 42.7, 0, 1.3)
    assert cfg.noise_ut_rms == 0.32 and cfg.earth_ut == 50.0 and cfg.repetitions == 10
    assert cfg.gestures == ("fingers", "wrist", "thumb") and cfg.cue_script == "scripted"
    for name, lay in LAYOUTS.items():
        assert SimConfig(layout=name).effective_full_scale_gauss == lay.full_scale_gauss
    assert SimConfig(sensor="LIS2MDL").effective_full_scale_gauss == 50.0


def test_unknown_option_is_named_with_the_valid_ones() -> None:
    with pytest.raises(ValueError) as exc:
        SimConfig.from_query("socket16", "seed=1&colour=red")
    msg = str(exc.value)
    assert "'colour'" in msg and "shift_mm" in msg and "rate_hz" in msg and "rate=" in msg
    # keys the caller handles are skipped and listed
    assert SimConfig.from_query("myo3", "speed=max", ignore=("speed",)).layout == "myo3"
    with pytest.raises(ValueError, match="speed"):
        SimConfig.from_query("myo3", "bogus=1", ignore=("speed",))


@pytest.mark.parametrize(
    ("layout", "query", "match"),
    [
        ("band99", "", "unknown sensor layout 'band99'.*myo3.*socket16"),
        ("socket16", "seed=abc", "seed='abc'.*integer"),
        ("socket16", "rate=-5", "rate_hz must be > 0"),
        ("socket16", "rate=nan", "finite"),
        ("socket16", "cue_script=freestyle", "cue_script 'freestyle'.*scripted"),
        ("socket16", "gestures=fingers,pinch", "pinch"),
        ("socket16", "drift=maybe", "boolean"),
        ("socket16", "fs=5", "no \\+-5 gauss range"),
        ("socket16", "disturbances=thunder", "unknown disturbance 'thunder'"),
        ("socket16", "shift_mm=50", "shift_mm must be within"),
        ("socket16", "tau_s=-1", "tau_s"),
        ("socket16", "sensor=HMC5883", "unknown sensor 'HMC5883'"),
        ("socket16", "seed", "malformed"),
    ],
)
def test_bad_values_give_clear_errors(layout: str, query: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SimConfig.from_query(layout, query)


def test_to_url_round_trips() -> None:
    cfg = SimConfig(layout="myo3", seed=4, shift_mm=-2.5, gestures=("wrist",), disturbances=True)
    url = cfg.to_url()
    assert url.startswith("sim:myo3?")
    layout, _, query = url[4:].partition("?")
    assert SimConfig.from_query(layout, query) == cfg
    assert SimConfig().to_url() == "sim:socket16"


def test_former_option_name_protocol_still_selects_the_cue_script() -> None:
    """`protocol=` was the cue script's name before "protocol" meant the wire protocol only:
    old URLs and recordings' source strings keep working."""
    assert SimConfig.from_query("myo3", "protocol=intent").cue_script == "intent"
    assert SimConfig.from_query("myo3", "protocol=calibration").cue_script == "calibration"
    assert "protocol" not in SimConfig.option_names()
