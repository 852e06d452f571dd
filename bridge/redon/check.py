"""The re-don verdict: does today's placement still fit the decoder, and what to adapt.

One function per decoder kind, each from a finished `RoutineRecording`:
- `check_qg`: per calibrated gesture, the QG's input (its sensor's |B|, or its sensor
  minus its reference sensor) at rest and full flexion today (or, with a twin, the
  twin's prediction at the estimated socket pose) re-anchor the QG (tare and gain: an
  affine map of its anchors); refused when the usable range collapsed (put the band
  back), the direction flipped or another sensor now sees the tag much better than it
  did at the calibration (the band turned: a new calibration is needed).
- `check_track`: the socket pose from the rest part, then every movement tracked: its
  own tag must move and the model must explain the field; refused beyond the pose
  limits the tracker is tested for.
- `check_mcnn`: the bundle must read rest at rest and recognise every movement.
Thresholds are module constants measured on foreign patients (docs/redon.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bridge.decoders.qg import QGParams, thresholds_from_anchors
from bridge.decoders.qg_calibration import Calibration
from bridge.decoders.qg_input import channel_magnitudes
from bridge.redon.routine import RoutineRecording
from bridge.values.sample import N_GRADES
from fist_and_ball.protocol_v1 import REST

VERDICTS = ("accepted", "adapted", "refused")

# ---- QG ------------------------------------------------------------------------------
QG_MIN_RANGE_RATIO = 0.65
"""Refuse when the calibrated sensor's rest-to-flexion range fell below this share of
the calibrated one (grade steps shrink with it: noise and hysteresis take over)."""
QG_MAX_RANGE_RATIO = 2.5
"""... or grew beyond this (the sensor now sits on the tag: a calibration is needed)."""
QG_OTHER_SENSOR_RATIO = 2.0
"""Refuse when another sensor's range in the movement, relative to the calibrated
sensor's, is this many times what it was at the calibration (or than 1, whichever is
more): the band turned and a different sensor is now nearest the tag. The calibration's
own ratio comes from its report; a calibration that chose a sensor for its low crosstalk
may already have had another sensor moving more."""
QG_ACCEPT_GAIN = 0.05
"""Within this relative range change and ..."""
QG_ACCEPT_REST_STEPS = 0.5
"""... this rest offset (grade steps) the calibration is kept as it is (accepted)."""
QG_REFUSED = (
    "This placement does not fit the calibration: calibrate again (fist-and-ball calibrate)."
)
QG_REFUSED_COLLAPSED = (
    "This placement does not fit the calibration: put the band (or socket) back where it "
    "sat when you calibrated and run the check again; if it sits there already, calibrate "
    "again (fist-and-ball calibrate)."
)
"""When the range collapsed the band moved away from the tag: at such a placement even a
fresh calibration sees small, bent grade steps (docs/robustness.md), so putting the band
back comes first."""
PLATEAU_SHARE = 0.9
"""Flexion plateau: samples within 10 % of the movement's largest change."""

# ---- tracking ------------------------------------------------------------------------
TRACK_MAX_SHIFT_MM = 12.0
TRACK_MAX_TURN_DEG = 30.0
"""Pose limits (docs/redon.md): 6 foreign patients tracked at full accuracy up to 45 deg
and, unless a sensor clipped, 15 mm; beyond 30 deg the live tracker's own rest-pose fit
(starts at most 0.4 rad = 23 deg away) is outside what it was designed for."""
TRACK_MAX_SATURATED = 0.0
"""Share of routine samples with a clipped sensor above which tracking is refused (a
sensor on top of a tag: the model cannot explain a clipped reading)."""
TRACK_RESIDUAL_FACTOR = 4.0
"""The model explains the field while the residual stays within this many times the
twin's fit residual (the tracker's own full-confidence bound)."""
TRACK_MIN_LEVEL = 0.5
"""A movement's own tag must reach this share of its stroke when flexed fully."""
TRACK_ACCEPT_SHIFT_MM = 1.0
TRACK_ACCEPT_TURN_DEG = 2.0

# ---- MCNN-TG -------------------------------------------------------------------------
MCNN_MIN_REST = 0.8
"""Share of the settled rest samples that must read rest."""
MCNN_MIN_MOVEMENT = 0.6
"""Share of a movement's flexion plateau that must read that movement."""


