"""Simulator physics against magpylib computed independently, sensor model, geometry."""

from __future__ import annotations

from typing import Any

import magpylib
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bridge.sensor_model import LIS3MDL
from bridge.sim.config import SimConfig
from bridge.sim.layouts import LAYOUTS, displaced
from bridge.sim.simulator import Simulator
from bridge.sim.tag_field import TagFieldTable, direct_field_ut
from bridge.sim.tags import COUPLING, TAGS

QUIET: dict[str, Any] = {"noise_ut_rms": 0.0, "earth_ut": 0.0, "drift": False}
"""Tags only: what the test recomputes by itself."""


def reference_field_ut(tag_mm: np.ndarray, sensors_mm: np.ndarray, br: float) -> np.ndarray:
    """The three tags at displacements `tag_mm` (flexion positive, mm), built here from the
    documented geometry: 5 x 13.3 mm cylinders along x, moving to -x. Returns (n, 3) uT."""
    magnets = []
    for tag, d in zip(TAGS, tag_mm, strict=True):
        magnets.append(
            magpylib.magnet.Cylinder(
                dimension=(0.005, 0.0133),
                polarization=(0, 0, tag.polarity * br),
                orientation=Rotation.from_euler("y", 90, degrees=True),
                position=(tag.position_mm - np.array([d, 0, 0])) * 1e-3,
            )
        )
    b = magpylib.getB(magpylib.Collection(*magnets), sensors_mm * 1e-3)
    return np.asarray(b).reshape(-1, 3) * 1e6


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_noiseless_fields_match_magpylib_within_one_lsb(layout: str) -> None:
    cfg = SimConfig(layout=layout, seed=2, shift_mm=1.5, rotation_deg=7.0, **QUIET)
    sim = Simulator(cfg)
    sensors = displaced(LAYOUTS[layout].positions_mm, 1.5, 7.0)
    lsb = LIS3MDL.by_gauss(cfg.effective_full_scale_gauss).ut_per_lsb
    frames = sim.generate_block(900)  # lead rest and the first flexions
    picks = np.linspace(0, len(frames) - 1, 40).astype(int)
    moved = 0
    for k in picks:
        f = frames.frame(int(k))
        ref = reference_field_ut(f.tag_mm, sensors, 1.3)
        assert np.abs(f.field_ut - ref).max() <= 0.5 * lsb + 1e-9
        ref_mag = np.linalg.norm(ref, axis=1)
        assert np.abs(np.linalg.norm(f.field_ut, axis=1) - ref_mag).max() <= lsb
        moved += f.tag_mm[0] > 1.0
    assert moved > 5  # the check covered displaced tags, not only rest


def test_lookup_table_is_far_below_one_lsb() -> None:
    sensors = LAYOUTS["socket16"].positions_mm
    rng = np.random.default_rng(0)
    d = rng.uniform(0, 1, 50)
    for tag in TAGS:
        table = TagFieldTable(tag, sensors, 1.3)
        err = np.abs(table.lookup(d) - direct_field_ut(tag, d, sensors, 1.3)).max()
        assert err < 0.01 * LIS3MDL.by_gauss(16).ut_per_lsb


def test_noise_std_matches_setting() -> None:
    base: dict[str, Any] = {"layout": "myo3", "seed": 5, "earth_rotation": False, "drift": False}
    quiet = Simulator(SimConfig(**base, noise_ut_rms=0.0)).generate_block(3000)
    for noise in (0.32, 1.0):
        noisy = Simulator(SimConfig(**base, noise_ut_rms=noise)).generate_block(3000)
        err = noisy.field_ut - quiet.field_ut
        # ODR 155 Hz > 42.7 Hz frame rate: every frame is a fresh, independent sample
        assert err.std() == pytest.approx(noise, rel=0.05)
        assert abs(err.mean()) < 0.05 * noise


