"""The decoder view's per-sensor normaliser and sensor placement (no bpy)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fist_and_ball.live.kmg_bars import (
    RING_RADIUS_MM,
    KmgNormalizer,
    ring_positions,
    sensor_positions,
)


def test_bars_follow_each_sensor_in_its_own_range() -> None:
    norm = KmgNormalizer(decay_s=100.0, min_span_ut=1.0)
    # Sensor 0 swings 700..740 uT, sensor 1 100..104 uT: both should span the bar.
    out = []
    for k in range(200):
        phase = (k % 20) / 19.0
        out.append(norm.update([700 + 40 * phase, 100 + 4 * phase], k * 0.025))
    last_cycle = out[-20:]
    for i in range(2):
        values = [o[i] for o in last_cycle]
        assert min(values) == pytest.approx(0.0, abs=0.02)
        assert max(values) == pytest.approx(1.0, abs=0.02)
        # Monotonic with the magnitude within a cycle.
        assert values == sorted(values)


def test_band_shift_does_not_freeze_the_bars() -> None:
    """Every baseline jumps by 200 uT; after a few decay times the bars span again."""
    decay = 2.0
    norm = KmgNormalizer(decay_s=decay, min_span_ut=1.0)
    t = 0.0

    def cycle(base: float) -> list[float]:
        nonlocal t
        vals = []
        for k in range(40):
            t += 0.025
            vals.append(norm.update([base + 10 * math.sin(k / 40 * 2 * math.pi)], t)[0])
        return vals

    for _ in range(10):
        cycle(500.0)
    just_after = cycle(700.0)
    # Right after the jump the old low end squeezes the new swing into the top.
    assert min(just_after) > 0.8
    for _ in range(int(6 * decay / 1.0)):
        later = cycle(700.0)
    assert max(later) - min(later) > 0.8  # the range decayed onto the new band
    lo, hi = norm.ranges[0] or (0.0, 0.0)
    assert 680 < lo < 700 < hi < 720


def test_dead_and_junk_values_are_nan_and_do_not_poison_the_range() -> None:
    norm = KmgNormalizer(decay_s=5.0, min_span_ut=2.0)
    norm.update([10.0, 10.0, 10.0], 0.0)
    out = norm.update([None, float("nan"), "x"], 0.1)  # type: ignore[list-item]
    assert all(math.isnan(v) for v in out)
    out = norm.update([12.0, float("inf"), True], 0.2)  # type: ignore[list-item]
    assert 0.0 <= out[0] <= 1.0 and math.isnan(out[1]) and math.isnan(out[2])
    lo, hi = norm.ranges[0] or (0.0, 0.0)
    assert lo == pytest.approx(10.0, abs=0.1) and hi == 12.0  # low end decays a little
    # A non-finite clock does not break anything either.
    out = norm.update([11.0, 5.0, 5.0], float("nan"))
    assert all(0.0 <= v <= 1.0 for v in out)


def test_quiet_sensor_sits_mid_bar_and_sensor_count_change_resets() -> None:
    norm = KmgNormalizer(decay_s=5.0, min_span_ut=10.0)
    out = [norm.update([300.0, 300.5], k * 0.1) for k in range(5)][-1]
    assert out[0] == pytest.approx(0.5) and 0.4 < out[1] < 0.6
    out = norm.update([1.0, 2.0, 3.0], 1.0)
    assert len(out) == 3 and len(norm.ranges) == 3


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="decay_s"):
        KmgNormalizer(decay_s=0.0)
    with pytest.raises(ValueError, match="min_span"):
        KmgNormalizer(min_span_ut=-1.0)


@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), max_size=40))
def test_output_is_always_unit_or_nan(values: list[float | None]) -> None:
    norm = KmgNormalizer()
    for t in (0.0, 0.5):
        out = norm.update(values, t)
        assert len(out) == min(len(values), 32)
        assert all(math.isnan(v) or 0.0 <= v <= 1.0 for v in out)


def test_ring_positions_are_even_on_the_ring() -> None:
    pts = ring_positions(16)
    assert len(pts) == 16 and pts[0] == (0.0, 0.0, RING_RADIUS_MM)
    for x, y, z in pts:
        assert x == 0.0 and math.hypot(y, z) == pytest.approx(RING_RADIUS_MM)
    gaps = {round(math.dist(pts[i], pts[(i + 1) % 16]), 6) for i in range(16)}
    assert len(gaps) == 1
    assert ring_positions(0) == []


def test_positions_from_hello_when_usable_else_ring() -> None:
    good = {"positions_mm": [[1, 2, 3], [4.5, 5, 6]]}
    assert sensor_positions(good, 2) == [(1.0, 2.0, 3.0), (4.5, 5.0, 6.0)]
    assert sensor_positions(good, 3) == ring_positions(3)  # count disagrees with kmg
    assert sensor_positions({"positions_mm": [[1, 2], [3, 4]]}, 2) == ring_positions(2)
    assert sensor_positions({"positions_mm": [[1, 2, None], [3, 4, 5]]}, 2) == ring_positions(2)
    assert sensor_positions({"positions_mm": "nope"}, 2) == ring_positions(2)
    assert sensor_positions(None, 4) == ring_positions(4)
    assert sensor_positions({}, 4) == ring_positions(4)
