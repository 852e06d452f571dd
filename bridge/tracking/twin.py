"""The patient twin: where the tags sit relative to the sensors and how they move.

A twin is the physical model of one patient in one socket (the frame of the sensors at
fitting time): per tag its rest centre, unit slide axis (positive = flexion), stroke,
moment and the movement it belongs to, plus the coupling between movements (row =
movement, column = tag, share of each tag's stroke at full activation). Saved as JSON
(`schema` = TWIN_SCHEMA); `Twin.load` checks every field with a one-line error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bridge.json_io import write_json_atomic
from bridge.tracking.field_model import ORDERS, TagGeometry, cylinder_coefficients

TWIN_SCHEMA = "fist-and-ball-twin"
TWIN_VERSION = 1
DEFAULT_TAG_LENGTH_MM = 13.3
DEFAULT_TAG_DIAMETER_MM = 5.0


class TwinError(ValueError):
    """A twin file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Twin:
    """A fitted patient twin (see module docstring). Arrays: k tags, n sensors."""

    sensors_mm: np.ndarray
    movements: tuple[str, ...]
    rest_mm: np.ndarray
    axis: np.ndarray
    stroke_mm: np.ndarray
    moment: np.ndarray
    coupling: np.ndarray
    tag_length_mm: float = DEFAULT_TAG_LENGTH_MM
    tag_diameter_mm: float = DEFAULT_TAG_DIAMETER_MM
    residual_ut_rms: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def n_tags(self) -> int:
        return len(self.movements)

    @property
    def n_sensors(self) -> int:
        return int(self.sensors_mm.shape[0])

    def geometry(self) -> TagGeometry:
        """The tags for the field model, in the twin's (fitting-time socket) frame."""
        return TagGeometry(
            self.rest_mm,
            self.axis,
            self.moment,
            cylinder_coefficients(self.tag_length_mm, self.tag_diameter_mm),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": TWIN_SCHEMA,
            "version": TWIN_VERSION,
            "units": {"length": "mm", "field": "uT", "moment": "uT mm^3 (1e8 x A m^2)"},
            "multipole_orders": list(ORDERS),
            "tag_length_mm": self.tag_length_mm,
            "tag_diameter_mm": self.tag_diameter_mm,
            "sensors_mm": self.sensors_mm.tolist(),
            "tags": [
                {
                    "movement": g,
                    "rest_mm": self.rest_mm[j].tolist(),
                    "axis": self.axis[j].tolist(),
                    "stroke_mm": float(self.stroke_mm[j]),
                    "moment": float(self.moment[j]),
                }
                for j, g in enumerate(self.movements)
            ],
            "coupling": {
                "rows": "movement",
                "columns": "tag (same order as tags)",
                "matrix": self.coupling.tolist(),
            },
            "residual_ut_rms": self.residual_ut_rms,
            "report": self.report,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        out = Path(path)
        write_json_atomic(out, self.to_dict())
        return out

    @staticmethod
    def from_dict(d: dict[str, Any], where: str = "twin") -> Twin:
        """Parse and check a twin dict; TwinError naming the bad field."""

        def arr(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
            try:
                a = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise TwinError(f"{where}: {name} is not numeric") from None
            if a.shape != shape or not np.isfinite(a).all():
                raise TwinError(f"{where}: {name} must be finite numbers of shape {shape}")
            return a

        if not isinstance(d, dict) or d.get("schema") != TWIN_SCHEMA:
            raise TwinError(f"{where}: not a twin file (schema must be {TWIN_SCHEMA!r})")
        if d.get("version") != TWIN_VERSION:
            raise TwinError(f"{where}: unsupported twin version {d.get('version')!r}")
        tags = d.get("tags")
        if not isinstance(tags, list) or not tags:
            raise TwinError(f"{where}: tags must be a non-empty list")
        k = len(tags)
        sensors = np.asarray(d.get("sensors_mm"), dtype=np.float64)
        if sensors.ndim != 2 or sensors.shape[1] != 3 or not np.isfinite(sensors).all():
            raise TwinError(f"{where}: sensors_mm must be a list of [x, y, z]")
        movements = []
        for j, t in enumerate(tags):
            if not isinstance(t, dict) or not isinstance(t.get("movement"), str):
                raise TwinError(f"{where}: tags[{j}].movement missing")
            movements.append(t["movement"])
        axis = arr([t.get("axis") for t in tags], "tags[].axis", (k, 3))
        norms = np.linalg.norm(axis, axis=1)
        if (np.abs(norms - 1.0) > 1e-3).any():
            raise TwinError(f"{where}: tags[].axis must be unit vectors")
        stroke = arr([t.get("stroke_mm") for t in tags], "tags[].stroke_mm", (k,))
        if (stroke <= 0).any():
            raise TwinError(f"{where}: tags[].stroke_mm must be > 0")
        coupling = d.get("coupling", {})
        return Twin(
            sensors_mm=sensors,
            movements=tuple(movements),
            rest_mm=arr([t.get("rest_mm") for t in tags], "tags[].rest_mm", (k, 3)),
            axis=axis / norms[:, None],
            stroke_mm=stroke,
            moment=arr([t.get("moment") for t in tags], "tags[].moment", (k,)),
            coupling=arr(
                coupling.get("matrix") if isinstance(coupling, dict) else None,
                "coupling.matrix",
                (k, k),
            ),
            tag_length_mm=float(d.get("tag_length_mm", DEFAULT_TAG_LENGTH_MM)),
            tag_diameter_mm=float(d.get("tag_diameter_mm", DEFAULT_TAG_DIAMETER_MM)),
            residual_ut_rms=float(d.get("residual_ut_rms", 0.0)),
            report=dict(d.get("report") or {}),
        )

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Twin:
        p = Path(path)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise TwinError(f"{p}: cannot read twin ({e.strerror})") from None
        except json.JSONDecodeError as e:
            raise TwinError(f"{p}: not JSON (line {e.lineno}: {e.msg})") from None
        return Twin.from_dict(d, str(p))