@dataclass(frozen=True)
class PoseEstimate:
    """The socket's pose against the twin: magnitudes for people, vectors for the tracker."""

    shift_mm: float
    turn_deg: float
    rotvec: tuple[float, float, float]
    translation_mm: tuple[float, float, float]
    residual_ut: float

    def to_message(self) -> dict[str, float]:
        return {"shift_mm": round(self.shift_mm, 2), "turn_deg": round(self.turn_deg, 2)}


@dataclass(frozen=True)
class RedonResult:
    """The verdict and what to apply (`calibration` for QG, `pose_result` for tracking)."""

    verdict: str
    summary: str
    reasons: tuple[str, ...]
    pose: PoseEstimate | None
    decoder: str
    calibration: Calibration | None = None
    pose_result: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return self.verdict == "refused"

    def to_message(self) -> dict[str, Any]:
        """The final `redon` websocket message (docs/redon.md)."""
        return {
            "type": "redon",
            "state": self.verdict,
            "summary": self.summary,
            "reasons": list(self.reasons),
            "pose": None if self.pose is None else self.pose.to_message(),
            "decoder": self.decoder,
        }


def _plateau(change: np.ndarray) -> np.ndarray:
    """Indices (into `change`) of the flexion plateau of a 1-D change signal."""
    c = np.abs(change)
    top = float(np.nanmax(c)) if c.size else 0.0
    if not top > 0:
        return np.arange(0)
    return np.flatnonzero(c >= PLATEAU_SHARE * top)


@dataclass(frozen=True)
class _Levels:
    """One gesture's reading today: rest and flexion |B| of every sensor, and of the
    QG's input (its sensor, or its sensor minus its reference sensor)."""

    rest: np.ndarray
    flex: np.ndarray
    rest_input: float
    flex_input: float

    @property
    def range(self) -> np.ndarray:
        return np.asarray(np.abs(self.flex - self.rest))


def _rest_and_flexion(
    signal: np.ndarray, rest_idx: np.ndarray, idx: np.ndarray
) -> tuple[float, float]:
    """Settled rest and flexion-plateau medians of a 1-D signal."""
    rest = float(np.nanmedian(signal[rest_idx]))
    p = _plateau(signal[idx] - rest)
    return rest, float(np.nanmedian(signal[idx[p]])) if p.size else rest


def _levels(rec: RoutineRecording, movement: str, p: QGParams) -> _Levels:
    """Rest (settled rest step) and flexion (plateau) per sensor and of the QG's input."""
    mags = rec.magnitudes
    rest_idx, idx = rec.settled_rest(), rec.movement(movement)
    per_sensor = [_rest_and_flexion(mags[:, i], rest_idx, idx) for i in range(mags.shape[1])]
    rest = np.array([r for r, _ in per_sensor])
    flex = np.array([f for _, f in per_sensor])
    signal = channel_magnitudes(rec.field_ut, p.sensor_index, p.reference_index)
    rest_input, flex_input = _rest_and_flexion(signal, rest_idx, idx)
    return _Levels(rest, flex, rest_input, flex_input)


def _recorded_ranges(calibration: Calibration, gesture: str, n: int) -> np.ndarray:
    """Each sensor's |B| range in the calibration's own holds (its report); NaN unknown."""
    out = np.full(n, np.nan)
    rows = calibration.report.get(gesture)
    for row in rows if isinstance(rows, list) else []:
        sensor, rng = (
            (row.get("sensor"), row.get("range_ut")) if isinstance(row, dict) else (None, None)
        )
        if isinstance(sensor, int) and 0 <= sensor < n and isinstance(rng, int | float):
            out[sensor] = float(rng)
    return out


def _other_sensor(lv: _Levels, i: int, recorded: np.ndarray) -> tuple[int | None, float, float]:
    """(sensor, today's range ratio to sensor i, the limit for it) of the other sensor
    that gained most on sensor i since the calibration."""
    best: tuple[int | None, float, float] = (None, 0.0, QG_OTHER_SENSOR_RATIO)
    own = max(float(lv.range[i]), 1e-9)
    for j in range(len(lv.range)):
        if j == i:
            continue
        ratio = float(lv.range[j]) / own
        was = recorded[j] / recorded[i] if recorded[i] > 0 else math.nan
        limit = QG_OTHER_SENSOR_RATIO * (max(1.0, was) if math.isfinite(was) else 1.0)
        if best[0] is None or ratio / limit > best[1] / best[2]:
            best = (j, ratio, limit)
    return best


