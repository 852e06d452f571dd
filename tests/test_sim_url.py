"""The one `sim:` URL parser: syntax, the source's own options, defaults for calibrate."""

from __future__ import annotations

import pytest

from bridge.sim.url import is_sim_url, parse_sim_url


def test_is_sim_url_ignores_case_and_spaces_but_not_other_schemes() -> None:
    assert is_sim_url("sim:myo3") and is_sim_url("  SIM:socket16?seed=1")
    assert not is_sim_url("serial:/dev/sim0") and not is_sim_url("simulator") and not is_sim_url("")


def test_layout_options_speed_and_loop() -> None:
    u = parse_sim_url("sim://myo3?seed=3&speed=max&loop=1&shift=2")
    assert u.layout == "myo3" and u.speed is None and u.loop is True
    cfg = u.config()  # the source's own options are not session options
    assert cfg.layout == "myo3" and cfg.seed == 3 and cfg.shift_mm == 2.0
    plain = parse_sim_url("sim:socket16")
    assert plain.speed == 1.0 and plain.loop is False and plain.config().seed == 0
    assert parse_sim_url("sim:myo3?speed=2.5&speed=4").speed == 4.0  # the last one counts


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("tcp://h:1", "not a simulator URL"),
        ("sim:", "name a layout"),
        ("sim:myo3?speed=fast", "speed='fast'"),
        ("sim:myo3?speed=0", "speed='0'"),
        ("sim:myo3?speed=inf", "speed='inf'"),
        ("sim:myo3?loop=maybe", "loop='maybe'"),
        ("sim:myo3?colour=red", "unknown sim option 'colour'"),
    ],
)
def test_bad_urls_give_one_line_errors(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as exc:
        u = parse_sim_url(url)
        u.config(), u.speed, u.loop
    assert "\n" not in str(exc.value)


def test_with_defaults_adds_only_what_is_missing() -> None:
    u = parse_sim_url("sim:myo3?seed=2")
    assert u.with_defaults(cue_script="intent", speed="max") == (
        "sim:myo3?seed=2&cue_script=intent&speed=max"
    )
    given = parse_sim_url("sim:myo3?speed=1&protocol=intent")  # the former name counts
    assert given.with_defaults(cue_script="intent", speed="max") == given.text
    assert given.option("cue_script") == "intent"
    assert parse_sim_url("sim:myo3").with_defaults() == "sim:myo3"
