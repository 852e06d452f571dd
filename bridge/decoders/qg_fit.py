"""QG calibration fit: from the guided recordings to one QG per gesture.

For every sensor the hold medians give the anchors and the rest hold the noise; the
sensor with the largest robust range (minus what other recorded gestures do to it)
drives that gesture's QG. Thresholds are evenly spaced in |B| between the anchors, as
in the paper. A calibration that cannot separate nine grades is refused with the
reason and what to do (`CalibrationRefused`).

On a device without the environment-rejection stage (fewer than MIN_SENSORS sensors: a
band) the QG reads, by default, a sensor minus a reference sensor (`FitOptions.reference`,
bridge/decoders/qg_input.py): the same statistics and choice over every ordered pair,
whose input a uniform field (the arm turning in the Earth's field) cannot move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bridge.cues import PHASES, TRIM_FRACTION, CalibrationRefused, PhaseRecording
from bridge.decoders.field_reference import MIN_SENSORS, ReferenceModel
from bridge.decoders.qg import (
    N_HIDDEN,
    Adaptation,
    QGParams,
    thresholds_from_anchors,
)
from bridge.decoders.qg_calibration import Calibration
from bridge.decoders.qg_input import channel_magnitudes, channel_name
from bridge.sensor_model import SENSOR_MODELS
from bridge.values.sample import N_GRADES
from bridge.values.source_info import SourceInfo

MIN_STEP_NOISE = 3.0
"""Refuse when one grade step (range / 8) is below this many noise RMS at rest."""
DEFAULT_HYSTERESIS_NOISE = 2.0
"""Default hysteresis = this many noise RMS ..."""
MAX_HYSTERESIS_STEP = 0.3
"""... capped at this fraction of a grade step (lag stays under a third of a grade)."""
MAX_HOLD_SPREAD = 0.5
"""Refuse when a hold's 5th-95th percentile spread exceeds this fraction of the range."""
REST_LEVEL_RANGE = (-0.5, 1.0)
"""Refuse when the relaxed hand sits outside this span of levels (0 = extension)."""
MAX_DEAD_FRACTION = 0.05
"""A sensor NaN in more than this fraction of its hold samples is dead."""
ADAPT_MARGIN_STEP = 0.5
"""Gain tracking margin beyond the calibrated range, in grade steps ..."""
ADAPT_MARGIN_NOISE = 4.0
"""... but at least this many noise RMS."""
SATURATION_MARGIN = 0.995


@dataclass(slots=True)
class SensorStats:
    """What one sensor did during one gesture's phases (the calibration table)."""

    sensor: int
    reference: int | None = None
    """The reference sensor subtracted before the magnitude (None: the sensor's own |B|)."""
    extension_ut: float = math.nan
    flexion_ut: float = math.nan
    rest_ut: float = math.nan
    range_ut: float = 0.0
    crosstalk_ut: float = 0.0
    noise_ut: float = math.nan
    hold_spread_ut: float = math.nan
    problem: str = ""

    @property
    def score(self) -> float:
        return self.range_ut - self.crosstalk_ut if not self.problem else -math.inf

    def to_dict(self) -> dict[str, Any]:
        def r(x: float) -> float | None:
            return None if not math.isfinite(x) else round(x, 4)

        sensor: int | str = (
            self.sensor if self.reference is None else channel_name(self.sensor, self.reference)
        )
        return {
            "sensor": sensor,
            **({} if self.reference is None else {"reference": self.reference}),
            "extension_ut": r(self.extension_ut),
            "rest_ut": r(self.rest_ut),
            "flexion_ut": r(self.flexion_ut),
            "range_ut": r(self.range_ut),
            "crosstalk_ut": r(self.crosstalk_ut),
            "noise_ut": r(self.noise_ut),
            "hold_spread_ut": r(self.hold_spread_ut),
            "problem": self.problem,
        }


def _robust_noise(x: np.ndarray) -> float:
    """Noise RMS of a held signal: robust std (MAD) around a straight-line trend."""
    x = x[np.isfinite(x)]
    if len(x) < 4:
        return math.nan
    t = np.arange(len(x), dtype=np.float64)
    slope, icpt = np.polyfit(t, x, 1)
    resid = x - (slope * t + icpt)
    return float(1.4826 * np.median(np.abs(resid - np.median(resid))))