def _adapt_params(p: QGParams, rest_new: float, scale: float, spacing: str) -> QGParams:
    """The QG re-anchored: every anchor mapped by x -> rest_new + scale (x - rest_cal)."""
    rest_cal = p.rest_ut if p.rest_ut is not None else p.extension_ut

    def m(x: float) -> float:
        return round(rest_new + scale * (x - rest_cal), 4)

    ext, flex = m(p.extension_ut), m(p.flexion_ut)
    if spacing in ("linear", "dipole") and min(ext, flex) > 0:
        thresholds = [round(t, 4) for t in thresholds_from_anchors(ext, flex, spacing)]
    else:
        thresholds = [m(t) for t in p.thresholds_ut]
    step = abs(flex - ext) / (N_GRADES - 1)
    adaptation = replace(p.adaptation, margin_ut=round(p.adaptation.margin_ut * abs(scale), 4))
    return QGParams.from_anchors(
        reference_index=p.reference_index,
        gesture=p.gesture,
        sensor_index=p.sensor_index,
        extension_ut=ext,
        flexion_ut=flex,
        noise_ut_rms=p.noise_ut_rms,
        hysteresis_ut=round(min(p.hysteresis_ut * abs(scale), 0.3 * step), 4),
        thresholds_ut=thresholds,
        rest_ut=round(rest_new, 4),
        adaptation=adaptation,
    )


def check_qg(
    rec: RoutineRecording,
    calibration: Calibration,
    spec: str = "qg",
    twin: Any = None,
) -> RedonResult:
    """QG verdict and the re-anchored calibration (see the module docstring)."""
    reasons: list[str] = []
    problems: list[str] = []
    adapted: dict[str, QGParams] = {}
    details: dict[str, Any] = {}
    pose: PoseEstimate | None = None
    twin_pred: dict[str, float] = {}
    if twin is not None:
        pose, twin_pred, problem = _qg_twin_scales(rec, calibration, twin)
        if problem:
            problems.append(problem)
    spacing = str(calibration.method.get("spacing", "linear"))
    changed = False
    collapsed = False
    for g, p in calibration.gestures.items():
        if g not in rec.movements:
            continue
        i = p.sensor_index
        lv = _levels(rec, g, p)
        rest_cal = p.rest_ut if p.rest_ut is not None else p.extension_ut
        cal_range = abs(p.flexion_ut - rest_cal)
        span = lv.flex_input - lv.rest_input
        ratio = abs(span) / cal_range if cal_range > 0 else 0.0
        recorded = _recorded_ranges(calibration, g, len(lv.range))
        best_other, other_ratio, other_limit = _other_sensor(lv, i, recorded)
        details[g] = {
            "sensor": i,
            "reference": p.reference_index,
            "rest_ut": round(lv.rest_input, 3),
            "flexion_ut": round(lv.flex_input, 3),
            "range_ratio": round(ratio, 3),
            "best_other_sensor": best_other,
            "other_ratio": round(other_ratio, 3),
            "other_ratio_limit": round(other_limit, 3),
        }
        what = (
            f"sensor {i}"
            if p.reference_index is None
            else f"sensor {i} (minus {p.reference_index})"
        )
        step_new = abs(span) / (N_GRADES - 1)
        if span != 0 and np.sign(span) != p.direction:
            collapsed = True
            problems.append(
                f"{g}: {what} now moves the other way when you flex "
                f"({lv.rest_input:.1f} -> {lv.flex_input:.1f} uT): the band sits elsewhere over "
                "the tag"
            )
            continue
        if ratio < QG_MIN_RANGE_RATIO:
            collapsed = True
            problems.append(
                f"{g}: {what} moves {abs(span):.1f} uT from rest to full flexion, "
                f"{ratio:.0%} of the calibrated {cal_range:.1f} uT: grades would be "
                "squeezed together (was the movement full? if so the band has moved too far)"
            )
            continue
        if ratio > QG_MAX_RANGE_RATIO:
            problems.append(
                f"{g}: {what} moves {abs(span):.1f} uT, {ratio:.1f} x the calibrated "
                f"{cal_range:.1f} uT: the band sits much closer to the tag than when calibrated"
            )
            continue
        if best_other is not None and other_ratio > other_limit:
            problems.append(
                f"{g}: sensor {best_other} now sees the movement {other_ratio:.1f} x more "
                f"than the calibrated sensor {i} (at most {other_limit:.1f} x expected from "
                "the calibration): the band has turned"
            )
            continue
        if step_new < 3.0 * p.noise_ut_rms:
            collapsed = True
            problems.append(
                f"{g}: one grade would be {step_new:.2f} uT, under 3 x the noise "
                f"({p.noise_ut_rms:.2f} uT)"
            )
            continue
        scale = span / (p.flexion_ut - rest_cal)
        if g in twin_pred:
            scale = twin_pred[g]
            details[g]["twin_scale"] = round(scale, 4)
        rest_steps = abs(lv.rest_input - rest_cal) / max(p.grade_step_ut, 1e-9)
        if abs(scale - 1.0) <= QG_ACCEPT_GAIN and rest_steps <= QG_ACCEPT_REST_STEPS:
            adapted[g] = p
            reasons.append(
                f"{g}: range {ratio:.0%} of calibrated, rest within {rest_steps:.1f} grade step"
            )
            continue
        changed = True
        adapted[g] = _adapt_params(p, lv.rest_input, float(scale), spacing)
        reasons.append(
            f"{g}: {what} range {ratio:.0%} of calibrated, rest moved "
            f"{lv.rest_input - rest_cal:+.1f} uT: thresholds re-anchored (gain x{scale:.2f})"
        )
    if not adapted and not problems:
        problems.append("none of the calibrated movements was part of the routine")
    if problems:
        return RedonResult(
            "refused",
            QG_REFUSED_COLLAPSED if collapsed else QG_REFUSED,
            tuple(problems),
            pose,
            spec,
            details=details,
        )
    new_cal = replace(calibration, gestures={**calibration.gestures, **adapted})
    if changed:
        new_cal.method = {**calibration.method, "redon": "anchors re-anchored by the re-don check"}
        return RedonResult(
            "adapted",
            "The band sits a little differently today: the decoder was adjusted to it.",
            tuple(reasons),
            pose,
            spec,
            calibration=new_cal,
            details=details,
        )
    return RedonResult(
        "accepted",
        "The band sits where it was calibrated: nothing to change.",
        tuple(reasons),
        pose,
        spec,
        calibration=new_cal,
        details=details,
    )