def test_saturation_clips_and_sets_the_flag() -> None:
    sim = Simulator(SimConfig(layout="socket16", full_scale_gauss=4.0))
    blk = sim.generate_block(200)
    fs = LIS3MDL.by_gauss(4.0)
    assert blk.fs_code == fs.code
    assert blk.saturated.all()  # several socket sensors see > 400 uT on an axis
    limit_lsb = round(fs.limit_ut / fs.ut_per_lsb)
    assert np.abs(blk.raw).max() == limit_lsb
    # the flag reaches the wire
    data = Simulator.frame_bytes(blk.frame(0))
    assert data[13] & 0x01


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize(("shift", "rot"), [(0.0, 0.0), (5.0, 15.0), (-5.0, -15.0)])
def test_default_full_scale_never_clips_in_normal_use(
    layout: str, shift: float, rot: float
) -> None:
    sim = Simulator(SimConfig(layout=layout, shift_mm=shift, rotation_deg=rot, seed=3))
    blk = sim.generate_all()
    assert not blk.saturated.any()
    assert (blk.grade_true > 7.5).any()  # full flexions happened


def test_default_geometry_never_comes_near_saturation_even_at_tag_extremes() -> None:
    """Every tag at either end of its travel, band moved +-5 mm and turned +-15 deg,
    plus a 65 uT Earth field: each axis stays below the +-16 gauss limit."""
    worst = 0.0
    for layout in LAYOUTS.values():
        for shift in (-5.0, 0.0, 5.0):
            for rot in (-15.0, 0.0, 15.0):
                sensors = displaced(layout.positions_mm, shift, rot)
                ends = [direct_field_ut(t, np.array([0.0, 1.0]), sensors, 1.3) for t in TAGS]
                for i in range(8):
                    b = sum(ends[j][(i >> j) & 1] for j in range(3))
                    worst = max(worst, float(np.abs(b).max()))
    assert worst + 65.0 < LIS3MDL.by_gauss(16).limit_ut


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("shift", [-5.0, 0.0, 5.0])
def test_best_sensor_per_tag_is_monotonic_with_a_strong_signal(layout: str, shift: float) -> None:
    sensors = displaced(LAYOUTS[layout].positions_mm, shift, 0.0)
    d = np.linspace(0, 1, 101)
    rest = [direct_field_ut(t, np.zeros(1), sensors, 1.3)[0] for t in TAGS]
    for j, tag in enumerate(TAGS):
        others = sum(rest[i] for i in range(3) if i != j)
        mag = np.linalg.norm(direct_field_ut(tag, d, sensors, 1.3) + others, axis=2)
        change = mag[-1] - mag[0]
        best = int(np.argmax(np.abs(change)))
        steps = np.diff(mag[:, best])
        assert (steps > 0).all() or (steps < 0).all(), f"{tag.gesture} sensor {best}"
        if layout == "socket16" or tag.gesture == "fingers":
            # strong: >= 8% of the field and >= 100 noise sigmas over the stroke
            assert abs(change[best]) / mag[0, best] > 0.08
            assert abs(change[best]) > 100 * 0.32


def test_myo3_middle_sensor_is_the_finger_sensor() -> None:
    lay = LAYOUTS["myo3"]
    d = np.array([0.0, 1.0])
    mag = np.linalg.norm(direct_field_ut(TAGS[0], d, lay.positions_mm, 1.3), axis=2)
    assert int(np.argmax(np.abs(mag[1] - mag[0]))) == lay.qg_sensor == 1


def test_gesture_patterns_differ_on_socket16() -> None:
    """At grade 1 already, the three movements change the 16 magnitudes differently:
    the closest pair of patterns over all grades 1..8 is far apart compared with noise."""
    sensors = LAYOUTS["socket16"].positions_mm
    grades = np.linspace(1, 8, 29) / 8
    pats = []
    for g in range(3):
        disp = np.clip(np.outer(grades, COUPLING[g]), 0, 1)
        b = sum(direct_field_ut(t, disp[:, j], sensors, 1.3) for j, t in enumerate(TAGS))
        pats.append(np.linalg.norm(b, axis=2))
    for a in range(3):
        for b_ in range(a + 1, 3):
            dist = np.linalg.norm(pats[a][:, None, :] - pats[b_][None, :, :], axis=2).min()
            assert dist > 20 * 0.32 * 4  # 20 sigma of the noise over 16 channels


def test_band_shift_and_rotation_change_the_fields() -> None:
    base = Simulator(SimConfig(layout="socket16", seed=1, noise_ut_rms=0)).generate_block(50)
    shifted = Simulator(
        SimConfig(layout="socket16", seed=1, noise_ut_rms=0, shift_mm=5)
    ).generate_block(50)
    turned = Simulator(
        SimConfig(layout="socket16", seed=1, noise_ut_rms=0, rotation_deg=10)
    ).generate_block(50)
    m0, m1, m2 = base.magnitudes, shifted.magnitudes, turned.magnitudes
    assert np.abs(m1 - m0).max() > 50.0
    assert np.abs(m2 - m0).max() > 20.0


