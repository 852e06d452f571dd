"""Simulator configuration and its URL form (`sim:socket16?seed=3&shift_mm=5&rate=1000`)."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Collection
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import parse_qsl, quote

from bridge.sensor_model import SENSOR_MODELS
from bridge.sim.environment import AMBIENT_DISTURBANCES, DISTURBANCE_KINDS, EnvironmentParams
from bridge.sim.layouts import get_layout
from bridge.sim.patient import PatientParams
from bridge.sim.tags import MOVEMENTS

CUE_SCRIPTS: tuple[str, ...] = ("scripted", "intent", "calibration")
"""What the virtual patient is cued to do (bridge/sim/cue_script.py)."""

ALIASES: dict[str, str] = {
    "rate": "rate_hz",
    "fs": "full_scale_gauss",
    "noise": "noise_ut_rms",
    "earth": "earth_ut",
    "shift": "shift_mm",
    "rotation": "rotation_deg",
    "reps": "repetitions",
    "odr": "odr_hz",
}
"""Short URL option names accepted besides the field names."""

RENAMED: dict[str, str] = {"protocol": "cue_script"}
"""Former option names, still accepted so old URLs and recordings keep working
("protocol" now means the websocket wire protocol only)."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines a simulated session; the same seed gives the same session."""

    layout: str = "socket16"
    rate_hz: float = 42.7
    seed: int = 0
    sensor: str = "LIS3MDL"
    full_scale_gauss: float | None = None
    """None: the layout's default (chosen so nothing clips in normal use)."""
    odr_hz: float | None = None
    """None: the slowest output data rate >= rate_hz."""
    remanence_t: float = 1.3
    noise_ut_rms: float = 0.32
    earth_ut: float = 50.0
    earth_inclination_deg: float = 60.0
    earth_rotation: bool = True
    arm_wander_deg: float = 10.0
    arm_roll_deg: float = 0.0
    arm_pitch_deg: float = 0.0
    arm_yaw_deg: float | None = None
    """None: a heading drawn from the seed."""
    drift: bool = True
    drift_ut: float = 2.0
    disturbances: bool | str = False
    """False, True (mains, object, step), or a comma list of mains, object, step, steel."""
    steel_cm: float = 5.0
    """The `steel` disturbance's closest approach to the nearest sensor (cm)."""
    shift_mm: float = 0.0
    rotation_deg: float = 0.0
    cue_script: str = "scripted"
    gestures: tuple[str, ...] = MOVEMENTS
    repetitions: int = 10
    samples_per_gesture: int | None = None
    reaction_s: float = 0.2
    tau_s: float = 0.15
    tremor: float = 0.01
    fatigue: float = 0.003
    recovery_s: float = 30.0
    table_points: int = 257

    def __post_init__(self) -> None:
        self._validate()

    # ---- derived values -------------------------------------------------------------
    @property
    def effective_full_scale_gauss(self) -> float:
        """The full scale in use: the option, else the layout's (LIS2MDL: its only range)."""
        if self.full_scale_gauss is not None:
            return float(self.full_scale_gauss)
        model = SENSOR_MODELS[self.sensor]
        if len(model.full_scales) == 1:
            return model.full_scales[0].gauss
        return get_layout(self.layout).full_scale_gauss

    @property
    def disturbance_kinds(self) -> tuple[str, ...]:
        """The enabled disturbance kinds."""
        d = self.disturbances
        if d is True:
            return AMBIENT_DISTURBANCES
        if d is False or d == "":
            return ()
        assert isinstance(d, str)
        return tuple(k for k in _split_list(d))

    def environment_params(self) -> EnvironmentParams:
        return EnvironmentParams(
            earth_ut=self.earth_ut,
            earth_inclination_deg=self.earth_inclination_deg,
            earth_rotation=self.earth_rotation,
            arm_wander_deg=self.arm_wander_deg,
            arm_roll_deg=self.arm_roll_deg,
            arm_pitch_deg=self.arm_pitch_deg,
            arm_yaw_deg=self.arm_yaw_deg,
            drift=self.drift,
            drift_ut=self.drift_ut,
            disturbances=self.disturbance_kinds,
            steel_cm=self.steel_cm,
        )

    def patient_params(self) -> PatientParams:
        return PatientParams(
            reaction_s=self.reaction_s,
            tau_s=self.tau_s,
            tremor=self.tremor,
            fatigue=self.fatigue,
            recovery_s=self.recovery_s,
        )

    def replace(self, **changes: Any) -> SimConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    # ---- URL form -------------------------------------------------------------------
    @classmethod
    def option_names(cls) -> list[str]:
        """Every option accepted in a `sim:` URL query (field names; aliases excluded)."""
        return [f.name for f in fields(cls) if f.name != "layout"]

    @classmethod
    def from_query(cls, layout: str, query: str, *, ignore: Collection[str] = ()) -> SimConfig:
        """Build from `sim:LAYOUT?QUERY` parts; `ignore` lists keys the caller handles.

        Raises ValueError naming a bad option and listing the valid ones.
        """
        get_layout(layout)  # early, clear error for a bad layout
        types_ = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        q = query[1:] if query.startswith("?") else query
        try:
            pairs = parse_qsl(q, keep_blank_values=True, strict_parsing=bool(q))
        except ValueError:
            raise ValueError(f"malformed sim option string {query!r} (use key=value&...)") from None
        valid = sorted(cls.option_names())
        for key, value in pairs:
            if key in ignore:
                continue
            name = ALIASES.get(key) or RENAMED.get(key, key)
            if name not in valid:
                allowed = ", ".join(sorted([*valid, *ignore]))
                short = ", ".join(f"{a}={f}" for a, f in ALIASES.items())
                raise ValueError(
                    f"unknown sim option {key!r}; valid options: {allowed} (short forms: {short})"
                )
            try:
                kwargs[name] = _convert(types_[name], value)
            except ValueError as exc:
                raise ValueError(f"sim option {key}={value!r}: {exc}") from None
        return cls(layout=layout, **kwargs)

    def to_url(self) -> str:
        """`sim:LAYOUT?...` with the options that differ from the defaults."""
        default = SimConfig(layout=self.layout)
        parts = []
        for name in self.option_names():
            v = getattr(self, name)
            if v != getattr(default, name):
                parts.append(f"{name}={quote(_format(v), safe=',.-')}")
        return f"sim:{self.layout}" + ("?" + "&".join(parts) if parts else "")

    # ---- validation -----------------------------------------------------------------
    def _validate(self) -> None:
        get_layout(self.layout)
        if self.sensor not in SENSOR_MODELS:
            raise ValueError(
                f"unknown sensor {self.sensor!r}; choose one of {', '.join(SENSOR_MODELS)}"
            )
        SENSOR_MODELS[self.sensor].by_gauss(self.effective_full_scale_gauss)
        _positive("rate_hz", self.rate_hz, hi=10000.0)
        if self.odr_hz is not None:
            _positive("odr_hz", self.odr_hz, hi=100000.0)
        _positive("remanence_t", self.remanence_t, hi=2.0)
        _range("noise_ut_rms", self.noise_ut_rms, 0.0, 1000.0)
        _range("earth_ut", self.earth_ut, 0.0, 1000.0)
        _range("earth_inclination_deg", self.earth_inclination_deg, -90.0, 90.0)
        _range("arm_wander_deg", self.arm_wander_deg, 0.0, 180.0)
        _range("drift_ut", self.drift_ut, 0.0, 1000.0)
        _range("steel_cm", self.steel_cm, 3.0, 100.0)  # the 2 cm object off the sensor
        _range("shift_mm", self.shift_mm, -20.0, 20.0)
        _range("rotation_deg", self.rotation_deg, -180.0, 180.0)
        for name in ("arm_roll_deg", "arm_pitch_deg", "arm_yaw_deg"):
            v = getattr(self, name)
            if v is not None:
                _range(name, v, -360.0, 360.0)
        if self.cue_script not in CUE_SCRIPTS:
            raise ValueError(
                f"unknown cue_script {self.cue_script!r}; choose one of {', '.join(CUE_SCRIPTS)}"
            )
        if not self.gestures:
            raise ValueError("gestures must name at least one movement")
        for g in self.gestures:
            if g not in MOVEMENTS:
                raise ValueError(f"unknown movement {g!r} in gestures; choose from {MOVEMENTS}")
        if not 1 <= self.repetitions <= 10000:
            raise ValueError("repetitions must be within 1..10000")
        if self.samples_per_gesture is not None and not 1 <= self.samples_per_gesture <= 10**7:
            raise ValueError("samples_per_gesture must be within 1..10000000")
        if not 2 <= self.table_points <= 100000:
            raise ValueError("table_points must be within 2..100000")
        for k in self.disturbance_kinds:
            if k not in DISTURBANCE_KINDS:
                raise ValueError(
                    f"unknown disturbance {k!r}; choose from {', '.join(DISTURBANCE_KINDS)}"
                )
        self.patient_params().validate()