def _qg_twin_scales(
    rec: RoutineRecording, calibration: Calibration, twin: Any
) -> tuple[PoseEstimate | None, dict[str, float], str]:
    """Per gesture the twin's range scale (today's pose vs the fitting pose) at the
    calibrated sensor, with today's background; plus the pose. Problem text or ''."""
    from bridge.tracking.socket_pose import fit_rest_pose, pose_geometry
    from bridge.tracking.tracker import Tracker

    if twin.n_sensors != rec.field_ut.shape[1]:
        n = rec.field_ut.shape[1]
        return None, {}, f"the twin is for {twin.n_sensors} sensors, the routine had {n}"
    tracker = Tracker(twin)
    settings = tracker.pose_settings()
    fit = fit_rest_pose(twin, settings, rec.field_ut[rec.settled_rest()])
    pose = _pose_estimate(fit.pose, fit.residual_ut)
    design = tracker.design
    bg = (design @ fit.background).reshape(-1, 3) if fit.background is not None else 0.0
    scales: dict[str, float] = {}
    for g, p in calibration.gestures.items():
        if g not in twin.movements:
            continue
        k = twin.movements.index(g)
        disp = np.stack([np.zeros(twin.n_tags), twin.coupling[k] * twin.stroke_mm])
        spans = []
        for x in (np.zeros(6), fit.pose):
            f = pose_geometry(twin, x).field(twin.sensors_mm, disp) + bg
            mag = channel_magnitudes(f, p.sensor_index, p.reference_index)
            spans.append(float(mag[1] - mag[0]))
        if spans[0] != 0 and math.isfinite(spans[1] / spans[0]):
            scales[g] = spans[1] / spans[0]
    return pose, scales, ""