def test_set_band_rebuilds_the_tables() -> None:
    cfg = SimConfig(layout="myo3", seed=1, noise_ut_rms=0)
    moved_from_start = Simulator(cfg.replace(shift_mm=4.0))
    moved_later = Simulator(cfg)
    moved_later.set_band(4.0, 0.0)
    a, b = moved_from_start.generate_block(20), moved_later.generate_block(20)
    np.testing.assert_array_equal(a.raw, b.raw)
    with pytest.raises(ValueError, match="shift_mm"):
        moved_later.set_band(float("nan"), 0.0)


def test_sample_and_hold_above_the_odr() -> None:
    # 1000 Hz frames from a 560 Hz part: pairs of frames repeat the same reading
    sim = Simulator(SimConfig(layout="myo3", rate_hz=1000.0, odr_hz=560.0, seed=1))
    blk = sim.generate_block(1000)
    same = (np.diff(blk.raw.astype(np.int32), axis=0) == 0).all(axis=(1, 2))
    ticks = np.floor(np.arange(1000) / 1000.0 * 560.0 + 1e-9)
    np.testing.assert_array_equal(same, np.diff(ticks) == 0)
    assert 400 < same.sum() < 500
    # across block boundaries too
    sim2 = Simulator(SimConfig(layout="myo3", rate_hz=1000.0, odr_hz=560.0, seed=1))
    parts = [sim2.generate_block(n).raw for n in (3, 1, 500, 496)]
    np.testing.assert_array_equal(np.concatenate(parts), blk.raw)


def test_lis2mdl_model_is_pluggable() -> None:
    sim = Simulator(SimConfig(layout="myo3", sensor="LIS2MDL", rate_hz=50.0))
    assert sim.info.sensor_model == "LIS2MDL" and sim.info.full_scale_gauss == 50.0
    blk = sim.generate_block(100)
    assert blk.fs_code == 3  # re-expressed on the wire at +-16 gauss
    step = 0.15  # 1.5 mG/LSB: readings sit on its grid (to the wire's LSB)
    wire_lsb = LIS3MDL.by_gauss(16).ut_per_lsb
    assert np.abs(blk.field_ut / step - np.rint(blk.field_ut / step)).max() * step < wire_lsb


def test_environment_disturbances_add_fields() -> None:
    cfg = SimConfig(layout="myo3", seed=4, noise_ut_rms=0.0, rate_hz=200.0, odr_hz=1000.0)
    calm = Simulator(cfg).generate_block(2000)
    mains = Simulator(cfg.replace(disturbances="mains")).generate_block(2000)
    diff = mains.field_ut - calm.field_ut
    spec = np.abs(np.fft.rfft(diff[:, 1, :], axis=0)).sum(axis=1)
    freqs = np.fft.rfftfreq(2000, 1 / 200.0)
    assert abs(freqs[np.argmax(spec[1:]) + 1] - 50.0) < 0.5
    assert 0.1 < np.abs(diff).max() < 1.0
    longer = cfg.replace(rate_hz=10.0)
    calm_l = Simulator(longer).generate_block(1500)  # 150 s: an object pass and a step
    dist_l = Simulator(longer.replace(disturbances=True)).generate_block(1500)
    assert np.abs(dist_l.field_ut - calm_l.field_ut).max() > 3.0


def test_earth_field_rotates_with_the_arm() -> None:
    cfg = SimConfig(layout="myo3", seed=6, noise_ut_rms=0.0, drift=False, rate_hz=5.0)
    sim = Simulator(cfg.replace(remanence_t=1e-9))  # tags silent: only the Earth field
    blk = sim.generate_block(1000)  # 200 s
    mag = blk.magnitudes[:, 0]
    assert np.abs(mag - 50.0).max() < 0.2  # uniform field: |B| is 50 uT whatever the pose
    direction = blk.field_ut[:, 0] / mag[:, None]
    turn = np.degrees(np.arccos(np.clip(direction @ direction[0], -1, 1))).max()
    assert 3.0 < turn < 60.0
    still = Simulator(cfg.replace(remanence_t=1e-9, earth_rotation=False)).generate_block(1000)
    assert np.abs(still.field_ut - still.field_ut[0]).max() < 0.2
