"""The QG calibration file (JSON): the `Calibration` it holds, its schema, load and save."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge.decoders.field_reference import ReferenceModel
from bridge.decoders.qg import N_HIDDEN, Adaptation, QGParams, network_from_thresholds
from bridge.values.source_info import SourceInfo

SCHEMA = "fist-and-ball/qg-calibration"
SCHEMA_VERSION = 1

_NUMBER_LIST = re.compile(r"\[\s*((?:-?[\d.eE+-]+,?\s*)+)\]")


class CalibrationError(ValueError):
    """A calibration file that cannot be used (corrupt, wrong schema, wrong device)."""


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
    field_reference: dict[str, Any] | None = None
    """Rest field vectors and movement patterns of all sensors (optional): the decoders'
    environment rejection (bridge/decoders/field_reference.py)."""

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
            used = max(p.sensor_index, -1 if p.reference_index is None else p.reference_index)
            if used >= self.n_sensors:
                raise CalibrationError(f"{g}: sensor {used} but only {self.n_sensors} sensors")

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
            **({"field_reference": self.field_reference} if self.field_reference else {}),
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
                field_reference=_reference_block(d.get("field_reference"), n, where),
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
            used = max(p.sensor_index, -1 if p.reference_index is None else p.reference_index)
            if used >= n:
                raise CalibrationError(f"{where}: {g} uses sensor {used} but n_sensors is {n}")
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


def _reference_block(v: Any, n_sensors: int, where: str) -> dict[str, Any] | None:
    """The optional field_reference block, checked (shapes, finite values) or refused."""
    if v is None:
        return None
    try:
        ReferenceModel.from_dict(v, n_sensors)
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"{where}: field_reference: {exc}") from None
    return dict(v)


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
    ref = v.get("reference_index")
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
        reference_index=None if ref is None else int(ref),
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
