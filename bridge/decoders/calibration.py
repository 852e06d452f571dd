"""QG calibration: the guided protocol, the fit from its recordings, and the JSON file.

A calibration records, per gesture and repeat, three held phases (rest, full flexion,
full extension). For every sensor the hold medians give the anchors and the rest hold
the noise; the sensor with the largest robust range (minus what other recorded
gestures do to it) drives that gesture's QG. Thresholds are evenly spaced in |B|
between the anchors, as in the paper. A calibration that cannot separate nine grades
is refused with the reason and what to do (`CalibrationRefused`).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bridge.decoders.qg import (
    N_HIDDEN,
    Adaptation,
    QGParams,
    network_from_thresholds,
    thresholds_from_anchors,
)
from bridge.sensor_model import SENSOR_MODELS
from bridge.values.sample import N_GRADES
from bridge.values.source_info import SourceInfo

if TYPE_CHECKING:
    from bridge.sim.config import SimConfig

SCHEMA = "fist-and-ball/qg-calibration"
SCHEMA_VERSION = 1

PHASES: tuple[str, ...] = ("rest", "flexion", "extension")
"""The guided phases of one repeat, in the order they are cued."""

CALIBRATABLE: tuple[str, ...] = ("fingers", "wrist", "thumb")

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
TRIM_FRACTION = 0.2
"""Leading part of each hold dropped: the hand is still settling."""
MAX_DEAD_FRACTION = 0.05
"""A sensor NaN in more than this fraction of its hold samples is dead."""
ADAPT_MARGIN_STEP = 0.5
"""Gain tracking margin beyond the calibrated range, in grade steps ..."""
ADAPT_MARGIN_NOISE = 4.0
"""... but at least this many noise RMS."""
SATURATION_MARGIN = 0.995
"""A component at or above this fraction of full scale counts as clipped."""

_NUMBER_LIST = re.compile(r"\[\s*((?:-?[\d.eE+-]+,?\s*)+)\]")

_PROMPTS: dict[tuple[str, str], str] = {
    ("fingers", "flexion"): "Close your fist fully and hold",
    ("fingers", "extension"): "Open your hand fully, fingers stretched, and hold",
    ("wrist", "flexion"): "Bend your wrist fully down (palm side) and hold",
    ("wrist", "extension"): "Bend your wrist fully back and hold",
    ("thumb", "flexion"): "Bend your thumb fully into the palm and hold",
    ("thumb", "extension"): "Stretch your thumb fully out and hold",
}


class CalibrationError(ValueError):
    """A calibration file that cannot be used (corrupt, wrong schema, wrong device)."""


class CalibrationRefused(Exception):
    """The recording cannot make a usable QG; `reason` says why, `advice` what to do."""

    def __init__(self, reason: str, advice: str, gesture: str | None = None) -> None:
        self.reason = reason
        self.advice = advice
        self.gesture = gesture
        self.report: dict[str, Any] = {}
        """Per gesture, every sensor's stats (SensorStats.to_dict), when a fit got that far."""
        where = f"{gesture}: " if gesture else ""
        super().__init__(f"{where}{reason}. {advice}")


@dataclass(frozen=True, slots=True)
class Phase:
    """One cued hold of the guided protocol."""

    gesture: str
    kind: str  # rest | flexion | extension
    repeat: int

    @property
    def prompt(self) -> str:
        if self.kind == "rest":
            return "Relax your hand and arm"
        return _PROMPTS[(self.gesture, self.kind)]

    @property
    def intent_level(self) -> float:
        """The hand level the cue asks for (rest: relaxed, counted as open)."""
        return 1.0 if self.kind == "flexion" else 0.0


def guided_phases(gestures: tuple[str, ...] | list[str], repeats: int) -> list[Phase]:
    """The cue sequence: per gesture, `repeats` x (rest, flexion, extension)."""
    bad = [g for g in gestures if g not in CALIBRATABLE]
    if bad or not gestures:
        raise ValueError(f"gestures must be among {', '.join(CALIBRATABLE)}; got {list(gestures)}")
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    return [Phase(g, kind, r) for g in gestures for r in range(repeats) for kind in PHASES]