def _pose_estimate(pose: np.ndarray, residual: float) -> PoseEstimate:
    rv = np.asarray(pose[:3], dtype=np.float64)
    tr = np.asarray(pose[3:6], dtype=np.float64)
    return PoseEstimate(
        shift_mm=float(np.linalg.norm(tr)),
        turn_deg=float(np.degrees(np.linalg.norm(rv))),
        rotvec=(float(rv[0]), float(rv[1]), float(rv[2])),
        translation_mm=(float(tr[0]), float(tr[1]), float(tr[2])),
        residual_ut=float(residual),
    )


def _movement_steps(rec: RoutineRecording) -> list[str]:
    return [m for m in rec.movements if m != REST]


def check_track(rec: RoutineRecording, twin: Any, spec: str = "track") -> RedonResult:
    """Tracking verdict: the socket pose from the rest part, then the movements tracked."""
    from bridge.tracking.socket_pose import fit_rest_pose
    from bridge.tracking.tracker import Tracker

    n = rec.field_ut.shape[1]
    if twin.n_sensors != n:
        return _refused_track(
            spec, None, [f"the twin is for {twin.n_sensors} sensors, the source sends {n}"]
        )
    tracker = Tracker(twin, rate_hz=rec.rate_hz or 42.7)
    fit = fit_rest_pose(twin, tracker.pose_settings(), rec.field_ut[rec.settled_rest()])
    pose = _pose_estimate(fit.pose, fit.residual_ut)
    ref = max(twin.residual_ut_rms, tracker.cfg.residual_floor_ut)
    problems: list[str] = []
    details: dict[str, Any] = {
        "pose_residual_ut": round(fit.residual_ut, 3),
        "twin_residual_ut": round(twin.residual_ut_rms, 3),
    }
    if pose.shift_mm > TRACK_MAX_SHIFT_MM or pose.turn_deg > TRACK_MAX_TURN_DEG:
        problems.append(
            f"the socket sits {pose.shift_mm:.1f} mm and {pose.turn_deg:.0f} deg from where the "
            f"twin was fitted; tracking is tested up to {TRACK_MAX_SHIFT_MM:g} mm and "
            f"{TRACK_MAX_TURN_DEG:g} deg"
        )
    clipped = float(np.mean(rec.saturated)) if rec.saturated.size else 0.0
    if clipped > TRACK_MAX_SATURATED:
        problems.append(
            f"a sensor clipped on {clipped:.0%} of the routine's samples: the socket sits "
            "with a sensor too close to a tag"
        )
    if fit.residual_ut > TRACK_RESIDUAL_FACTOR * ref:
        problems.append(
            f"at rest the twin explains the field only to {fit.residual_ut:.1f} uT RMS "
            f"(fitted to {twin.residual_ut_rms:.1f} uT): the socket pose could not be found"
        )
    if problems:
        return _refused_track(spec, pose, problems, details)
    tracker.adopt_pose(fit)
    est = [tracker.decode(f) for f in rec.field_ut]
    resid = np.array([e.residual_ut for e in est])
    level = np.array([e.level for e in est])
    reasons = [f"socket {pose.shift_mm:.1f} mm and {pose.turn_deg:.1f} deg from the twin's pose"]
    for m in _movement_steps(rec):
        if m not in twin.movements:
            continue
        k = twin.movements.index(m)
        idx = rec.movement(m)
        own = float(np.nanmax(level[idx, k])) if idx.size else 0.0
        details[m] = {"level": round(own, 3)}
        if own < TRACK_MIN_LEVEL:
            problems.append(
                f"{m}: its tag moved {own:.0%} of its stroke in a full movement (needs "
                f"{TRACK_MIN_LEVEL:.0%}): the twin no longer matches this movement"
            )
            continue
        top = idx[np.nanargmax(level[idx, k])]
        moved = int(np.nanargmax(level[top]))
        if moved != k:
            problems.append(f"{m}: the {twin.movements[moved]} tag moved more than its own")
        reasons.append(f"{m}: tag reached {own:.0%} of its stroke")
    typical = float(np.nanmedian(resid))
    details["residual_ut"] = round(typical, 3)
    if not typical <= TRACK_RESIDUAL_FACTOR * ref:
        problems.append(
            f"the twin explains the field only to {typical:.1f} uT RMS during the movements "
            f"(fitted to {twin.residual_ut_rms:.1f} uT): a magnet or metal nearby, or the "
            "twin does not fit this patient any more"
        )
    if problems:
        return _refused_track(spec, pose, problems, details)
    small = pose.shift_mm <= TRACK_ACCEPT_SHIFT_MM and pose.turn_deg <= TRACK_ACCEPT_TURN_DEG
    return RedonResult(
        "accepted" if small else "adapted",
        "The socket sits where the twin was fitted."
        if small
        else f"The socket sits {pose.shift_mm:.0f} mm / {pose.turn_deg:.0f} deg from last time: "
        "tracking uses the new position.",
        tuple(reasons),
        pose,
        spec,
        pose_result=fit,
        details=details,
    )