def _positive(name: str, v: float, hi: float) -> None:
    if not (math.isfinite(v) and 0 < v <= hi):
        raise ValueError(f"{name} must be > 0 and <= {hi:g}, got {v!r}")


def _range(name: str, v: float, lo: float, hi: float) -> None:
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name} must be within {lo:g}..{hi:g}, got {v!r}")


def _split_list(text: str) -> list[str]:
    return [p for p in text.replace("+", ",").replace(" ", ",").split(",") if p]


def _parse_bool(value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError("expected a boolean (1/0, true/false, yes/no, on/off)")


def _convert(tp: Any, value: str) -> Any:
    """Convert one URL value to the field type `tp`."""
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and value.strip().lower() in ("", "none", "auto"):
            return None
        if bool in args and str in args:  # disturbances: bool or a list of kinds
            v = value.strip().lower()
            if v in _TRUE:
                return True
            if v in _FALSE or v == "":
                return False
            return ",".join(_split_list(v))
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value)
    if origin is tuple:
        return tuple(_split_list(value))
    if tp is bool:
        return _parse_bool(value)
    if tp is int:
        try:
            return int(value)
        except ValueError:
            raise ValueError("expected an integer") from None
    if tp is float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    return value


def _format(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, tuple):
        return ",".join(v)
    if v is None:
        return "auto"
    return f"{v:g}" if isinstance(v, float) else str(v)