@dataclass(slots=True)
class PhaseRecording:
    """The samples of one held phase: field (m, n, 3) in uT, per-sample saturation flag."""

    phase: Phase
    field_ut: np.ndarray
    saturated: np.ndarray

    @staticmethod
    def from_samples(phase: Phase, fields: list[np.ndarray], flags: list[bool]) -> PhaseRecording:
        f = np.asarray(fields, dtype=np.float64)
        if f.ndim != 3 or f.shape[0] == 0:
            raise CalibrationRefused(
                f"no samples were recorded during '{phase.prompt}'",
                "check that the source is streaming (fist-and-ball record) and try again",
                phase.gesture,
            )
        return PhaseRecording(phase, f, np.asarray(flags, dtype=bool))

    @property
    def magnitudes(self) -> np.ndarray:
        return np.sqrt(np.einsum("mij,mij->mi", self.field_ut, self.field_ut))

    def held(self, trim: float = TRIM_FRACTION) -> PhaseRecording:
        """The hold without its leading settling part."""
        start = int(len(self.field_ut) * trim)
        return PhaseRecording(self.phase, self.field_ut[start:], self.saturated[start:])


@dataclass(slots=True)
class SensorStats:
    """What one sensor did during one gesture's phases (the calibration table)."""

    sensor: int
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

        return {
            "sensor": self.sensor,
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
    recs: list[PhaseRecording], sensor: int, limit_ut: float | None, floor_ut: float
) -> SensorStats:
    """Anchors, range, noise and problems of one sensor over one gesture's holds."""
    st = SensorStats(sensor)
    by_kind: dict[str, list[np.ndarray]] = {k: [] for k in PHASES}
    clipped = 0
    for rec in recs:
        mags = rec.magnitudes[:, sensor]
        comp = rec.field_ut[:, sensor, :]
        dead = ~np.isfinite(mags)
        if dead.mean() > MAX_DEAD_FRACTION:
            st.problem = f"dead (no reading in {dead.mean():.0%} of '{rec.phase.kind}' samples)"
            return st
        if limit_ut is not None:
            clipped += int(np.sum(np.nanmax(np.abs(comp), axis=1) >= SATURATION_MARGIN * limit_ut))
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

    report = {g: [s.to_dict() for s in stats[g]] for g in gestures}
    used: set[int] = set()
    params: dict[str, QGParams] = {}
    refused: dict[str, str] = {}
    # Assign sensors greedily by best score so that each gesture gets its own sensor.
    order = sorted(gestures, key=lambda g: -max(s.score for s in stats[g]))
    for g in order:
        try:
            params[g] = _fit_gesture(g, stats[g], used, opt)
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
        method={
            "spacing": opt.spacing,
            "min_step_noise": opt.min_step_noise,
            "trim_fraction": opt.trim_fraction,
            "anchors": "median of each hold, median over repeats",
            "noise": "robust std (MAD) of the rest holds around a line",
        },
    )


def _fit_gesture(
    gesture: str, stats: list[SensorStats], used: set[int], opt: FitOptions
) -> QGParams:
    usable = [s for s in stats if not s.problem and s.sensor not in used]
    if not usable:
        problems = "; ".join(
            f"sensor {s.sensor}: {s.problem or 'used by another gesture'}" for s in stats
        )
        raise CalibrationRefused(
            f"no usable sensor ({problems})",
            "check the cables and the band; a saturated sensor needs the band moved a "
            "little further from the tag or a larger full scale (--full-scale 16)",
            gesture,
        )
    best = max(usable, key=lambda s: s.score)
    step = best.range_ut / N_HIDDEN
    if best.range_ut <= 0 or step < opt.min_step_noise * best.noise_ut:
        raise CalibrationRefused(
            f"range too small to separate {N_GRADES} grades: best sensor {best.sensor} moves "
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
            f"the flexion/extension holds were not steady: sensor {best.sensor} wandered "
            f"{best.hold_spread_ut:.1f} uT (5th-95th percentile) within a hold, "
            f"{best.hold_spread_ut / best.range_ut:.0%} of its {best.range_ut:.1f} uT range",
            "hold each position still until the recording ends; check that the band is firm",
            gesture,
        )
    if math.isfinite(best.rest_ut):
        rest_level = (best.rest_ut - best.extension_ut) / (best.flexion_ut - best.extension_ut)
        if not REST_LEVEL_RANGE[0] <= rest_level <= REST_LEVEL_RANGE[1]:
            raise CalibrationRefused(
                f"the relaxed hand reads {best.rest_ut:.1f} uT on sensor {best.sensor}, far "
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
    )


def _r(x: float) -> float:
    return round(float(x), 4)