def _sensor_stats(
    recs: list[PhaseRecording],
    sensor: int,
    limit_ut: float | None,
    floor_ut: float,
    reference: int | None = None,
) -> SensorStats:
    """Anchors, range, noise and problems of one sensor (minus `reference`) over one
    gesture's holds."""
    st = SensorStats(sensor, reference)
    by_kind: dict[str, list[np.ndarray]] = {k: [] for k in PHASES}
    clipped = 0
    read = [sensor] if reference is None else [sensor, reference]
    for rec in recs:
        mags = channel_magnitudes(rec.field_ut, sensor, reference)
        comp = rec.field_ut[:, read, :]
        dead = ~np.isfinite(mags)
        if dead.mean() > MAX_DEAD_FRACTION:
            st.problem = f"dead (no reading in {dead.mean():.0%} of '{rec.phase.kind}' samples)"
            return st
        if limit_ut is not None:
            top = np.nanmax(np.abs(comp), axis=(1, 2))
            clipped += int(np.sum(top >= SATURATION_MARGIN * limit_ut))
        by_kind[rec.phase.kind].append(mags[~dead])
    if clipped:
        st.problem = f"saturated ({clipped} clipped samples at the +-{limit_ut:g} uT full scale)"
        return st
    if not by_kind["flexion"] or not by_kind["extension"]:
        st.problem = "no flexion or extension hold recorded"
        return st
    ext_r = [float(np.median(x)) for x in by_kind["extension"]]
    flex_r = [float(np.median(x)) for x in by_kind["flexion"]]
    st.extension_ut = float(np.median(ext_r))
    st.flexion_ut = float(np.median(flex_r))
    if by_kind["rest"]:
        st.rest_ut = float(np.median(np.concatenate(by_kind["rest"])))
    noises = [_robust_noise(x) for x in by_kind["rest"] or by_kind["extension"]]
    noises = [n for n in noises if math.isfinite(n)]
    st.noise_ut = max(float(np.sqrt(np.mean(np.square(noises)))) if noises else floor_ut, floor_ut)
    # Spread of the holds (5th..95th percentile): how still the hand was held.
    spreads = [
        float(np.percentile(x, 95) - np.percentile(x, 5))
        for x in by_kind["flexion"] + by_kind["extension"]
    ]
    st.hold_spread_ut = float(np.median(spreads))
    signs = {np.sign(f - e) for f, e in zip(flex_r, ext_r, strict=False)}
    if len(signs) > 1:
        st.problem = "direction differs between repeats"
        return st
    st.range_ut = abs(st.flexion_ut - st.extension_ut)
    return st


def _limit_ut(info: SourceInfo) -> float | None:
    if info.full_scale_gauss is None:
        return None
    return float(info.full_scale_gauss) * 100.0


def _noise_floor(info: SourceInfo) -> float:
    """Smallest believable noise: the LSB quantisation (a flat simulated signal is not
    noise-free in practice, and zero would make every grade step 'infinitely' clean)."""
    model = SENSOR_MODELS.get(info.sensor_model)
    if model is None or info.full_scale_gauss is None:
        return 0.02
    try:
        lsb = model.by_gauss(float(info.full_scale_gauss)).ut_per_lsb
    except ValueError:
        return 0.02
    return max(lsb / math.sqrt(12.0), 0.01)


@dataclass(slots=True)
class FitOptions:
    """Knobs of the fit (defaults documented in docs/qg.md)."""

    min_step_noise: float = MIN_STEP_NOISE
    hysteresis_ut: float | None = None
    hysteresis_step: float | None = None
    trim_fraction: float = TRIM_FRACTION
    spacing: str = "dipole"
    """Threshold placement: `dipole` (1/r^3 curve through the anchors) or `linear` in |B|."""
    adapt: bool = True
    """Band-displacement compensation (tare at start + gain tracking; see qg.Adaptation)."""
    reference: str = "auto"
    """QG input: `none` a sensor's own |B| (the paper); `pair` a sensor minus a reference
    sensor (uniform fields cancel); `auto` a pair on a device without the environment-
    rejection stage (fewer than MIN_SENSORS sensors), else `none`."""


REFERENCE_MODES = ("auto", "none", "pair")


def uses_pairs(options: FitOptions, n_sensors: int) -> bool:
    """Whether the fit reads sensor pairs (see FitOptions.reference)."""
    if options.reference not in REFERENCE_MODES:
        raise ValueError(
            f"reference must be one of {', '.join(REFERENCE_MODES)}, got {options.reference!r}"
        )
    if n_sensors < 2:
        return False
    return options.reference == "pair" or (options.reference == "auto" and n_sensors < MIN_SENSORS)