def _refused_track(
    spec: str, pose: PoseEstimate | None, problems: list[str], details: dict[str, Any] | None = None
) -> RedonResult:
    return RedonResult(
        "refused",
        "Tracking cannot follow this placement: put the socket on as usual, or fit a new "
        "twin (fist-and-ball twin fit).",
        tuple(problems),
        pose,
        spec,
        details=details or {},
    )


def check_mcnn(rec: RoutineRecording, decoder: Any, spec: str = "mcnn") -> RedonResult:
    """MCNN-TG verdict: rest must read rest and each movement must be recognised.

    Its input is min-max normalised per sample across the sensors: there is no stored
    normalisation to re-anchor, so the bundle is accepted or refused as it is.
    """
    mags = rec.magnitudes
    names, _level, _conf = decoder.decode_batch(mags)
    rest_idx = rec.settled_rest()
    problems: list[str] = []
    reasons: list[str] = []
    rest_share = float(np.mean(names[rest_idx] == REST)) if rest_idx.size else 0.0
    details: dict[str, Any] = {"rest": round(rest_share, 3)}
    if rest_share < MCNN_MIN_REST:
        problems.append(f"at rest the model reads rest on only {rest_share:.0%} of samples")
    else:
        reasons.append(f"rest read as rest on {rest_share:.0%} of samples")
    base = np.nanmedian(mags[rest_idx], axis=0) if rest_idx.size else np.zeros(mags.shape[1])
    for m in _movement_steps(rec):
        if m not in decoder.gestures:
            continue
        idx = rec.movement(m)
        change = np.abs(mags[idx] - base)
        sensor = int(np.nanargmax(np.nanmax(change, axis=0)))
        plateau = idx[_plateau(change[:, sensor])]
        share = float(np.mean(names[plateau] == m)) if plateau.size else 0.0
        details[m] = round(share, 3)
        if share < MCNN_MIN_MOVEMENT:
            got = [str(x) for x in names[plateau]]
            most = max(set(got), key=got.count) if got else "nothing"
            problems.append(f"{m}: recognised on {share:.0%} of the full movement (read as {most})")
        else:
            reasons.append(f"{m}: recognised on {share:.0%} of the full movement")
    if problems:
        return RedonResult(
            "refused",
            "The model does not recognise your movements in this placement: train again "
            "(fist-and-ball train --twin ...).",
            tuple(problems),
            None,
            spec,
            details=details,
        )
    return RedonResult(
        "accepted",
        "The model recognises your movements in this placement.",
        tuple(reasons),
        None,
        spec,
        details=details,
    )


def routine_movements(decoder: Any) -> tuple[str, ...]:
    """The movements the routine asks for with this decoder: QG's calibrated ones, the
    twin's tags, the model's classes (rest excluded)."""
    cal = getattr(decoder, "calibration", None)
    if cal is not None:
        return tuple(cal.gestures)
    twin = getattr(decoder, "twin", None)
    if twin is not None:
        return tuple(twin.movements)
    return tuple(g for g in getattr(decoder, "gestures", ()) if g != REST)


def check_decoder(rec: RoutineRecording, decoder: Any, spec: str, twin: Any = None) -> RedonResult:
    """Dispatch on the decoder kind (qg, track, mcnn); others cannot be checked."""
    kind = getattr(decoder, "name", "")
    if kind == "qg" and getattr(decoder, "calibration", None) is not None:
        return check_qg(rec, decoder.calibration, spec, twin)
    if kind == "track":
        return check_track(rec, decoder.twin, spec)
    if kind == "mcnn":
        return check_mcnn(rec, decoder, spec)
    raise ValueError(f"the re-don check does not know decoder '{kind}' (qg, track or mcnn)")