@dataclass(slots=True)
class Calibration:
    """A QG calibration for one device layout: one QGParams per gesture."""

    layout: str | None
    n_sensors: int
    sensor_model: str
    full_scale_gauss: float | None
    gestures: dict[str, QGParams]
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    source: str = ""
    default_gesture: str | None = None
    refused: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    method: dict[str, Any] = field(default_factory=dict)
    """How the fit was made (spacing, refusal factor...): for people, not for decoding."""

    def __post_init__(self) -> None:
        if self.default_gesture is None and self.gestures:
            self.default_gesture = next(iter(self.gestures))

    def check_source(self, info: SourceInfo) -> None:
        """Raise CalibrationError when this calibration does not belong to `info`'s device."""
        if info.n_sensors is not None and info.n_sensors != self.n_sensors:
            raise CalibrationError(
                f"calibration is for {self.n_sensors} sensors ({self.layout or 'unknown layout'})"
                f" but the source has {info.n_sensors}: calibrate this device "
                "(fist-and-ball calibrate)"
            )
        if self.layout and info.layout and info.layout != self.layout:
            raise CalibrationError(
                f"calibration is for layout '{self.layout}' but the source is '{info.layout}':"
                " calibrate this device (fist-and-ball calibrate)"
            )
        for g, p in self.gestures.items():
            if p.sensor_index >= self.n_sensors:
                raise CalibrationError(
                    f"{g}: sensor_index {p.sensor_index} but only {self.n_sensors} sensors"
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "layout": self.layout,
            "n_sensors": self.n_sensors,
            "sensor_model": self.sensor_model,
            "full_scale_gauss": self.full_scale_gauss,
            "created_at": self.created_at,
            "source": self.source,
            "default_gesture": self.default_gesture,
            "gestures": {g: p.to_dict() for g, p in self.gestures.items()},
            "method": self.method,
            "refused": dict(self.refused),
            "report": self.report,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON file atomically (temp file + rename)."""
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        text = json.dumps(self.to_dict(), indent=2)
        # Keep short lists of numbers (weights, thresholds) on one line each.
        text = _NUMBER_LIST.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(p)
        return p

    @staticmethod
    def from_dict(d: dict[str, Any], where: str = "calibration") -> Calibration:
        """Parse and validate a calibration dict; CalibrationError says what is wrong."""
        if not isinstance(d, dict):
            raise CalibrationError(f"{where}: not a JSON object")
        if d.get("schema") != SCHEMA:
            raise CalibrationError(f"{where}: not a QG calibration (schema {d.get('schema')!r})")
        if d.get("version") != SCHEMA_VERSION:
            raise CalibrationError(
                f"{where}: calibration version {d.get('version')!r}, this bridge reads "
                f"{SCHEMA_VERSION}"
            )
        try:
            n = int(d["n_sensors"])
            gestures_raw = d["gestures"]
            if not isinstance(gestures_raw, dict) or not gestures_raw:
                raise CalibrationError(f"{where}: 'gestures' must be a non-empty object")
            gestures = {
                str(g): _params_from_dict(str(g), v, where) for g, v in gestures_raw.items()
            }
            fs = d.get("full_scale_gauss")
            cal = Calibration(
                layout=d.get("layout"),
                n_sensors=n,
                sensor_model=str(d.get("sensor_model", "LIS3MDL")),
                full_scale_gauss=None if fs is None else float(fs),
                gestures=gestures,
                created_at=str(d.get("created_at", "")),
                source=str(d.get("source", "")),
                default_gesture=d.get("default_gesture"),
                refused=dict(d.get("refused") or {}),
                report=dict(d.get("report") or {}),
                method=dict(d.get("method") or {}),
            )
        except CalibrationError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            # AttributeError: an object where a list/number belongs (e.g. "adaptation": 5);
            # OverflowError: Infinity where an integer belongs
            missing = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise CalibrationError(f"{where}: {missing}") from None
        if not isinstance(cal.default_gesture, str) or cal.default_gesture not in cal.gestures:
            raise CalibrationError(
                f"{where}: default_gesture {cal.default_gesture!r} is not calibrated"
            )
        for g, p in cal.gestures.items():
            if p.sensor_index >= n:
                raise CalibrationError(
                    f"{where}: {g} uses sensor {p.sensor_index} but n_sensors is {n}"
                )
        return cal

    @staticmethod
    def load(path: str | os.PathLike[str], info: SourceInfo | None = None) -> Calibration:
        """Read a calibration file; with `info`, also check it belongs to that source."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CalibrationError(f"calibration file {p} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CalibrationError(f"cannot read calibration file {p}: {exc}") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CalibrationError(
                f"calibration file {p} is not valid JSON (line {exc.lineno}, column "
                f"{exc.colno}: {exc.msg})"
            ) from None
        cal = Calibration.from_dict(d, where=f"calibration file {p}")
        if info is not None:
            try:
                cal.check_source(info)
            except CalibrationError as exc:
                raise CalibrationError(f"calibration file {p}: {exc}") from None
        return cal


def _params_from_dict(g: str, v: Any, where: str) -> QGParams:
    """One gesture's entry: the network is authoritative; thresholds_ut alone also works."""
    if not isinstance(v, dict):
        raise CalibrationError(f"{where}: gesture {g} must be an object")
    for key in ("anchors_ut", "adaptation"):
        if v.get(key) is not None and not isinstance(v[key], dict):
            raise CalibrationError(f"{where}: {g}: '{key}' must be a JSON object")
    anchors = v.get("anchors_ut") or {}
    ext, flex = float(anchors["extension"]), float(anchors["flexion"])
    rest = anchors.get("rest")
    direction = int(v.get("direction", 1 if flex >= ext else -1))
    w, b = v.get("hidden_weights"), v.get("hidden_biases")
    thr = v.get("thresholds_ut")
    if w is None or b is None:
        if thr is None:
            raise CalibrationError(
                f"{where}: {g} needs hidden_weights/hidden_biases or thresholds_ut"
            )
        w, b = network_from_thresholds([float(x) for x in thr], direction)
    params = QGParams(
        gesture=g,
        sensor_index=int(v["sensor_index"]),
        direction=direction,
        extension_ut=ext,
        flexion_ut=flex,
        hidden_weights=[float(x) for x in w],
        hidden_biases=[float(x) for x in b],
        output_weights=list(v.get("output_weights", [1] * N_HIDDEN)),
        noise_ut_rms=float(v.get("noise_ut_rms", 0.3)),
        hysteresis_ut=float(v.get("hysteresis_ut", 0.0)),
        rest_ut=None if rest is None else float(rest),
        # A file without the block was written by hand: no adaptation unless asked for.
        adaptation=Adaptation.from_dict(v["adaptation"])
        if v.get("adaptation")
        else Adaptation.off(),
    )
    try:
        params.validate()
    except ValueError as exc:
        raise CalibrationError(f"{where}: {exc}") from None
    if thr is not None and (w is not None and b is not None):
        derived = params.thresholds_ut
        if len(thr) != len(derived) or any(
            abs(float(a) - c) > 1e-3 * max(1.0, abs(c)) for a, c in zip(thr, derived, strict=False)
        ):
            raise CalibrationError(
                f"{where}: {g}: thresholds_ut {thr} disagree with the hidden weights/biases "
                f"(which give {[round(x, 3) for x in derived]}); edit one and delete the other"
            )
    return params


def calibrate_simulator(
    config: SimConfig,
    gestures: tuple[str, ...] | list[str] = ("fingers",),
    *,
    hold_s: float = 3.0,
    repeats: int = 3,
    settle_s: float = 1.5,
    options: FitOptions | None = None,
    partial: bool = False,
) -> Calibration:
    """Run the guided calibration on a simulated patient, offline (no real-time wait).

    The simulator is switched to intent mode and cued phase by phase exactly as a
    person would be: `settle_s` to get there (the countdown), then `hold_s` recorded.
    `config` is the session to calibrate for (layout, seed, band position...).
    """
    from bridge.sim.simulator import Simulator

    sim = Simulator(config.replace(protocol="intent"))
    rate = sim.rate_hz
    settle_n = max(1, round(settle_s * rate))
    hold_n = max(4, round(hold_s * rate))
    recs: list[PhaseRecording] = []
    for ph in guided_phases(tuple(gestures), repeats):
        if ph.kind == "rest":
            sim.set_intent("rest", 0.0)
        else:
            sim.set_intent(ph.gesture, ph.intent_level)
        sim.generate_block(settle_n)
        block = sim.generate_block(hold_n)
        recs.append(PhaseRecording(ph, block.field_ut.copy(), block.saturated.copy()))
    sim.set_intent("rest", 0.0)
    return fit_calibration(recs, sim.info, options, partial=partial)