def fit_calibration(
    recordings: list[PhaseRecording],
    info: SourceInfo,
    options: FitOptions | None = None,
    partial: bool = False,
) -> Calibration:
    """Fit one QG per recorded gesture; raise CalibrationRefused when one cannot work.

    With `partial=True` refused gestures are listed in `Calibration.refused` instead,
    and only a calibration with no usable gesture at all is refused.
    """
    opt = options or FitOptions()
    if not recordings:
        raise CalibrationRefused("nothing was recorded", "run the guided recording again")
    n = int(recordings[0].field_ut.shape[1])
    if info.n_sensors is not None and info.n_sensors != n:
        raise CalibrationRefused(
            f"recording has {n} sensors but the source reports {info.n_sensors}",
            "check the device layout",
        )
    limit = _limit_ut(info)
    floor = _noise_floor(info)
    held = [r.held(opt.trim_fraction) for r in recordings]
    gestures = list(dict.fromkeys(r.phase.gesture for r in held))
    stats: dict[str, list[SensorStats]] = {
        g: [
            _sensor_stats([r for r in held if r.phase.gesture == g], i, limit, floor)
            for i in range(n)
        ]
        for g in gestures
    }
    # Crosstalk: how far each sensor moves when the *other* recorded gestures are made.
    for g in gestures:
        for i in range(n):
            others = [stats[h][i].range_ut for h in gestures if h != g]
            stats[g][i].crosstalk_ut = max(others, default=0.0)

    report: dict[str, Any] = {g: [s.to_dict() for s in stats[g]] for g in gestures}
    pairs = uses_pairs(opt, n)
    if pairs:
        candidates = {g: _pair_stats(held, g, stats[g], limit, floor, gestures) for g in gestures}
        for g in gestures:
            report[g] += [s.to_dict() for s in candidates[g]]
    else:
        candidates = stats
    used: set[int] = set()
    params: dict[str, QGParams] = {}
    refused: dict[str, str] = {}
    # Assign sensors greedily by best score so that each gesture gets its own sensor.
    order = sorted(gestures, key=lambda g: -max(s.score for s in candidates[g]))
    for g in order:
        try:
            params[g] = _fit_gesture_or_single(g, candidates[g], stats[g], used, opt)
            used.add(params[g].sensor_index)
        except CalibrationRefused as exc:
            if not partial:
                exc.report = report
                raise
            refused[g] = str(exc)
    if not params:
        none_left = CalibrationRefused(
            "no gesture could be calibrated: " + "; ".join(refused.values()),
            "see the reasons above",
        )
        none_left.report = report
        raise none_left
    return Calibration(
        layout=info.layout,
        n_sensors=n,
        sensor_model=info.sensor_model,
        full_scale_gauss=info.full_scale_gauss,
        gestures={g: params[g] for g in gestures if g in params},
        source=info.source,
        refused=refused,
        report=report,
        field_reference=_field_reference(recordings, n, opt.trim_fraction),
        method={
            "spacing": opt.spacing,
            "min_step_noise": opt.min_step_noise,
            "trim_fraction": opt.trim_fraction,
            "anchors": "median of each hold, median over repeats",
            "noise": "robust std (MAD) of the rest holds around a line",
            "input": "sensor minus reference sensor" if pairs else "sensor |B|",
        },
    )


def _pair_stats(
    held: list[PhaseRecording],
    gesture: str,
    singles: list[SensorStats],
    limit: float | None,
    floor: float,
    gestures: list[str],
) -> list[SensorStats]:
    """SensorStats of every sensor pair for one gesture, with the crosstalk of the other
    recorded gestures on the same pair. |B_s - B_r| is symmetric: the pair's sensor is
    the one whose own |B| scores best (nearest the tag), the other its reference."""

    def stats_of(g: str, i: int, r: int) -> SensorStats:
        return _sensor_stats([h for h in held if h.phase.gesture == g], i, limit, floor, r)

    out = []
    n = len(singles)
    for a in range(n):
        for b in range(a + 1, n):
            i, r = (a, b) if singles[a].score >= singles[b].score else (b, a)
            st = stats_of(gesture, i, r)
            others = [stats_of(h, i, r).range_ut for h in gestures if h != gesture]
            st.crosstalk_ut = max(others, default=0.0)
            out.append(st)
    return out


def _field_reference(
    recordings: list[PhaseRecording], n_sensors: int, trim: float
) -> dict[str, Any] | None:
    """Rest vectors and movement patterns for the environment rejection (a socket only)."""
    if n_sensors < MIN_SENSORS:
        return None
    model = ReferenceModel.from_holds(recordings, trim)
    return None if model is None else model.to_dict()


def _fit_gesture_or_single(
    gesture: str,
    candidates: list[SensorStats],
    singles: list[SensorStats],
    used: set[int],
    opt: FitOptions,
) -> QGParams:
    """The best pair when pairs are read; a single sensor when no pair works (a dead or
    clipped reference)."""
    try:
        return _fit_gesture(gesture, candidates, used, opt)
    except CalibrationRefused:
        if candidates is singles:
            raise
    return _fit_gesture(gesture, singles, used, opt)


def _fit_gesture(
    gesture: str, stats: list[SensorStats], used: set[int], opt: FitOptions
) -> QGParams:
    usable = [s for s in stats if not s.problem and s.sensor not in used]
    if not usable:
        problems = "; ".join(
            f"sensor {channel_name(s.sensor, s.reference)}: "
            f"{s.problem or 'used by another gesture'}"
            for s in stats
        )
        raise CalibrationRefused(
            f"no usable sensor ({problems})",
            "check the cables and the band; a saturated sensor needs the band moved a "
            "little further from the tag or a larger full scale (--full-scale 16)",
            gesture,
        )
    best = max(usable, key=lambda s: s.score)
    name = channel_name(best.sensor, best.reference)
    step = best.range_ut / N_HIDDEN
    if best.range_ut <= 0 or step < opt.min_step_noise * best.noise_ut:
        raise CalibrationRefused(
            f"range too small to separate {N_GRADES} grades: best sensor {name} moves "
            f"{best.range_ut:.2f} uT between extension and flexion, a grade step of "
            f"{step:.2f} uT, but the noise at rest is {best.noise_ut:.2f} uT RMS "
            f"(needs a step >= {opt.min_step_noise:g} x noise)",
            "make sure the flexion and extension are full and held still; move the band "
            "so a sensor sits over the tag (10-30 mm from it), away from metal and cables",
            gesture,
        )
    # A hold that wanders over half the range was not a hold (the hand kept moving).
    if best.hold_spread_ut > MAX_HOLD_SPREAD * best.range_ut:
        raise CalibrationRefused(
            f"the flexion/extension holds were not steady: sensor {name} wandered "
            f"{best.hold_spread_ut:.1f} uT (5th-95th percentile) within a hold, "
            f"{best.hold_spread_ut / best.range_ut:.0%} of its {best.range_ut:.1f} uT range",
            "hold each position still until the recording ends; check that the band is firm",
            gesture,
        )
    if math.isfinite(best.rest_ut):
        rest_level = (best.rest_ut - best.extension_ut) / (best.flexion_ut - best.extension_ut)
        if not REST_LEVEL_RANGE[0] <= rest_level <= REST_LEVEL_RANGE[1]:
            raise CalibrationRefused(
                f"the relaxed hand reads {best.rest_ut:.1f} uT on sensor {name}, far "
                f"outside the extension ({best.extension_ut:.1f}) to flexion "
                f"({best.flexion_ut:.1f}) range (level {rest_level:+.2f}): the cues were "
                "probably not followed or two phases were swapped",
                "repeat the calibration following each prompt: relax, close fully, open fully",
                gesture,
            )
    if opt.hysteresis_ut is not None:
        hyst = opt.hysteresis_ut
    elif opt.hysteresis_step is not None:
        hyst = opt.hysteresis_step * step
    else:
        hyst = min(DEFAULT_HYSTERESIS_NOISE * best.noise_ut, MAX_HYSTERESIS_STEP * step)
    if hyst >= 0.5 * step:
        raise CalibrationRefused(
            f"hysteresis {hyst:.2f} uT is half a grade step ({step:.2f} uT) or more",
            "choose a smaller hysteresis",
            gesture,
        )
    # Gain tracking starts half a grade step (and well clear of the noise) beyond the
    # calibrated range, so a normal full flexion never moves it.
    margin = max(ADAPT_MARGIN_STEP * step, ADAPT_MARGIN_NOISE * best.noise_ut)
    adaptation = Adaptation(margin_ut=_r(margin)) if opt.adapt else Adaptation.off()
    # Values are rounded to 1e-4 uT (far below one LSB) so the file reads cleanly and
    # a saved-and-loaded calibration decodes bit for bit like the fitted one.
    ext, flex = _r(best.extension_ut), _r(best.flexion_ut)
    return QGParams.from_anchors(
        gesture=gesture,
        sensor_index=best.sensor,
        extension_ut=ext,
        flexion_ut=flex,
        noise_ut_rms=_r(best.noise_ut),
        hysteresis_ut=_r(hyst),
        rest_ut=_r(best.rest_ut) if math.isfinite(best.rest_ut) else None,
        adaptation=adaptation,
        thresholds_ut=[_r(t) for t in thresholds_from_anchors(ext, flex, opt.spacing)],
        reference_index=best.reference,
    )


def _r(x: float) -> float:
    return round(float(x), 4)
